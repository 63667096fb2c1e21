// The grants, filtered by asset, grantor, grantee and state, and one grant: its details, its lifecycle as a
// timeline, and its history.

import { ApiError, getJson, isObject, listOf } from "../api.js";
import { h, linkQuery } from "../dom.js";
import { fmtNum, fmtSec, text } from "../format.js";
import { t } from "../i18n.js";
import { go, queryHash } from "../router.js";
import { kv, mono, section, stateBadge, table } from "../widgets.js";
import { checkTerms } from "../grantterms.js";
import { heldCount, heldTerms, holdDocument, openingsHeader } from "../openings.js";
import {
  assetLink,
  grantColumns,
  historyTable,
  loadInto,
  orgLink,
  pageHeader,
  statusMessage,
  txLink,
} from "./_shared.js";

/** @import { Child } from "../dom.js" */
/** @import { Ctx } from "../router.js" */
/** @import { Grant } from "../types.js" */

const GRANT_STATES = ["active", "revoked", "expired", "not_yet_valid", "void"];

/** @param {Ctx} ctx */
export async function viewGrants(ctx) {
  /** @type {Record<string, string>} */
  const filters = {};
  for (const k of ["asset", "grantee", "grantor", "state"]) filters[k] = ctx.params.get(k) || "";
  const field = (/** @type {string} */ name) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: `grant-${name}` }, t(`col.${name}`)),
      h("input", {
        id: `grant-${name}`,
        name,
        testid: `grant-filter-${name}`,
        value: filters[name],
        autocomplete: "off",
      }),
    );
  const state = h(
    "select",
    { id: "grant-state", name: "state", testid: "grant-filter-state" },
    h("option", { value: "" }, t("any")),
    GRANT_STATES.map((s) => h("option", { value: s, selected: filters.state === s }, t(`grantState.${s}`))),
  );
  const form = h(
    "form",
    { class: "filters", testid: "grants-form" },
    field("asset"),
    field("grantor"),
    field("grantee"),
    h("div", { class: "field" }, h("label", { for: "grant-state" }, t("col.state")), state),
    h("div", { class: "field field-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, t("search"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    go(queryHash("grants", Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim()]))));
  });
  const results = h("div", { testid: "grants-results" });
  const load = () =>
    loadInto(ctx, results, async () => {
      const answer = await getJson("/grants", filters, openingsHeader());
      return [
        table(grantColumns(true, heldTerms), listOf(answer, "grants"), { testid: "grants-table" }, (g) => ({
          dataset: { grantId: g.grant_id, state: g.state },
        })),
      ];
    });
  ctx.show(pageHeader(t("nav.grants")), section(null, form), openDocuments(load), section(null, results));
  await load();
}

/**
 * The form that opens terms documents for the grants list: each document is held in this tab (openings.js), its
 * salt and purpose sent with the list's requests so that the explorer lists the private grants they open for the
 * person's firm (a grantee's, before the log shows its calls), its terms shown in the list once checked here.
 * @param {() => Promise<void>} reload
 */
function openDocuments(reload) {
  const input = h("input", {
    type: "file",
    id: "open-files",
    multiple: true,
    accept: ".json,application/json",
    testid: "open-files",
  });
  const status = h("div", { testid: "open-files-status", "aria-live": "polite" });
  const showHeld = () => {
    if (heldCount()) statusMessage(status, t("openMany.held", { n: String(heldCount()) }), "info");
  };
  input.addEventListener("change", async () => {
    const files = input.files ? [...input.files] : [];
    let refused = 0;
    for (const file of files) if (holdDocument(await readDocument(file)) === null) refused += 1;
    if (!input.isConnected) return;
    showHeld();
    if (refused) statusMessage(status, t("openMany.refused", { n: String(refused) }), "fail");
    await reload();
  });
  showHeld();
  return section(
    t("openMany.title"),
    h("p", { class: "muted" }, t("openMany.intro")),
    h("div", { class: "field" }, h("label", { for: "open-files" }, t("openMany.files")), input),
    status,
  );
}

/**
 * A stage of a grant's life: when, whether it has happened, and how it went.
 * @typedef {{key: string, when: number | null, done: boolean, fail?: boolean, warn?: boolean, detail?: Child}} Stage
 */

