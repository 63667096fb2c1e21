// DOM building without HTML strings: every text goes in through textContent or a text node, every attribute
// through setAttribute, so nothing the API returns is ever parsed as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * What an element can hold: nodes, text (numbers and booleans as text), nothing, or lists of them.
 * null, undefined and false are left out.
 * @typedef {Node | string | number | boolean | null | undefined | Child[]} Child
 */

/**
 * Attributes: each is set as text; null, undefined and false leave it out, true sets it empty. ``on`` adds
 * event listeners, ``dataset`` sets data-* attributes, ``testid`` sets data-testid.
 * @typedef {{on?: Record<string, (event: Event) => unknown>, dataset?: Record<string, unknown>,
 *   testid?: string | null, [name: string]: unknown}} Attrs
 */

/**
 * @param {ParentNode} parent
 * @param {Child[]} children
 */
function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.append(child);
    else parent.append(document.createTextNode(String(child)));
  }
}

/**
 * @template {HTMLElement | SVGElement} E
 * @param {E} node
 * @param {Attrs | null | undefined} attrs
 * @returns {E}
 */
function apply(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "on") {
      for (const [event, handler] of Object.entries(/** @type {NonNullable<Attrs["on"]>} */ (value)))
        node.addEventListener(event, handler);
    } else if (key === "dataset") {
      for (const [name, v] of Object.entries(/** @type {Record<string, unknown>} */ (value)))
        if (v !== null && v !== undefined) node.dataset[name] = String(v);
    } else if (key === "testid") {
      node.setAttribute("data-testid", String(value));
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  return node;
}

/**
 * An HTML element: h("a", {href: "#/", class: "x", on: {click}}, "text", child, [more]).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {Child[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  const node = apply(document.createElement(tag), attrs);
  append(node, children);
  return node;
}

/**
 * An SVG element, the same way.
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {Child[]} children
 * @returns {SVGElementTagNameMap[K]}
 */
export function svg(tag, attrs, ...children) {
  const node = apply(document.createElementNS(SVG_NS, tag), attrs);
  append(node, children);
  return node;
}

/**
 * Replace all children of ``node``.
 * @template {Element} E
 * @param {E} node
 * @param {Child[]} children
 * @returns {E}
 */
export function mount(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/**
 * A hash link inside the app; each path segment is URI-encoded.
 * @param {unknown[]} segments
 * @param {Child} text
 * @param {Attrs} [attrs]
 */
export function link(segments, text, attrs) {
  const path = segments.map((s) => encodeURIComponent(String(s))).join("/");
  return h("a", { href: `#/${path}`, ...attrs }, text);
}

/**
 * A hash link with a query: linkQuery(["calls"], {caller: "x"}, "text").
 * @param {unknown[]} segments
 * @param {Record<string, unknown>} params  empty values are left out
 * @param {Child} text
 * @param {Attrs} [attrs]
 */
export function linkQuery(segments, params, text, attrs) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") query.set(k, String(v));
  const path = segments.map((s) => encodeURIComponent(String(s))).join("/");
  const q = query.toString();
  return h("a", { href: `#/${path}${q ? `?${q}` : ""}`, ...attrs }, text);
}
