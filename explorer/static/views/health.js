// Health: the chain follower (head, indexed, last error), the notary and its witnesses, the gateways' last
// sequence numbers, the explorer's own followers, and the gaps in the gateways' sequences.

import { getJson, isObject, listOf } from "../api.js";
import { h } from "../dom.js";
import { fmtNum, fmtSec, text } from "../format.js";
import { t } from "../i18n.js";
import { kv, kvAll, okBadge, section, table } from "../widgets.js";
import { blockLink, pageHeader, witnessTable } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { Health } from "../types.js" */

function okOf(/** @type {unknown} */ value) {
  return isObject(value) && typeof value.ok === "boolean" ? value.ok : null;
}

/**
 * A table of objects with the same fields, one column per field of the first.
 * @param {Record<string, unknown>[]} rows
 * @param {string} testid
 */
function fieldTable(rows, testid) {
  return table(
    Object.keys(rows[0]).map((k) => ({ label: k, cell: (/** @type {Record<string, unknown>} */ g) => text(g[k]) })),
    rows,
    { testid },
  );
}

/** @param {Ctx} ctx */
export async function viewHealth(ctx) {
  /** @type {[Health, unknown]} */
  const [health, gaps] = await Promise.all([getJson("/health"), getJson("/gaps").catch(() => null)]);
  /** @type {Partial<Health["chain"]>} */
  const chain = isObject(health.chain) ? health.chain : {};
  const notary = isObject(health.notary) ? health.notary : {};
  const explorer = isObject(health.explorer) ? health.explorer : {};
  const gateways = Array.isArray(health.gateways) ? health.gateways : [];
  const gapRows = gaps ? listOf(gaps, "gaps").filter(isObject) : [];
  ctx.show(
    pageHeader(t("nav.health")),
    h(
      "div",
      { class: "grid-2" },
      section(
        t("health.chain"),
        h(
          "p",
          { testid: "health-chain", dataset: { ok: String(okOf(chain)) } },
          okBadge(okOf(chain), [t("health.up"), t("health.down"), t("unknown")]),
        ),
        kv([
          [t("health.head"), blockLink(chain.head)],
          [t("health.headTime"), fmtSec(chain.head_time)],
          [t("health.indexed"), fmtNum(chain.indexed)],
          [t("health.lastError"), chain.last_error ? h("span", { class: "fail-text" }, chain.last_error) : "—"],
        ]),
      ),
      section(
        t("health.notary"),
        h(
          "p",
          { testid: "health-notary", dataset: { ok: String(okOf(notary)) } },
          okBadge(okOf(notary), [t("health.up"), t("health.down"), t("unknown")]),
        ),
        kvAll(notary, ["ok", "witnesses"]),
      ),
    ),
    section(t("health.witnesses"), witnessTable(health.witnesses, "health-witnesses")),
    section(
      t("health.gateways"),
      gateways.length && gateways.every(isObject)
        ? fieldTable(gateways, "health-gateways")
        : h("p", { class: "muted" }, t("none")),
    ),
    section(t("health.explorer"), kvAll(explorer)),
    section(
      t("health.gaps"),
      gapRows.length
        ? fieldTable(gapRows, "health-gaps")
        : h("p", { class: "muted", testid: "health-gaps" }, t("health.noGaps")),
    ),
  );
}
