// One privacy-computing (PSI) job: its two firms, the grant, the asset's version, each step's call (with a link to
// its provenance and evidence), its place in the log (leaf indices, the covering checkpoint, its cosignatures
// and anchor), and, from a record.json the person holds, the record's counts and digests, checked in this browser
// against the SHA-256 and the tag the log holds; the same for the record a disclosure document carries, whose claim it
// checks whole (the record's signatures, the VRF proof, the Merkle paths) and shows, then binds to the log through
// the evidence bundle of the job's record step (psi.js bindDisclosure): the one the explorer serves, or one the person
// holds and picks (psi.js readBundle), under the log and witness keys the explorer serves for its checkpoint or under
// those of a trust file the person holds and picks (psi.js readKeysFile: consortium.json, or an evidence zip's
// consortium-keys.json). The files never leave the browser, and nothing of them is stored.

import { ApiError, getJson, isObject } from "../api.js";
import { h, link } from "../dom.js";
import { fmtMs, fmtNum, text } from "../format.js";
import { t } from "../i18n.js";
import { badge, decisionBadge, denialReason, httpStatusBadge, kv, mono, okBadge, section, table } from "../widgets.js";
import {
  MAX_BUNDLE_BYTES,
  MAX_DISCLOSURE_BYTES,
  bindDisclosure,
  checkDisclosure,
  checkRecord,
  checkSummary,
  keysFromFile,
  readBundle,
  readKeysFile,
} from "../psi.js";
import { fetchKeys } from "../session.js";
import {
  anchorState,
  assetLink,
  blockLink,
  checkStepName,
  chips,
  orgLink,
  pageHeader,
  statusMessage,
  txLink,
} from "./_shared.js";

/** @import { Ctx } from "../router.js" */
/** @import { Grant, PsiJob, JobStep } from "../types.js" */
/** @import { HeldBundle, HeldKeys, LogBinding, ProofFailure } from "../psi.js" */

/**
 * An evidence bundle the person picked (psi.js readBundle), by its file's name.
 * @typedef {{name: string, bundle: Record<string, any>, size: number | null}} Held
 */

/**
 * A trust file the person picked (psi.js readKeysFile, taken), by its file's name.
 * @typedef {{name: string, read: HeldKeys}} HeldKeysFile
 */

/**
 * ``epsilon`` (a decimal string of at most three places) times ``n``, exactly, in the same form.
 * @param {string} epsilon
 * @param {number} n
 */
export function epsilonTimes(epsilon, n) {
  const [whole, frac = ""] = epsilon.split(".");
  const milli = (Number(whole) * 1000 + Number(frac.padEnd(3, "0"))) * n;
  const rest = String(milli % 1000).padStart(3, "0").replace(/0+$/, "");
  return rest ? `${Math.floor(milli / 1000)}.${rest}` : String(Math.floor(milli / 1000));
}

