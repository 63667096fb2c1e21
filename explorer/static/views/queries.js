// The audit of the auditors: the explorer's records of people's queries (GET /queries), newest first, each with
// the firms whose data it read (its subject). A firm's people see their own firm's queries, the regulator's
// people every query (docs/confidentiality.md).

import { h, link } from "../dom.js";
import { fmtMs, fmtNum } from "../format.js";
import { t } from "../i18n.js";
import { go, queryHash } from "../router.js";
import { decisionBadge, denialReason, httpStatusBadge, mono, section, short } from "../widgets.js";
import { chips, loadInto, orgLink, pageHeader, pagedTable } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { QueryRecord } from "../types.js" */
/** @import { Column } from "../widgets.js" */

/** @returns {Column<QueryRecord>[]} */
const columns = () => [
  { label: t("col.time"), cell: (q) => fmtMs(q.time_ms), class: "nowrap" },
  { label: t("col.event"), cell: (q) => link(["calls", q.event_id], short(q.event_id, 8), { testid: "query-link" }) },
  { label: t("queries.by"), cell: (q) => orgLink(q.caller_org) },
  { label: t("queries.api"), cell: (q) => mono(q.api), class: "nowrap" },
  { label: t("col.route"), cell: (q) => mono(`${q.method || ""} ${q.route || ""}`.trim()) },
  {
    label: t("queries.subject"),
    cell: (q) =>
      Array.isArray(q.subject) && q.subject.length
        ? h("span", { testid: "query-subject" }, chips(q.subject.map(String)))
        : h(
            "span",
            { class: "muted", testid: "query-subject", title: t("queries.noSubject") },
            t("queries.noSubjectShort"),
          ),
  },
  { label: t("col.decision"), cell: (q) => decisionBadge(q.decision) },
  { label: t("col.denialReason"), cell: (q) => denialReason(q.denial_reason) },
  { label: t("col.status"), cell: (q) => httpStatusBadge(q.status) },
  { label: t("col.index"), cell: (q) => fmtNum(q.index), class: "num" },
];

/** @param {Ctx} ctx */
export async function viewQueries(ctx) {
  /** @type {Record<string, string>} */
  const filters = {};
  for (const k of ["caller", "decision"]) {
    const v = ctx.params.get(k);
    if (v) filters[k] = v;
  }
  const caller = h("input", {
    id: "queries-caller",
    name: "caller",
    testid: "queries-filter-caller",
    value: filters.caller || "",
    placeholder: "org",
    autocomplete: "off",
  });
  const decision = h(
    "select",
    { id: "queries-decision", name: "decision", testid: "queries-filter-decision" },
    h("option", { value: "" }, t("any")),
    ["allow", "deny"].map((d) => h("option", { value: d, selected: filters.decision === d }, t(`decision.${d}`))),
  );
  const form = h(
    "form",
    { class: "filters", testid: "queries-form" },
    h("div", { class: "field" }, h("label", { for: "queries-caller" }, t("queries.by")), caller),
    h("div", { class: "field" }, h("label", { for: "queries-decision" }, t("filter.decision")), decision),
    h("div", { class: "field field-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, t("search"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    go(queryHash("queries", Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim()]))));
  });
  const results = h("div", { testid: "queries-results" });
  ctx.show(
    pageHeader(t("nav.queries")),
    section(null, h("p", { class: "muted" }, t("queries.intro")), form),
    section(null, results),
  );
  await loadInto(ctx, results, () =>
    pagedTable(ctx, {
      path: "/queries",
      key: "queries",
      params: { ...filters, limit: 50 },
      columns: columns(),
      rowAttrs: (q) => ({ dataset: { eventId: q.event_id, decision: q.decision } }),
      testid: "queries-table",
    }),
  );
}