/** The grant's stages in time order: created, valid from, revoked, expires (or no expiry), void. */
function grantLifecycle(/** @type {Grant} */ g) {
  const now = Date.now() / 1000;
  /** @type {Stage[]} */
  const items = [];
  const history = Array.isArray(g.history) ? g.history : [];
  const created = history.find((e) => e.event === "GrantCreated");
  items.push({
    key: "created",
    when: g.created_at,
    done: true,
    detail: created ? txLink(created.tx_hash) : null,
  });
  items.push({ key: "validFrom", when: g.not_before, done: !g.not_before || g.not_before <= now });
  if (g.revoked_at) {
    const revoked = history.find((e) => e.event === "GrantRevoked");
    items.push({
      key: "revoked",
      when: g.revoked_at,
      done: true,
      fail: true,
      detail: h(
        "span",
        null,
        t("grant.reason", { reason: text(g.revoke_reason) }),
        revoked ? [" · ", txLink(revoked.tx_hash)] : null,
      ),
    });
  }
  if (g.expires_at)
    items.push({ key: "expires", when: g.expires_at, done: g.expires_at <= now, warn: g.expires_at <= now });
  else items.push({ key: "noExpiry", when: null, done: false });
  if (g.state === "void") items.push({ key: "void", when: null, done: true, fail: true });
  items.sort((a, b) => (a.when ?? Infinity) - (b.when ?? Infinity));
  return h(
    "ol",
    { class: "timeline", testid: "grant-lifecycle" },
    items.map((it) =>
      h(
        "li",
        {
          class: `${it.done ? "done" : "future"}${it.fail ? " fail" : ""}${it.warn ? " warn" : ""}`,
          dataset: { stage: it.key },
        },
        h("div", { class: "timeline-title" }, t(`grant.stage.${it.key}`)),
        h("div", { class: "timeline-time" }, it.when ? fmtSec(it.when) : ""),
        it.detail ? h("div", { class: "timeline-detail" }, it.detail) : null,
      ),
    ),
  );
}

/**
 * The form that checks a private grant's terms document (`consortium grant terms export`) in this browser: the
 * document is read here and never sent; its terms are shown once they hash to the chain's key and commitment.
 */
function termsCheck(/** @type {Grant} */ g, /** @type {unknown} */ opened) {
  const input = h("input", { type: "file", id: "terms-file", accept: ".json,application/json", testid: "terms-file" });
  const status = h("div", { testid: "terms-status", "aria-live": "polite" });
  const out = h("div", { testid: "terms-check" });
  const check = (/** @type {unknown} */ doc) => {
    const checked = checkTerms(doc, g);
    out.dataset.ok = String(checked.ok);
    if (!checked.ok) {
      const [problem, field] = checked.problem.split(":");
      statusMessage(status, t(`terms.${problem}`, { field: field || "" }), "fail");
      return;
    }
    statusMessage(status, t("terms.matches"), "ok");
    const terms = checked.terms;
    out.append(
      kv(
        [
          [t("col.grantee"), orgLink(terms.grantee)],
          [t("col.purpose"), text(terms.purpose)],
          [t("col.notBefore"), fmtSec(terms.not_before)],
          [t("col.expires"), terms.expires_at ? fmtSec(terms.expires_at) : t("grant.noExpiry")],
          [t("col.quota"), terms.quota ? fmtNum(terms.quota) : t("grant.unlimited")],
        ],
        { testid: "terms-facts" },
      ),
    );
  };
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    out.replaceChildren();
    if (!file) return;
    const doc = await readDocument(file);
    if (input.isConnected) check(doc);
  });
  if (opened !== undefined) check(opened); // the document that opened the page: checked at once
  return section(
    t("terms.title"),
    h("p", { class: "muted" }, t("terms.intro")),
    h("div", { class: "field" }, h("label", { for: "terms-file" }, t("terms.file")), input),
    status,
    out,
  );
}

/** A terms document's JSON, or null when the file is not JSON. */
async function readDocument(/** @type {File} */ file) {
  try {
    return /** @type {unknown} */ (JSON.parse(await file.text()));
  } catch {
    return null;
  }
}

/**
 * A grant the explorer answered as not found, which may be a private grant whose grantee the log does not show
 * yet: its grantee's people open it with their terms document, whose salt and purpose go to the explorer in the
 * `consortium-grant-opening` header of this one request (the explorer checks they open the grant's key with the
 * person's firm as grantee and keeps nothing); the rest of the document stays in the page.
 * @param {Ctx} ctx
 * @param {string} id
 * @param {ApiError} exc
 */
