// The consortium's members, and one member: its details, its calls and grants, its compliance report, its history.

import { download, getJson, listOf, pick } from "../api.js";
import { h, linkQuery } from "../dom.js";
import { fmtNum, fmtSec, text } from "../format.js";
import { t } from "../i18n.js";
import { badge, kv, mono, section, short, table } from "../widgets.js";
import { fetchKeys } from "../session.js";
import { chips, historyTable, orgLink, pageHeader, statusMessage } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { Member } from "../types.js" */
/** @import { Kind } from "../widgets.js" */

function memberStatus(/** @type {unknown} */ status) {
  /** @type {Record<string, Kind>} */
  const kinds = { active: "ok", suspended: "warn", removed: "fail" };
  return badge(kinds[String(status)] || "muted", t(`memberStatus.${status}`, null, text(status)));
}

function roleChips(/** @type {unknown} */ roles) {
  const list = Array.isArray(roles) ? roles : typeof roles === "string" ? roles.split(/[,\s]+/).filter(Boolean) : [];
  return chips(list.map((r) => t(`memberRole.${r}`, null, r)));
}

/**
 * The witness key of each witness valid now, by org (GET /keys, as the verifier reads them from the chain): the
 * member listing does not carry them. Empty when the keys cannot be read.
 * @returns {Promise<Map<string, string>>}
 */
async function witnessKeys() {
  try {
    return new Map((await fetchKeys()).witnesses.map((w) => [w.org, w.vkey]));
  } catch {
    return new Map();
  }
}

/** A witness key "<name>+<key id>+<key>" shown by its key id, the whole key in the title. */
function witnessKey(/** @type {unknown} */ vkey) {
  if (typeof vkey !== "string" || !vkey) return "—";
  const id = vkey.split("+")[1];
  return h("span", { class: "mono short", title: vkey }, id || vkey);
}

/** @param {Ctx} ctx */
export async function viewMembers(ctx) {
  /** @type {[{block?: number, members: Member[]}, Map<string, string>]} */
  const [answer, witnesses] = await Promise.all([getJson("/members"), witnessKeys()]);
  /** @type {Member[]} */
  const rows = listOf(answer, "members");
  ctx.show(
    pageHeader(
      t("nav.members"),
      answer.block !== undefined ? h("span", { class: "muted" }, t("asOfBlock", { block: answer.block })) : null,
    ),
    section(
      null,
      table(
        [
          { label: t("col.org"), cell: (m) => orgLink(m.org) },
          { label: t("col.name"), cell: (m) => text(m.name) },
          { label: t("col.roles"), cell: (m) => roleChips(m.roles) },
          { label: t("col.status"), cell: (m) => memberStatus(m.status) },
          {
            label: t("col.fingerprint"),
            cell: (m) => short(pick(m, "certificate_fingerprint", "cert_fingerprint"), 10),
          },
          {
            label: t("col.witnessKey"),
            cell: (m) => witnessKey(witnesses.get(m.org)),
          },
          { label: t("col.admitted"), cell: (m) => fmtSec(m.admitted_at) },
        ],
        rows,
        { testid: "members-table" },
        (m) => ({ dataset: { org: m.org } }),
      ),
    ),
  );
}

/** The local day's start (or, with endOfDay, the next day's start) of "YYYY-MM-DD", in ms; null if invalid. */
function toDayMs(/** @type {string} */ value, /** @type {boolean} */ endOfDay) {
  if (!value) return null;
  const d = new Date(`${value}T00:00:00`);
  if (Number.isNaN(d.getTime())) return null;
  return d.getTime() + (endOfDay ? 86_400_000 : 0);
}

/** The form that downloads ``org``'s compliance report for a range of days, as HTML, CSV or JSON. */
function reportForm(/** @type {string} */ org) {
  const today = new Date();
  const iso = (/** @type {Date} */ d) =>
    `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  const monthAgo = new Date(today.getTime() - 30 * 86_400_000);
  const from = h("input", {
    type: "date",
    id: "report-from",
    testid: "report-from",
    value: iso(monthAgo),
    required: true,
  });
  const to = h("input", { type: "date", id: "report-to", testid: "report-to", value: iso(today), required: true });
  const format = h(
    "select",
    { id: "report-format", testid: "report-format" },
    ["html", "csv", "json"].map((f) => h("option", { value: f }, f.toUpperCase())),
  );
  const status = h("div", { testid: "report-status" });
  const form = h(
    "form",
    { class: "inline-form", testid: "report-form" },
    h("label", { for: "report-from" }, t("report.from")),
    from,
    h("label", { for: "report-to" }, t("report.to")),
    to,
    h("label", { for: "report-format" }, t("report.format")),
    format,
    h("button", { type: "submit", class: "btn", testid: "report-download" }, t("report.download")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fromMs = toDayMs(from.value, false);
    const toMs = toDayMs(to.value, true);
    if (fromMs === null || toMs === null || toMs <= fromMs) {
      statusMessage(status, t("report.badRange"), "fail");
      return;
    }
    statusMessage(status, t("download.busy"), "info");
    try {
      const file = await download(
        `/reports/${encodeURIComponent(org)}`,
        { from: fromMs, to: toMs, format: format.value },
        `report-${org}.${format.value}`,
      );
      statusMessage(status, t("download.done", { name: file.name, size: fmtNum(file.size) }), "ok");
    } catch (exc) {
      statusMessage(status, t("download.failed", { detail: /** @type {Error} */ (exc).message }), "fail");
    }
  });
  return form;
}

/** @param {Ctx} ctx */
export async function viewMember(ctx) {
  const org = ctx.args[0];
  /** @type {[Member, Map<string, string>]} */
  const [m, witnesses] = await Promise.all([getJson(`/members/${encodeURIComponent(org)}`), witnessKeys()]);
  const vkey = witnesses.get(m.org);
  const accounts = Array.isArray(m.accounts) ? m.accounts : [];
  ctx.show(
    pageHeader(`${m.name || org}`, h("span", { class: "mono muted" }, org)),
    section(
      t("member.details"),
      kv([
        [t("col.org"), mono(m.org)],
        [t("col.name"), text(m.name)],
        [t("col.roles"), roleChips(m.roles)],
        [t("col.status"), memberStatus(m.status)],
        [t("col.fingerprint"), mono(pick(m, "certificate_fingerprint", "cert_fingerprint"))],
        vkey !== undefined ? [t("col.witnessKey"), mono(vkey)] : null,
        [
          t("col.accounts"),
          accounts.length
            ? h(
                "ul",
                { class: "plain" },
                accounts.map((a) => h("li", { class: "mono" }, a)),
              )
            : "—",
        ],
        [t("col.admitted"), fmtSec(m.admitted_at)],
        [
          t("member.calls"),
          h(
            "span",
            null,
            linkQuery(["calls"], { caller: org }, t("member.asCaller")),
            " · ",
            linkQuery(["calls"], { provider: org }, t("member.asProvider")),
          ),
        ],
        [
          t("member.grants"),
          h(
            "span",
            null,
            linkQuery(["grants"], { grantor: org }, t("member.asGrantor")),
            " · ",
            linkQuery(["grants"], { grantee: org }, t("member.asGrantee")),
          ),
        ],
      ]),
    ),
    section(t("report.title"), h("p", { class: "muted" }, t("report.intro")), reportForm(org)),
    section(t("history"), historyTable(m.history, "member-history")),
  );
}
