// The explorer's web UI: one page, hash routes (router.js), one module per view (views/), the JSON API under
// /api/v1 with the login token (api.js). This module is the shell: the routes, the header (menu, who is
// logged in, language), and rendering the current route's view. Every value from the API is rendered through
// textContent (dom.js); no inline scripts, styles or handlers.

import { ApiError, getToken, onUnauthorized } from "./api.js";
import { h, mount } from "./dom.js";
import { fmtMs } from "./format.js";
import { LANGS, lang, setLang, t } from "./i18n.js";
import { onShared } from "./openings.js";
import { go, parseHash, start } from "./router.js";
import { fetchPerson, forget, person, setLoginReason, setNextPage } from "./session.js";
import { errorBox } from "./views/_shared.js";
import { viewAnchors } from "./views/anchors.js";
import { viewAsset, viewAssets } from "./views/assets.js";
import { viewBlock, viewBlocks, viewTransaction } from "./views/blocks.js";
import { viewCalls } from "./views/calls.js";
import { viewCheckpoints } from "./views/checkpoints.js";
import { viewDashboard } from "./views/dashboard.js";
import { viewGrant, viewGrants } from "./views/grants.js";
import { viewAlarms } from "./views/alarms.js";
import { viewHealth } from "./views/health.js";
import { viewJob } from "./views/jobs.js";
import { viewLogin } from "./views/login.js";
import { viewMember, viewMembers } from "./views/members.js";
import { viewProvenance } from "./views/provenance.js";
import { viewQueries } from "./views/queries.js";
import { viewServices } from "./views/services.js";
import { viewValidators } from "./views/validators.js";
import { viewVerify } from "./views/verify.js";

/** @import { Child } from "./dom.js" */
/** @import { Ctx, Location, Route } from "./router.js" */

/** @type {Route[]} */
const ROUTES = [
  { re: /^login$/, view: viewLogin, public: true, nav: "login" },
  { re: /^$/, view: viewDashboard, nav: "dashboard" },
  { re: /^members$/, view: viewMembers, nav: "members" },
  { re: /^members\/([^/]+)$/, view: viewMember, nav: "members" },
  { re: /^assets$/, view: viewAssets, nav: "assets" },
  { re: /^assets\/([^/]+)$/, view: viewAsset, nav: "assets" },
  { re: /^grants$/, view: viewGrants, nav: "grants" },
  { re: /^grants\/([^/]+)$/, view: viewGrant, nav: "grants" },
  { re: /^services$/, view: viewServices, nav: "services" },
  { re: /^calls$/, view: viewCalls, nav: "calls" },
  { re: /^calls\/([^/]+)$/, view: viewProvenance, nav: "calls" },
  { re: /^jobs\/([0-9a-f]{64})$/, view: viewJob, nav: "calls" },
  { re: /^blocks$/, view: viewBlocks, nav: "blocks" },
  { re: /^blocks\/([^/]+)$/, view: viewBlock, nav: "blocks" },
  { re: /^transactions\/([^/]+)$/, view: viewTransaction, nav: "blocks" },
  { re: /^validators$/, view: viewValidators, nav: "validators" },
  { re: /^checkpoints$/, view: viewCheckpoints, nav: "checkpoints" },
  { re: /^anchors$/, view: viewAnchors, nav: "anchors" },
  { re: /^health$/, view: viewHealth, nav: "health" },
  { re: /^alarms$/, view: viewAlarms, nav: "alarms" },
  { re: /^queries$/, view: viewQueries, nav: "queries" },
  { re: /^verify$/, view: viewVerify, public: true, nav: "verify" },
];

const NAV = [
  "dashboard",
  "calls",
  "members",
  "assets",
  "grants",
  "services",
  "blocks",
  "validators",
  "checkpoints",
  "anchors",
  "health",
  "alarms",
  "queries",
  "verify",
];
/** @type {Record<string, string>} */
const NAV_PATH = { dashboard: "" };

let generation = 0; // the current rendering; older async work sees it changed and drops its result
/** @type {ReturnType<typeof setTimeout>[]} */
let timers = [];

/** The element of ``id`` in index.html. */
function byId(/** @type {string} */ id) {
  return /** @type {HTMLElement} */ (document.getElementById(id));
}

