// The dashboard: chain head, log size, the latest checkpoint and anchor, calls per minute by service center,
// the witnesses and the latest denials, refreshed every few seconds.

import { ApiError, getJson, isObject, listOf, pick } from "../api.js";
import { lineChart } from "../chart.js";
import { h, link, linkQuery, mount } from "../dom.js";
import { fmtMs, fmtNum, fmtSec } from "../format.js";
import { t } from "../i18n.js";
import { fetchKeys } from "../session.js";
import { section, table } from "../widgets.js";
import {
  blockLink,
  callColumns,
  callRowAttrs,
  chips,
  describePolicy,
  pageHeader,
  statusMessage,
  txLink,
  witnessRows,
  witnessTable,
} from "./_shared.js";

/** @import { Series } from "../chart.js" */
/** @import { Child } from "../dom.js" */
/** @import { Ctx } from "../router.js" */
/** @import { Dashboard } from "../types.js" */
/** @import { Keys } from "../verify.js" */

const REFRESH_MS = 5000;
const DASHBOARD_MINUTES = 60;

/**
 * Calls per minute by center, whatever the shape: [{minute|minute_ms|time_ms, center, count}], {center: [[t, n]]},
 * or {minutes: [...], series: {center: [n...]}}: to {minutes: [ms], series: [{name, values}]}.
 * @param {unknown} raw
 * @param {number} windowMinutes  the minutes up to now to show, quiet ones as zero
 * @returns {{minutes: number[], series: Series[]}}
 */
function perMinute(raw, windowMinutes) {
  if (isObject(raw) && Array.isArray(raw.minutes) && isObject(raw.series)) {
    const minutes = raw.minutes.map((/** @type {unknown} */ m) => toMs(m));
    return {
      minutes,
      series: Object.entries(raw.series).map(([name, values]) => ({ name, values: values.map(Number) })),
    };
  }
  /** @type {Record<string, any>[]} */
  const rows = [];
  const source = isObject(raw) && Array.isArray(raw.rows) ? raw.rows : raw;
  if (Array.isArray(source)) {
    for (const r of source) if (isObject(r)) rows.push(r);
  } else if (isObject(source)) {
    for (const [center, values] of Object.entries(source)) {
      if (!Array.isArray(values)) continue;
      for (const v of values) {
        if (Array.isArray(v)) rows.push({ center, minute: v[0], count: v[1] });
        else if (isObject(v)) rows.push({ center, ...v });
      }
    }
  }
  const points = rows
    .map((r) => ({
      center: String(pick(r, "center", "service_center") ?? "—"),
      minute: toMs(pick(r, "minute_ms", "minute", "time_ms", "start_ms", "t", "ts", "time")),
      count: Number(pick(r, "count", "calls", "n", "total") ?? 0),
    }))
    .filter((p) => Number.isFinite(p.minute));
  if (!points.length) return { minutes: [], series: [] };
  // the whole window up to the current minute, so that quiet minutes show as zero
  const nowMinute = Math.floor(Date.now() / 60000) * 60000;
  const windowStart = windowMinutes ? nowMinute - (windowMinutes - 1) * 60000 : Infinity;
  const first = Math.floor(Math.min(windowStart, ...points.map((p) => p.minute)) / 60000) * 60000;
  const last = Math.max(windowMinutes ? nowMinute : -Infinity, ...points.map((p) => p.minute));
  const span = Math.min(24 * 60, Math.round((last - first) / 60000) + 1);
  const minutes = Array.from({ length: span }, (_, i) => first + i * 60000);
  /** @type {Map<string, number[]>} */
  const byCenter = new Map();
  for (const p of points) {
    let counts = byCenter.get(p.center);
    if (!counts) byCenter.set(p.center, (counts = new Array(span).fill(0)));
    const i = Math.round((p.minute - first) / 60000);
    if (i >= 0 && i < span) counts[i] += p.count;
  }
  const series = [...byCenter.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, values]) => ({ name, values }));
  return { minutes, series };
}

/** A minute as ms since the epoch, from minutes, seconds or ms since the epoch; NaN if not a number. */
function toMs(/** @type {unknown} */ value) {
  const n = Number(value);
  if (!Number.isFinite(n) || value === null || value === undefined) return NaN;
  if (n < 1e8) return n * 60000; // minutes since the epoch
  if (n < 1e11) return n * 1000; // seconds
  return n;
}

/** @param {Ctx} ctx */
export async function viewDashboard(ctx) {
  const body = h("div", { class: "dashboard", testid: "dashboard" });
  const stamp = h("span", { class: "muted", testid: "dashboard-updated" });
  const warn = h("div", { class: "refresh-warning" });
  /** @type {Keys["policy"] | null} */
  let policy = null;
  try {
    policy = (await fetchKeys()).policy;
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) return;
  }
  const refresh = async () => {
    /** @type {Dashboard} */
    let d;
    try {
      d = await getJson("/dashboard", { minutes: DASHBOARD_MINUTES });
    } catch (exc) {
      if (ctx.alive() && !(exc instanceof ApiError && exc.status === 401)) {
        statusMessage(warn, t("dashboard.refreshFailed", { detail: /** @type {Error} */ (exc).message }), "warn");
      }
      throw exc;
    }
    if (!ctx.alive()) return;
    statusMessage(warn, null);
    stamp.textContent = t("dashboard.updated", { time: fmtMs(Date.now()), seconds: REFRESH_MS / 1000 });
    mount(body, ...dashboardParts(d, policy));
  };
  await refresh();
  ctx.show(pageHeader(t("nav.dashboard"), stamp), warn, body);
  ctx.repeat(refresh, REFRESH_MS);
}

