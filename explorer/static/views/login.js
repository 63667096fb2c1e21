// The login page: a login token (a JWT signed by the person's identity key, `consortium user token`), checked
// by GET /api/v1/me; with the reason the last session ended, if it ended on a 401.

import { ApiError, clearToken, getToken, setToken } from "../api.js";
import { h, link, mount } from "../dom.js";
import { t } from "../i18n.js";
import { shareAs } from "../openings.js";
import { go } from "../router.js";
import { fetchPerson, loginReason, person, setLoginReason, takeNextPage } from "../session.js";
import { section } from "../widgets.js";

/** @import { Ctx } from "../router.js" */

/** @param {Ctx} ctx */
export async function viewLogin(ctx) {
  const reason = loginReason();
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
    h("p", { class: "hint" }, t("login.demoHint"), " ", h("code", null, "DIR/explorer/logins/NAME@ORG.token")),
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
    setLoginReason(null);
    setToken(token);
    try {
      await fetchPerson();
    } catch (exc) {
      submit.disabled = false;
      if (!(exc instanceof ApiError && exc.status === 401)) {
        clearToken();
        shareAs(null); // the token it replaced is gone: this tab no longer holds or shares a person's documents
        const message = /** @type {Error} */ (exc).message;
        mount(problem, h("div", { class: "alert alert-fail", testid: "login-reason", role: "alert" }, message));
      }
      return; // a 401 re-renders this page with the server's reason
    }
    const next = takeNextPage();
    go(next && next.startsWith("#/") && !next.startsWith("#/login") ? next : "#/");
  });
  const me = person();
  const current =
    getToken() && me
      ? h("p", { class: "note note-info" }, t("login.already", { who: `${me.name}@${me.org}` }))
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
