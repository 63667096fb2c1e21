// Verify a bundle in the browser only: an evidence bundle from a file, checked by verify.js against the keys
// the explorer serves (when logged in) or against a file: the keys as GET /api/v1/keys serves them, or the
// consortium's public description, consortium.json.

import { ApiError, getToken, isObject } from "../api.js";
import { h, link, mount } from "../dom.js";
import { fmtNum, text } from "../format.js";
import { t } from "../i18n.js";
import { fetchKeys } from "../session.js";
import { FORMATS, STEPS, keysForCheckpoint, keysFromConsortium, verifyBundle } from "../verify.js";
import { inWords, kv, mark, mono, section } from "../widgets.js";
import { browserVerdict, describePolicy, pageHeader, verdict } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { Step } from "../verify.js" */

/** @returns {Promise<string>} */
function readFile(/** @type {File} */ file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error || new Error("unreadable file"));
    reader.readAsText(file);
  });
}

/**
 * The policy of ``keys`` with the orgs it counts: ``policy.witnesses`` as the explorer serves it (one org may have
 * two keys during a rotation), else the orgs of the witnesses listed (a keys file).
 * @param {Record<string, any>} keys
 */
function policyOf(keys) {
  const policy = isObject(keys.policy) ? keys.policy : {};
  const orgs = Array.isArray(keys.witnesses) ? keys.witnesses.map((w) => (isObject(w) ? w.org : w)) : [];
  return { ...policy, witnesses: Array.isArray(policy.witnesses) ? policy.witnesses : [...new Set(orgs)] };
}

/**
 * The log keys the checkpoint is checked under: those on chain judged at a block (the server's read: which block,
 * and each key with its validity), or the keys' log_vkey (consortium.json's) when they give none.
 * @param {unknown} keys
 */
function logKeysInfo(keys) {
  const chain = isObject(keys) && isObject(keys.log_keys) ? keys.log_keys : null;
  if (!chain || !Array.isArray(chain.keys)) return h("span", { testid: "verify-log-keys" }, t("verify.logKeysFile"));
  return h(
    "div",
    { testid: "verify-log-keys", dataset: { block: String(chain.block) } },
    text(chain.detail),
    h(
      "ul",
      { class: "plain" },
      chain.keys.filter(isObject).map((/** @type {Record<string, any>} */ k) =>
        h(
          "li",
          { class: "mono", dataset: { valid: String(k.valid === true), keyId: String(k.key_id) } },
          t("verify.logKeyEntry", {
            id: String(k.key_id),
            record: String(k.record),
            from: String(k.valid_from),
            until: k.valid_until === null || k.valid_until === undefined ? "" : t("verify.logKeyUntil", { block: String(k.valid_until) }),
          }),
          k.valid === true ? "" : t("verify.logKeyNotValid"),
        ),
      ),
    ),
  );
}

/** @param {Ctx} ctx */
export async function viewVerify(ctx) {
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

  const showProblem = (/** @type {string} */ message) =>
    mount(out, h("div", { class: "alert alert-fail", testid: "verify-error", role: "alert" }, message));

  /**
   * The explorer's keys are those valid on chain for the bundle's checkpoint (``size``), as its server reads them.
   * @param {number | undefined} size
   * @returns {Promise<{keys: unknown, source: string}>}
   */
  async function loadKeys(size) {
    if (fromApi.checked) return { keys: await fetchKeys(size), source: t("verify.keysFromApi") };
    const file = keysInput.files && keysInput.files[0];
    if (!file) throw new Error(t("verify.needKeys"));
    let data;
    try {
      data = JSON.parse(await readFile(file));
    } catch (exc) {
      throw new Error(t("verify.keysNotJson", { detail: /** @type {Error} */ (exc).message }));
    }
    if (isObject(data) && data.format === "consortium-ledger/1")
      return { keys: await keysFromConsortium(data), source: file.name };
    // an evidence zip's consortium-keys.json holds the keys of each of its bundles' checkpoints
    return { keys: keysForCheckpoint(data, size), source: file.name };
  }

  let latest = 0; // the verification started last: an earlier one still running never shows its answer over it

  async function verifyNow() {
    const mine = ++latest;
    const current = () => mine === latest && ctx.alive();
    const file = bundleInput.files && bundleInput.files[0];
    if (!file) {
      mount(out, h("p", { class: "muted" }, t("verify.chooseFile")));
      return;
    }
    mount(out, h("p", { class: "loading" }, t("verify.busy")));
    /** @type {unknown} */
    let bundle;
    let problem = null;
    try {
      bundle = JSON.parse(await readFile(file));
    } catch (exc) {
      problem = t("verify.notJson", { detail: /** @type {Error} */ (exc).message });
    }
    if (!current()) return;
    const claimed = isObject(bundle) && isObject(bundle.checkpoint) ? bundle.checkpoint.size : undefined;
    let loaded;
    try {
      loaded = await loadKeys(Number.isSafeInteger(claimed) && claimed >= 0 ? claimed : undefined);
    } catch (exc) {
      const refused = exc instanceof ApiError && exc.status === 401; // the login is over: api.js handles it
      if (current() && !refused) showProblem(/** @type {Error} */ (exc).message);
      return;
    }
    if (!current()) return;
    const keys = loaded.keys;
    mount(
      keysInfo,
      kv([
        [t("verify.keysSource"), text(loaded.source)],
        [t("verify.origin"), mono(isObject(keys) ? keys.origin : null)],
        [t("verify.policy"), isObject(keys) ? describePolicy(policyOf(keys)) : "—"],
        // where the witness keys come from: the chain at which block (the server's read), or consortium.json
        [t("verify.witnessKeys"), text(isObject(keys) && isObject(keys.witness_keys) ? keys.witness_keys.detail : null)],
        // which log keys the checkpoint is checked under, judged at which block (the checkpoint step names the one)
        [t("verify.logKeys"), logKeysInfo(keys)],
      ]),
    );
    /** @type {Step[]} */
    const steps = problem
      ? STEPS.map((step) => ({ step, ok: false, detail: problem }))
      : await verifyBundle(bundle, loaded.keys);
    if (!current()) return;
    const ok = browserVerdict(steps);
    const info =
      isObject(bundle) && FORMATS.includes(bundle.format)
        ? kv([
            [t("col.event"), bundle.event_id ? link(["calls", bundle.event_id], mono(bundle.event_id)) : "—"],
            [t("col.index"), fmtNum(bundle.index)],
            [t("verify.origin"), mono(bundle.origin)],
            [t("verify.checkpointSize"), isObject(bundle.checkpoint) ? fmtNum(bundle.checkpoint.size) : "—"],
            [
              t("verify.pending"),
              Array.isArray(bundle.pending) && bundle.pending.length
                ? bundle.pending
                    .filter(isObject)
                    .map((/** @type {Record<string, unknown>} */ p) => `${p.part}: ${p.reason}`)
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

/**
 * The verify page's steps: each row is step-<step>, its mark browser-step-<step>, both with data-ok; what each
 * found in the page's language (verifyCheck.<code>), in English where it has no code.
 * @param {Step[]} steps
 */
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
          h(
            "div",
            { class: "step-detail", title: text(s.detail), dataset: { code: s.code } },
            inWords("verifyCheck", s.code, s.params, s.detail),
          ),
        ),
      );
    }),
  );
}
