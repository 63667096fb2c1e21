// DOM building without HTML strings: every text goes in through textContent or a text node, every attribute
// through setAttribute, so nothing the API returns is ever parsed as markup.

import { t, lang } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.append(child);
    else parent.append(document.createTextNode(String(child)));
  }
}

function apply(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (key === "dataset") {
      for (const [name, v] of Object.entries(value)) if (v !== null && v !== undefined) node.dataset[name] = String(v);
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

/** An HTML element: h("a", {href: "#/", class: "x", on: {click}}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const node = apply(document.createElement(tag), attrs);
  append(node, children);
  return node;
}

/** An SVG element, the same way. */
export function svg(tag, attrs, ...children) {
  const node = apply(document.createElementNS(SVG_NS, tag), attrs);
  append(node, children);
  return node;
}

/** Replace all children of ``node``. */
export function mount(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A hash link inside the app; each path segment is URI-encoded. */
export function link(segments, text, attrs) {
  const path = segments.map((s) => encodeURIComponent(String(s))).join("/");
  return h("a", { href: `#/${path}`, ...attrs }, text);
}

/** A hash link with a query: linkQuery(["calls"], {caller: "x"}, "text"). */
export function linkQuery(segments, params, text, attrs) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") query.set(k, String(v));
  const path = segments.map((s) => encodeURIComponent(String(s))).join("/");
  const q = query.toString();
  return h("a", { href: `#/${path}${q ? `?${q}` : ""}`, ...attrs }, text);
}

export function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The first of ``names`` that ``obj`` has (not undefined). */
export function pick(obj, ...names) {
  if (!isObject(obj)) return undefined;
  for (const n of names) if (obj[n] !== undefined) return obj[n];
  return undefined;
}

function locale() {
  return lang() === "zh" ? "zh-CN" : "en-GB";
}

/** A time in ms since the epoch, local, to the second. */
export function fmtMs(ms) {
  if (ms === null || ms === undefined || ms === "" || !Number.isFinite(Number(ms))) return "—";
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString(locale(), {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  });
}

/** A chain time (seconds since the epoch). */
export function fmtSec(sec) {
  if (sec === null || sec === undefined || sec === 0 || !Number.isFinite(Number(sec))) return "—";
  return fmtMs(Number(sec) * 1000);
}

export function fmtNum(n) {
  if (n === null || n === undefined || n === "") return "—";
  const v = Number(n);
  return Number.isFinite(v) ? v.toLocaleString(locale()) : String(n);
}

/** A value as text: scalars as they are, objects as compact JSON. */
export function text(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A long hash shortened for a table cell, the whole value in its title. */
export function short(value, keep = 10) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  const s = String(value);
  const shown = s.length > keep * 2 + 3 ? `${s.slice(0, keep)}…${s.slice(-6)}` : s;
  return h("span", { class: "mono", title: s }, shown);
}

export function mono(value) {
  return h("span", { class: "mono" }, text(value));
}

/** A status badge: kind is ok, fail, warn, info or muted. */
export function badge(kind, label, attrs) {
  return h("span", { class: `badge badge-${kind}`, ...attrs }, label);
}

export function okBadge(ok, labels) {
  const [yes, no, none] = labels || [t("ok"), t("failed"), t("unknown")];
  if (ok === true) return badge("ok", yes);
  if (ok === false) return badge("fail", no);
  return badge("muted", none);
}

/** ✓, ✗ or – for a step. */
export function mark(ok) {
  const symbol = ok === true ? "✓" : ok === false ? "✗" : "–";
  const kind = ok === true ? "ok" : ok === false ? "fail" : "muted";
  return h(
    "span",
    {
      class: `mark mark-${kind}`,
      "aria-label": ok === true ? t("ok") : ok === false ? t("failed") : t("notApplicable"),
    },
    symbol,
  );
}

export function decisionBadge(decision) {
  if (decision === "allow") return badge("ok", t("decision.allow"));
  if (decision === "deny") return badge("fail", t("decision.deny"));
  return badge("muted", text(decision));
}

export function stateBadge(state) {
  const kind =
    { active: "ok", revoked: "fail", expired: "warn", not_yet_valid: "info", void: "muted" }[state] || "muted";
  return badge(kind, t(`grantState.${state}`, null, text(state)));
}

export function httpStatusBadge(status) {
  const n = Number(status);
  if (!Number.isFinite(n) || status === null) return badge("muted", "—");
  return badge(n >= 500 ? "fail" : n >= 400 ? "warn" : "ok", String(n));
}

/** A table: columns [{label, cell(row) -> node|string, class?}], rows; attrs for the table. */
export function table(columns, rows, attrs, rowAttrs) {
  const head = h(
    "thead",
    null,
    h(
      "tr",
      null,
      columns.map((c) => h("th", { class: c.class }, c.label)),
    ),
  );
  const body = h("tbody", null);
  appendRows(body, columns, rows, rowAttrs);
  if (!rows.length) body.append(h("tr", { class: "empty" }, h("td", { colspan: columns.length }, t("none"))));
  return h("div", { class: "table-wrap" }, h("table", { class: "data", ...attrs }, head, body));
}

export function appendRows(body, columns, rows, rowAttrs) {
  for (const row of rows) {
    const tr = h("tr", rowAttrs ? rowAttrs(row) : null);
    for (const c of columns) {
      const value = c.cell(row);
      tr.append(h("td", { class: c.class }, value === null || value === undefined || value === "" ? "—" : value));
    }
    body.append(tr);
  }
}

/** A two-column table of labelled values: [[label, value], ...]. */
export function kv(pairs, attrs) {
  return h(
    "dl",
    { class: "kv", ...attrs },
    pairs
      .filter(Boolean)
      .map(([label, value]) => [
        h("dt", null, label),
        h("dd", null, value === null || value === undefined || value === "" ? "—" : value),
      ]),
  );
}

/** Every field of an object, values as text (nested objects as JSON). */
export function kvAll(obj, skip) {
  const omit = new Set(skip || []);
  return kv(
    Object.entries(isObject(obj) ? obj : {})
      .filter(([k]) => !omit.has(k))
      .map(([k, v]) => [
        k,
        typeof v === "object" && v !== null ? h("code", { class: "json" }, JSON.stringify(v)) : text(v),
      ]),
  );
}

/** Raw JSON, folded. */
export function rawJson(label, value) {
  return h(
    "details",
    { class: "raw" },
    h("summary", null, label),
    h("pre", { class: "json" }, JSON.stringify(value, null, 2)),
  );
}

export function section(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", null, title) : null, ...children);
}