/** The record's counts and digests, as a list (a record.json's record, or the log's summary of it). */
function recordFacts(/** @type {Record<string, any>} */ r, testid = "record-facts") {
  const dp = isObject(r.dp) ? r.dp : null; // a differentially private count; the log's summary then has no exact one
  const noisyInputs = dp && isObject(dp.inputs) ? dp.inputs : null; // and the input counts with noise too
  /** @param {unknown} p  @param {"client" | "server"} side */
  const party = (p, side) =>
    isObject(p)
      ? h(
          "span",
          null,
          orgLink(p.org),
          ` · ${t("job.inputCount")} `,
          "input_count" in p && h("strong", { testid: `record-input-count-${side}` }, fmtNum(p.input_count)),
          noisyInputs && [
            "input_count" in p ? " · " : "",
            h("strong", { testid: `record-dp-input-${side}` }, fmtNum(noisyInputs[side])),
            ` (${t("job.noisy")})`,
          ],
          ` · ${t("job.inputRoot")} `,
          mono(p.input_root),
        )
      : "—";
  const messages = isObject(r.messages) ? r.messages : {};
  const result = isObject(r.result) ? r.result : {};
  const counts = noisyInputs ? 3 : 1; // the counts a job releases with noise, each with ε (privacy.dp)
  const named = "job_id" in r; // a record.json's record; the log's summary names neither
  return kv(
    [
      named && [t("job.jobId"), mono(r.job_id)],
      [t("col.grant"), mono(r.grant_id)],
      named && [t("job.purpose"), text(r.purpose)],
      [t("job.maxInput"), fmtNum(r.max_input)],
      [
        t("job.terms"),
        typeof r.terms === "string"
          ? h("span", { testid: "record-terms" }, t("job.termsGrant"), " · ", mono(r.terms))
          : h("span", { testid: "record-terms" }, t("job.termsAsset")),
      ],
      [t("job.protocol"), `${text(r.protocol)} (${text(r.implementation)})`],
      [t("job.clientSide"), party(r.client, "client")],
      [t("job.serverSide"), party(r.server, "server")],
      [t("job.requestHash"), mono(messages.request)],
      [t("job.responseHash"), mono(messages.response)],
      (!dp || "count" in result) && [
        t("job.resultCount"),
        h("strong", { testid: "record-result-count" }, fmtNum(result.count)),
      ],
      dp && [
        t("job.dpCount"),
        h(
          "span",
          null,
          h("strong", { testid: "record-dp-count" }, fmtNum(dp.count)),
          " · ε ",
          h("span", { testid: "record-dp-epsilon" }, text(dp.epsilon)),
          ` · ${text(dp.mechanism)} (${text(dp.implementation)})`,
        ),
      ],
      dp && [
        t("job.dpSpent"),
        h(
          "span",
          { testid: "record-dp-spent" },
          `ε ${epsilonTimes(String(dp.epsilon), counts)} (${counts} × ε ${text(dp.epsilon)}, ${t("job.dpComposition")})`,
        ),
      ],
      [t("job.resultRoot"), mono(result.root)],
    ],
    { testid },
  );
}

/** What the record step's event says of the record (its psi_summary), checked against the job in this browser. */
function logSummary(/** @type {PsiJob} */ job) {
  const checked = checkSummary(job);
  if (!checked || !job.summary)
    return section(t("job.logged"), h("p", { class: "muted", testid: "job-logged" }, t("job.noSummary")));
  const good = checked.canonical && checked.partiesOk && checked.grantOk;
  const s = job.summary;
  const facts = recordFacts(s, "job-logged-facts");
  const out = h(
    "div",
    { testid: "job-logged", dataset: { ok: String(good) } },
    h("p", { class: "muted" }, t("job.loggedIntro")),
    kv([
      [t("job.loggedMatches"), okBadge(good)],
      [t("job.clientSignature"), mono(s.signatures?.client)],
      [t("job.serverSignature"), mono(s.signatures?.server)],
    ]),
    facts,
  );
  return section(t("job.logged"), out);
}

/** The form that checks a record.json in the browser. */
function recordCheck(/** @type {PsiJob} */ job) {
  const input = h("input", { type: "file", id: "record-file", accept: ".json,application/json", testid: "record-file" });
  const status = h("div", { testid: "record-status", "aria-live": "polite" });
  const out = h("div", { testid: "record-check" });
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    out.replaceChildren();
    if (!file) return;
    const checked = await checkRecord(new Uint8Array(await file.arrayBuffer()), job);
    if (!input.isConnected) return;
    const good = checked.digestOk === true && checked.tagOk && checked.summaryOk !== false;
    statusMessage(
      status,
      checked.error
        ? t(checked.error === "not_json" ? "job.notJson" : "job.notRecord")
        : good
          ? t("job.recordMatches")
          : checked.digestOk === null
            ? t("job.recordNoDigest")
            : t("job.recordDiffers"),
      good ? "ok" : checked.digestOk === null && checked.tagOk ? "warn" : "fail",
    );
    out.append(
      kv([
        [t("job.recordSha256"), h("span", null, mono(checked.digest), " ", okBadge(checked.digestOk))],
        [t("job.tagOfRecord"), okBadge(checked.record ? checked.tagOk : false)],
        [t("job.summaryOfRecord"), okBadge(checked.summaryOk)],
      ]),
    );
    if (checked.record) out.append(recordFacts(checked.record));
    out.dataset.digestOk = String(checked.digestOk);
    out.dataset.tagOk = String(checked.tagOk);
    out.dataset.summaryOk = String(checked.summaryOk);
  });
  return section(
    t("job.record"),
    h("p", { class: "muted" }, t("job.recordIntro")),
    h("div", { class: "field" }, h("label", { for: "record-file" }, t("job.recordFile")), input),
    status,
    out,
  );
}

