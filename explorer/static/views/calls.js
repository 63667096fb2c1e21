// The calls: a search form (parties, service, asset, grant, decision, status, time, trace), the matching calls
// newest first, page by page, and their export as CSV, JSON or a zip of evidence bundles.

import { ApiError, download } from "../api.js";
import { h, link } from "../dom.js";
import { fmtMs, fmtNum } from "../format.js";
import { t } from "../i18n.js";
import { go, queryHash } from "../router.js";
import { section } from "../widgets.js";
import { callColumns, callRowAttrs, loadInto, pageHeader, pagedTable, statusMessage } from "./_shared.js";

/** @import { Attrs, Child } from "../dom.js" */
/** @import { Ctx } from "../router.js" */
/** @import { Call } from "../types.js" */
/** @import { Column } from "../widgets.js" */

const CALL_FILTERS = [
  "caller",
  "provider",
  "service",
  "center",
  "asset",
  "grant",
  "decision",
  "status",
  "denial_reason",
  "from",
  "to",
  "trace",
];

/** The denial reasons the filter suggests: the gateway's (docs/gateway.md) and the explorer's own. */
const DENIAL_REASONS = [
  "no_grant",
  "grant_expired",
  "grant_not_yet_valid",
  "grant_revoked",
  "member_suspended",
  "not_a_member",
  "provider_suspended",
  "asset_retired",
  "ownership_changed",
  "unknown_asset",
  "unknown_api",
  "quota_exhausted",
  "dp_budget_exhausted",
  "quota_unavailable",
  "psi_run_in_flight",
  "purpose_missing",
  "body_too_large",
  "chain_unavailable",
  "outbox_full",
  "too_many_in_flight",
  "psi_terms_mismatch",
  "psi_malformed",
  "psi_wrong_terms",
  "psi_wrong_job",
  "input_over_cap",
  "psi_needs_proxy",
  "invalid_request",
  "read_only",
  "not_found",
  "too_large",
  "rate_limited",
  "refused",
];

/** A time in ms as a datetime-local input's value. */
function localInput(/** @type {unknown} */ msValue) {
  if (!msValue) return "";
  const d = new Date(Number(msValue));
  if (Number.isNaN(d.getTime())) return "";
  const p = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** The filters in the query that are set. */
function callFilters(/** @type {URLSearchParams} */ params) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const k of CALL_FILTERS) {
    const v = params.get(k);
    if (v !== null && v !== "") out[k] = v;
  }
  return out;
}

