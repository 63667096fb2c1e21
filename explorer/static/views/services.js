// The service catalogue: service centers, their units and the APIs each unit offers, with links to their calls.

import { getJson, listOf } from "../api.js";
import { h, linkQuery } from "../dom.js";
import { t } from "../i18n.js";
import { badge, mono, table } from "../widgets.js";
import { assetLink, orgLink, pageHeader } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { ServiceApi, Services } from "../types.js" */
/** @import { Column } from "../widgets.js" */

/** @param {Ctx} ctx */
export async function viewServices(ctx) {
  /** @type {Services} */
  const answer = await getJson("/services");
  /** @type {Services["centers"]} */
  const centers = listOf(answer, "centers");
  /** @type {Column<ServiceApi>[]} */
  const columns = [
    { label: t("col.api"), cell: (a) => linkQuery(["calls"], { service: a.api }, a.api) },
    { label: t("col.route"), cell: (a) => mono(`${a.method || ""} ${a.route || ""}`.trim()) },
    { label: t("col.provider"), cell: (a) => orgLink(a.provider) },
    { label: t("col.asset"), cell: (a) => assetLink(a.asset) },
    {
      label: t("col.state"),
      cell: (a) => (a.active ? badge("ok", t("services.active")) : badge("muted", t("services.inactive"))),
    },
  ];
  const tree = h("div", { class: "services", testid: "services-tree" });
  for (const c of centers) {
    const units = Array.isArray(c.units) ? c.units : [];
    tree.append(
      h(
        "section",
        { class: "card center", dataset: { center: c.center } },
        h(
          "div",
          { class: "page-head" },
          h("h2", null, `${c.name || c.center}`, " ", h("span", { class: "mono muted" }, c.center)),
          linkQuery(["calls"], { center: c.center }, t("services.calls")),
        ),
        units.length
          ? units.map((u) =>
              h(
                "div",
                { class: "unit", dataset: { unit: u.unit } },
                h("h3", null, `${u.name || u.unit}`, " ", h("span", { class: "mono muted" }, u.unit)),
                table(columns, Array.isArray(u.apis) ? u.apis : [], null, (a) => ({ dataset: { api: a.api } })),
              ),
            )
          : h("p", { class: "muted" }, t("none")),
      ),
    );
  }
  if (!centers.length) tree.append(h("p", { class: "muted" }, t("none")));
  ctx.show(
    pageHeader(
      t("nav.services"),
      answer.block !== undefined ? h("span", { class: "muted" }, t("asOfBlock", { block: answer.block })) : null,
    ),
    tree,
  );
}
