// The checkpoints anchored on chain: the anchor transaction of each, its state, block and times, and whether
// AuditAnchor checked the log key's signature on it (an sm consortium's anchor_signed; from the explorer's chain
// index, docs/national-suite.md).

import { getJson, listOf } from "../api.js";
import { h } from "../dom.js";
import { fmtMs, fmtNum } from "../format.js";
import { t } from "../i18n.js";
import { section, short, table } from "../widgets.js";
import { anchorCheck, anchorState, blockLink, pageHeader, txLink } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { Anchor } from "../types.js" */
/** @import { Column } from "../widgets.js" */

/** @param {Ctx} ctx */
export async function viewAnchors(ctx) {
  const answer = await getJson("/anchors", { limit: 50 });
  const crypto = /** @type {{crypto?: string}} */ (answer).crypto;
  /** @type {Column<Anchor>[]} */
  const columns = [
    { label: t("col.size"), cell: (a) => fmtNum(a.size), class: "num" },
    { label: t("col.root"), cell: (a) => short(a.root, 10) },
    { label: t("col.state"), cell: (a) => anchorState(a.state) },
    { label: t("col.signatureCheck"), cell: (a) => anchorCheck(a.signature, crypto) },
    { label: t("col.transaction"), cell: (a) => txLink(a.tx_hash) },
    { label: t("col.block"), cell: (a) => blockLink(a.block_number) },
    { label: t("col.sent"), cell: (a) => fmtMs(a.sent_ms), class: "nowrap" },
    { label: t("col.confirmed"), cell: (a) => fmtMs(a.confirmed_ms), class: "nowrap" },
  ];
  ctx.show(
    pageHeader(t("nav.anchors")),
    section(
      null,
      h("p", { class: "muted" }, t("anchor.intro")),
      crypto === "sm" ? h("p", { class: "muted" }, t("anchor.checkIntro")) : null,
      table(columns, listOf(answer, "anchors"), { testid: "anchors-table" }, (a) => ({ dataset: { size: a.size } })),
    ),
  );
}
