// One call: what it was, each link of its provenance as the explorer checked it, and the log's links checked
// again in this browser (verify.js) from the evidence bundle and the keys the explorer serves alongside, and for a
// v2 bundle its chain part (verifyChain: the anchor's Merkle-Patricia proofs, block hash and Anchored log).

import { ApiError, download, getJson, isObject, pick } from "../api.js";
import { h, link, linkQuery } from "../dom.js";
import { fmtMs, fmtNum, text } from "../format.js";
import { t } from "../i18n.js";
import { STEPS, verifyBundle, verifyChain } from "../verify.js";
import {
  badge,
  decisionBadge,
  denialReason,
  httpStatusBadge,
  inWords,
  kv,
  kvAll,
  mark,
  mono,
  rawJson,
  section,
} from "../widgets.js";
import { assetLink, browserVerdict, checkStepName, orgLink, pageHeader, statusMessage, verdict } from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { AuditEvent, CallDetail, Digests, Provenance, ProvenanceStep } from "../types.js" */
/** @import { ChainStep, Step } from "../verify.js" */

/**
 * The steps as a list: each row is <prefix>step-<step> with data-ok, and data-server-ok where the server's
 * answer for the same step is given (a note shows if they disagree).
 * Each step's detail is said in the page's language from its code (`<words>.<code>`), in English without one.
 * @param {(ProvenanceStep | Step | ChainStep)[]} steps
 * @param {string} prefix
 * @param {Map<string, boolean | null> | null} serverByStep
 * @param {string} words  the i18n prefix of the steps' codes
 */
function stepList(steps, prefix, serverByStep, words) {
  return h(
    "ol",
    { class: "steps", testid: prefix ? `${prefix}steps` : "server-steps" },
    steps.map((s) => {
      const ok = s.ok === true ? true : s.ok === false ? false : null;
      const server = serverByStep ? serverByStep.get(s.step) : undefined;
      const data = "data" in s ? s.data : undefined;
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
            checkStepName(s.step),
            h("span", { class: "mono muted step-key" }, s.step),
          ),
          h(
            "div",
            { class: "step-detail", title: text(s.detail), dataset: { code: "code" in s ? s.code : null } },
            inWords(words, "code" in s ? s.code : null, "params" in s ? s.params : null, s.detail),
          ),
          server !== undefined && server !== ok
            ? h("div", { class: "note note-warn" }, t("prov.disagree", { server: String(server) }))
            : null,
          data !== undefined && data !== null ? rawJson(t("prov.data"), data) : null,
        ),
      );
    }),
  );
}

/**
 * How the call's digests were salted; a shredded day's call says so, and by whom and when.
 * @param {Digests | undefined} digests
 */
function digestSalt(digests) {
  if (!isObject(digests)) return "—";
  const shredded = digests.shredded;
  if (isObject(shredded))
    return badge(
      "warn",
      t("digests.shredded", { by: text(shredded.by), day: text(shredded.day), time: fmtMs(shredded.shredded_ms) }),
      { testid: "digests-shredded" },
    );
  return digests.scheme === "gateway-key/v1"
    ? t("digests.gateway")
    : h("span", { testid: "digests-epoch" }, t("digests.epoch", { day: text(digests.day) }));
}

/** @param {Ctx} ctx */
export async function viewProvenance(ctx) {
  const id = ctx.args[0];
  /** @type {[CallDetail, Provenance]} */
  const [detail, prov] = await Promise.all([
    getJson(`/calls/${encodeURIComponent(id)}`),
    getJson(`/calls/${encodeURIComponent(id)}/provenance`),
  ]);
  const event = isObject(detail.event) ? detail.event : null;
  /** @type {Partial<Provenance["call"]>} */
  const call = isObject(detail.call) ? detail.call : isObject(prov.call) ? prov.call : {};
  const serverSteps = (Array.isArray(prov.steps) ? prov.steps : []).filter(isObject);
  const serverByStep = new Map(serverSteps.map((s) => [s.step, s.ok === true ? true : s.ok === false ? false : null]));
  /** @type {Step[]} */
  let browserSteps;
  if (prov.evidence === null || prov.evidence === undefined) {
    const why = serverSteps.find((s) => s.step === "entry");
    browserSteps = STEPS.map((step) => ({
      step,
      ok: null,
      detail: t("prov.noEvidence", { detail: why ? inWords("provStep", why.code, why.params, why.detail) : "" }),
    }));
  } else {
    browserSteps = await verifyBundle(prov.evidence, prov.keys, event ? { event } : undefined);
  }
  /** @type {ChainStep[]} */
  const chainSteps = prov.evidence ? await verifyChain(prov.evidence, prov.keys) : [];
  // a v1 bundle's whole block and a pending anchor are not checked here (ok null): they leave the verdict alone
  const checkedChain = chainSteps.filter((s) => s.ok !== null);
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
              statusMessage(downloadStatus, t("download.failed", { detail: /** @type {Error} */ (exc).message }), "fail");
          }
        },
      },
    },
    t("prov.download"),
  );
  /** @type {AuditEvent} */
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
    event && event.psi_job
      ? [t("col.psiJob"), link(["jobs", event.psi_job], mono(event.psi_job), { testid: "call-psi-job" })]
      : null,
    [
      t("col.decision"),
      h(
        "span",
        null,
        decisionBadge(source.decision),
        source.denial_reason
          ? [" ", denialReason(source.denial_reason), " ", h("span", { class: "mono muted" }, source.denial_reason)]
          : null,
      ),
    ],
    [t("col.status"), httpStatusBadge(source.status)],
    [t("col.latency"), source.latency_us == null ? "—" : `${(source.latency_us / 1000).toFixed(1)} ms`],
    [t("col.trace"), traceId ? linkQuery(["calls"], { trace: traceId }, mono(traceId)) : "—"],
    [t("col.gateway"), source.gateway_id ? mono(`${source.gateway_id} #${source.gateway_seq ?? ""}`) : "—"],
    [t("col.index"), fmtNum(call.index ?? (prov.evidence ? prov.evidence.index : null))],
    [t("col.digests"), digestSalt(detail.digests)],
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
          browserVerdict([...browserSteps, ...checkedChain]),
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
    section(t("prov.serverSteps"), h("p", { class: "muted" }, t("prov.serverIntro")), stepList(serverSteps, "", null, "provStep")),
    section(
      t("prov.browserSteps"),
      h("p", { class: "muted" }, t("prov.browserIntro")),
      stepList(browserSteps, "browser-", serverByStep, "verifyCheck"),
    ),
    chainSteps.length
      ? section(
          t("prov.chainSteps"),
          h("p", { class: "muted" }, t("prov.chainIntro")),
          stepList(chainSteps, "chain-", null, "verifyCheck"),
        )
      : null,
    event ? section(t("prov.event"), kvAll(event)) : null,
  );
}
