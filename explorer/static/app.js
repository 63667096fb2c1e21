// The explorer's web UI: one page, hash routes, the JSON API under /api/v1 with the login token.
// Every value from the API is rendered through textContent (dom.js); no inline scripts, styles or handlers.

import { ApiError, clearToken, download, getJson, getToken, onUnauthorized, setToken } from "./api.js";
import { lineChart } from "./chart.js";
import {
  appendRows,
  badge,
  decisionBadge,
  fmtMs,
  fmtNum,
  fmtSec,
  h,
  httpStatusBadge,
  isObject,
  kv,
  kvAll,
  link,
  linkQuery,
  mark,
  mono,
  mount,
  okBadge,
  pick,
  rawJson,
  section,
  short,
  stateBadge,
  table,
  text,
} from "./dom.js";
import { LANGS, lang, setLang, t } from "./i18n.js";
import { FORMAT, STEPS, keysFromConsortium, verifyBundle } from "./verify.js";

const REASON_KEY = "explorer.loginReason";
const NEXT_KEY = "explorer.next";
const REFRESH_MS = 5000;
const DASHBOARD_MINUTES = 60;
const CALL_FILTERS = [
  "caller",
  "provider",
  "service",
  "center",
  "asset",
  "grant",
  "decision",
  "status",
  "denial_reason",
  "from",
  "to",
  "trace",
];

let me = null; // GET /api/v1/me, while logged in
let generation = 0; // the current rendering; older async work sees it changed and drops its result
let timers = [];
let keysCache = null;

// -- session storage helpers ----------------------------------------------------------------------------

function session(key, value) {
  try {
    if (value === undefined) return sessionStorage.getItem(key);
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch {
    // storage unavailable
  }
  return null;
}

// -- routing ----------------------------------------------------------------------------------------------

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
  { re: /^calls\/([^/]+)$/, view: viewCall, nav: "calls" },
  { re: /^blocks$/, view: viewBlocks, nav: "blocks" },
  { re: /^blocks\/([^/]+)$/, view: viewBlock, nav: "blocks" },
  { re: /^transactions\/([^/]+)$/, view: viewTransaction, nav: "blocks" },
  { re: /^checkpoints$/, view: viewCheckpoints, nav: "checkpoints" },
  { re: /^anchors$/, view: viewAnchors, nav: "anchors" },
  { re: /^health$/, view: viewHealth, nav: "health" },
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
  "checkpoints",
  "anchors",
  "health",
  "verify",
];
const NAV_PATH = { dashboard: "" };

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const at = raw.indexOf("?");
  const path = (at < 0 ? raw : raw.slice(0, at)).replace(/\/+$/, "");
  const params = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
  for (const route of ROUTES) {
    const m = route.re.exec(path);
    if (!m) continue;
    try {
      return { route, args: m.slice(1).map(decodeURIComponent), params, path };
    } catch {
      break;
    }
  }
  return { route: null, args: [], params, path };
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function queryHash(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return `#/${path}${s ? `?${s}` : ""}`;
}

// -- the shell --------------------------------------------------------------------------------------------

function renderHeader(current) {
  const nav = document.getElementById("nav");
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
  const sessionBox = document.getElementById("session");
  const other = LANGS.find((l) => l !== lang());
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
  const parts = [];
  if (loggedIn && me) {
    const who = `${me.display_name || me.name} · ${me.org} · ${t(`role.${me.role}`, null, me.role)}`;
    const expires = me.expires_ms ? t("session.expires", { time: fmtMs(me.expires_ms) }) : "";
    parts.push(h("span", { class: "whoami", testid: "whoami", title: expires }, who));
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
              clearToken();
              me = null;
              keysCache = null;
              session(REASON_KEY, null);
              session(NEXT_KEY, null);
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
  const brand = document.getElementById("brand");
  mount(brand, h("a", { href: "#/" }, h("span", { class: "brand-mark" }, "◆"), t("app.title")));
  document.getElementById("footer-text").textContent = t("app.footer");
}

function renderError(main, exc) {
  mount(main, errorBox(exc));
}

function errorBox(exc) {
  let message;
  if (exc instanceof ApiError) {
    if (exc.status === 404) message = t("error.notFound");
    else if (exc.status === 0) message = t("error.network", { detail: exc.detail || "" });
    else if (exc.status === 429) message = t("error.rateLimited");
    else message = t("error.api", { status: exc.status, detail: exc.detail || exc.code || "" });
  } else {
    message = t("error.internal", { detail: exc && exc.message ? exc.message : String(exc) });
  }
  return h("div", { class: "alert alert-fail", testid: "error", role: "alert" }, message);
}

/** Show the page with ``results`` loading, then fill it; an error stays inside it (the form remains). */
async function loadInto(ctx, results, load) {
  mount(results, h("p", { class: "loading" }, t("loading")));
  try {
    const nodes = await load();
    if (ctx.alive()) mount(results, ...nodes);
  } catch (exc) {
    if (ctx.alive() && !(exc instanceof ApiError && exc.status === 401)) mount(results, errorBox(exc));
  }
}

async function render() {
  for (const timer of timers) clearTimeout(timer);
  timers = [];
  const gen = ++generation;
  const current = parseHash();
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  renderHeader(current);
  const main = document.getElementById("main");
  if (!current.route) {
    mount(main, h("div", { class: "alert alert-warn", testid: "error" }, t("error.noRoute")));
    return;
  }
  if (!current.route.public && !getToken()) {
    session(NEXT_KEY, location.hash);
    location.replace("#/login");
    return;
  }
  if (getToken() && !me && current.route.nav !== "login") {
    try {
      me = await getJson("/me");
    } catch {
      return; // a 401 already sent us to the login page
    }
    if (gen !== generation) return;
    renderHeader(current);
  }
  document.title = `${t(`nav.${current.route.nav}`)} · ${t("app.title")}`;
  mount(main, h("p", { class: "loading", testid: "loading" }, t("loading")));
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
    await current.route.view(ctx);
  } catch (exc) {
    if (gen === generation && !(exc instanceof ApiError && exc.status === 401)) renderError(main, exc);
  }
}

onUnauthorized((error) => {
  clearToken();
  me = null;
  keysCache = null;
  if (error && error.code !== "no_token") session(REASON_KEY, JSON.stringify(error));
  const current = parseHash();
  if (current.route && current.route.nav === "login") {
    render();
  } else {
    if (current.route && !current.route.public) session(NEXT_KEY, location.hash);
    location.hash = "#/login";
  }
});

// -- shared pieces ----------------------------------------------------------------------------------------

function pageHeader(title, ...extra) {
  return h(
    "div",
    { class: "page-head" },
    h("h1", null, title),
    extra.length ? h("div", { class: "page-actions" }, extra) : null,
  );
}

