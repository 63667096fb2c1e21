// Alarms: the operational alarms of the consortium's components, active ones first (most severe first), then
// the recently resolved ones, as the evaluator of `consortium up` last saw them; refreshed every few seconds.
// Above them, how fresh they are: live, stale (shown as they were), the alarm source unreachable (with its
// last answer, if any), or never evaluated; a list that is not known is said to be so, never shown empty.
// Below them, the audit log's records of alarm transitions (GET /alarms/records), page by page.

import { getJson, isObject, listOf } from "../api.js";
import { h, link, mount } from "../dom.js";
import { fmtMs, fmtNum, text } from "../format.js";
import { t } from "../i18n.js";
import { badge, inWords, section, short, table } from "../widgets.js";
import { loadInto, orgLink, pageHeader, pagedTable } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { Alarm, AlarmRecord, Alarms } from "../types.js" */
/** @import { Column } from "../widgets.js" */

const REFRESH_MS = 5000;
/** @type {Record<string, "fail" | "warn" | "info">} */
const SEVERITY_BADGE = { critical: "fail", warning: "warn", info: "info" };

function severityBadge(/** @type {unknown} */ severity) {
  const name = String(severity);
  return badge(SEVERITY_BADGE[name] || "muted", t(`alarms.severity.${name}`));
}

/** An alarm's rule in words, its code (network.alarms.rules, as up.toml names it) in the title. */
function alarmRule(/** @type {unknown} */ rule) {
  const code = text(rule);
  return h("span", { title: code }, t(`alarmRule.${code}`, null, code));
}

/**
 * An alarm's subject in words (`notary`, `witness/<org>` → the notary, the witness of org), as it is in the title;
 * a kind of component the page knows no words for, as it is.
 * @param {unknown} subject
 */
function alarmSubject(subject) {
  const code = text(subject);
  const slash = code.indexOf("/");
  const kind = slash < 0 ? code : code.slice(0, slash);
  const name = slash < 0 ? "" : code.slice(slash + 1);
  return h("span", { title: code, dataset: { subject: code } }, t(`alarmSubject.${kind}`, { name }, code));
}

/** An alarm's summary in the page's language (alarmSummary.<code>), in English (its title) without words for it. */
function alarmSummary(/** @type {Alarm} */ a) {
  return h("span", { title: text(a.summary) }, inWords("alarmSummary", a.summary_code, a.summary_params, a.summary));
}

/**
 * @param {Alarm[]} rows
 * @param {boolean} resolved  whether to show when each was resolved
 * @param {string} testid
 */
function alarmTable(rows, resolved, testid) {
  /** @type {{label: string, cell: (a: Alarm) => Node | string}[]} */
  const columns = [
    { label: t("alarms.severity"), cell: (a) => severityBadge(a.severity) },
    { label: t("alarms.rule"), cell: (a) => alarmRule(a.rule) },
    { label: t("alarms.subject"), cell: (a) => alarmSubject(a.subject) },
    { label: t("alarms.summary"), cell: (a) => alarmSummary(a) },
    { label: t("alarms.since"), cell: (a) => fmtMs(a.since_ms) },
  ];
  if (resolved) columns.push({ label: t("alarms.resolved"), cell: (a) => fmtMs(a.resolved_ms) });
  const empty = resolved ? t("alarms.noneResolved") : t("alarms.none");
  return table(columns, rows, { testid }, (a) => ({ dataset: { alarm: a.id } }), empty);
}

/** @returns {Column<AlarmRecord>[]} */
const recordColumns = () => [
  { label: t("col.time"), cell: (r) => fmtMs(r.time_ms), class: "nowrap" },
  { label: t("col.event"), cell: (r) => link(["calls", r.event_id], short(r.event_id, 8), { testid: "record-link" }) },
  { label: t("alarms.transition"), cell: (r) => text(t(`alarms.transition.${r.transition}`)) },
  { label: t("alarms.severity"), cell: (r) => severityBadge(r.severity) },
  { label: t("alarms.rule"), cell: (r) => alarmRule(r.rule) },
  { label: t("alarms.subject"), cell: (r) => alarmSubject(r.subject) },
  { label: t("alarms.org"), cell: (r) => orgLink(r.org) },
  { label: t("col.index"), cell: (r) => fmtNum(r.index), class: "num" },
];

/** @type {Record<Alarms["status"], "ok" | "warn" | "fail" | "muted">} */
const STATUS_BADGE = { live: "ok", stale: "warn", unreachable: "fail", never: "muted" };

/**
 * The freshness line: a badge of the status, when they were evaluated, and why the source is unreachable.
 * @param {Alarms} answer
 */
function freshness(answer) {
  const status = STATUS_BADGE[answer.status] ? answer.status : "unreachable";
  /** @type {(Node | string)[]} */
  const parts = [badge(STATUS_BADGE[status], t(`alarms.status.${status}`), { testid: "alarms-status" }), " "];
  parts.push(
    answer.evaluated_ms === null || answer.evaluated_ms === undefined
      ? t("alarms.never")
      : t("alarms.evaluated", { time: fmtMs(answer.evaluated_ms) }),
  );
  if (status === "stale") parts.push(" — ", t("alarms.staleNote"));
  if (answer.error) parts.push(" — ", h("span", { testid: "alarms-error" }, text(answer.error)));
  return parts;
}

/** @param {Ctx} ctx */
export async function viewAlarms(ctx) {
  const body = h("div", { testid: "alarms" });
  const stamp = h("span", { testid: "alarms-evaluated" });
  const refresh = async () => {
    /** @type {Alarms} */
    const answer = await getJson("/alarms");
    if (!ctx.alive()) return;
    mount(stamp, ...freshness(answer));
    stamp.dataset.status = answer.status;
    const known = Array.isArray(answer.active) && Array.isArray(answer.resolved);
    const active = /** @type {Alarm[]} */ (listOf(answer, "active").filter(isObject));
    const resolved = /** @type {Alarm[]} */ (listOf(answer, "resolved").filter(isObject));
    const unknown = () => h("p", { class: "muted", testid: "alarms-active" }, t("alarms.unknown"));
    mount(
      body,
      section(
        t("alarms.active"),
        !known
          ? unknown()
          : active.length
            ? alarmTable(active, false, "alarms-active")
            : h("p", { class: "muted", testid: "alarms-active" }, t("alarms.none")),
      ),
      section(t("alarms.recent"), known ? alarmTable(resolved, true, "alarms-resolved") : unknown()),
      h("p", { class: "muted" }, t("alarms.intro")),
    );
  };
  await refresh();
  const records = h("div", { testid: "alarm-records" });
  ctx.show(
    pageHeader(t("nav.alarms"), stamp),
    body,
    section(t("alarms.records"), h("p", { class: "muted" }, t("alarms.recordsIntro")), records),
  );
  ctx.repeat(refresh, REFRESH_MS);
  await loadInto(ctx, records, () =>
    pagedTable(ctx, {
      path: "/alarms/records",
      key: "records",
      params: { limit: 50 },
      columns: recordColumns(),
      rowAttrs: (r) => ({ dataset: { alarm: r.alarm_id, transition: r.transition } }),
      testid: "alarm-records-table",
      empty: t("alarms.noRecords"),
    }),
  );
}