function notFoundWithOpening(ctx, id, exc) {
  const input = h("input", { type: "file", id: "open-file", accept: ".json,application/json", testid: "open-file" });
  const status = h("div", { testid: "open-status", "aria-live": "polite" });
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    const doc = await readDocument(file);
    if (!input.isConnected) return;
    const salt = isObject(doc) ? doc.salt : null;
    const purpose = isObject(doc) ? doc.purpose : null;
    if (!isObject(doc) || doc.grant_id !== id || typeof salt !== "string" || typeof purpose !== "string") {
      statusMessage(status, t("open.notThisGrant"), "fail");
      return;
    }
    try {
      /** @type {Grant} */
      const g = await getJson(`/grants/${encodeURIComponent(id)}`, undefined, {
        "consortium-grant-opening": `${salt.toLowerCase()} ${purpose}`,
      });
      holdDocument(doc); // opened: the grants list of this tab sends it too
      if (input.isConnected) showPrivate(ctx, g, id, doc);
    } catch (err) {
      if (input.isConnected) statusMessage(status, t("open.refused"), "fail");
      if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 422)) throw err;
    }
  });
  ctx.show(
    pageHeader(t("grant.title")),
    section(null, h("p", { class: "muted", testid: "grant-not-found" }, exc.message)),
    section(
      t("open.title"),
      h("p", { class: "muted" }, t("open.intro")),
      h("div", { class: "field" }, h("label", { for: "open-file" }, t("terms.file")), input),
      status,
    ),
  );
}

/** @param {Ctx} ctx */
export async function viewGrant(ctx) {
  const id = ctx.args[0];
  /** @type {Grant} */
  let g;
  try {
    g = await getJson(`/grants/${encodeURIComponent(id)}`);
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 404)) throw exc;
    notFoundWithOpening(ctx, id, exc);
    return;
  }
  if (g.private) {
    showPrivate(ctx, g, id);
    return;
  }
  showClear(ctx, g, id);
}

/**
 * A grant page's header: its title, state and the link to its calls.
 * @param {Grant} g
 * @param {string} id
 */
function grantHeader(g, id) {
  return pageHeader(
    t("grant.title"),
    stateBadge(g.state),
    linkQuery(["calls"], { grant: g.grant_id || id }, t("grant.calls"), { class: "btn" }),
  );
}

/**
 * A private grant: what the chain holds (and its grantee if the log shows it, or the person's terms opened it),
 * no terms (the explorer has none); a party's own terms document is checked against the chain's key and
 * commitment in this browser, the one that opened the page at once.
 * @param {Ctx} ctx
 * @param {Grant} g
 * @param {string} id
 * @param {unknown} [opened]
 */
function showPrivate(ctx, g, id, opened) {
  ctx.show(
    grantHeader(g, id),
    section(
      t("grant.details"),
      kv([
        [t("col.grant"), mono(g.grant_id)],
        [t("col.asset"), assetLink(g.asset)],
        [t("col.grantor"), orgLink(g.grantor)],
        [
          t("col.grantee"),
          g.grantee
            ? h(
                "span",
                { testid: "grant-grantee" },
                orgLink(g.grantee),
                " ",
                h("span", { class: "muted" }, t(opened === undefined ? "grant.granteeFromLog" : "grant.granteeOpened")),
              )
            : h("span", { testid: "grant-grantee" }, t("grant.privateTerms")),
        ],
        [t("grant.key"), mono(g.key)],
        [t("grant.commitment"), mono(g.commitment)],
        [t("col.created"), fmtSec(g.created_at)],
        [t("col.state"), stateBadge(g.state)],
      ]),
    ),
    termsCheck(g, opened),
    section(t("history"), historyTable(g.history, "grant-history")),
  );
}

/**
 * A clear grant: its terms as the chain holds them, its lifecycle and history.
 * @param {Ctx} ctx
 * @param {Grant} g
 * @param {string} id
 */
function showClear(ctx, g, id) {
  ctx.show(
    grantHeader(g, id),
    section(
      t("grant.details"),
      kv([
        [t("col.grant"), mono(g.grant_id)],
        [t("col.asset"), assetLink(g.asset)],
        [t("col.grantor"), orgLink(g.grantor)],
        [t("col.grantee"), orgLink(g.grantee)],
        [t("col.purpose"), text(g.purpose)],
        [t("col.notBefore"), fmtSec(g.not_before)],
        [t("col.expires"), g.expires_at ? fmtSec(g.expires_at) : t("grant.noExpiry")],
        [t("col.quota"), g.quota ? fmtNum(g.quota) : t("grant.unlimited")],
        [t("col.created"), fmtSec(g.created_at)],
        [t("col.state"), stateBadge(g.state)],
      ]),
    ),
    section(t("grant.lifecycle"), grantLifecycle(g)),
    section(t("history"), historyTable(g.history, "grant-history")),
  );
}