function orgLink(org) {
  if (org === null || org === undefined || org === "") return "—";
  return link(["members", org], String(org));
}

function assetLink(asset) {
  if (asset === null || asset === undefined || asset === "") return "—";
  return link(["assets", asset], String(asset));
}

function grantLink(grantId) {
  if (!grantId) return "—";
  return link(["grants", grantId], short(grantId, 8));
}

function txLink(hash) {
  if (!hash) return "—";
  return link(["transactions", hash], short(hash, 10));
}

function blockLink(number) {
  if (number === null || number === undefined || number === "") return "—";
  return link(["blocks", number], fmtNum(number));
}

function chips(values, cls) {
  const list = Array.isArray(values) ? values : values === null || values === undefined ? [] : [values];
  if (!list.length) return "—";
  return h(
    "span",
    { class: "chips" },
    list.map((v) => h("span", { class: `chip ${cls || ""}` }, String(v))),
  );
}

function roleChips(roles) {
  const list = Array.isArray(roles) ? roles : typeof roles === "string" ? roles.split(/[,\s]+/).filter(Boolean) : [];
  return chips(list.map((r) => t(`memberRole.${r}`, null, r)));
}

function listOf(answer, key) {
  if (Array.isArray(answer)) return answer;
  if (isObject(answer) && Array.isArray(answer[key])) return answer[key];
  return [];
}

function statusMessage(node, message, kind) {
  mount(node, message ? h("span", { class: `note note-${kind || "info"}` }, message) : null);
}

async function fetchKeys() {
  if (!keysCache) keysCache = await getJson("/keys");
  return keysCache;
}

function describePolicy(policy) {
  if (!isObject(policy)) return "—";
  return t(policy.require_regulator ? "policy.withRegulator" : "policy.plain", {
    k: policy.threshold,
    n: Array.isArray(policy.witnesses) ? policy.witnesses.length : "?",
  });
}

function ms(value) {
  return value === null || value === undefined ? null : Number(value);
}

// -- login ------------------------------------------------------------------------------------------------

async function viewLogin(ctx) {
  let reason = null;
  try {
    reason = JSON.parse(session(REASON_KEY) || "null");
  } catch {
    reason = null;
  }
  const input = h("textarea", {
    id: "login-token",
    testid: "login-token",
    rows: 6,
    spellcheck: "false",
    autocomplete: "off",
    autocapitalize: "off",
    placeholder: "eyJhbGciOiJFUzI1NiIs…",
    required: true,
  });
  const problem = h("div", { class: "login-problem", "aria-live": "polite" });
  if (reason) {
    const detail = reason.detail ? `${reason.detail} (${reason.code})` : reason.code;
    mount(
      problem,
      h("div", { class: "alert alert-fail", testid: "login-reason", role: "alert" }, t("login.rejected", { detail })),
    );
  }
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "login-submit" }, t("login.submit"));
  const form = h(
    "form",
    { class: "login-form", testid: "login-form" },
    h("label", { for: "login-token" }, t("login.tokenLabel")),
    input,
    h("p", { class: "hint" }, t("login.hint"), " ", h("code", null, "consortium user token DIR --org ORG --name NAME")),
    problem,
    h("div", { class: "form-actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim().replace(/^Bearer\s+/i, "");
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
      mount(problem, h("div", { class: "alert alert-fail", testid: "login-reason", role: "alert" }, t("login.notJwt")));
      return;
    }
    submit.disabled = true;
    session(REASON_KEY, null);
    setToken(token);
    try {
      me = await getJson("/me");
    } catch (exc) {
      submit.disabled = false;
      if (!(exc instanceof ApiError && exc.status === 401)) {
        clearToken();
        mount(problem, h("div", { class: "alert alert-fail", testid: "login-reason", role: "alert" }, exc.message));
      }
      return; // a 401 re-renders this page with the server's reason
    }
    const next = session(NEXT_KEY);
    session(NEXT_KEY, null);
    go(next && next.startsWith("#/") && !next.startsWith("#/login") ? next : "#/");
  });
  const current =
    getToken() && me
      ? h("p", { class: "note note-info" }, t("login.already", { who: `${me.display_name || me.name} (${me.org})` }))
      : null;
  ctx.show(
    h(
      "div",
      { class: "login" },
      section(t("login.title"), h("p", null, t("login.intro")), current, form),
      h("p", { class: "hint" }, t("login.verifyWithout"), " ", link(["verify"], t("nav.verify"))),
    ),
  );
  input.focus();
}

// -- dashboard --------------------------------------------------------------------------------------------

/** Calls per minute by center, whatever the shape: [{minute|minute_ms|time_ms, center, count}], {center: [[t, n]]},
 * or {minutes: [...], series: {center: [n...]}}: to {minutes: [ms], series: [{name, values}]}. */
function perMinute(raw, windowMinutes) {
  if (isObject(raw) && Array.isArray(raw.minutes) && isObject(raw.series)) {
    const minutes = raw.minutes.map((m) => toMs(m));
    return {
      minutes,
      series: Object.entries(raw.series).map(([name, values]) => ({ name, values: values.map(Number) })),
    };
  }
  const rows = [];
  const source = isObject(raw) && Array.isArray(raw.rows) ? raw.rows : raw;
  if (Array.isArray(source)) {
    for (const r of source) if (isObject(r)) rows.push(r);
  } else if (isObject(source)) {
    for (const [center, values] of Object.entries(source)) {
      if (!Array.isArray(values)) continue;
      for (const v of values) {
        if (Array.isArray(v)) rows.push({ center, minute: v[0], count: v[1] });
        else if (isObject(v)) rows.push({ center, ...v });
      }
    }
  }
  const points = rows
    .map((r) => ({
      center: String(pick(r, "center", "service_center") ?? "—"),
      minute: toMs(pick(r, "minute_ms", "minute", "time_ms", "start_ms", "t", "ts", "time")),
      count: Number(pick(r, "count", "calls", "n", "total") ?? 0),
    }))
    .filter((p) => Number.isFinite(p.minute));
  if (!points.length) return { minutes: [], series: [] };
  // the whole window up to the current minute, so that quiet minutes show as zero
  const nowMinute = Math.floor(Date.now() / 60000) * 60000;
  const windowStart = windowMinutes ? nowMinute - (windowMinutes - 1) * 60000 : Infinity;
  const first = Math.floor(Math.min(windowStart, ...points.map((p) => p.minute)) / 60000) * 60000;
  const last = Math.max(windowMinutes ? nowMinute : -Infinity, ...points.map((p) => p.minute));
  const span = Math.min(24 * 60, Math.round((last - first) / 60000) + 1);
  const minutes = Array.from({ length: span }, (_, i) => first + i * 60000);
  const byCenter = new Map();
  for (const p of points) {
    if (!byCenter.has(p.center)) byCenter.set(p.center, new Array(span).fill(0));
    const i = Math.round((p.minute - first) / 60000);
    if (i >= 0 && i < span) byCenter.get(p.center)[i] += p.count;
  }
  const series = [...byCenter.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, values]) => ({ name, values }));
  return { minutes, series };
}

