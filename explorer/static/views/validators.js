// The validators over the newest blocks: the current set with each one's proposals, seals and missed proposals,
// the blocks decided after a round change (who missed), and the blocks where the set changed. Everything is
// counted from the blocks' seals (GET /validators), so anyone holding the chain can recount it. Then the
// equivocation evidence of every chain node the explorer reaches (GET /validators/equivocations), each record
// checked by the explorer, with the nodes that reported it, downloadable for `consortium chain equivocations
// --file FILE --verify`; and each node asked, whether it answered.

import { getJson, isObject, listOf, saveBlob } from "../api.js";
import { h, linkQuery } from "../dom.js";
import { fmtNum } from "../format.js";
import { t } from "../i18n.js";
import { badge, section, short, table } from "../widgets.js";
import { blockLink, orgLink, pageHeader } from "./_shared.js";

/** @import { Child } from "../dom.js" */
/** @import { Ctx } from "../router.js" */
/** @import { EquivocationListed, Equivocations, EvidenceNode, NamedValidator } from "../types.js" */
/** @import { RoundChange, SetChange } from "../types.js" */
/** @import { ValidatorActivity, ValidatorCounts } from "../types.js" */

/** The windows offered; the API takes any from 1 to MAX_WINDOW. */
const WINDOWS = [100, 1000, 10000];
const DEFAULT_WINDOW = 1000;
const MAX_WINDOW = 10000;

/** A validator as its org (when a member holds the account) and its address, shortened. */
function who(/** @type {NamedValidator | null | undefined} */ v) {
  if (!isObject(v)) return h("span", { class: "muted" }, t("validators.unknown"));
  return v.org ? h("span", null, orgLink(v.org), " ", short(v.address, 6)) : short(v.address, 8);
}

/** Validators as a list of names, each with how many rounds it missed when given. */
function whoList(/** @type {unknown} */ list) {
  if (!Array.isArray(list)) return h("span", { class: "muted" }, t("validators.unknown"));
  if (!list.length) return "—";
  return h(
    "span",
    { class: "chips" },
    list.map((v) =>
      h("span", { class: "chip" }, who(v), typeof v.rounds === "number" && v.rounds > 1 ? ` ×${v.rounds}` : ""),
    ),
  );
}

/** @param {Ctx} ctx */
export async function viewValidators(ctx) {
  const asked = Number(ctx.params.get("window"));
  const span = Number.isInteger(asked) && asked >= 1 ? Math.min(asked, MAX_WINDOW) : DEFAULT_WINDOW;
  /** @type {[ValidatorActivity, Equivocations]} */
  const [answer, evidence] = await Promise.all([
    getJson("/validators", { window: span }),
    getJson("/validators/equivocations", {}),
  ]);
  /** @type {ValidatorCounts[]} */
  const validators = listOf(answer, "validators");
  /** @type {RoundChange[]} */
  const rounds = listOf(answer, "round_changes");
  /** @type {SetChange[]} */
  const sets = listOf(answer, "set_changes");
  const windows = WINDOWS.map((n) =>
    linkQuery(["validators"], { window: n }, t("validators.window", { n: fmtNum(n) }), {
      class: n === span ? "btn btn-primary" : "btn btn-ghost",
      testid: `validators-window-${n}`,
    }),
  );
  /** What an empty table of the blocks counted says: ``key`` with their range, once there are blocks. */
  const ranged = (/** @type {string} */ key) =>
    answer.first === null || answer.first === undefined
      ? undefined
      : t(key, { first: fmtNum(answer.first), head: fmtNum(answer.head) });
  /** @type {Child[]} */
  const notes = [];
  if (answer.unknown_proposer > 0)
    notes.push(h("p", { class: "note note-warn" }, t("validators.unknownProposer", { n: answer.unknown_proposer })));
  if (answer.unknown_missed > 0)
    notes.push(h("p", { class: "note note-warn" }, t("validators.unknownMissed", { n: answer.unknown_missed })));
  ctx.show(
    pageHeader(t("nav.validators"), ...windows),
    section(
      t("validators.set"),
      h(
        "p",
        { class: "muted", testid: "validators-range" },
        answer.first === null || answer.first === undefined
          ? t("validators.empty")
          : t("validators.intro", { first: fmtNum(answer.first), head: fmtNum(answer.head) }),
      ),
      notes,
      table(
        [
          { label: t("col.org"), cell: (v) => orgLink(v.org) },
          { label: t("col.address"), cell: (v) => short(v.address, 10) },
          {
            label: t("col.status"),
            cell: (v) =>
              v.current ? badge("ok", t("validators.current")) : badge("muted", t("validators.former")),
          },
          { label: t("validators.inSet"), cell: (v) => fmtNum(v.in_set), class: "num" },
          { label: t("validators.proposed"), cell: (v) => fmtNum(v.proposed), class: "num" },
          { label: t("validators.sealed"), cell: (v) => fmtNum(v.sealed), class: "num" },
          {
            label: t("validators.missed"),
            cell: (v) => (v.missed > 0 ? h("span", { class: "fail-text" }, fmtNum(v.missed)) : fmtNum(v.missed)),
            class: "num",
          },
        ],
        validators,
        { testid: "validators-table" },
        (v) => ({ dataset: { address: v.address, current: String(Boolean(v.current)) } }),
      ),
    ),
    section(
      t("validators.roundChanges"),
      h("p", { class: "muted" }, t("validators.roundChangesNote")),
      shownOf(rounds.length, answer.round_changes_total),
      table(
        [
          { label: t("col.block"), cell: (r) => blockLink(r.number) },
          { label: t("col.round"), cell: (r) => fmtNum(r.round), class: "num" },
          { label: t("validators.proposer"), cell: (r) => who(r.proposer) },
          { label: t("validators.missedBy"), cell: (r) => whoList(r.missed), class: "wrap" },
        ],
        rounds,
        { testid: "validators-rounds" },
        (r) => ({ dataset: { number: r.number } }),
        ranged("validators.roundChangesNone"),
      ),
    ),
    section(
      t("validators.setChanges"),
      h("p", { class: "muted" }, t("validators.setChangesNote")),
      shownOf(sets.length, answer.set_changes_total),
      table(
        [
          { label: t("col.block"), cell: (s) => blockLink(s.number) },
          { label: t("validators.added"), cell: (s) => whoList(s.added), class: "wrap" },
          { label: t("validators.removed"), cell: (s) => whoList(s.removed), class: "wrap" },
          {
            label: t("validators.size"),
            cell: (s) => fmtNum(Array.isArray(s.validators) ? s.validators.length : null),
            class: "num",
          },
        ],
        sets,
        { testid: "validators-sets" },
        (s) => ({ dataset: { number: s.number } }),
        ranged("validators.setChangesNone"),
      ),
    ),
    equivocationSection(evidence),
  );
}