/**
 * @param {Dashboard} d
 * @param {Keys["policy"] | null} policy  the witness policy, as GET /keys serves it
 * @returns {Child[]}
 */
function dashboardParts(d, policy) {
  /** @type {Partial<Dashboard["head"]>} */
  const head = isObject(d.head) ? d.head : {};
  const cp = isObject(d.checkpoint) ? d.checkpoint : null;
  /** @type {Record<string, any> | null} the latest anchored checkpoint, or an anchor */
  const an = isObject(d.anchor) ? d.anchor : null;
  const anchor = an && isObject(an.anchor) ? { size: an.size, ...an.anchor } : an;
  /** @type {(title: string, testid: string, ...lines: Child[]) => HTMLElement} */
  const card = (title, testid, ...lines) =>
    h("div", { class: "stat", testid }, h("div", { class: "stat-title" }, title), ...lines);
  const cards = h(
    "div",
    { class: "stats" },
    card(
      t("dashboard.head"),
      "stat-head",
      h(
        "div",
        { class: "stat-value" },
        head.number === null || head.number === undefined ? "—" : blockLink(head.number),
      ),
      h("div", { class: "stat-sub" }, fmtSec(head.time)),
    ),
    card(
      t("dashboard.logSize"),
      "stat-log",
      h("div", { class: "stat-value" }, fmtNum(d.log_size)),
      h("div", { class: "stat-sub" }, t("dashboard.entries")),
    ),
    card(
      t("dashboard.checkpoint"),
      "stat-checkpoint",
      h("div", { class: "stat-value" }, cp ? link(["checkpoints"], fmtNum(cp.size)) : "—"),
      h("div", { class: "stat-sub" }, cp ? fmtMs(pick(cp, "published_ms", "time_ms")) : t("dashboard.noCheckpoint")),
      cp ? h("div", { class: "stat-sub" }, t("dashboard.cosignedBy"), " ", chips(cp.cosigners)) : null,
    ),
    card(
      t("dashboard.anchor"),
      "stat-anchor",
      h("div", { class: "stat-value" }, anchor ? link(["anchors"], fmtNum(anchor.size)) : "—"),
      anchor
        ? h(
            "div",
            { class: "stat-sub" },
            t("col.block"),
            " ",
            blockLink(anchor.block_number),
            " · ",
            txLink(anchor.tx_hash),
          )
        : h("div", { class: "stat-sub" }, t("dashboard.noAnchor")),
      anchor ? h("div", { class: "stat-sub" }, fmtMs(pick(anchor, "confirmed_ms", "sent_ms"))) : null,
    ),
  );
  const chart = lineChart(perMinute(d.calls_per_minute, DASHBOARD_MINUTES), {
    title: t("dashboard.chartTitle"),
    empty: t("dashboard.chartEmpty"),
    unit: t("dashboard.perMinute"),
    testid: "calls-chart",
  });
  const denials = listOf(d.denials, "calls");
  const looks = isObject(d.regulator_looks) ? d.regulator_looks : null;
  if (looks) {
    cards.append(
      card(
        t("dashboard.regulatorLooks"),
        "stat-regulator-looks",
        h("div", { class: "stat-value" }, fmtNum(looks.calls)),
        h(
          "div",
          { class: "stat-sub" },
          t("dashboard.regulatorLooksSub", { calls: fmtNum(looks.calls), queries: fmtNum(looks.queries) }),
        ),
      ),
    );
  }
  const byFirm = Array.isArray(d.regulator_queries_by_firm) ? d.regulator_queries_by_firm : null;
  return [
    cards,
    byFirm
      ? section(
          t("dashboard.regulatorByFirm"),
          byFirm.length
            ? table(
                [
                  { label: t("col.org"), cell: (r) => r.org },
                  { label: t("dashboard.queries"), cell: (r) => fmtNum(r.queries) },
                ],
                byFirm,
                { testid: "regulator-by-firm" },
              )
            : h("p", { class: "muted" }, t("dashboard.regulatorByFirmEmpty")),
        )
      : null,
    h(
      "div",
      { class: "grid-2" },
      section(t("dashboard.chartTitle"), chart),
      section(
        t("dashboard.witnesses"),
        policy
          ? h(
              "p",
              { class: "muted" },
              t("dashboard.policy", { policy: describePolicy({ ...policy, witnesses: witnessRows(d.witnesses) }) }),
            )
          : null,
        witnessTable(d.witnesses, "witness-table"),
      ),
    ),
    section(
      t("dashboard.denials"),
      table(callColumns(true), denials, { testid: "denials-table" }, callRowAttrs),
      h("p", null, linkQuery(["calls"], { decision: "deny" }, t("dashboard.allDenials"))),
    ),
  ];
}