function toMs(value) {
  const n = Number(value);
  if (!Number.isFinite(n) || value === null || value === undefined) return NaN;
  if (n < 1e8) return n * 60000; // minutes since the epoch
  if (n < 1e11) return n * 1000; // seconds
  return n;
}

function witnessRows(witnesses) {
  if (Array.isArray(witnesses)) return witnesses.filter(isObject);
  if (isObject(witnesses))
    return Object.entries(witnesses).map(([org, w]) => ({ org, ...(isObject(w) ? w : { status: w }) }));
  return [];
}

function witnessTable(witnesses, testid) {
  return table(
    [
      { label: t("col.witness"), cell: (w) => orgLink(w.org) },
      {
        label: t("col.status"),
        cell: (w) =>
          w.status === 200 || w.status === "ok"
            ? badge("ok", t("witness.up"))
            : w.status === null || w.status === undefined
              ? badge("muted", t("witness.unknown"))
              : badge("fail", w.status === 0 ? t("witness.unreachable") : t("witness.status", { status: w.status })),
      },
      { label: t("col.detail"), cell: (w) => text(w.detail), class: "wrap" },
    ],
    witnessRows(witnesses),
    { testid },
    (w) => ({ dataset: { org: w.org } }),
  );
}

function callColumns(compact) {
  const cols = [
    { label: t("col.time"), cell: (c) => fmtMs(c.time_ms), class: "nowrap" },
    { label: t("col.event"), cell: (c) => link(["calls", c.event_id], short(c.event_id, 8), { testid: "call-link" }) },
    { label: t("col.caller"), cell: (c) => orgLink(c.caller_org) },
    { label: t("col.provider"), cell: (c) => orgLink(c.provider_org) },
    { label: t("col.service"), cell: (c) => h("span", { title: `${c.center} / ${c.unit}` }, text(c.api)) },
    { label: t("col.decision"), cell: (c) => decisionBadge(c.decision) },
    { label: t("col.denialReason"), cell: (c) => (c.denial_reason ? mono(c.denial_reason) : "—") },
    { label: t("col.status"), cell: (c) => httpStatusBadge(c.status) },
  ];
  if (!compact) {
    cols.splice(5, 0, { label: t("col.route"), cell: (c) => mono(`${c.method || ""} ${c.route || ""}`.trim()) });
    cols.splice(6, 0, { label: t("col.asset"), cell: (c) => assetLink(c.asset_id) });
    cols.push({
      label: t("col.latency"),
      cell: (c) => (c.latency_us == null ? "—" : `${(c.latency_us / 1000).toFixed(1)} ms`),
      class: "num",
    });
    cols.push({ label: t("col.index"), cell: (c) => fmtNum(c.index), class: "num" });
  }
  return cols;
}

function callRowAttrs(c) {
  return { dataset: { eventId: c.event_id, decision: c.decision } };
}

async function viewDashboard(ctx) {
  const body = h("div", { class: "dashboard", testid: "dashboard" });
  const stamp = h("span", { class: "muted", testid: "dashboard-updated" });
  const warn = h("div", { class: "refresh-warning" });
  let policy = null;
  try {
    policy = (await fetchKeys()).policy;
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) return;
  }
  const refresh = async () => {
    let d;
    try {
      d = await getJson("/dashboard", { minutes: DASHBOARD_MINUTES });
    } catch (exc) {
      if (ctx.alive() && !(exc instanceof ApiError && exc.status === 401)) {
        statusMessage(warn, t("dashboard.refreshFailed", { detail: exc.message }), "warn");
      }
      throw exc;
    }
    if (!ctx.alive()) return;
    statusMessage(warn, null);
    stamp.textContent = t("dashboard.updated", { time: fmtMs(Date.now()), seconds: REFRESH_MS / 1000 });
    mount(body, ...dashboardParts(d, policy));
  };
  await refresh();
  ctx.show(pageHeader(t("nav.dashboard"), stamp), warn, body);
  ctx.repeat(refresh, REFRESH_MS);
}

function dashboardParts(d, policy) {
  const head = isObject(d.head) ? d.head : {};
  const cp = isObject(d.checkpoint) ? d.checkpoint : null;
  const an = isObject(d.anchor) ? d.anchor : null;
  const anchor = an && isObject(an.anchor) ? { size: an.size, ...an.anchor } : an;
  const card = (title, testid, ...lines) =>
    h("div", { class: "stat", testid }, h("div", { class: "stat-title" }, title), ...lines);
  const cards = h(
    "div",
    { class: "stats" },
    card(
      t("dashboard.head"),
      "stat-head",
      h(
        "div",
        { class: "stat-value" },
        head.number === null || head.number === undefined ? "—" : blockLink(head.number),
      ),
      h("div", { class: "stat-sub" }, fmtSec(head.time)),
    ),
    card(
      t("dashboard.logSize"),
      "stat-log",
      h("div", { class: "stat-value" }, fmtNum(d.log_size)),
      h("div", { class: "stat-sub" }, t("dashboard.entries")),
    ),
    card(
      t("dashboard.checkpoint"),
      "stat-checkpoint",
      h("div", { class: "stat-value" }, cp ? link(["checkpoints"], fmtNum(cp.size)) : "—"),
      h("div", { class: "stat-sub" }, cp ? fmtMs(pick(cp, "published_ms", "time_ms")) : t("dashboard.noCheckpoint")),
      cp ? h("div", { class: "stat-sub" }, t("dashboard.cosignedBy"), " ", chips(cp.cosigners)) : null,
    ),
    card(
      t("dashboard.anchor"),
      "stat-anchor",
      h("div", { class: "stat-value" }, anchor ? link(["anchors"], fmtNum(anchor.size)) : "—"),
      anchor
        ? h(
            "div",
            { class: "stat-sub" },
            t("col.block"),
            " ",
            blockLink(anchor.block_number),
            " · ",
            txLink(anchor.tx_hash),
          )
        : h("div", { class: "stat-sub" }, t("dashboard.noAnchor")),
      anchor ? h("div", { class: "stat-sub" }, fmtMs(pick(anchor, "confirmed_ms", "sent_ms"))) : null,
    ),
  );
  const chart = lineChart(perMinute(d.calls_per_minute, DASHBOARD_MINUTES), {
    title: t("dashboard.chartTitle"),
    empty: t("dashboard.chartEmpty"),
    unit: t("dashboard.perMinute"),
    testid: "calls-chart",
  });
  const denials = listOf(d.denials, "calls");
  return [
    cards,
    h(
      "div",
      { class: "grid-2" },
      section(t("dashboard.chartTitle"), chart),
      section(
        t("dashboard.witnesses"),
        policy
          ? h(
              "p",
              { class: "muted" },
              t("dashboard.policy", { policy: describePolicy({ ...policy, witnesses: witnessRows(d.witnesses) }) }),
            )
          : null,
        witnessTable(d.witnesses, "witness-table"),
      ),
    ),
    section(
      t("dashboard.denials"),
      table(callColumns(true), denials, { testid: "denials-table" }, callRowAttrs),
      h("p", null, linkQuery(["calls"], { decision: "deny" }, t("dashboard.allDenials"))),
    ),
  ];
}