/** @param {Ctx} ctx */
export async function viewCalls(ctx) {
  const filters = callFilters(ctx.params);
  const limit = Math.min(200, Math.max(1, Number(ctx.params.get("limit")) || 50));
  /** @type {(name: string, attrs?: Attrs) => HTMLElement} */
  const input = (name, attrs) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: `calls-${name}` }, t(`filter.${name}`)),
      h("input", {
        id: `calls-${name}`,
        name,
        testid: `filter-${name}`,
        value: filters[name] || "",
        autocomplete: "off",
        ...attrs,
      }),
    );
  const decision = h(
    "select",
    { id: "calls-decision", name: "decision", testid: "filter-decision" },
    h("option", { value: "" }, t("any")),
    ["allow", "deny"].map((d) => h("option", { value: d, selected: filters.decision === d }, t(`decision.${d}`))),
  );
  const from = h("input", {
    id: "calls-from",
    name: "from",
    type: "datetime-local",
    testid: "filter-from",
    value: localInput(filters.from),
  });
  const to = h("input", {
    id: "calls-to",
    name: "to",
    type: "datetime-local",
    testid: "filter-to",
    value: localInput(filters.to),
  });
  const limitSelect = h(
    "select",
    { id: "calls-limit", name: "limit", testid: "filter-limit" },
    [20, 50, 100, 200].map((n) => h("option", { value: n, selected: n === limit }, String(n))),
  );
  const form = h(
    "form",
    { class: "filters", testid: "calls-form" },
    input("caller", { placeholder: "org" }),
    input("provider", { placeholder: "org" }),
    input("service", { placeholder: "api" }),
    input("center"),
    input("asset"),
    input("grant", { placeholder: "0x…" }),
    h("div", { class: "field" }, h("label", { for: "calls-decision" }, t("filter.decision")), decision),
    input("status", { type: "number", min: 100, max: 599 }),
    input("denial_reason", { list: "calls-denial-reasons", placeholder: "no_grant" }),
    h(
      "datalist",
      { id: "calls-denial-reasons" },
      DENIAL_REASONS.map((code) => h("option", { value: code }, t(`denial.${code}`))),
    ),
    h("div", { class: "field" }, h("label", { for: "calls-from" }, t("filter.from")), from),
    h("div", { class: "field" }, h("label", { for: "calls-to" }, t("filter.to")), to),
    input("trace", { placeholder: t("filter.tracePlaceholder"), pattern: "[0-9a-f]{32}", class: "wide" }),
    h("div", { class: "field" }, h("label", { for: "calls-limit" }, t("filter.limit")), limitSelect),
    h(
      "div",
      { class: "field field-actions" },
      h("button", { type: "submit", class: "btn btn-primary", testid: "calls-search" }, t("search")),
      h("a", { href: "#/calls", class: "btn btn-ghost", testid: "calls-reset" }, t("reset")),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    /** @type {Record<string, string | number>} */
    const q = {};
    for (const [k, v] of data.entries()) {
      const value = String(v).trim();
      if (!value) continue;
      if (k === "from" || k === "to") {
        const when = new Date(value).getTime();
        if (Number.isFinite(when)) q[k] = when;
      } else if (k === "trace") {
        q[k] = value.toLowerCase();
      } else if (k === "limit") {
        if (Number(value) !== 50) q[k] = value;
      } else {
        q[k] = value;
      }
    }
    go(queryHash("calls", q));
  });

  const downloadStatus = h("div", { class: "download-status", testid: "download-status", "aria-live": "polite" });
  const exportButton = (
    /** @type {string} */ testid,
    /** @type {string} */ path,
    /** @type {string} */ name,
    /** @type {string} */ label,
  ) =>
    h(
      "button",
      {
        type: "button",
        class: "btn",
        testid,
        on: {
          click: async (event) => {
            const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
            button.disabled = true;
            statusMessage(downloadStatus, t("download.busy"), "info");
            try {
              const file = await download(path, filters, name);
              statusMessage(downloadStatus, t("download.done", { name: file.name, size: fmtNum(file.size) }), "ok");
            } catch (exc) {
              if (!(exc instanceof ApiError && exc.status === 401))
                statusMessage(
                  downloadStatus,
                  t("download.failed", { detail: /** @type {Error} */ (exc).message }),
                  "fail",
                );
            } finally {
              button.disabled = false;
            }
          },
        },
      },
      label,
    );
  const exports = h(
    "div",
    { class: "exports" },
    h("span", { class: "muted" }, t("calls.export")),
    exportButton("export-csv", "/exports/calls.csv", "calls.csv", "CSV"),
    exportButton("export-json", "/exports/calls.json", "calls.json", "JSON"),
    exportButton("export-zip", "/exports/evidence.zip", "evidence.zip", t("calls.evidenceZip")),
    downloadStatus,
  );

  const results = h("div", { testid: "calls-results" });
  ctx.show(pageHeader(t("nav.calls")), section(null, form), section(null, results));
  await loadInto(ctx, results, async () => callResults(ctx, filters, limit, exports, downloadStatus));
}

/**
 * The table of calls, its count and exports above it, and a button for the next page below.
 * @param {Ctx} ctx
 * @param {Record<string, string>} filters
 * @param {number} limit
 * @param {HTMLElement} exports
 * @param {HTMLElement} downloadStatus  where a failure to load more is shown
 * @returns {Promise<Child[]>}
 */
async function callResults(ctx, filters, limit, exports, downloadStatus) {
  return pagedTable(ctx, {
    path: "/calls",
    key: "calls",
    params: { ...filters, limit },
    columns: [...callColumns(false), regulatorColumn()],
    rowAttrs: callRowAttrs,
    testid: "calls-table",
    head: [exports],
    problem: downloadStatus,
  });
}

/**
 * The column of the regulator's queries of each call the person may see (docs/explorer.md, "Audit of the
 * auditors"): a link to each query's record, titled with its time and endpoint; "—" for none.
 * @returns {Column<Call>}
 */
function regulatorColumn() {
  return {
    label: t("col.regulatorQueries"),
    cell: (c) => {
      const queries = Array.isArray(c.regulator_queries) ? c.regulator_queries : [];
      if (queries.length === 0) return "—";
      return h(
        "span",
        { testid: "regulator-queries" },
        queries.map((q) =>
          h(
            "span",
            { title: `${fmtMs(q.time_ms)} ${q.api}` },
            link(["calls", q.event_id], t(`regulatorQuery.${q.api}`, undefined, q.api), { testid: "regulator-query-link" }),
            " ",
          ),
        ),
      );
    },
  };
}