/**
 * What failed of a disclosure's proof (psi.js ProofCheck), in words.
 * @param {ProofFailure} failed
 * @param {number | null} leaf
 */
function proofFailure(failed, leaf) {
  switch (failed) {
    case "malformed":
      return t("job.proof.malformed");
    case "named_digest":
      return t("job.proof.namedDigest");
    case "client_signature":
      return t("job.proof.clientSignature");
    case "server_signature":
      return t("job.proof.serverSignature");
    case "claim_job":
      return t("job.proof.claimJob");
    case "identifier":
      return t("job.proof.identifier");
    case "vrf":
      return t("job.proof.vrf");
    case "path":
      return t("job.proof.path", { index: String(leaf) });
    case "claim":
      return t("job.proof.claim");
    case "output":
      return t("job.proof.output");
  }
}

/**
 * What failed of a disclosure's binding to the log (psi.js LogBinding), in words: the first step that failed.
 * @param {LogBinding} bound
 */
function bindingFailure(bound) {
  const first = (/** @type {{step: string, ok: boolean | null, detail: string}[]} */ steps, /** @type {boolean} */ pending) =>
    steps.find((s) => (pending ? s.ok === null : s.ok === false));
  switch (bound.failed) {
    case "evidence":
    case "chain": {
      const step = first(bound.failed === "evidence" ? bound.evidence : bound.chain, false);
      return t("job.bindEvidenceFails", {
        step: step ? checkStepName(step.step) : "",
        detail: step?.detail ?? "",
      });
    }
    case "pending":
      return t("job.bindPending", { detail: first(bound.evidence, true)?.detail ?? "" });
    default:
      return t("job.bindBindingFails", {
        checks: bound.binding.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join("; "),
      });
  }
}

/**
 * Bind the disclosure's record to the log: the evidence bundle of the job's record step (the step whose event names
 * the record the page shows), fetched from the explorer as the person may read it (the rule of the call: its
 * parties and the regulator), or the one the person picked (``held``), checked in this browser (verify.js) against
 * the keys valid for its checkpoint (the explorer's, or those of the trust file the person picked, ``keysFile``: a
 * file without the keys a checkpoint needs is said so, never made up for by the explorer's), and its event checked
 * to be the record step of the document's record. Shown in ``into``, with whose keys it was checked under.
 * @param {PsiJob} job
 * @param {Record<string, any>} record  the document's record
 * @param {string} digest  its SHA-256, hex
 * @param {HTMLElement} into
 * @param {() => boolean} current  false once another file was picked or the page left
 * @param {Held | null} held  the bundle the person picked; null: the explorer's
 * @param {HeldKeysFile | null} keysFile  the trust file the person picked; null: the explorer's keys
 */