// -- members ----------------------------------------------------------------------------------------------

function memberStatus(status) {
  const kind = { active: "ok", suspended: "warn", removed: "fail" }[status] || "muted";
  return badge(kind, t(`memberStatus.${status}`, null, text(status)));
}

async function viewMembers(ctx) {
  const answer = await getJson("/members");
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
            cell: (m) => short(pick(m, "witness_key", "witness_public_key", "witness_vkey"), 10),
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

function historyTable(history, testid) {
  return table(
    [
      { label: t("col.time"), cell: (e) => fmtSec(e.timestamp), class: "nowrap" },
      { label: t("col.block"), cell: (e) => blockLink(e.block_number) },
      { label: t("col.event"), cell: (e) => h("strong", null, text(e.event)) },
      { label: t("col.args"), cell: (e) => argsList(e.args), class: "wrap" },
      { label: t("col.transaction"), cell: (e) => txLink(e.tx_hash) },
    ],
    Array.isArray(history) ? history : [],
    { testid },
  );
}

function argsList(args) {
  if (args === null || args === undefined) return h("span", { class: "muted" }, t("redacted"));
  if (!isObject(args)) return mono(args);
  const entries = Object.entries(args);
  if (!entries.length) return "—";
  return h(
    "dl",
    { class: "args" },
    entries.map(([k, v]) => [h("dt", null, k), h("dd", { class: "mono" }, text(v))]),
  );
}

function toDayMs(value, endOfDay) {
  if (!value) return null;
  const d = new Date(`${value}T00:00:00`);
  if (Number.isNaN(d.getTime())) return null;
  return d.getTime() + (endOfDay ? 86_400_000 : 0);
}

function reportForm(org) {
  const today = new Date();
  const iso = (d) =>
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
      statusMessage(status, t("download.failed", { detail: exc.message }), "fail");
    }
  });
  return form;
}

async function viewMember(ctx) {
  const org = ctx.args[0];
  const m = await getJson(`/members/${encodeURIComponent(org)}`);
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
        pick(m, "witness_key", "witness_public_key", "witness_vkey") !== undefined
          ? [t("col.witnessKey"), mono(pick(m, "witness_key", "witness_public_key", "witness_vkey"))]
          : null,
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

// -- assets -----------------------------------------------------------------------------------------------

function classification(a) {
  const level = pick(a, "classification");
  return h(
    "span",
    null,
    t("asset.level", { level: text(level) }),
    a.private ? [" ", badge("warn", t("asset.private"))] : null,
  );
}

async function viewAssets(ctx) {
  const answer = await getJson("/assets");
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
          { label: t("col.kind"), cell: (a) => text(a.kind) },
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

function grantColumns(withAsset) {
  const cols = [
    { label: t("col.grant"), cell: (g) => grantLink(g.grant_id) },
    { label: t("col.grantor"), cell: (g) => orgLink(g.grantor) },
    { label: t("col.grantee"), cell: (g) => orgLink(g.grantee) },
    { label: t("col.purpose"), cell: (g) => text(g.purpose) },
    { label: t("col.notBefore"), cell: (g) => fmtSec(g.not_before) },
    { label: t("col.expires"), cell: (g) => (g.expires_at ? fmtSec(g.expires_at) : t("grant.noExpiry")) },
    { label: t("col.quota"), cell: (g) => (g.quota ? fmtNum(g.quota) : t("grant.unlimited")), class: "num" },
    { label: t("col.state"), cell: (g) => stateBadge(g.state) },
  ];
  if (withAsset) cols.splice(1, 0, { label: t("col.asset"), cell: (g) => assetLink(g.asset) });
  return cols;
}

async function viewAsset(ctx) {
  const id = ctx.args[0];
  const a = await getJson(`/assets/${encodeURIComponent(id)}`);
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
        [t("col.kind"), text(a.kind)],
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
      table(
        [
          { label: t("col.version"), cell: (v) => fmtNum(v.version), class: "num" },
          { label: t("asset.content"), cell: (v) => short(v.content_digest, 10) },
          { label: t("asset.metadata"), cell: (v) => short(v.metadata_digest, 10) },
          { label: t("col.classification"), cell: (v) => text(v.classification) },
          { label: t("col.time"), cell: (v) => fmtSec(v.timestamp) },
          { label: t("col.block"), cell: (v) => blockLink(v.block_number) },
          { label: t("col.transaction"), cell: (v) => txLink(v.tx_hash) },
          { label: t("asset.registeredBy"), cell: (v) => short(v.registered_by, 8) },
        ],
        Array.isArray(a.versions) ? a.versions : [],
        { testid: "asset-versions" },
      ),
    ),
    section(
      t("asset.grants"),
      table(grantColumns(false), Array.isArray(a.grants) ? a.grants : [], { testid: "asset-grants" }, (g) => ({
        dataset: { grantId: g.grant_id },
      })),
    ),
    section(t("history"), historyTable(a.history, "asset-history")),
  );
}

// -- grants -----------------------------------------------------------------------------------------------

const GRANT_STATES = ["active", "revoked", "expired", "not_yet_valid", "void"];

async function viewGrants(ctx) {
  const filters = {};
  for (const k of ["asset", "grantee", "grantor", "state"]) filters[k] = ctx.params.get(k) || "";
  const field = (name) =>
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
  ctx.show(pageHeader(t("nav.grants")), section(null, form), section(null, results));
  await loadInto(ctx, results, async () => {
    const answer = await getJson("/grants", filters);
    return [
      table(grantColumns(true), listOf(answer, "grants"), { testid: "grants-table" }, (g) => ({
        dataset: { grantId: g.grant_id, state: g.state },
      })),
    ];
  });
}

