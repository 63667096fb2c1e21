// Hash routes: "#/<path>?<query>" picks a view by the first route whose pattern matches the path; the path's
// groups, URI-decoded, are the view's arguments.

/** @import { Child } from "./dom.js" */

/**
 * What a view gets: its arguments and query, and a way to show its page that does nothing once the person has
 * moved on (alive() turns false when another page renders).
 * @typedef {object} Ctx
 * @property {string[]} args
 * @property {URLSearchParams} params
 * @property {() => boolean} alive
 * @property {(...nodes: Child[]) => void} show  replace the page's content
 * @property {(fn: () => Promise<void>, ms: number) => void} repeat  run fn every ms while the page is shown
 */

/**
 * @typedef {object} Route
 * @property {RegExp} re  matched against the path, without "#/" and trailing slashes
 * @property {(ctx: Ctx) => Promise<void>} view
 * @property {string} nav  the menu entry it belongs to
 * @property {boolean} [public]  shown without a login
 */

/** @typedef {{route: Route | null, args: string[], params: URLSearchParams, path: string}} Location */

/** @type {() => void} */
let rerender = () => {};

/**
 * Render now and at every change of the hash.
 * @param {() => void} render
 */
export function start(render) {
  rerender = render;
  window.addEventListener("hashchange", render);
  render();
}

/**
 * The route of the current hash.
 * @param {Route[]} routes
 * @returns {Location}
 */
export function parseHash(routes) {
  const raw = location.hash.replace(/^#\/?/, "");
  const at = raw.indexOf("?");
  const path = (at < 0 ? raw : raw.slice(0, at)).replace(/\/+$/, "");
  const params = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
  for (const route of routes) {
    const m = route.re.exec(path);
    if (!m) continue;
    try {
      return { route, args: m.slice(1).map(decodeURIComponent), params, path };
    } catch {
      break;
    }
  }
  return { route: null, args: [], params, path };
}

/** Go to ``hash``, rendering again if it is the current one. */
export function go(/** @type {string} */ hash) {
  if (location.hash === hash) rerender();
  else location.hash = hash;
}

/**
 * "#/<path>?<params>", leaving out empty parameters.
 * @param {string} path
 * @param {Record<string, unknown>} params
 */
export function queryHash(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return `#/${path}${s ? `?${s}` : ""}`;
}