async function bindOnPage(job, record, digest, into, current, held, keysFile) {
  const through = held ? ` ${t("job.bindThroughHeld", { name: held.name })}` : "";
  const under = ` ${keysFile ? t("job.keysFromFile", { name: keysFile.name }) : t("job.keysFromExplorer")}`;
  const say = (/** @type {string} */ failed, /** @type {string} */ message, /** @type {"ok" | "warn" | "fail"} */ kind) => {
    into.dataset.failed = failed;
    into.dataset.bound = String(failed === "");
    statusMessage(into, message + through + under, kind);
  };
  /**
   * The keys for a bundle of checkpoint ``size`` (null: in none yet): the trust file's, or the explorer's.
   * @param {number | null} size
   * @returns {Promise<{keys: unknown, missing: string | null}>}
   */
  const keysFor = async (size) =>
    keysFile ? keysFromFile(keysFile.read, size) : { keys: await fetchKeys(size ?? undefined), missing: null };
  into.dataset.source = held ? "held" : "explorer";
  into.dataset.keys = keysFile ? "file" : "explorer";
  delete into.dataset.bound;
  delete into.dataset.failed;
  delete into.dataset.checkpoint;
  delete into.dataset.block;
  /** @type {unknown} */
  let bundle;
  /** @type {{keys: unknown, missing: string | null}} */
  let found;
  if (held) {
    statusMessage(into, t("job.bindHeldBusy", { name: held.name }), "info");
    bundle = held.bundle;
    try {
      found = await keysFor(held.size);
    } catch (exc) {
      if (!current()) return;
      return say("unavailable", t("job.bindKeysUnavailable", { detail: /** @type {Error} */ (exc).message }), "fail");
    }
  } else {
    const stepOf = (job.steps || []).find((s) => s.step === "record" && s.record_sha256 && s.record_sha256 === job.record_sha256);
    if (!stepOf) return say("no_step", t("job.bindNoStep"), "fail");
    const eventId = stepOf.call.event_id;
    statusMessage(into, t("job.bindBusy", { event: eventId }), "info");
    try {
      bundle = await getJson(`/calls/${encodeURIComponent(eventId)}/evidence`);
      const size = isObject(bundle) && isObject(bundle.checkpoint) ? Number(bundle.checkpoint.size) : null;
      found = await keysFor(size);
    } catch (exc) {
      if (!current()) return;
      // the explorer answers 404 alike for a call the person may not see and for one the notary holds no bundle of
      if (exc instanceof ApiError && exc.status === 404)
        return say("not_found", t("job.bindNotFound", { event: eventId, detail: exc.detail ?? "" }), "fail");
      return say("unavailable", t("job.bindUnavailable", { event: eventId, detail: /** @type {Error} */ (exc).message }), "fail");
    }
  }
  if (!current()) return;
  if (found.missing !== null && keysFile)
    return say("keys_missing", t("job.bindKeysMissing", { name: keysFile.name, detail: found.missing }), "fail");
  const bound = await bindDisclosure(bundle, found.keys, record, digest);
  if (!current()) return;
  if (!bound.ok || !bound.logged) {
    // consortium.json names its keys as they are now: a checkpoint signed before a rotation needs those of then
    const step = bound.failed === "evidence" ? bound.evidence.find((s) => s.ok === false)?.step : undefined;
    const signed = step === "checkpoint" || step === "cosignatures";
    const now = keysFile?.read.kind === "consortium" && signed ? ` ${t("job.keysNoHistory", { name: keysFile.name })}` : "";
    return say(bound.failed ?? "binding", bindingFailure(bound) + now, "fail");
  }
  const logged = bound.logged;
  const where = { event: logged.event_id, index: fmtNum(logged.index), size: fmtNum(logged.checkpoint) };
  into.dataset.checkpoint = String(logged.checkpoint);
  into.dataset.block = logged.block === null ? "" : String(logged.block);
  if (logged.block === null) return say("", t("job.bindHoldsUnanchored", where), "warn");
  say("", t("job.bindHolds", { ...where, block: fmtNum(logged.block) }), "ok");
}

/**
 * Why a file picked as an evidence bundle is not taken (psi.js HeldBundle's error), in words.
 * @param {HeldBundle["error"]} error
 * @param {string} name  the file's name
 * @param {number} size  its size in bytes
 */
function heldBundleRefused(error, name, size) {
  switch (error) {
    case "too_large":
      return t("job.heldTooLarge", { name, size: fmtNum(size), max: fmtNum(MAX_BUNDLE_BYTES) });
    case "not_json":
      return t("job.heldNotJson", { name });
    default:
      return t("job.heldNotBundle", { name });
  }
}