function grantLifecycle(g) {
  const now = Date.now() / 1000;
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

async function viewGrant(ctx) {
  const id = ctx.args[0];
  const g = await getJson(`/grants/${encodeURIComponent(id)}`);
  ctx.show(
    pageHeader(
      t("grant.title"),
      stateBadge(g.state),
      linkQuery(["calls"], { grant: g.grant_id || id }, t("grant.calls"), { class: "btn" }),
    ),
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

// -- services ---------------------------------------------------------------------------------------------

async function viewServices(ctx) {
  const answer = await getJson("/services");
  const centers = listOf(answer, "centers");
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
                table(
                  [
                    { label: t("col.api"), cell: (a) => linkQuery(["calls"], { service: a.api }, a.api) },
                    { label: t("col.route"), cell: (a) => mono(`${a.method || ""} ${a.route || ""}`.trim()) },
                    { label: t("col.provider"), cell: (a) => orgLink(a.provider) },
                    { label: t("col.asset"), cell: (a) => assetLink(a.asset) },
                    {
                      label: t("col.state"),
                      cell: (a) =>
                        a.active ? badge("ok", t("services.active")) : badge("muted", t("services.inactive")),
                    },
                  ],
                  Array.isArray(u.apis) ? u.apis : [],
                  null,
                  (a) => ({ dataset: { api: a.api } }),
                ),
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

// -- calls ------------------------------------------------------------------------------------------------

function localInput(msValue) {
  if (!msValue) return "";
  const d = new Date(Number(msValue));
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function callFilters(params) {
  const out = {};
  for (const k of CALL_FILTERS) {
    const v = params.get(k);
    if (v !== null && v !== "") out[k] = v;
  }
  return out;
}

async function viewCalls(ctx) {
  const filters = callFilters(ctx.params);
  const limit = Math.min(200, Math.max(1, Number(ctx.params.get("limit")) || 50));
  const input = (name, attrs) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: `calls-${name}` }, t(`filter.${name}`)),
      h("input", {
        id: `calls-${name}`,
        name,
        testid: `filter-${name}`,
        value: filters[name] || "",
        autocomplete: "off",
        ...attrs,
      }),
    );
  const decision = h(
    "select",
    { id: "calls-decision", name: "decision", testid: "filter-decision" },
    h("option", { value: "" }, t("any")),
    ["allow", "deny"].map((d) => h("option", { value: d, selected: filters.decision === d }, t(`decision.${d}`))),
  );
  const from = h("input", {
    id: "calls-from",
    name: "from",
    type: "datetime-local",
    testid: "filter-from",
    value: localInput(filters.from),
  });
  const to = h("input", {
    id: "calls-to",
    name: "to",
    type: "datetime-local",
    testid: "filter-to",
    value: localInput(filters.to),
  });
  const limitSelect = h(
    "select",
    { id: "calls-limit", name: "limit", testid: "filter-limit" },
    [20, 50, 100, 200].map((n) => h("option", { value: n, selected: n === limit }, String(n))),
  );
  const form = h(
    "form",
    { class: "filters", testid: "calls-form" },
    input("caller", { placeholder: "org" }),
    input("provider", { placeholder: "org" }),
    input("service", { placeholder: "api" }),
    input("center"),
    input("asset"),
    input("grant", { placeholder: "0x…" }),
    h("div", { class: "field" }, h("label", { for: "calls-decision" }, t("filter.decision")), decision),
    input("status", { type: "number", min: 100, max: 599 }),
    input("denial_reason"),
    h("div", { class: "field" }, h("label", { for: "calls-from" }, t("filter.from")), from),
    h("div", { class: "field" }, h("label", { for: "calls-to" }, t("filter.to")), to),
    input("trace", { placeholder: t("filter.tracePlaceholder"), pattern: "[0-9a-f]{32}", class: "wide" }),
    h("div", { class: "field" }, h("label", { for: "calls-limit" }, t("filter.limit")), limitSelect),
    h(
      "div",
      { class: "field field-actions" },
      h("button", { type: "submit", class: "btn btn-primary", testid: "calls-search" }, t("search")),
      h("a", { href: "#/calls", class: "btn btn-ghost", testid: "calls-reset" }, t("reset")),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const q = {};
    for (const [k, v] of data.entries()) {
      const value = String(v).trim();
      if (!value) continue;
      if (k === "from" || k === "to") {
        const when = new Date(value).getTime();
        if (Number.isFinite(when)) q[k] = when;
      } else if (k === "trace") {
        q[k] = value.toLowerCase();
      } else if (k === "limit") {
        if (Number(value) !== 50) q[k] = value;
      } else {
        q[k] = value;
      }
    }
    go(queryHash("calls", q));
  });

  const downloadStatus = h("div", { class: "download-status", testid: "download-status", "aria-live": "polite" });
  const exportButton = (testid, path, name, label) =>
    h(
      "button",
      {
        type: "button",
        class: "btn",
        testid,
        on: {
          click: async (event) => {
            const button = event.currentTarget;
            button.disabled = true;
            statusMessage(downloadStatus, t("download.busy"), "info");
            try {
              const file = await download(path, filters, name);
              statusMessage(downloadStatus, t("download.done", { name: file.name, size: fmtNum(file.size) }), "ok");
            } catch (exc) {
              if (!(exc instanceof ApiError && exc.status === 401))
                statusMessage(downloadStatus, t("download.failed", { detail: exc.message }), "fail");
            } finally {
              button.disabled = false;
            }
          },
        },
      },
      label,
    );
  const exports = h(
    "div",
    { class: "exports" },
    h("span", { class: "muted" }, t("calls.export")),
    exportButton("export-csv", "/exports/calls.csv", "calls.csv", "CSV"),
    exportButton("export-json", "/exports/calls.json", "calls.json", "JSON"),
    exportButton("export-zip", "/exports/evidence.zip", "evidence.zip", t("calls.evidenceZip")),
    downloadStatus,
  );

  const results = h("div", { testid: "calls-results" });
  ctx.show(pageHeader(t("nav.calls")), section(null, form), section(null, results));
  await loadInto(ctx, results, async () => callResults(ctx, filters, limit, exports, downloadStatus));
}

async function callResults(ctx, filters, limit, exports, downloadStatus) {
  const answer = await getJson("/calls", { ...filters, limit });
  const columns = callColumns(false);
  const rows = listOf(answer, "calls");
  const tableNode = table(columns, rows, { testid: "calls-table" }, callRowAttrs);
  const tbody = tableNode.querySelector("tbody");
  const count = h("span", { class: "muted", testid: "calls-count" }, t("calls.shown", { n: rows.length }));
  let next = answer.next ?? null;
  let shown = rows.length;
  const more = h("button", { type: "button", class: "btn", testid: "calls-more", hidden: !next }, t("more"));
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await getJson("/calls", { ...filters, limit, cursor: next });
      if (!ctx.alive()) return;
      const extra = listOf(page, "calls");
      const empty = tbody.querySelector("tr.empty");
      if (empty && extra.length) empty.remove();
      appendRows(tbody, columns, extra, callRowAttrs);
      shown += extra.length;
      count.textContent = t("calls.shown", { n: shown });
      next = page.next ?? null;
      more.hidden = !next;
    } catch (exc) {
      if (!(exc instanceof ApiError && exc.status === 401)) statusMessage(downloadStatus, exc.message, "fail");
    } finally {
      more.disabled = false;
    }
  });
  return [h("div", { class: "table-head" }, count, exports), tableNode, h("div", { class: "table-foot" }, more)];
}