/** The equivocation evidence: one row per record the explorer checked, with the nodes that reported it and its
 * record to download; then every node asked, with whether it answered. */
function equivocationSection(/** @type {Equivocations} */ evidence) {
  /** @type {EquivocationListed[]} */
  const records = listOf(evidence, "equivocations");
  /** @type {{index: number, reason: string, node?: string}[]} */
  const refused = listOf(evidence, "refused");
  /** @type {EvidenceNode[]} */
  const nodes = listOf(evidence, "nodes");
  const down = nodes.filter((n) => !n.ok);
  /** @type {Child[]} */
  const notes = [];
  if (down.length)
    notes.push(
      h(
        "p",
        { class: "note note-warn", testid: "equivocations-nodes-down" },
        t("validators.nodesDown", { n: down.length, of: nodes.length }),
      ),
    );
  else if (!nodes.length && isObject(evidence.source) && !evidence.source.ok)
    notes.push(h("p", { class: "note note-warn" }, t("validators.sourceDown", { error: evidence.source.error ?? "" })));
  if (refused.length)
    notes.push(
      h(
        "p",
        { class: "note note-warn", testid: "equivocations-refused" },
        t("validators.refused", {
          n: refused.length,
          reasons: refused.map((r) => `${r.node ? `${r.node} ` : ""}#${r.index}: ${r.reason}`).join("; "),
        }),
      ),
    );
  return section(
    t("validators.equivocations"),
    h("p", { class: "muted" }, t("validators.equivocationsNote")),
    notes,
    records.length
      ? table(
          [
            { label: t("col.org"), cell: (r) => who(r.validator) },
            { label: t("validators.height"), cell: (r) => fmtNum(r.height), class: "num" },
            { label: t("col.round"), cell: (r) => fmtNum(r.round), class: "num" },
            { label: t("validators.type"), cell: (r) => r.type },
            {
              label: t("validators.setChecked"),
              cell: (r) =>
                r.set_checked
                  ? badge("ok", t("validators.setChecked.yes"))
                  : badge("muted", t("validators.setChecked.no")),
            },
            {
              label: t("validators.reportedBy"),
              cell: (r) =>
                Array.isArray(r.nodes) && r.nodes.length
                  ? h(
                      "span",
                      { class: "chips" },
                      r.nodes.map((n) => h("span", { class: "chip" }, n)),
                    )
                  : "—",
            },
            {
              label: t("validators.record"),
              cell: (r) =>
                h(
                  "button",
                  {
                    class: "btn btn-ghost",
                    type: "button",
                    on: {
                      click: () =>
                        saveBlob(
                          new Blob([JSON.stringify([r.record], null, 1)], { type: "application/json" }),
                          `equivocation-${r.height}-${r.round}-${r.type.toLowerCase()}.json`,
                        ),
                    },
                  },
                  t("validators.download"),
                ),
            },
          ],
          records,
          { testid: "validators-equivocations" },
          (r) => ({ dataset: { address: r.validator.address, height: r.height } }),
        )
      : h("p", { class: "muted", testid: "validators-no-equivocations" }, t("validators.noEquivocations")),
    nodes.length ? nodeTable(nodes) : null,
  );
}

/** Every node asked for its evidence: whether it answered at the last ask, its records, and why not. */
function nodeTable(/** @type {EvidenceNode[]} */ nodes) {
  return h(
    "div",
    null,
    h("h3", null, t("validators.nodes")),
    h("p", { class: "muted" }, t("validators.nodesNote")),
    table(
      [
        {
          label: t("validators.node"),
          cell: (n) =>
            h("span", null, n.name, n.own ? h("span", { class: "muted" }, ` (${t("validators.ownNode")})`) : ""),
        },
        {
          label: t("validators.nodeStatus"),
          cell: (n) => (n.ok ? badge("ok", t("validators.nodeOk")) : badge("warn", t("validators.nodeDown"))),
        },
        { label: t("validators.nodeRecords"), cell: (n) => fmtNum(n.records), class: "num" },
        { label: t("validators.nodeError"), cell: (n) => n.error ?? "—" },
      ],
      nodes,
      { testid: "equivocations-nodes" },
      (n) => ({ dataset: { node: n.name, ok: String(n.ok) } }),
    ),
  );
}

/** "the newest k of n" when a list was cut. */
function shownOf(/** @type {number} */ shown, /** @type {unknown} */ total) {
  return typeof total === "number" && total > shown
    ? h("p", { class: "muted" }, t("validators.shownOf", { shown: fmtNum(shown), total: fmtNum(total) }))
    : null;
}