/**
 * The form that checks a disclosure document in the browser: its record against the log, the proof of its claim,
 * then the record bound to the log through the record step's evidence bundle (bindOnPage): the explorer's, or the
 * one the person picks, which binds the document again when it changes.
 */
function disclosureCheck(/** @type {PsiJob} */ job) {
  const input = h("input", { type: "file", id: "disclosure-file", accept: ".json,application/json", testid: "disclosure-file" });
  const status = h("div", { testid: "disclosure-status", "aria-live": "polite" });
  const out = h("div", { testid: "disclosure-check" });
  const bundleInput = h("input", { type: "file", id: "held-bundle-file", accept: ".json,application/json", testid: "held-bundle-file" });
  const bundleStatus = h("div", { testid: "held-bundle-status", "aria-live": "polite" });
  const keysInput = h("input", { type: "file", id: "held-keys-file", accept: ".json,application/json", testid: "held-keys-file" });
  const keysStatus = h("div", { testid: "held-keys-status", "aria-live": "polite" });
  /** @type {Held | null} */
  let held = null; // the bundle the person picked; null: the explorer's
  /** @type {HeldKeysFile | null} */
  let keysFile = null; // the trust file the person picked; null: the explorer's keys
  let pickedKeys = 0; // the trust file picked last
  /** @type {{record: Record<string, any>, digest: string, into: HTMLElement} | null} */
  let holds = null; // the document checked last, when its claim holds: bound (again) by bind()
  let latest = 0; // the document picked last: an earlier one's check never shows over it
  let binding = 0; // the binding begun last: an earlier one, still fetching, never shows over it
  let picked = 0; // the bundle picked last
  const bind = async () => {
    const mine = ++binding;
    if (!holds) return;
    await bindOnPage(job, holds.record, holds.digest, holds.into, () => mine === binding && input.isConnected, held, keysFile);
  };
  keysInput.addEventListener("change", async () => {
    const mine = ++pickedKeys;
    const file = keysInput.files && keysInput.files[0];
    delete keysStatus.dataset.error;
    if (!file) {
      if (!keysFile) return;
      keysFile = null; // none picked: the explorer's keys again
      statusMessage(keysStatus, t("job.keysNone"), "info");
      return bind();
    }
    const read =
      file.size > MAX_BUNDLE_BYTES
        ? /** @type {HeldKeys} */ ({ kind: null, data: null, error: "too_large", detail: null })
        : await readKeysFile(new Uint8Array(await file.arrayBuffer()));
    if (mine !== pickedKeys || !keysInput.isConnected) return;
    if (read.error || !read.data) {
      // not taken: the keys in use and the binding shown stay as they were
      keysStatus.dataset.error = read.error ?? "not_keys";
      const why =
        read.error === "too_large"
          ? t("job.keysTooLarge", { name: file.name, size: fmtNum(file.size), max: fmtNum(MAX_BUNDLE_BYTES) })
          : read.error === "not_json"
            ? t("job.keysNotJson", { name: file.name })
            : t("job.keysNotKeys", { name: file.name, detail: read.detail ?? "" });
      const stays = keysFile ? t("job.keysStays", { name: keysFile.name }) : t("job.keysExplorerStays");
      statusMessage(keysStatus, `${why} ${stays}`, "fail");
      return;
    }
    keysFile = { name: file.name, read };
    keysStatus.dataset.kind = read.kind ?? "";
    statusMessage(keysStatus, t(read.kind === "consortium" ? "job.keysTakenConsortium" : "job.keysTakenZip", { name: file.name }), "info");
    return bind();
  });
  bundleInput.addEventListener("change", async () => {
    const mine = ++picked;
    const file = bundleInput.files && bundleInput.files[0];
    delete bundleStatus.dataset.error;
    if (!file) {
      if (!held) return;
      held = null; // none picked: the explorer's bundle again
      statusMessage(bundleStatus, t("job.heldNone"), "info");
      return bind();
    }
    const read =
      file.size > MAX_BUNDLE_BYTES
        ? /** @type {HeldBundle} */ ({ bundle: null, size: null, error: "too_large" })
        : readBundle(new Uint8Array(await file.arrayBuffer()));
    if (mine !== picked || !bundleInput.isConnected) return;
    if (read.error || !read.bundle) {
      // not taken: the bundle in use and the binding shown stay as they were
      bundleStatus.dataset.error = read.error ?? "not_bundle";
      const stays = held ? t("job.heldStays", { name: held.name }) : t("job.heldExplorerStays");
      statusMessage(bundleStatus, `${heldBundleRefused(read.error, file.name, file.size)} ${stays}`, "fail");
      return;
    }
    held = { name: file.name, bundle: read.bundle, size: read.size };
    statusMessage(bundleStatus, t("job.heldTaken", { name: file.name }), "info");
    return bind();
  });
  input.addEventListener("change", async () => {
    const mine = ++latest;
    const current = () => mine === latest && input.isConnected;
    const file = input.files && input.files[0];
    holds = null;
    binding++; // a binding of the document before, still fetching, shows nothing
    out.replaceChildren();
    delete out.dataset.ok;
    if (!file) return;
    if (file.size > MAX_DISCLOSURE_BYTES) {
      statusMessage(status, t("job.disclosureTooLarge", { size: fmtNum(file.size), max: fmtNum(MAX_DISCLOSURE_BYTES) }), "fail");
      out.dataset.ok = "false";
      return;
    }
    const checked = await checkDisclosure(new Uint8Array(await file.arrayBuffer()), job);
    if (!current()) return;
    const rc = checked.recordCheck;
    const proof = checked.proof;
    const logged =
      checked.error === null && rc !== null && rc.digestOk === true && rc.tagOk && rc.summaryOk !== false &&
      checked.namedDigestOk && checked.claimJobOk;
    const good = logged && proof !== null && proof.ok;
    statusMessage(
      status,
      checked.error === "too_large"
        ? t("job.disclosureTooLarge", { size: fmtNum(file.size), max: fmtNum(MAX_DISCLOSURE_BYTES) })
        : checked.error === "not_json"
          ? t("job.notJson")
          : checked.error
            ? t("job.notDisclosure")
            : !logged
              ? t("job.disclosureDiffers")
              : good
                ? t("job.disclosureHolds")
                : t("job.disclosureFails"),
      good ? "ok" : "fail",
    );
    out.dataset.ok = String(good);
    if (checked.error || !rc || !checked.claim || !proof) return;
    const claim = checked.claim;
    const failed = proof.failed;
    const proofRow = h(
      "span",
      { testid: "disclosure-proof" },
      okBadge(proof.ok),
      " ",
      failed ? proofFailure(failed, proof.leaf) : t("job.proofHolds", { suite: proof.suite ?? "" }),
    );
    if (failed) proofRow.dataset.failed = failed;
    out.append(
      kv([
        [t("job.recordSha256"), h("span", null, mono(rc.digest), " ", okBadge(rc.digestOk))],
        [t("job.namedDigest"), okBadge(checked.namedDigestOk)],
        [t("job.tagOfRecord"), okBadge(rc.tagOk)],
        [t("job.summaryOfRecord"), okBadge(rc.summaryOk)],
        [t("job.claimJob"), h("span", null, text(claim.job_id), " ", okBadge(checked.claimJobOk))],
        [
          t("job.claim"),
          h(
            "span",
            { testid: "disclosure-claim" },
            t(claim.member ? "job.claimMember" : "job.claimNotMember", {
              identifier: claim.identifier,
              party: t(`jobParty.${claim.party}`, null, claim.party),
              set: t(`jobSet.${claim.set}`, null, claim.set),
            }),
          ),
        ],
        [t("job.claimProof"), proofRow],
      ]),
    );
    if (!good || !rc.record) return;
    // the claim holds for the record the explorer reports: bound to the log by the record step's evidence bundle
    const into = h("div", { testid: "disclosure-logged", "aria-live": "polite" });
    out.append(h("p", { class: "muted" }, t("job.disclosureEvidence")), into);
    holds = { record: rc.record, digest: rc.digest, into };
    await bind();
  });
  return section(
    t("job.disclosure"),
    h("p", { class: "muted" }, t("job.disclosureIntro")),
    h("div", { class: "field" }, h("label", { for: "disclosure-file" }, t("job.disclosureFile")), input),
    h("p", { class: "muted" }, t("job.heldIntro")),
    h("div", { class: "field" }, h("label", { for: "held-bundle-file" }, t("job.heldFile")), bundleInput),
    bundleStatus,
    h("p", { class: "muted" }, t("job.keysIntro")),
    h("div", { class: "field" }, h("label", { for: "held-keys-file" }, t("job.keysFile")), keysInput),
    keysStatus,
    status,
    out,
  );
}