// -- one call: provenance and the browser's re-verification ----------------------------------------------

function stepList(steps, prefix, serverByStep) {
  return h(
    "ol",
    { class: "steps", testid: prefix ? `${prefix}steps` : "server-steps" },
    steps.map((s) => {
      const ok = s.ok === true ? true : s.ok === false ? false : null;
      const server = serverByStep ? serverByStep.get(s.step) : undefined;
      return h(
        "li",
        {
          class: `step step-${ok === true ? "ok" : ok === false ? "fail" : "none"}`,
          testid: `${prefix}step-${s.step}`,
          dataset: { ok: String(ok), step: s.step, serverOk: server === undefined ? null : String(server) },
        },
        mark(ok),
        h(
          "div",
          { class: "step-body" },
          h(
            "div",
            { class: "step-name" },
            t(`step.${s.step}`, null, s.step),
            h("span", { class: "mono muted step-key" }, s.step),
          ),
          h("div", { class: "step-detail" }, text(s.detail)),
          server !== undefined && server !== ok
            ? h("div", { class: "note note-warn" }, t("prov.disagree", { server: String(server) }))
            : null,
          s.data !== undefined && s.data !== null ? rawJson(t("prov.data"), s.data) : null,
        ),
      );
    }),
  );
}

function verdict(ok, testid, yes, no, none) {
  const label = ok === true ? yes : ok === false ? no : none;
  const kind = ok === true ? "ok" : ok === false ? "fail" : "muted";
  return h(
    "div",
    { class: `verdict verdict-${kind}`, testid, dataset: { ok: String(ok) } },
    mark(ok),
    h("span", null, label),
  );
}

function browserVerdict(steps) {
  if (steps.some((s) => s.ok === false)) return false;
  if (steps.every((s) => s.ok === true)) return true;
  return null;
}

async function viewCall(ctx) {
  const id = ctx.args[0];
  const [detail, prov] = await Promise.all([
    getJson(`/calls/${encodeURIComponent(id)}`),
    getJson(`/calls/${encodeURIComponent(id)}/provenance`),
  ]);
  const event = isObject(detail.event) ? detail.event : null;
  const call = isObject(detail.call) ? detail.call : isObject(prov.call) ? prov.call : {};
  const serverSteps = (Array.isArray(prov.steps) ? prov.steps : []).filter(isObject);
  const serverByStep = new Map(serverSteps.map((s) => [s.step, s.ok === true ? true : s.ok === false ? false : null]));
  let browserSteps;
  if (prov.evidence === null || prov.evidence === undefined) {
    const why = serverSteps.find((s) => s.step === "entry");
    browserSteps = STEPS.map((step) => ({
      step,
      ok: null,
      detail: t("prov.noEvidence", { detail: why ? text(why.detail) : "" }),
    }));
  } else {
    browserSteps = await verifyBundle(prov.evidence, prov.keys, event ? { event } : undefined);
  }
  const downloadStatus = h("div", { testid: "download-status", "aria-live": "polite" });
  const downloadButton = h(
    "button",
    {
      type: "button",
      class: "btn btn-primary",
      testid: "download-evidence",
      on: {
        click: async () => {
          statusMessage(downloadStatus, t("download.busy"), "info");
          try {
            const file = await download(`/calls/${encodeURIComponent(id)}/evidence`, null, `evidence-${id}.json`);
            statusMessage(downloadStatus, t("download.done", { name: file.name, size: fmtNum(file.size) }), "ok");
          } catch (exc) {
            if (!(exc instanceof ApiError && exc.status === 401))
              statusMessage(downloadStatus, t("download.failed", { detail: exc.message }), "fail");
          }
        },
      },
    },
    t("prov.download"),
  );
  const source = event || call;
  const traceId =
    pick(call, "trace_id") || (typeof source.traceparent === "string" ? source.traceparent.split("-")[1] : null);
  const summary = kv([
    [t("col.event"), mono(source.event_id || id)],
    [t("col.time"), fmtMs(source.time_ms)],
    [t("col.caller"), orgLink(source.caller_org)],
    [t("col.provider"), orgLink(source.provider_org)],
    [
      t("col.service"),
      h(
        "span",
        null,
        `${text(source.center)} / ${text(source.unit)} / `,
        linkQuery(["calls"], { service: source.api }, text(source.api)),
      ),
    ],
    [t("col.route"), mono(`${source.method || ""} ${source.route || ""}`.trim())],
    [
      t("col.asset"),
      source.asset_id
        ? h("span", null, assetLink(source.asset_id), source.asset_version ? ` v${source.asset_version}` : "")
        : "—",
    ],
    [t("col.grant"), source.grant_id ? link(["grants", source.grant_id], mono(source.grant_id)) : "—"],
    [
      t("col.decision"),
      h("span", null, decisionBadge(source.decision), source.denial_reason ? [" ", mono(source.denial_reason)] : null),
    ],
    [t("col.status"), httpStatusBadge(source.status)],
    [t("col.latency"), source.latency_us == null ? "—" : `${(source.latency_us / 1000).toFixed(1)} ms`],
    [t("col.trace"), traceId ? linkQuery(["calls"], { trace: traceId }, mono(traceId)) : "—"],
    [t("col.gateway"), source.gateway_id ? mono(`${source.gateway_id} #${source.gateway_seq ?? ""}`) : "—"],
    [t("col.index"), fmtNum(call.index ?? (prov.evidence ? prov.evidence.index : null))],
    [t("col.leafHash"), mono(call.leaf_hash ?? (prov.evidence ? prov.evidence.leaf_hash : null))],
  ]);
  const pending = prov.evidence && Array.isArray(prov.evidence.pending) ? prov.evidence.pending.filter(isObject) : [];
  ctx.show(
    pageHeader(
      t("prov.title"),
      downloadButton,
      link(["verify"], t("prov.verifyElsewhere"), { class: "btn btn-ghost" }),
    ),
    downloadStatus,
    h(
      "div",
      { class: "grid-2" },
      section(t("prov.call"), summary),
      section(
        t("prov.verdicts"),
        verdict(
          prov.verified === true ? true : prov.verified === false ? false : null,
          "server-verdict",
          t("prov.serverVerified"),
          t("prov.serverNotVerified"),
          t("prov.serverUnknown"),
        ),
        verdict(
          browserVerdict(browserSteps),
          "browser-verdict",
          t("prov.browserVerified"),
          t("prov.browserFailed"),
          t("prov.browserPending"),
        ),
        pending.length
          ? h(
              "ul",
              { class: "plain pending" },
              pending.map((p) =>
                h("li", null, h("strong", null, t(`pending.${p.part}`, null, text(p.part))), ": ", text(p.reason)),
              ),
            )
          : null,
        h("p", { class: "muted" }, t("prov.keysNote")),
      ),
    ),
    section(t("prov.serverSteps"), h("p", { class: "muted" }, t("prov.serverIntro")), stepList(serverSteps, "", null)),
    section(
      t("prov.browserSteps"),
      h("p", { class: "muted" }, t("prov.browserIntro")),
      stepList(browserSteps, "browser-", serverByStep),
    ),
    event ? section(t("prov.event"), kvAll(event)) : null,
  );
}

