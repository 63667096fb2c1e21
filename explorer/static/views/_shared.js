// What more than one page shows: the page's head and its error box, links to members, assets, grants, blocks and
// transactions, the tables of calls, grants, witnesses and chain history, and the verdict of a verification.

import { ApiError, getJson, isObject, listOf } from "../api.js";
import { h, link, mount } from "../dom.js";
import { fmtMs, fmtNum, fmtSec, text } from "../format.js";
import { t } from "../i18n.js";
import {
  appendRows,
  badge,
  decisionBadge,
  denialReason,
  httpStatusBadge,
  mark,
  mono,
  short,
  stateBadge,
  table,
} from "../widgets.js";

/** @import { Child } from "../dom.js" */
/** @import { Ctx } from "../router.js" */
/** @import { Call, ChainEvent, Grant, WitnessStatus } from "../types.js" */
/** @import { Column, Kind } from "../widgets.js" */

/**
 * The page's title and, at its right, actions.
 * @param {string} title
 * @param {Child[]} extra
 */
export function pageHeader(title, ...extra) {
  return h(
    "div",
    { class: "page-head" },
    h("h1", null, title),
    extra.length ? h("div", { class: "page-actions" }, extra) : null,
  );
}

/** What went wrong, in the page's language. */
export function errorBox(/** @type {unknown} */ exc) {
  let message;
  if (exc instanceof ApiError) {
    if (exc.status === 404) message = t("error.notFound");
    else if (exc.status === 0) message = t("error.network", { detail: exc.detail || "" });
    else if (exc.status === 429) message = t("error.rateLimited");
    else message = t("error.api", { status: exc.status, detail: exc.detail || exc.code || "" });
  } else {
    const error = /** @type {{message?: unknown} | null | undefined} */ (exc);
    message = t("error.internal", { detail: error && error.message ? error.message : String(exc) });
  }
  return h("div", { class: "alert alert-fail", testid: "error", role: "alert" }, message);
}

/**
 * Show the page with ``results`` loading, then fill it; an error stays inside it (the form remains).
 * @param {Ctx} ctx
 * @param {HTMLElement} results
 * @param {() => Promise<Child[]>} load
 */
export async function loadInto(ctx, results, load) {
  mount(results, h("p", { class: "loading" }, t("loading")));
  try {
    const nodes = await load();
    if (ctx.alive()) mount(results, ...nodes);
  } catch (exc) {
    if (ctx.alive() && !(exc instanceof ApiError && exc.status === 401)) mount(results, errorBox(exc));
  }
}

/**
 * A one-line message in ``node`` (null clears it).
 * @param {HTMLElement} node
 * @param {string | null} message
 * @param {"info" | "ok" | "warn" | "fail"} [kind]
 */
export function statusMessage(node, message, kind) {
  mount(node, message ? h("span", { class: `note note-${kind || "info"}` }, message) : null);
}

// -- links ------------------------------------------------------------------------------------------------

export function orgLink(/** @type {unknown} */ org) {
  if (org === null || org === undefined || org === "") return "—";
  return link(["members", org], String(org), { class: "org" });
}

export function assetLink(/** @type {unknown} */ asset) {
  if (asset === null || asset === undefined || asset === "") return "—";
  return link(["assets", asset], String(asset));
}

export function grantLink(/** @type {unknown} */ grantId) {
  if (!grantId) return "—";
  return link(["grants", grantId], short(grantId, 8));
}

export function txLink(/** @type {unknown} */ hash) {
  if (!hash) return "—";
  return link(["transactions", hash], short(hash, 10));
}

export function blockLink(/** @type {unknown} */ number) {
  if (number === null || number === undefined || number === "") return "—";
  return link(["blocks", number], fmtNum(number));
}

/**
 * Values as chips (one value or a list).
 * @param {unknown} values
 * @param {string} [cls]  a class for each chip
 */
export function chips(values, cls) {
  const list = Array.isArray(values) ? values : values === null || values === undefined ? [] : [values];
  if (!list.length) return "—";
  return h(
    "span",
    { class: "chips" },
    list.map((v) => h("span", { class: `chip ${cls || ""}` }, String(v))),
  );
}