/**
 * A step's name in words, its code (privacy.asset.STEPS: the last segment of the call's route) in its title; an
 * unknown one as it is.
 * @param {string | null} step
 */
function stepName(step) {
  if (!step) return "—";
  return h("strong", { title: step }, t(`jobStep.${step}`, null, step));
}

/** @param {JobStep[]} steps */
function stepTable(steps) {
  return table(
    [
      { label: t("job.step"), cell: (s) => stepName(s.step) },
      { label: t("col.time"), cell: (s) => fmtMs(s.call.time_ms), class: "nowrap" },
      { label: t("col.event"), cell: (s) => link(["calls", s.call.event_id], mono(s.call.event_id)) },
      {
        label: t("col.decision"),
        cell: (s) =>
          h(
            "span",
            null,
            decisionBadge(s.call.decision),
            s.call.denial_reason ? [" ", denialReason(s.call.denial_reason)] : null,
          ),
      },
      { label: t("col.status"), cell: (s) => httpStatusBadge(s.call.status) },
      { label: t("col.index"), cell: (s) => fmtNum(s.call.index), class: "num" },
      {
        label: t("job.tagFrom"),
        cell: (s) =>
          s.tag_from === "message" ? badge("ok", t("job.tagFromMessage")) : badge("warn", t("job.tagFromClient")),
      },
      { label: t("job.checkpoint"), cell: (s) => (s.checkpoint == null ? t("job.notYet") : fmtNum(s.checkpoint)) },
    ],
    steps,
    { testid: "job-steps" },
    (s) => ({ dataset: { step: s.step, eventId: s.call.event_id } }),
  );
}