// -- blocks and transactions ------------------------------------------------------------------------------

function sealsSummary(seals) {
  if (seals === null || seals === undefined) return "—";
  if (Array.isArray(seals)) return t("block.seals", { n: seals.length });
  if (isObject(seals)) {
    const n = Array.isArray(seals.seals) ? seals.seals.length : seals.seals;
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

const BLOCK_COLUMNS = () => [
  { label: t("col.block"), cell: (b) => blockLink(b.number) },
  { label: t("col.time"), cell: (b) => fmtSec(b.timestamp), class: "nowrap" },
  { label: t("col.hash"), cell: (b) => short(b.hash, 12) },
  { label: t("col.txCount"), cell: (b) => fmtNum(b.tx_count), class: "num" },
  { label: t("col.seals"), cell: (b) => sealsSummary(b.seals) },
];

async function viewBlocks(ctx) {
  const before = ctx.params.get("before") || null;
  const answer = await getJson("/blocks", { limit: 20, before });
  const columns = BLOCK_COLUMNS();
  const tableNode = table(columns, listOf(answer, "blocks"), { testid: "blocks-table" }, (b) => ({
    dataset: { number: b.number },
  }));
  const tbody = tableNode.querySelector("tbody");
  let next = answer.next ?? null;
  const more = h("button", { type: "button", class: "btn", testid: "blocks-more", hidden: next === null }, t("more"));
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
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

function txStatus(status) {
  if (status === 1 || status === true || status === "success") return badge("ok", t("tx.success"));
  if (status === 0 || status === false || status === "failed") return badge("fail", t("tx.failed"));
  return badge("muted", text(status));
}

async function viewBlock(ctx) {
  const number = ctx.args[0];
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

async function viewTransaction(ctx) {
  const hash = ctx.args[0];
  const x = await getJson(`/transactions/${encodeURIComponent(hash)}`);
  const events = Array.isArray(x.events) ? x.events : [];
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
    section(
      t("tx.events"),
      table(
        [
          { label: t("col.logIndex"), cell: (e) => fmtNum(e.log_index), class: "num" },
          { label: t("col.contract"), cell: (e) => text(e.contract || e.address) },
          {
            label: t("col.event"),
            cell: (e) => (e.event ? h("strong", null, e.event) : h("span", { class: "muted" }, t("tx.foreignLog"))),
          },
          { label: t("col.args"), cell: (e) => argsList(e.args), class: "wrap" },
        ],
        events,
        { testid: "tx-events" },
      ),
    ),
  );
}

// -- checkpoints, anchors, health -------------------------------------------------------------------------

function anchorState(state) {
  const kind = { confirmed: "ok", sent: "warn", failed: "fail" }[state] || "muted";
  return badge(kind, t(`anchorState.${state}`, null, text(state)));
}

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

async function viewCheckpoints(ctx) {
  const answer = await getJson("/checkpoints", { limit: 20 });
  const columns = checkpointColumns();
  const tableNode = table(columns, listOf(answer, "checkpoints"), { testid: "checkpoints-table" }, (c) => ({
    dataset: { size: c.size },
  }));
  const tbody = tableNode.querySelector("tbody");
  let next = answer.next ?? null;
  const more = h(
    "button",
    { type: "button", class: "btn", testid: "checkpoints-more", hidden: next === null },
    t("more"),
  );
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
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

async function viewAnchors(ctx) {
  const answer = await getJson("/anchors", { limit: 50 });
  ctx.show(
    pageHeader(t("nav.anchors")),
    section(
      null,
      h("p", { class: "muted" }, t("anchor.intro")),
      table(
        [
          { label: t("col.size"), cell: (a) => fmtNum(a.size), class: "num" },
          { label: t("col.root"), cell: (a) => short(a.root, 10) },
          { label: t("col.state"), cell: (a) => anchorState(a.state) },
          { label: t("col.transaction"), cell: (a) => txLink(a.tx_hash) },
          { label: t("col.block"), cell: (a) => blockLink(a.block_number) },
          { label: t("col.sent"), cell: (a) => fmtMs(a.sent_ms), class: "nowrap" },
          { label: t("col.confirmed"), cell: (a) => fmtMs(a.confirmed_ms), class: "nowrap" },
        ],
        listOf(answer, "anchors"),
        { testid: "anchors-table" },
        (a) => ({ dataset: { size: a.size } }),
      ),
    ),
  );
}

function okOf(value) {
  return isObject(value) && typeof value.ok === "boolean" ? value.ok : null;
}

async function viewHealth(ctx) {
  const [health, gaps] = await Promise.all([getJson("/health"), getJson("/gaps").catch(() => null)]);
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
        ? table(
            Object.keys(gateways[0]).map((k) => ({ label: k, cell: (g) => text(g[k]) })),
            gateways,
            { testid: "health-gateways" },
          )
        : h("p", { class: "muted" }, t("none")),
    ),
    section(t("health.explorer"), kvAll(explorer)),
    section(
      t("health.gaps"),
      gapRows.length
        ? table(
            Object.keys(gapRows[0]).map((k) => ({ label: k, cell: (g) => text(g[k]) })),
            gapRows,
            { testid: "health-gaps" },
          )
        : h("p", { class: "muted", testid: "health-gaps" }, t("health.noGaps")),
    ),
  );
}

// -- verify a bundle, in the browser only -----------------------------------------------------------------

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error || new Error("unreadable file"));
    reader.readAsText(file);
  });
}

