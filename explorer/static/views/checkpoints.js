// The log's published checkpoints, largest first: size, root, when signed and published, who cosigned, the
// anchor, and the signed note itself.

import { getJson, isObject, listOf } from "../api.js";
import { h } from "../dom.js";
import { fmtMs, fmtNum } from "../format.js";
import { t } from "../i18n.js";
import { appendRows, section, short, table } from "../widgets.js";
import { anchorState, blockLink, chips, pageHeader, txLink } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { Checkpoint } from "../types.js" */
/** @import { Column } from "../widgets.js" */

/** @returns {Column<Checkpoint>[]} */
function checkpointColumns() {
  return [
    { label: t("col.size"), cell: (c) => fmtNum(c.size), class: "num" },
    { label: t("col.root"), cell: (c) => short(c.root, 10) },
    { label: t("col.signed"), cell: (c) => fmtMs(c.time_ms), class: "nowrap" },
    { label: t("col.published"), cell: (c) => fmtMs(c.published_ms), class: "nowrap" },
    { label: t("col.cosigners"), cell: (c) => chips(c.cosigners) },
    {
      label: t("col.anchor"),
      cell: (c) =>
        isObject(c.anchor)
          ? h(
              "span",
              null,
              anchorState(c.anchor.state),
              " ",
              blockLink(c.anchor.block_number),
              " ",
              txLink(c.anchor.tx_hash),
            )
          : h("span", { class: "muted" }, t("checkpoint.notAnchored")),
    },
    {
      label: t("col.note"),
      cell: (c) =>
        c.note
          ? h(
              "details",
              { class: "raw" },
              h("summary", null, t("checkpoint.showNote")),
              h("pre", { class: "json" }, c.note),
            )
          : "—",
    },
  ];
}

/** @param {Ctx} ctx */
export async function viewCheckpoints(ctx) {
  /** @type {{checkpoints: Checkpoint[], next: number | null}} */
  const answer = await getJson("/checkpoints", { limit: 20 });
  const columns = checkpointColumns();
  const tableNode = table(columns, listOf(answer, "checkpoints"), { testid: "checkpoints-table" }, (c) => ({
    dataset: { size: c.size },
  }));
  const tbody = /** @type {HTMLTableSectionElement} */ (tableNode.querySelector("tbody"));
  let next = answer.next ?? null;
  const more = h(
    "button",
    { type: "button", class: "btn", testid: "checkpoints-more", hidden: next === null },
    t("more"),
  );
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      /** @type {{checkpoints: Checkpoint[], next: number | null}} */
      const page = await getJson("/checkpoints", { limit: 20, before: next });
      if (!ctx.alive()) return;
      appendRows(tbody, columns, listOf(page, "checkpoints"), (c) => ({ dataset: { size: c.size } }));
      next = page.next ?? null;
      more.hidden = next === null;
    } finally {
      more.disabled = false;
    }
  });
  ctx.show(
    pageHeader(t("nav.checkpoints")),
    section(
      null,
      h("p", { class: "muted" }, t("checkpoint.intro")),
      tableNode,
      h("div", { class: "table-foot" }, more),
    ),
  );
}
