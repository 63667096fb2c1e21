// The chain: blocks newest first, one block with its seals and transactions, one transaction with its decoded
// call and events (redacted where the person may not see them).

import { getJson, isObject, listOf } from "../api.js";
import { h, link } from "../dom.js";
import { fmtNum, fmtSec, text } from "../format.js";
import { t } from "../i18n.js";
import { appendRows, badge, kv, mono, rawJson, section, short, table } from "../widgets.js";
import { argsList, blockLink, orgLink, pageHeader, txLink } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { Block, BlockPage, ChainEvent, Transaction } from "../types.js" */
/** @import { Column } from "../widgets.js" */

/** How many validators sealed the block (and in which round), from the seals as the block holds them. */
function sealsSummary(/** @type {unknown} */ seals) {
  if (seals === null || seals === undefined) return "—";
  if (Array.isArray(seals)) return t("block.seals", { n: seals.length });
  if (isObject(seals)) {
    const listed = Array.isArray(seals.signers) ? seals.signers : seals.seals; // the index's seals: "signers"
    const n = Array.isArray(listed) ? listed.length : listed;
    if (n !== undefined && n !== null)
      return h(
        "span",
        null,
        t("block.seals", { n: text(n) }),
        seals.round !== undefined ? ` · ${t("block.round", { round: seals.round })}` : "",
      );
    if (seals.format === null) return h("span", { class: "muted" }, t("block.noSeals"));
  }
  return mono(seals);
}

/** The validator that proposed the block (its beneficiary), named by the member holding the account. */
function proposerOf(/** @type {Record<string, unknown>} */ proposer) {
  return h("span", null, proposer.org ? [orgLink(proposer.org), " "] : null, mono(proposer.address));
}

/** @returns {Column<Block>[]} */
const BLOCK_COLUMNS = () => [
  { label: t("col.block"), cell: (b) => blockLink(b.number) },
  { label: t("col.time"), cell: (b) => fmtSec(b.timestamp), class: "nowrap" },
  { label: t("col.hash"), cell: (b) => short(b.hash, 12) },
  { label: t("col.txCount"), cell: (b) => fmtNum(b.tx_count), class: "num" },
  { label: t("col.seals"), cell: (b) => sealsSummary(b.seals) },
];

/** @param {Ctx} ctx */
export async function viewBlocks(ctx) {
  const before = ctx.params.get("before") || null;
  /** @type {BlockPage} */
  const answer = await getJson("/blocks", { limit: 20, before });
  const columns = BLOCK_COLUMNS();
  const tableNode = table(columns, listOf(answer, "blocks"), { testid: "blocks-table" }, (b) => ({
    dataset: { number: b.number },
  }));
  const tbody = /** @type {HTMLTableSectionElement} */ (tableNode.querySelector("tbody"));
  let next = answer.next ?? null;
  const more = h("button", { type: "button", class: "btn", testid: "blocks-more", hidden: next === null }, t("more"));
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      /** @type {BlockPage} */
      const page = await getJson("/blocks", { limit: 20, before: next });
      if (!ctx.alive()) return;
      appendRows(tbody, columns, listOf(page, "blocks"), (b) => ({ dataset: { number: b.number } }));
      next = page.next ?? null;
      more.hidden = next === null;
    } finally {
      more.disabled = false;
    }
  });
  ctx.show(
    pageHeader(
      t("nav.blocks"),
      answer.head !== undefined
        ? h("span", { class: "muted" }, t("block.indexedTo", { head: fmtNum(answer.head) }))
        : null,
    ),
    section(null, tableNode, h("div", { class: "table-foot" }, more)),
  );
}

/** @returns {Column<Transaction>[]} */
function txColumns() {
  return [
    { label: t("col.index"), cell: (x) => fmtNum(x.index), class: "num" },
    { label: t("col.hash"), cell: (x) => txLink(x.hash) },
    { label: t("col.from"), cell: (x) => short(x.from, 8) },
    { label: t("col.contract"), cell: (x) => text(x.contract || x.to) },
    { label: t("col.function"), cell: (x) => (x.function ? mono(x.function) : "—") },
    { label: t("col.status"), cell: (x) => txStatus(x.status) },
  ];
}

