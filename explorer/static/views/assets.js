// The data assets, and one asset: its versions, the grants on it and its history.

import { getJson, listOf, pick } from "../api.js";
import { h, linkQuery } from "../dom.js";
import { fmtNum, fmtSec, text } from "../format.js";
import { t } from "../i18n.js";
import { heldTerms, openingsHeader } from "../openings.js";
import { badge, kv, mono, section, short, table } from "../widgets.js";
import { assetLink, blockLink, grantColumns, historyTable, orgLink, pageHeader, txLink } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { Asset, AssetVersion, Grant } from "../types.js" */
/** @import { Column } from "../widgets.js" */

/** Its classification level, and "private" for a confidential or restricted one. */
function classification(/** @type {Asset} */ a) {
  const level = pick(a, "classification");
  return h(
    "span",
    null,
    t("asset.level", { level: text(level) }),
    a.private ? [" ", badge("warn", t("asset.private"))] : null,
  );
}

/** An asset's kind (dataset, feed, model, api) in words; an unknown kind as it is. */
function assetKind(/** @type {unknown} */ kind) {
  return t(`assetKind.${kind}`, null, text(kind));
}

/** @param {Ctx} ctx */
export async function viewAssets(ctx) {
  /** @type {{block?: number, assets: Asset[]}} */
  const answer = await getJson("/assets");
  /** @type {Asset[]} */
  const rows = listOf(answer, "assets");
  ctx.show(
    pageHeader(
      t("nav.assets"),
      answer.block !== undefined ? h("span", { class: "muted" }, t("asOfBlock", { block: answer.block })) : null,
    ),
    section(
      null,
      table(
        [
          { label: t("col.asset"), cell: (a) => assetLink(a.asset) },
          { label: t("col.owner"), cell: (a) => orgLink(a.owner) },
          { label: t("col.kind"), cell: (a) => assetKind(a.kind) },
          { label: t("col.classification"), cell: classification },
          { label: t("col.versions"), cell: (a) => fmtNum(a.version_count), class: "num" },
          { label: t("col.registered"), cell: (a) => fmtSec(a.registered_at) },
          {
            label: t("col.state"),
            cell: (a) => (a.retired ? badge("muted", t("asset.retired")) : badge("ok", t("asset.live"))),
          },
        ],
        rows,
        { testid: "assets-table" },
        (a) => ({ dataset: { asset: a.asset } }),
      ),
    ),
  );
}

/**
 * One asset. The request carries the openings of the terms documents held in this tab (openings.js), as the grants
 * list's does, so that a grantee's people see its private grants here (and a private asset's detail) before the
 * log shows a call under them; a held document's terms are shown in the grants once checked in this browser.
 * @param {Ctx} ctx
 */
export async function viewAsset(ctx) {
  const id = ctx.args[0];
  /** @type {Asset} */
  const a = await getJson(`/assets/${encodeURIComponent(id)}`, undefined, openingsHeader());
  /** @type {Column<AssetVersion>[]} */
  const versionColumns = [
    { label: t("col.version"), cell: (v) => fmtNum(v.version), class: "num" },
    { label: t("asset.content"), cell: (v) => short(v.content_digest, 10) },
    { label: t("asset.metadata"), cell: (v) => short(v.metadata_digest, 10) },
    { label: t("col.classification"), cell: (v) => text(v.classification) },
    { label: t("col.time"), cell: (v) => fmtSec(v.timestamp) },
    { label: t("col.block"), cell: (v) => blockLink(v.block_number) },
    { label: t("col.transaction"), cell: (v) => txLink(v.tx_hash) },
    { label: t("asset.registeredBy"), cell: (v) => short(v.registered_by, 8) },
  ];
  ctx.show(
    pageHeader(
      `${t("asset.title")} ${a.asset || id}`,
      linkQuery(["calls"], { asset: id }, t("asset.calls"), { class: "btn" }),
    ),
    section(
      t("asset.details"),
      kv([
        [t("col.asset"), mono(a.asset)],
        [t("col.owner"), orgLink(a.owner)],
        [t("col.kind"), assetKind(a.kind)],
        [t("col.classification"), classification(a)],
        [t("col.versions"), fmtNum(a.version_count)],
        [t("col.registered"), fmtSec(a.registered_at)],
        [t("asset.pendingOwner"), a.pending_owner ? orgLink(a.pending_owner) : "—"],
        [t("asset.transfers"), fmtNum(a.transfers)],
        [t("col.state"), a.retired ? badge("muted", t("asset.retired")) : badge("ok", t("asset.live"))],
      ]),
    ),
    section(
      t("asset.versions"),
      table(versionColumns, Array.isArray(a.versions) ? a.versions : [], { testid: "asset-versions" }),
    ),
    section(
      t("asset.grants"),
      table(
        grantColumns(false, heldTerms),
        Array.isArray(a.grants) ? a.grants : [],
        { testid: "asset-grants" },
        (/** @type {Grant} */ g) => ({ dataset: { grantId: g.grant_id } }),
      ),
    ),
    section(t("history"), historyTable(a.history, "asset-history")),
  );
}