/** The menu, who is logged in (or a login link), the language switch, the brand and the footer. */
function renderHeader(/** @type {Location | null} */ current) {
  const nav = byId("nav");
  const loggedIn = Boolean(getToken());
  const items = loggedIn ? NAV : ["verify"];
  mount(
    nav,
    items.map((name) =>
      h(
        "a",
        {
          href: `#/${NAV_PATH[name] ?? name}`,
          class: current && current.route && current.route.nav === name ? "active" : null,
          testid: `nav-${name}`,
        },
        t(`nav.${name}`),
      ),
    ),
  );
  const sessionBox = byId("session");
  const other = /** @type {string} */ (LANGS.find((l) => l !== lang()));
  const langButton = h(
    "button",
    {
      type: "button",
      class: "btn btn-ghost",
      testid: "lang-switch",
      dataset: { lang: lang() },
      title: t("lang.switchTitle"),
      on: {
        click: () => {
          setLang(other);
          render();
        },
      },
    },
    t(`lang.name.${other}`),
  );
  /** @type {Child[]} */
  const parts = [];
  const me = person();
  if (loggedIn && me) {
    // name@org and role; the display name (the name and the firm's full name) and the token's expiry in the title
    const who = `${me.name}@${me.org} · ${t(`role.${me.role}`, null, me.role)}`;
    const expires = me.expires_ms ? t("session.expires", { time: fmtMs(me.expires_ms) }) : "";
    const title = [me.display_name, expires].filter(Boolean).join("\n");
    parts.push(h("span", { class: "whoami", testid: "whoami", title }, who));
  }
  if (loggedIn) {
    parts.push(
      h(
        "button",
        {
          type: "button",
          class: "btn btn-ghost",
          testid: "logout",
          on: {
            click: () => {
              forget();
              setLoginReason(null);
              setNextPage(null);
              go("#/login");
            },
          },
        },
        t("session.logout"),
      ),
    );
  } else if (!current || !current.route || current.route.nav !== "login") {
    parts.push(h("a", { href: "#/login", class: "btn btn-ghost", testid: "nav-login" }, t("nav.login")));
  }
  parts.push(langButton);
  mount(sessionBox, parts);
  const brand = byId("brand");
  mount(brand, h("a", { href: "#/" }, h("span", { class: "brand-mark" }, "◆"), t("app.title")));
  byId("footer-text").textContent = t("app.footer");
}

/** Render the current route: the header, then its view (after a login check for a view that needs one). */
async function render() {
  for (const timer of timers) clearTimeout(timer);
  timers = [];
  const gen = ++generation;
  const current = parseHash(ROUTES);
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  renderHeader(current);
  const main = byId("main");
  const route = current.route;
  if (!route) {
    mount(main, h("div", { class: "alert alert-warn", testid: "error" }, t("error.noRoute")));
    return;
  }
  if (!route.public && !getToken()) {
    setNextPage(location.hash);
    location.replace("#/login");
    return;
  }
  if (getToken() && !person() && route.nav !== "login") {
    try {
      await fetchPerson();
    } catch {
      return; // a 401 already sent us to the login page
    }
    if (gen !== generation) return;
    renderHeader(current);
  }
  document.title = `${t(`nav.${route.nav}`)} · ${t("app.title")}`;
  mount(main, h("p", { class: "loading", testid: "loading" }, t("loading")));
  /** @type {Ctx} */
  const ctx = {
    args: current.args,
    params: current.params,
    alive: () => gen === generation,
    show(...nodes) {
      if (gen === generation) mount(main, ...nodes);
    },
    repeat(fn, ms) {
      const tick = async () => {
        if (gen !== generation) return;
        if (!document.hidden) {
          try {
            await fn();
          } catch {
            // a failed refresh keeps the last data on screen; fn shows why
          }
        }
        if (gen === generation) timers.push(setTimeout(tick, ms));
      };
      timers.push(setTimeout(tick, ms));
    },
  };
  try {
    await route.view(ctx);
  } catch (exc) {
    if (gen === generation && !(exc instanceof ApiError && exc.status === 401)) mount(main, errorBox(exc));
  }
}

onUnauthorized((error) => {
  forget();
  if (error && error.code !== "no_token") setLoginReason(error);
  const current = parseHash(ROUTES);
  if (current.route && current.route.nav === "login") {
    render();
  } else {
    if (current.route && !current.route.public) setNextPage(location.hash);
    location.hash = "#/login";
  }
});

// Another tab of the person opened, sent or forgot terms documents: the pages that send and show them render again.
onShared(() => {
  const view = parseHash(ROUTES).route?.view;
  if (view === viewGrants || view === viewAsset) render();
});

start(render);
