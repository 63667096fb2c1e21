// The UI's building blocks: hashes shortened, badges and marks, tables, lists of labelled values, sections.

import { isObject } from "./api.js";
import { h } from "./dom.js";
import { text } from "./format.js";
import { t } from "./i18n.js";

/** @import { Attrs, Child } from "./dom.js" */

/**
 * A table column: its header, and the cell of each row (empty cells show "—").
 * @template R
 * @typedef {{label: string, cell: (row: R) => Child, class?: string}} Column
 */

/** @typedef {"ok" | "fail" | "warn" | "info" | "muted"} Kind  a badge's colour */

/**
 * A long hash shortened for a table cell, the whole value in its title.
 * @param {unknown} value
 * @param {number} [keep]  characters kept at the start
 */
export function short(value, keep = 10) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  const s = String(value);
  const shown = s.length > keep * 2 + 3 ? `${s.slice(0, keep)}…${s.slice(-6)}` : s;
  return h("span", { class: "mono short", title: s }, shown);
}

export function mono(/** @type {unknown} */ value) {
  return h("span", { class: "mono" }, text(value));
}

/**
 * A status badge.
 * @param {Kind} kind
 * @param {Child} label
 * @param {Attrs} [attrs]
 */
export function badge(kind, label, attrs) {
  return h("span", { class: `badge badge-${kind}`, ...attrs }, label);
}

/**
 * @param {boolean | null | undefined} ok
 * @param {[string, string, string]} [labels]  for true, false and anything else
 */
export function okBadge(ok, labels) {
  const [yes, no, none] = labels || [t("ok"), t("failed"), t("unknown")];
  if (ok === true) return badge("ok", yes);
  if (ok === false) return badge("fail", no);
  return badge("muted", none);
}

/** ✓, ✗ or – for a step. */
export function mark(/** @type {boolean | null | undefined} */ ok) {
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

export function decisionBadge(/** @type {unknown} */ decision) {
  if (decision === "allow") return badge("ok", t("decision.allow"));
  if (decision === "deny") return badge("fail", t("decision.deny"));
  return badge("muted", text(decision));
}

export function stateBadge(/** @type {unknown} */ state) {
  /** @type {Record<string, Kind>} */
  const kinds = { active: "ok", revoked: "fail", expired: "warn", not_yet_valid: "info", void: "muted" };
  const kind = kinds[String(state)] || "muted";
  return badge(kind, t(`grantState.${state}`, null, text(state)));
}

export function httpStatusBadge(/** @type {unknown} */ status) {
  const n = Number(status);
  if (!Number.isFinite(n) || status === null) return badge("muted", "—");
  return badge(n >= 500 ? "fail" : n >= 400 ? "warn" : "ok", String(n));
}

/**
 * A denial reason in words, the code (what the calls' filter takes) in its title; an unknown code as it is.
 * @param {unknown} code
 */
export function denialReason(code) {
  if (code === null || code === undefined || code === "") return "—";
  const s = String(code);
  return h("span", { class: "nowrap", title: s, dataset: { reason: s } }, t(`denial.${s}`, null, s));
}

/**
 * What the server or a check found, said in the page's language: the words of `<prefix>.<code>` with its
 * parameters, or the English text it came with where the code has none (an unknown code, an older server).
 * @param {string} prefix  e.g. "provStep"
 * @param {unknown} code
 * @param {unknown} params
 * @param {unknown} english
 */
export function inWords(prefix, code, params, english) {
  const fallback = text(english);
  if (typeof code !== "string" || !code) return fallback;
  /** @type {Record<string, unknown>} */
  const given = isObject(params) ? params : {};
  return t(`${prefix}.${code}`, given, fallback);
}

/**
 * A table: columns [{label, cell(row) -> node|string, class?}], rows; attrs for the table.
 * @template R
 * @param {Column<R>[]} columns
 * @param {R[]} rows
 * @param {Attrs | null} [attrs]
 * @param {(row: R) => Attrs} [rowAttrs]
 * @param {string} [empty]  what an empty table says, rather than t("none")
 */
export function table(columns, rows, attrs, rowAttrs, empty) {
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
  if (!rows.length) body.append(h("tr", { class: "empty" }, h("td", { colspan: columns.length }, empty || t("none"))));
  return h("div", { class: "table-wrap" }, h("table", { class: "data", ...attrs }, head, body));
}

/**
 * More rows for a table's body.
 * @template R
 * @param {HTMLTableSectionElement} body
 * @param {Column<R>[]} columns
 * @param {R[]} rows
 * @param {(row: R) => Attrs} [rowAttrs]
 */
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

/** @typedef {readonly [string, Child]} Pair  a label and its value */

/**
 * A two-column table of labelled values: [[label, value], ...]; null and false pairs are left out.
 * @param {(Pair | null | false)[]} pairs
 * @param {Attrs} [attrs]
 */
export function kv(pairs, attrs) {
  return h(
    "dl",
    { class: "kv", ...attrs },
    pairs
      .filter(/** @returns {pair is Pair} */ (pair) => Boolean(pair))
      .map(([label, value]) => [
        h("dt", null, label),
        h("dd", null, value === null || value === undefined || value === "" ? "—" : value),
      ]),
  );
}

/**
 * Every field of an object, values as text (nested objects as JSON).
 * @param {unknown} obj
 * @param {string[]} [skip]  fields left out
 */
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
export function rawJson(/** @type {string} */ label, /** @type {unknown} */ value) {
  return h(
    "details",
    { class: "raw" },
    h("summary", null, label),
    h("pre", { class: "json" }, JSON.stringify(value, null, 2)),
  );
}

/**
 * A card with an optional title.
 * @param {string | null} title
 * @param {Child[]} children
 */
export function section(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", null, title) : null, ...children);
}