/** The job's ε and its grant's privacy budget, as the explorer adds them up from the log; null without DP. */
function budgetSection(/** @type {PsiJob} */ job) {
  const b = isObject(job.privacy_budget) ? job.privacy_budget : null;
  if (!b) return null;
  const limited = b.budget != null;
  return section(
    t("job.budget"),
    h("p", { class: "muted" }, t("job.budgetIntro")),
    kv(
      [
        [t("job.budgetTotal"), limited ? h("strong", { testid: "budget-total" }, text(b.budget)) : t("job.budgetNone")],
        [
          t("job.budgetCost"),
          h("span", { testid: "budget-cost" }, `ε ${text(b.cost)} (${fmtNum(b.noisy_counts)} × ε ${text(b.epsilon)})`),
        ],
        [t("job.budgetSpent"), h("span", { testid: "budget-spent" }, `ε ${text(b.spent)}`)],
        limited && [t("job.budgetRemaining"), h("strong", { testid: "budget-remaining" }, `ε ${text(b.remaining)}`)],
        [t("job.budgetSpentTotal"), h("span", { testid: "budget-spent-total" }, `ε ${text(b.spent_total)}`)],
        limited && [
          t("job.budgetRemainingTotal"),
          h("span", { testid: "budget-remaining-total" }, `ε ${text(b.remaining_total)}`),
        ],
        [t("job.budgetJobs"), fmtNum(b.jobs)],
        b.unrecorded_requests > 0 && [
          t("job.budgetUnrecorded"),
          h("span", { testid: "budget-unrecorded" }, fmtNum(b.unrecorded_requests)),
        ],
        b.uncounted_requests > 0 && [
          t("job.budgetUncounted"),
          badge("warn", fmtNum(b.uncounted_requests), { testid: "budget-uncounted" }),
        ],
      ],
      { testid: "job-budget" },
    ),
  );
}