// -- the witnesses ----------------------------------------------------------------------------------------

/**
 * "k of n witnesses", with "including a regulator" if the policy requires one.
 * @param {unknown} policy  {threshold, require_regulator, witnesses: [...]}
 */
export function describePolicy(policy) {
  if (!isObject(policy)) return "—";
  return t(policy.require_regulator ? "policy.withRegulator" : "policy.plain", {
    k: policy.threshold,
    n: Array.isArray(policy.witnesses) ? policy.witnesses.length : "?",
  });
}

/**
 * The witnesses as rows, from a list or from {org: {status, detail}} (or {org: status}).
 * @param {unknown} witnesses
 * @returns {WitnessStatus[]}
 */
export function witnessRows(witnesses) {
  if (Array.isArray(witnesses)) return /** @type {WitnessStatus[]} */ (witnesses.filter(isObject));
  if (isObject(witnesses))
    return Object.entries(witnesses).map(([org, w]) => ({ org, ...(isObject(w) ? w : { status: w }) }));
  return [];
}

/**
 * @param {unknown} witnesses  as witnessRows takes them
 * @param {string} testid
 */
export function witnessTable(witnesses, testid) {
  /** @type {Column<WitnessStatus>[]} */
  const columns = [
    { label: t("col.witness"), cell: (w) => orgLink(w.org) },
    {
      label: t("col.status"),
      cell: (w) =>
        w.status === 200 || w.status === "ok"
          ? badge("ok", t("witness.up"))
          : w.status === null || w.status === undefined
            ? badge("muted", t("witness.unknown"))
            : badge("fail", w.status === 0 ? t("witness.unreachable") : t("witness.status", { status: w.status })),
    },
    { label: t("col.detail"), cell: (w) => text(w.detail), class: "wrap" },
  ];
  return table(columns, witnessRows(witnesses), { testid }, (w) => ({ dataset: { org: w.org } }));
}

// -- calls, grants, chain history -------------------------------------------------------------------------

/**
 * The columns of a table of calls; compact for the dashboard.
 * @param {boolean} compact
 * @returns {Column<Call>[]}
 */
export function callColumns(compact) {
  /** @type {Column<Call>[]} */
  const cols = [
    { label: t("col.time"), cell: (c) => fmtMs(c.time_ms), class: "nowrap" },
    { label: t("col.event"), cell: (c) => link(["calls", c.event_id], short(c.event_id, 8), { testid: "call-link" }) },
    { label: t("col.caller"), cell: (c) => orgLink(c.caller_org) },
    { label: t("col.provider"), cell: (c) => orgLink(c.provider_org) },
    { label: t("col.service"), cell: (c) => h("span", { title: `${c.center} / ${c.unit}` }, text(c.api)) },
    { label: t("col.decision"), cell: (c) => decisionBadge(c.decision) },
    { label: t("col.denialReason"), cell: (c) => denialReason(c.denial_reason) },
    { label: t("col.status"), cell: (c) => httpStatusBadge(c.status) },
  ];
  if (!compact) {
    cols.splice(5, 0, { label: t("col.route"), cell: (c) => mono(`${c.method || ""} ${c.route || ""}`.trim()) });
    cols.splice(6, 0, { label: t("col.asset"), cell: (c) => assetLink(c.asset_id) });
    cols.push({
      label: t("col.latency"),
      cell: (c) => (c.latency_us == null ? "—" : `${(c.latency_us / 1000).toFixed(1)} ms`),
      class: "num nowrap",
    });
    cols.push({ label: t("col.index"), cell: (c) => fmtNum(c.index), class: "num" });
  }
  return cols;
}

export function callRowAttrs(/** @type {Call} */ c) {
  return { dataset: { eventId: c.event_id, decision: c.decision } };
}

/**
 * The columns of a table of grants; withAsset where the page is not the asset's own. A private grant's terms are
 * shown only where ``termsOf`` gives them: from the reader's own terms document, checked in this page against
 * the key and commitment on chain (the explorer holds none).
 * @param {boolean} withAsset
 * @param {(g: Grant) => import("../grantterms.js").Terms | null} [termsOf]
 * @returns {Column<Grant>[]}
 */