function txStatus(/** @type {unknown} */ status) {
  if (status === 1 || status === true || status === "success") return badge("ok", t("tx.success"));
  if (status === 0 || status === false || status === "failed") return badge("fail", t("tx.failed"));
  return badge("muted", text(status));
}

/** @param {Ctx} ctx */
export async function viewBlock(ctx) {
  const number = ctx.args[0];
  /** @type {Block} */
  const b = await getJson(`/blocks/${encodeURIComponent(number)}`);
  const n = Number(b.number);
  ctx.show(
    pageHeader(
      t("block.title", { number: fmtNum(b.number) }),
      n > 0 ? link(["blocks", n - 1], `← ${t("block.previous")}`, { class: "btn btn-ghost" }) : null,
      link(["blocks", n + 1], `${t("block.next")} →`, { class: "btn btn-ghost" }),
    ),
    section(
      t("block.details"),
      kv([
        [t("col.block"), fmtNum(b.number)],
        [t("col.hash"), mono(b.hash)],
        [t("block.parent"), b.parent_hash ? h("span", { class: "mono" }, b.parent_hash) : "—"],
        [t("col.time"), fmtSec(b.timestamp)],
        [t("col.txCount"), fmtNum(b.tx_count)],
        [t("col.seals"), sealsSummary(b.seals)],
        isObject(b.seals) && isObject(b.seals.proposer)
          ? [t("validators.proposer"), proposerOf(b.seals.proposer)]
          : null,
      ]),
      isObject(b.seals) || Array.isArray(b.seals) ? rawJson(t("block.sealsRaw"), b.seals) : null,
    ),
    section(
      t("block.transactions"),
      table(
        txColumns(),
        Array.isArray(b.transactions) ? b.transactions : [],
        { testid: "block-transactions" },
        (x) => ({ dataset: { hash: x.hash } }),
      ),
    ),
  );
}

/** @param {Ctx} ctx */
export async function viewTransaction(ctx) {
  const hash = ctx.args[0];
  /** @type {Transaction} */
  const x = await getJson(`/transactions/${encodeURIComponent(hash)}`);
  const events = Array.isArray(x.events) ? x.events : [];
  /** @type {Column<ChainEvent>[]} */
  const eventColumns = [
    { label: t("col.logIndex"), cell: (e) => fmtNum(e.log_index), class: "num" },
    { label: t("col.contract"), cell: (e) => text(e.contract || e.address) },
    {
      label: t("col.event"),
      cell: (e) => (e.event ? h("strong", null, e.event) : h("span", { class: "muted" }, t("tx.foreignLog"))),
    },
    { label: t("col.args"), cell: (e) => argsList(e.args), class: "wrap" },
  ];
  ctx.show(
    pageHeader(t("tx.title")),
    x.redacted ? h("div", { class: "alert alert-info", testid: "tx-redacted" }, t("tx.redacted")) : null,
    section(
      t("tx.details"),
      kv([
        [t("col.hash"), mono(x.hash)],
        [t("col.block"), blockLink(x.block_number)],
        [t("col.index"), fmtNum(x.index)],
        [t("col.time"), fmtSec(x.timestamp)],
        [t("col.from"), mono(x.from)],
        [t("col.to"), mono(x.to)],
        [t("col.contract"), text(x.contract)],
        [t("col.function"), x.function ? h("strong", { class: "mono", testid: "tx-function" }, x.function) : "—"],
        [t("col.status"), txStatus(x.status)],
        x.created ? [t("tx.created"), mono(x.created)] : null,
      ]),
    ),
    section(t("tx.args"), h("div", { testid: "tx-args" }, argsList(x.args))),
    section(t("tx.events"), table(eventColumns, events, { testid: "tx-events" })),
  );
}