async function viewVerify(ctx) {
  const loggedIn = Boolean(getToken());
  const bundleInput = h("input", {
    type: "file",
    id: "verify-file",
    testid: "verify-file",
    accept: ".json,application/json",
  });
  const keysInput = h("input", {
    type: "file",
    id: "keys-file",
    testid: "keys-file",
    accept: ".json,application/json",
  });
  const fromApi = h("input", {
    type: "radio",
    name: "keys-source",
    id: "keys-source-api",
    value: "api",
    testid: "keys-source-api",
    checked: loggedIn,
    disabled: !loggedIn,
  });
  const fromFile = h("input", {
    type: "radio",
    name: "keys-source",
    id: "keys-source-file",
    value: "file",
    testid: "keys-source-file",
    checked: !loggedIn,
  });
  const run = h("button", { type: "button", class: "btn btn-primary", testid: "verify-run" }, t("verify.run"));
  const out = h("div", { class: "verify-result", testid: "verify-result", "aria-live": "polite" });
  const keysInfo = h("div", { class: "keys-info", testid: "verify-keys" });
  keysInput.disabled = loggedIn;

  const showProblem = (message) =>
    mount(out, h("div", { class: "alert alert-fail", testid: "verify-error", role: "alert" }, message));

  async function loadKeys() {
    if (fromApi.checked) return { keys: await fetchKeys(), source: t("verify.keysFromApi") };
    const file = keysInput.files && keysInput.files[0];
    if (!file) throw new Error(t("verify.needKeys"));
    let data;
    try {
      data = JSON.parse(await readFile(file));
    } catch (exc) {
      throw new Error(t("verify.keysNotJson", { detail: exc.message }));
    }
    if (isObject(data) && data.format === "consortium-ledger/1")
      return { keys: await keysFromConsortium(data), source: file.name };
    return { keys: data, source: file.name };
  }

  async function verifyNow() {
    const file = bundleInput.files && bundleInput.files[0];
    if (!file) {
      mount(out, h("p", { class: "muted" }, t("verify.chooseFile")));
      return;
    }
    mount(out, h("p", { class: "loading" }, t("verify.busy")));
    let loaded;
    try {
      loaded = await loadKeys();
    } catch (exc) {
      if (!(exc instanceof ApiError && exc.status === 401)) showProblem(exc.message);
      return;
    }
    if (!ctx.alive()) return;
    mount(
      keysInfo,
      kv([
        [t("verify.keysSource"), text(loaded.source)],
        [t("verify.origin"), mono(isObject(loaded.keys) ? loaded.keys.origin : null)],
        [
          t("verify.policy"),
          isObject(loaded.keys) ? describePolicy({ ...loaded.keys.policy, witnesses: loaded.keys.witnesses }) : "—",
        ],
      ]),
    );
    let bundle;
    let problem = null;
    try {
      bundle = JSON.parse(await readFile(file));
    } catch (exc) {
      problem = t("verify.notJson", { detail: exc.message });
    }
    const steps = problem
      ? STEPS.map((step) => ({ step, ok: false, detail: problem }))
      : await verifyBundle(bundle, loaded.keys);
    if (!ctx.alive()) return;
    const ok = browserVerdict(steps);
    const info =
      isObject(bundle) && bundle.format === FORMAT
        ? kv([
            [
              t("col.event"),
              isObject(bundle) && bundle.event_id ? link(["calls", bundle.event_id], mono(bundle.event_id)) : "—",
            ],
            [t("col.index"), fmtNum(bundle.index)],
            [t("verify.origin"), mono(bundle.origin)],
            [t("verify.checkpointSize"), isObject(bundle.checkpoint) ? fmtNum(bundle.checkpoint.size) : "—"],
            [
              t("verify.pending"),
              Array.isArray(bundle.pending) && bundle.pending.length
                ? bundle.pending
                    .filter(isObject)
                    .map((p) => `${p.part}: ${p.reason}`)
                    .join("; ")
                : "—",
            ],
          ])
        : null;
    mount(
      out,
      problem ? h("div", { class: "alert alert-fail", testid: "verify-error", role: "alert" }, problem) : null,
      verdict(ok, "verify-verdict", t("verify.passed"), t("verify.failed"), t("verify.pendingVerdict")),
      info,
      verifyStepList(steps),
      h(
        "p",
        { class: "muted" },
        t("verify.chainNote"),
        " ",
        h("code", null, "consortium verify evidence FILE --consortium consortium.json"),
      ),
    );
  }

  for (const input of [bundleInput, keysInput]) input.addEventListener("change", verifyNow);
  for (const radio of [fromApi, fromFile]) {
    radio.addEventListener("change", () => {
      keysInput.disabled = fromApi.checked;
      if (bundleInput.files && bundleInput.files[0]) verifyNow();
    });
  }
  run.addEventListener("click", verifyNow);

  ctx.show(
    pageHeader(t("verify.title")),
    section(
      null,
      h("p", null, t("verify.intro")),
      h(
        "div",
        { class: "verify-form" },
        h("div", { class: "field" }, h("label", { for: "verify-file" }, t("verify.bundle")), bundleInput),
        h(
          "fieldset",
          { class: "field" },
          h("legend", null, t("verify.keys")),
          h(
            "label",
            { class: "radio" },
            fromApi,
            " ",
            t("verify.keysFromApi"),
            loggedIn ? null : h("span", { class: "muted" }, ` (${t("verify.loginForKeys")})`),
          ),
          h("label", { class: "radio" }, fromFile, " ", t("verify.keysFromFile")),
          keysInput,
          h("p", { class: "hint" }, t("verify.keysHint")),
        ),
        h("div", { class: "form-actions" }, run),
      ),
      keysInfo,
    ),
    section(t("verify.result"), out),
  );
}

/** The verify page's steps: each row is step-<step>, its mark browser-step-<step>, both with data-ok. */
function verifyStepList(steps) {
  return h(
    "ol",
    { class: "steps", testid: "verify-steps" },
    steps.map((s) => {
      const ok = s.ok === true ? true : s.ok === false ? false : null;
      return h(
        "li",
        {
          class: `step step-${ok === true ? "ok" : ok === false ? "fail" : "none"}`,
          testid: `step-${s.step}`,
          dataset: { ok: String(ok), step: s.step },
        },
        h("span", { testid: `browser-step-${s.step}`, dataset: { ok: String(ok) } }, mark(ok)),
        h(
          "div",
          { class: "step-body" },
          h(
            "div",
            { class: "step-name" },
            t(`step.${s.step}`, null, s.step),
            h("span", { class: "mono muted step-key" }, s.step),
          ),
          h("div", { class: "step-detail" }, text(s.detail)),
        ),
      );
    }),
  );
}

// -- start ------------------------------------------------------------------------------------------------

window.addEventListener("hashchange", render);
render();