export function grantColumns(withAsset, termsOf) {
  const terms = (/** @type {Grant} */ g) => (g.private && termsOf ? termsOf(g) : null);
  /** @type {Column<Grant>[]} */
  const cols = [
    { label: t("col.grant"), cell: (g) => grantLink(g.grant_id) },
    { label: t("col.grantor"), cell: (g) => orgLink(g.grantor) },
    {
      label: t("col.grantee"),
      cell: (g) => (g.private && !g.grantee ? t("grant.privateTerms") : orgLink(g.grantee)),
    },
    {
      label: t("col.purpose"),
      cell: (g) => (g.private ? (terms(g)?.purpose ?? "—") : text(g.purpose)),
    },
    {
      label: t("col.notBefore"),
      cell: (g) => {
        const own = terms(g);
        return g.private ? (own ? fmtSec(own.not_before) : "—") : fmtSec(g.not_before);
      },
    },
    {
      label: t("col.expires"),
      cell: (g) => {
        const own = terms(g);
        const expires = g.private ? own?.expires_at : g.expires_at;
        if (g.private && !own) return "—";
        return expires ? fmtSec(expires) : t("grant.noExpiry");
      },
    },
    {
      label: t("col.quota"),
      cell: (g) => {
        const own = terms(g);
        const quota = g.private ? own?.quota : g.quota;
        if (g.private && !own) return "—";
        return quota ? fmtNum(quota) : t("grant.unlimited");
      },
      class: "num",
    },
    { label: t("col.state"), cell: (g) => stateBadge(g.state) },
  ];
  if (withAsset) cols.splice(1, 0, { label: t("col.asset"), cell: (g) => assetLink(g.asset) });
  return cols;
}

/**
 * The events of a member, an asset or a grant, oldest first.
 * @param {ChainEvent[] | undefined} history
 * @param {string} testid
 */
export function historyTable(history, testid) {
  return table(
    /** @type {Column<ChainEvent>[]} */ ([
      { label: t("col.time"), cell: (e) => fmtSec(e.timestamp), class: "nowrap" },
      { label: t("col.block"), cell: (e) => blockLink(e.block_number) },
      { label: t("col.event"), cell: (e) => h("strong", null, text(e.event)) },
      { label: t("col.args"), cell: (e) => argsList(e.args), class: "wrap" },
      { label: t("col.transaction"), cell: (e) => txLink(e.tx_hash) },
    ]),
    Array.isArray(history) ? history : [],
    { testid },
  );
}

/** The arguments of a transaction or an event: name and value, or "redacted" when they are withheld. */
export function argsList(/** @type {unknown} */ args) {
  if (args === null || args === undefined) return h("span", { class: "muted" }, t("redacted"));
  if (!isObject(args)) return mono(args);
  const entries = Object.entries(args);
  if (!entries.length) return "—";
  return h(
    "dl",
    { class: "args" },
    entries.map(([k, v]) => [h("dt", null, k), h("dd", { class: "mono" }, text(v))]),
  );
}

export function anchorState(/** @type {unknown} */ state) {
  /** @type {Record<string, Kind>} */
  const kinds = { confirmed: "ok", sent: "warn", failed: "fail" };
  return badge(kinds[String(state)] || "muted", t(`anchorState.${state}`, null, text(state)));
}

/**
 * Whether AuditAnchor checked the log key's signature on an anchor (GET /anchors' "signature"), with data-check.
 * A plain anchor of an intl consortium is "not applicable": nothing on chain checks an Ed25519 log key.
 * @param {unknown} check  "checked", "unchecked" or "unknown"
 * @param {unknown} crypto  the consortium's suite
 */
export function anchorCheck(check, crypto) {
  const attrs = { dataset: { check: String(check) } };
  if (check === "checked") return badge("ok", t("anchorCheck.checked"), attrs);
  if (check === "unchecked" && crypto === "sm") return badge("warn", t("anchorCheck.unchecked"), attrs);
  if (check === "unchecked") return badge("muted", t("anchorCheck.notApplicable"), attrs);
  return badge("muted", t("anchorCheck.unknown"), attrs);
}

// -- verification -----------------------------------------------------------------------------------------