/**
 * One of the grant's terms: "—" when the page cannot show the grant; "—" with why on hover for a private grant,
 * whose terms only its parties hold (the explorer has none); else ``shown`` of it.
 * @param {Grant | null} grant
 * @param {(g: Grant) => string} shown
 * @param {string} testid
 */
function grantTerm(grant, shown, testid) {
  if (!grant) return h("span", { testid }, "—");
  if (grant.private) return h("span", { testid, title: t("job.privateTerm"), dataset: { private: "true" } }, "—");
  return h("span", { testid }, shown(grant));
}

/** @param {Ctx} ctx */
export async function viewJob(ctx) {
  const tag = ctx.args[0];
  /** @type {PsiJob} */
  const job = await getJson(`/jobs/${encodeURIComponent(tag)}`);
  const grant = isObject(job.grant) ? job.grant : null;
  const cp = isObject(job.checkpoint) ? job.checkpoint : null;
  const anchored = isObject(job.anchored) ? job.anchored : null;
  const anchor = anchored && isObject(anchored.anchor) ? anchored.anchor : null;
  const summary = kv(
    [
      [t("job.tag"), mono(job.tag)],
      [t("job.client"), orgLink(job.client)],
      [t("job.owner"), orgLink(job.owner)],
      [
        t("col.asset"),
        job.asset ? h("span", null, assetLink(job.asset), job.asset_version ? ` v${job.asset_version}` : "") : "—",
      ],
      [t("col.grant"), job.grant_id ? link(["grants", job.grant_id], mono(job.grant_id), { testid: "job-grant" }) : "—"],
      [t("job.purpose"), grantTerm(grant, (g) => text(g.purpose), "job-purpose")],
      [t("job.runs"), grantTerm(grant, (g) => (g.quota ? fmtNum(g.quota) : t("grant.unlimited")), "job-runs")],
      [
        t("job.complete"),
        job.complete ? badge("ok", t("job.completeYes"), { testid: "job-complete" }) : badge("warn", t("job.completeNo")),
      ],
      [t("job.recordSha256"), job.record_sha256 ? mono(job.record_sha256) : "—"],
    ],
    { testid: "job-summary" },
  );
  const place = cp
    ? kv(
        [
          [t("col.size"), fmtNum(cp.size)],
          [t("col.root"), mono(cp.root)],
          [t("col.signed"), fmtMs(cp.time_ms)],
          [t("col.cosigners"), chips(cp.cosigners)],
          [
            t("col.anchor"),
            anchor && anchored
              ? h(
                  "span",
                  { testid: "job-anchor" },
                  anchorState(anchor.state),
                  " ",
                  blockLink(anchor.block_number),
                  " ",
                  txLink(anchor.tx_hash),
                  anchored.size !== cp.size ? ` (${t("job.anchoredAt", { size: fmtNum(anchored.size) })})` : "",
                )
              : h("span", { class: "muted" }, t("checkpoint.notAnchored")),
          ],
        ],
        { testid: "job-checkpoint" },
      )
    : h("p", { class: "muted", testid: "job-checkpoint" }, t("job.noCheckpoint"));
  ctx.show(
    pageHeader(t("job.title")),
    h("div", { class: "grid-2" }, section(t("job.summary"), summary), section(t("job.place"), place)),
    section(t("job.steps"), h("p", { class: "muted" }, t("job.stepsIntro")), stepTable(job.steps || [])),
    budgetSection(job),
    logSummary(job),
    recordCheck(job),
    disclosureCheck(job),
  );
}