/** The i18n keys of verify.js's chain steps, whose names have spaces (as notary/verify.py's). */
const CHAIN_LABELS = new Map([
  ["transaction in block", "step.txInBlock"],
  ["transaction succeeded", "step.txSucceeded"],
  ["block hash", "step.blockHash"],
  ["anchor log", "step.anchorLog"],
]);

/**
 * The name in words of a step of an evidence bundle's check (verify.js's verifyBundle and verifyChain, the
 * explorer's provenance); an unknown one as it is.
 * @param {string} step
 */
export function checkStepName(step) {
  return t(CHAIN_LABELS.get(step) || `step.${step}`, null, step);
}

/**
 * A verdict: ✓ yes, ✗ no, or – none (undecided), with data-ok.
 * @param {boolean | null} ok
 * @param {string} testid
 * @param {string} yes
 * @param {string} no
 * @param {string} none
 */
export function verdict(ok, testid, yes, no, none) {
  const label = ok === true ? yes : ok === false ? no : none;
  const kind = ok === true ? "ok" : ok === false ? "fail" : "muted";
  return h(
    "div",
    { class: `verdict verdict-${kind}`, testid, dataset: { ok: String(ok) } },
    mark(ok),
    h("span", null, label),
  );
}

/**
 * The browser's verdict on its steps: false if one failed, true if all passed, null while some are pending.
 * @param {{ok: boolean | null}[]} steps
 */
export function browserVerdict(steps) {
  if (steps.some((s) => s.ok === false)) return false;
  if (steps.every((s) => s.ok === true)) return true;
  return null;
}

/**
 * A table of the rows of a paginated listing (`{<key>: [...], next}`), its count above and a button for the next
 * page below: the calls, and the audit log's records of queries and of alarms. The count and the button are named
 * after the table (`calls-table`: `calls-count`, `calls-more`).
 * @template R
 * @param {Ctx} ctx
 * @param {{path: string, key: string, params: Record<string, string | number>, columns: Column<R>[],
 *   rowAttrs: (row: R) => import("../dom.js").Attrs, testid: string, head?: Child[], problem?: HTMLElement,
 *   empty?: string}} listing
 *   ``head``: more in the head beside the count; ``problem``: where a failure to load more is shown (by default
 *   beside the button); ``empty``: what the table says when the first page is empty
 * @returns {Promise<Child[]>}
 */
export async function pagedTable(ctx, listing) {
  const { path, key, params, columns, rowAttrs, testid, head = [] } = listing;
  const base = testid.replace(/-table$/, "");
  /** @type {{next?: string | null}} */
  const answer = await getJson(path, params);
  const rows = /** @type {R[]} */ (listOf(answer, key).filter(isObject));
  const tableNode = table(columns, rows, { testid }, rowAttrs, listing.empty);
  const tbody = /** @type {HTMLTableSectionElement} */ (tableNode.querySelector("tbody"));
  const count = h("span", { class: "muted", testid: `${base}-count` }, t("calls.shown", { n: rows.length }));
  const problem = listing.problem ?? h("div", { class: "download-status", "aria-live": "polite" });
  let next = answer.next ?? null;
  let shown = rows.length;
  const more = h("button", { type: "button", class: "btn", testid: `${base}-more`, hidden: !next }, t("more"));
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      /** @type {{next?: string | null}} */
      const page = await getJson(path, { ...params, cursor: next ?? "" });
      if (!ctx.alive()) return;
      const extra = /** @type {R[]} */ (listOf(page, key).filter(isObject));
      const empty = tbody.querySelector("tr.empty");
      if (empty && extra.length) empty.remove();
      appendRows(tbody, columns, extra, rowAttrs);
      shown += extra.length;
      count.textContent = t("calls.shown", { n: shown });
      next = page.next ?? null;
      more.hidden = !next;
    } catch (exc) {
      if (!(exc instanceof ApiError && exc.status === 401))
        statusMessage(problem, /** @type {Error} */ (exc).message, "fail");
    } finally {
      more.disabled = false;
    }
  });
  const foot = listing.problem ? [more] : [more, problem];
  return [h("div", { class: "table-head" }, count, ...head), tableNode, h("div", { class: "table-foot" }, ...foot)];
}
