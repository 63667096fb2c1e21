// A PSI job's record checked against the log in the browser (and in Node 20, for the tests): the job tag of a
// grant id and a job id (privacy.asset.job_tag), the record summary the record step's event holds against the job
// it is shown for, a record.json's SHA-256, tag and summary against what the job's events name, and a disclosure
// document checked whole, as `consortium verify disclosure` checks it (privacy.document.verify_document): its
// record against the log, the record's two signatures, the VRF proof (vrf.js) and the Merkle paths to the
// committed root; and a disclosure bound to the log through the evidence bundle of the job's record step, as
// `consortium verify disclosure --evidence` binds it (sdk.disclosure): the bundle verified by verify.js (inclusion,
// checkpoint, cosignatures, the anchor's proofs and log), then its event checked to be the record step of the
// document's record (privacy.document.disclosure_binding); the bundle the explorer serves, or one the person holds,
// read from a file (readBundle). No DOM and no strings of the UI: the job page (views/jobs.js) shows the outcome.

import { concat, equalBytes, fromBase64 as strictBase64, fromHex, toHex } from "./log/bytes.js";
import { CheckError } from "./log/errors.js";
import { canonicalJson } from "./log/event.js";
import { SHA256, SM3, hashLeaf } from "./log/hashing.js";
import { rootFromInclusion } from "./log/proof.js";
import { importSm2, verifySm2 } from "./log/smcrypto.js";
import { importEd25519, sha256, verifyEd25519 } from "./log/webcrypto.js";
import { EVIDENCE_KEYS_FORMAT, FORMATS, keysFromConsortium, passed, verifyBundle, verifyChain } from "./verify.js";
import { VrfError, vrfSuite } from "./vrf.js";

/** @import { TreeHash } from "./log/hashing.js" */
/** @import { VrfSuite } from "./vrf.js" */
/** @import { ChainStep, Step } from "./verify.js" */

/** The tag's context string (privacy.asset.JOB_TAG_CONTEXT). */
const TAG_CONTEXT = "consortium-ledger/psi-job-tag/v1\n";

/** SHA-256 of ``bytes`` as lower-case hex, by WebCrypto. */
async function sha256Hex(/** @type {Uint8Array<ArrayBuffer>} */ bytes) {
  return toHex(await sha256(bytes));
}

/**
 * The job tag: SHA-256(context ‖ grant id ‖ LF ‖ job id), hex.
 * @param {string} grantId
 * @param {string} jobId
 */
export async function jobTag(grantId, jobId) {
  return sha256Hex(new TextEncoder().encode(`${TAG_CONTEXT}${grantId}\n${jobId}`));
}

/**
 * The summary the log holds of a signed record (privacy.record.format_summary): the record's canonical JSON without
 * its job id and purpose, with both signatures; with a differentially private count (``dp``), without the exact
 * count of the result either, and with noisy input counts (``dp.inputs``), without the exact input counts.
 * @param {Record<string, any>} record  the record.json's ``record``
 * @param {unknown} signatures  the record.json's ``signatures``
 * @returns {string}
 */
export function summaryOf(record, signatures) {
  const { job_id: _jobId, purpose: _purpose, ...rest } = record;
  if (rest.dp && rest.result && typeof rest.result === "object") {
    const { count: _count, ...result } = rest.result;
    rest.result = result;
    if (rest.dp.inputs) {
      for (const side of ["client", "server"]) {
        if (rest[side] && typeof rest[side] === "object") {
          const { input_count: _input, ...party } = rest[side];
          rest[side] = party;
        }
      }
    }
  }
  return canonicalJson({ ...rest, signatures });
}

/**
 * What the page checks of the summary a job's record step names, with no file: that the summary the API parsed is
 * the string the event holds (``summary_json``, in the event's leaf hash) in canonical form, and that it names the
 * job's grant, its client as the client and its owner as the server (the notary refuses any other event, so a
 * failure here means the explorer's answer is not the log's).
 * @typedef {object} SummaryCheck
 * @property {boolean} canonical  ``summary_json`` is canonical JSON of ``summary``
 * @property {boolean} partiesOk  the summary's client and server are the job's client and owner
 * @property {boolean} grantOk  the summary's grant is the job's
 */

/**
 * @param {{client: string, owner: string, grant_id: string | null, summary?: Record<string, any> | null,
 *   summary_json?: string | null}} job
 * @returns {SummaryCheck | null}  null when the job's record step names no summary
 */
export function checkSummary(job) {
  if (!job.summary_json || !job.summary) return null;
  const s = job.summary;
  let canonical = false;
  try {
    const parsed = JSON.parse(job.summary_json);
    canonical = canonicalJson(parsed) === job.summary_json && canonicalJson(s) === job.summary_json;
  } catch {
    canonical = false;
  }
  const partiesOk = s.client?.org === job.client && s.server?.org === job.owner;
  return { canonical, partiesOk, grantOk: s.grant_id === job.grant_id };
}

/**
 * What a record.json says about a job as the log holds it.
 * @typedef {object} RecordCheck
 * @property {string} digest  the file's SHA-256, hex
 * @property {boolean | null} digestOk  whether it is the log's ``record_sha256``; null when the log holds none
 * @property {boolean} tagOk  whether the tag of its grant id and job id is the job's tag
 * @property {boolean | null} summaryOk  whether its summary (summaryOf) is the record step's ``psi_summary``; null
 *   when the log holds none
 * @property {Record<string, any> | null} record  the record (its ``record`` object), null if it is none
 * @property {string | null} error  why the file is not a record: "not_json" or "not_record"
 */

/**
 * Check a record.json (its bytes) against a job's ``tag``, ``record_sha256`` and ``summary_json``. Never throws.
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {{tag: string, record_sha256: string | null, summary_json?: string | null}} job
 * @returns {Promise<RecordCheck>}
 */
export async function checkRecord(bytes, job) {
  const digest = await sha256Hex(bytes);
  const digestOk = job.record_sha256 ? digest === job.record_sha256 : null;
  const noSummary = job.summary_json ? false : null;
  let parsed;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { digest, digestOk, tagOk: false, summaryOk: noSummary, record: null, error: "not_json" };
  }
  const record = parsed !== null && typeof parsed === "object" ? parsed.record : null;
  if (record === null || typeof record !== "object" || typeof record.grant_id !== "string" || typeof record.job_id !== "string")
    return { digest, digestOk, tagOk: false, summaryOk: noSummary, record: null, error: "not_record" };
  const tagOk = (await jobTag(record.grant_id, record.job_id)) === job.tag;
  let summaryOk = noSummary;
  if (job.summary_json) {
    try {
      summaryOk = summaryOf(record, parsed.signatures) === job.summary_json;
    } catch {
      summaryOk = false;
    }
  }
  return { digest, digestOk, tagOk, summaryOk, record, error: null };
}

/** The disclosure document's format (privacy.document.FORMAT). */
const DISCLOSURE_FORMAT = "consortium-ledger/privacy-disclosure/v1";
/** Most bytes of a disclosure document (privacy.document.MAX_DOCUMENT_BYTES): the page reads no larger file. */
export const MAX_DISCLOSURE_BYTES = 64 * 1024;

/**
 * What a disclosure document (``consortium privacy prove-member``) says about a job as the log holds it: the record
 * it carries checked as a record.json is (checkRecord), that record's SHA-256 against the one the document names,
 * the claim's job against the record's, and the proof of the claim (checkProof). Whether the record is the one the
 * owner's gateway logged, bound by an evidence bundle (``--evidence``), is ``consortium verify disclosure``'s: the
 * page compares it with the record digest the explorer shows for the job.
 * @typedef {object} DisclosureCheck
 * @property {RecordCheck | null} recordCheck  its record's check against the log; null when it carries none
 * @property {boolean} namedDigestOk  whether its ``record_sha256`` is the SHA-256 of the record it carries
 * @property {boolean} claimJobOk  whether the claim's job id is the record's
 * @property {{job_id: string, party: string, set: string, identifier: string, member: boolean} | null} claim
 * @property {ProofCheck | null} proof  the proof of the claim; null when the file is not a disclosure document
 * @property {string | null} error  why it is not a disclosure document: "too_large" (over MAX_DISCLOSURE_BYTES),
 *   "not_json" or "not_disclosure"
 */

/**
 * The proof of a disclosure's claim, checked in the order privacy.document.verify_document checks it; the first
 * check that fails ends it.
 * @typedef {object} ProofCheck
 * @property {boolean} ok  every check passed: the claim holds for the record the document carries
 * @property {ProofFailure | null} failed  the check that failed
 * @property {string} detail  what was wrong, in English (for the tests and the console); "" when ok
 * @property {number | null} leaf  the index of the leaf whose path failed (``failed`` "path"), else null
 * @property {"intl" | "sm" | null} suite  the suite the record's protocol names; null when it names none
 * @property {string | null} org  the org whose set the claim is about (the client for the result)
 */

/**
 * "malformed" (a field of the document or its record is not as the format has it), "named_digest" (the record's
 * SHA-256 is not the one the document names), "client_signature", "server_signature", "claim_job" (the claim is
 * about another job), "identifier" (not in normal form), "vrf" (the VRF proof does not verify for the party's VRF
 * key and the identifier), "path" (a leaf's inclusion proof does not lead to the committed root), "claim" (the
 * leaves do not establish membership or non-membership) or "output" (``vrf.output`` is not the proof's output).
 * @typedef {"malformed" | "named_digest" | "client_signature" | "server_signature" | "claim_job" | "identifier" |
 *   "vrf" | "path" | "claim" | "output"} ProofFailure
 */

/** Standard base64 (with padding) as bytes; null when it is not. */
function fromBase64(/** @type {unknown} */ text) {
  if (typeof text !== "string" || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text))
    return null;
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * Check a disclosure document (its bytes) against a job as checkRecord checks a record.json. Never throws.
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {{tag: string, record_sha256: string | null, summary_json?: string | null}} job
 * @returns {Promise<DisclosureCheck>}
 */
export async function checkDisclosure(bytes, job) {
  /** @type {DisclosureCheck} */
  const none = { recordCheck: null, namedDigestOk: false, claimJobOk: false, claim: null, proof: null, error: "not_disclosure" };
  if (bytes.length > MAX_DISCLOSURE_BYTES) return { ...none, error: "too_large" };
  let parsed;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ...none, error: "not_json" };
  }
  if (parsed === null || typeof parsed !== "object" || parsed.format !== DISCLOSURE_FORMAT) return none;
  const record = fromBase64(parsed.record);
  const named = fromBase64(parsed.record_sha256);
  const claim = parsed.claim;
  if (record === null || named === null || claim === null || typeof claim !== "object") return none;
  const { job_id, party, set, identifier, member } = claim;
  if (typeof job_id !== "string" || typeof party !== "string" || typeof set !== "string") return none;
  if (typeof identifier !== "string" || typeof member !== "boolean") return none;
  const recordCheck = await checkRecord(record, job);
  const namedDigestOk = toHex(named) === recordCheck.digest;
  const claimed = { job_id, party, set, identifier, member };
  return {
    recordCheck,
    namedDigestOk,
    claimJobOk: recordCheck.record !== null && recordCheck.record.job_id === job_id,
    claim: claimed,
    proof: recordCheck.error === null ? await checkProof(parsed, record, namedDigestOk, claimed) : null,
    error: recordCheck.error === null ? null : "not_disclosure",
  };
}

/** The context a party signs the record under (privacy.record.SIGNING_CONTEXT). */
const SIGNING_CONTEXT = "consortium-ledger/psi-job-record/v1\n";
/**
 * The suite of a record's protocol (privacy.suites): its signature, its tree hash and its VRF.
 * @type {Readonly<Record<string, {name: "intl" | "sm", signingKeySize: number, tree: TreeHash}>>}
 */
const SUITES = Object.freeze({
  "ecdh-psi-p256": Object.freeze({ name: "intl", signingKeySize: 32, tree: SHA256 }),
  "ecdh-psi-sm2": Object.freeze({ name: "sm", signingKeySize: 65, tree: SM3 }),
});
/** An RFC 9162 inclusion proof in a tree of fewer than 2^64 leaves has fewer than 64 hashes (privacy.document). */
const MAX_PATH = 64;

/** A proof check that failed. */
class ProofFailed extends Error {
  /**
   * @param {ProofFailure} check
   * @param {string} detail
   * @param {number | null} [leaf]
   */
  constructor(check, detail, leaf = null) {
    super(detail);
    this.check = check;
    this.leaf = leaf;
  }
}

/** Whether an identifier is in normal form (privacy.identifiers.is_normal): ``ACCT:`` or a checked ``CNID:``. */
export function isNormalIdentifier(/** @type {string} */ identifier) {
  if (/^ACCT:[A-Z0-9]{1,64}$/.test(identifier)) return true;
  const m = /^CNID:([0-9]{17})([0-9X])$/.exec(identifier);
  if (!m) return false;
  let total = 0;
  for (let i = 0; i < 17; i++) total += Number(m[1][i]) * (2 ** (17 - i) % 11);
  const check = (12 - (total % 11)) % 11;
  return (check === 10 ? "X" : String(check)) === m[2];
}

/** -1, 0 or 1 as ``a`` sorts before, with or after ``b`` by byte value. */
function compareBytes(/** @type {Uint8Array} */ a, /** @type {Uint8Array} */ b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return Math.sign(a.length - b.length);
}

/**
 * A value of the document that must be base64 of ``size`` bytes (or any size when null).
 * @param {unknown} value
 * @param {string} where
 * @param {number | null} size
 */
function bytesOf(value, where, size) {
  let bytes;
  try {
    bytes = strictBase64(value, where);
  } catch (exc) {
    throw new ProofFailed("malformed", exc instanceof CheckError ? exc.message : `${where} is not base64`);
  }
  if (size !== null && bytes.length !== size)
    throw new ProofFailed("malformed", `${where} is ${bytes.length} bytes, not ${size}`);
  return bytes;
}

/**
 * A hex field of the record of ``size`` bytes, lower-case.
 * @param {unknown} value
 * @param {string} where
 * @param {number} size
 */
function hexOf(value, where, size) {
  if (typeof value !== "string" || !new RegExp(`^[0-9a-f]{${2 * size}}$`).test(value))
    throw new ProofFailed("malformed", `${where} is not ${size} bytes of lower-case hex`);
  return fromHex(value);
}

/** A count of the record or an index of the document: a non-negative integer. */
function countOf(/** @type {unknown} */ value, /** @type {string} */ where) {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new ProofFailed("malformed", `${where} is not a non-negative integer`);
  return BigInt(value);
}

/**
 * Whether ``signature`` is the signature of ``message`` by the raw public key ``key`` under the suite.
 * @param {string} suite
 * @param {Uint8Array<ArrayBuffer>} key
 * @param {Uint8Array<ArrayBuffer>} signature
 * @param {Uint8Array<ArrayBuffer>} message
 */
async function signatureHolds(suite, key, signature, message) {
  try {
    if (suite === "sm") return await verifySm2(importSm2(key, "the signing key"), signature, message);
    return await verifyEd25519(await importEd25519(key, "the signing key"), signature, message);
  } catch (exc) {
    if (exc instanceof CheckError) return false;
    throw exc;
  }
}

/**
 * The proof of a disclosure's claim (ProofCheck), checked as privacy.document.verify_document checks it: the record
 * is a signed job record in canonical form and the one whose SHA-256 the document names; both parties' signatures
 * over it verify under the keys it names, with its suite (Ed25519, or SM2 with SM3 under the signer ID
 * 1234567812345678); the claim is about its job and names an identifier in normal form; the VRF proof verifies
 * under the party's committed VRF key for alpha = job id ‖ 0x00 ‖ identifier, and its output is ``vrf.output``;
 * each leaf's RFC 9162 inclusion proof leads to the committed root (over SHA-256 or SM3); and the leaves show the
 * claim: the one leaf equal to the output (member), or adjacent leaves below and above it, none for an empty set
 * (non-member). Never throws.
 * @param {Record<string, any>} document  the parsed disclosure document
 * @param {Uint8Array<ArrayBuffer>} recordBytes  the record it carries
 * @param {boolean} namedDigestOk
 * @param {{job_id: string, party: string, set: string, identifier: string, member: boolean}} claim
 * @returns {Promise<ProofCheck>}
 */
export async function checkProof(document, recordBytes, namedDigestOk, claim) {
  /** @type {{suite: "intl" | "sm" | null, org: string | null}} */
  const found = { suite: null, org: null };
  try {
    await proveClaim(document, recordBytes, namedDigestOk, claim, found);
    return { ok: true, failed: null, detail: "", leaf: null, ...found };
  } catch (exc) {
    if (exc instanceof ProofFailed)
      return { ok: false, failed: exc.check, detail: exc.message, leaf: exc.leaf, ...found };
    return { ok: false, failed: "malformed", detail: String(exc), leaf: null, ...found };
  }
}

/**
 * checkProof's checks; throws ProofFailed at the first that fails and fills in ``found`` as it learns it.
 * @param {Record<string, any>} document
 * @param {Uint8Array<ArrayBuffer>} recordBytes
 * @param {boolean} namedDigestOk
 * @param {{job_id: string, party: string, set: string, identifier: string, member: boolean}} claim
 * @param {{suite: "intl" | "sm" | null, org: string | null}} found
 */
async function proveClaim(document, recordBytes, namedDigestOk, claim, found) {
  const text = new TextDecoder().decode(recordBytes);
  const signed = JSON.parse(text);
  const record = signed.record;
  if (canonicalJson(signed) !== text || !record || typeof record !== "object" || !signed.signatures)
    throw new ProofFailed("malformed", "the record is not a signed job record in canonical form (RFC 8785)");
  const protocol = record.protocol;
  const suite = typeof protocol === "string" && Object.hasOwn(SUITES, protocol) ? SUITES[protocol] : null;
  if (!suite) throw new ProofFailed("malformed", `the record names no known PSI protocol (${String(record.protocol)})`);
  found.suite = suite.name;
  const vrf = /** @type {VrfSuite} */ (vrfSuite(suite.name));
  if (!namedDigestOk)
    throw new ProofFailed("named_digest", "the document's record does not have the digest the document names");

  const message = new TextEncoder().encode(SIGNING_CONTEXT + canonicalJson(record));
  for (const role of /** @type {const} */ (["client", "server"])) {
    const key = hexOf(record[role]?.signing_key, `record.${role}.signing_key`, suite.signingKeySize);
    const signature = hexOf(signed.signatures[role], `signatures.${role}`, 64);
    if (!(await signatureHolds(suite.name, key, signature, message)))
      throw new ProofFailed(
        `${role}_signature`,
        `the ${role}'s ${suite.name} signature does not verify over job ${record.job_id}`,
      );
  }

  if (claim.job_id !== record.job_id)
    throw new ProofFailed("claim_job", `the claim is about job ${claim.job_id}, the record about ${record.job_id}`);
  if (!["client", "server"].includes(claim.party) || !["input", "result"].includes(claim.set) ||
      (claim.party === "server" && claim.set === "result"))
    throw new ProofFailed("malformed", "claim: the set is the client's or the server's input, or the client's result");
  const role = claim.set === "result" ? "client" : claim.party; // only the client commits to the result
  const owner = record[role];
  found.org = typeof owner?.org === "string" ? owner.org : null;
  const vrfKey = hexOf(owner?.vrf_key, `record.${role}.vrf_key`, vrf.publicKeySize);
  const count = claim.set === "result" ? countOf(record.result?.count, "record.result.count") :
    countOf(owner?.input_count, `record.${role}.input_count`);
  const root = claim.set === "result" ? hexOf(record.result?.root, "record.result.root", 32) :
    hexOf(owner?.input_root, `record.${role}.input_root`, 32);

  const vrfDoc = document.vrf;
  if (!vrfDoc || typeof vrfDoc !== "object") throw new ProofFailed("malformed", "the document has no vrf");
  const pi = bytesOf(vrfDoc.proof, "vrf.proof", vrf.proofSize);
  const output = bytesOf(vrfDoc.output, "vrf.output", vrf.outputSize);
  if (!Array.isArray(document.leaves) || document.leaves.length > 2)
    throw new ProofFailed("malformed", "leaves is a list of at most two leaves");
  const leaves = document.leaves.map((/** @type {any} */ leaf, /** @type {number} */ i) => {
    if (!leaf || typeof leaf !== "object" || !Array.isArray(leaf.path) || leaf.path.length > MAX_PATH)
      throw new ProofFailed("malformed", `leaves[${i}] is not a leaf with a path of at most ${MAX_PATH} hashes`);
    return {
      index: countOf(leaf.index, `leaves[${i}].index`),
      value: bytesOf(leaf.value, `leaves[${i}].value`, vrf.outputSize),
      path: leaf.path.map((/** @type {unknown} */ hash, /** @type {number} */ j) =>
        bytesOf(hash, `leaves[${i}].path[${j}]`, 32)),
    };
  });

  if (!isNormalIdentifier(claim.identifier))
    throw new ProofFailed("identifier", "the identifier is not in normal form");
  const utf8 = new TextEncoder();
  const alpha = concat(utf8.encode(claim.job_id), Uint8Array.of(0), utf8.encode(claim.identifier));
  let beta;
  try {
    beta = await vrf.verify(vrfKey, pi, alpha);
  } catch (exc) {
    if (exc instanceof VrfError) throw new ProofFailed("vrf", `the VRF proof does not verify: ${exc.message}`);
    throw exc;
  }

  for (const leaf of leaves) {
    const notIn = `leaf ${leaf.index} is not in the committed tree`;
    let got;
    try {
      got = await rootFromInclusion(await hashLeaf(leaf.value, suite.tree), leaf.index, count, leaf.path, suite.tree);
    } catch (exc) {
      if (exc instanceof CheckError) throw new ProofFailed("path", `${notIn}: ${exc.message}`, Number(leaf.index));
      throw exc;
    }
    if (!equalBytes(got, root))
      throw new ProofFailed("path", `${notIn}: its path leads to another root`, Number(leaf.index));
  }

  if (claim.member) {
    if (leaves.length !== 1)
      throw new ProofFailed("claim", `a membership proof shows exactly one leaf, not ${leaves.length}`);
    if (!equalBytes(leaves[0].value, beta))
      throw new ProofFailed("claim", `leaf ${leaves[0].index} is not the identifier's VRF output`);
  } else if (count === 0n) {
    if (leaves.length || !equalBytes(root, await suite.tree.digest(new Uint8Array(0))))
      throw new ProofFailed("claim", "an empty set shows no leaves and has the empty root");
  } else {
    const lower = leaves.filter((l) => compareBytes(l.value, beta) < 0);
    const upper = leaves.filter((l) => compareBytes(l.value, beta) > 0);
    if (lower.length + upper.length !== leaves.length || lower.length > 1 || upper.length > 1 || !leaves.length)
      throw new ProofFailed("claim", "a non-membership proof shows at most one leaf below and one above, no equal");
    const low = lower.length ? lower[0].index : -1n;
    const high = upper.length ? upper[0].index : count;
    if (high !== low + 1n)
      throw new ProofFailed("claim", `the leaves ${low} and ${high} around the output are not adjacent`);
  }

  if (!equalBytes(beta, output)) throw new ProofFailed("output", "vrf.output is not the output the VRF proof gives");
}

// -- a disclosure bound to the log -------------------------------------------------------------------------------

/**
 * One check that a bundle's event is the record step of a record's job, named as privacy.document.disclosure_binding
 * names it: "event" (an allowed step naming a record), "psi_record" (the record's SHA-256), "caller" (the record's
 * client firm), "provider" (its server firm), "job" (the tag of its grant id and job id).
 * @typedef {{name: "event" | "psi_record" | "caller" | "provider" | "job", ok: boolean, detail: string}} Binding
 */

/**
 * Whether the log entry ``entry`` (an evidence bundle's, verified) is the event of the record step of the job
 * ``record`` records, whose bytes hash to ``digest``: every check made, each failure named, as
 * privacy.document.disclosure_binding makes them. Never throws.
 * @param {Record<string, any>} record  the signed record's ``record``
 * @param {string} digest  the SHA-256 of the record's bytes, lower-case hex
 * @param {Uint8Array} entry  the entry's bytes
 * @returns {Promise<Binding[]>}
 */
export async function recordStepBinding(record, digest, entry) {
  let event;
  try {
    event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry));
  } catch (exc) {
    return [{ name: "event", ok: false, detail: `the bundle's entry is not JSON: ${/** @type {Error} */ (exc).message}` }];
  }
  if (event === null || typeof event !== "object" || Array.isArray(event))
    return [{ name: "event", ok: false, detail: "the bundle's entry is not a JSON object" }];
  const id = JSON.stringify(event.event_id);
  const named = event.psi_record;
  const decision = event.decision;
  const step =
    decision !== "allow"
      ? `event ${id} was not allowed (decision ${JSON.stringify(decision)}): not a record step`
      : typeof named !== "string"
        ? `event ${id} names no record (psi_record): not the record step of a PSI job`
        : `event ${id} is an allowed record step of a PSI job`;
  const same =
    named === digest
      ? `the event names the record's SHA-256 ${digest}`
      : `the event names ${named === undefined || named === null ? "no record" : `the record ${named}`}, not this ` +
        `record (${digest}): the document's record is not the one the owner's gateway logged`;
  /** @type {Binding[]} */
  const checks = [
    { name: "event", ok: decision === "allow" && typeof named === "string", detail: step },
    { name: "psi_record", ok: named === digest, detail: same },
  ];
  const tag = await jobTag(String(record.grant_id), String(record.job_id));
  /** @type {[Binding["name"], string, unknown, string][]} */
  const fields = [
    ["caller", "caller_org", record.client?.org, "the record's client"],
    ["provider", "provider_org", record.server?.org, "the record's server"],
    ["job", "psi_job", tag, `the tag of job ${record.job_id} under grant ${record.grant_id}`],
  ];
  for (const [name, field, want, who] of fields) {
    const found = event[field];
    const ok = found === want;
    checks.push({
      name,
      ok,
      detail: ok ? `${field} ${found} is ${who}` : `${field} ${JSON.stringify(found)} is not ${who} (${want})`,
    });
  }
  return checks;
}

/**
 * Where the log holds the record step a disclosure is bound to: its event, its leaf index, the cosigned checkpoint
 * that includes it, the block that anchored that checkpoint (null: not anchored yet) and the owner's gateway.
 * @typedef {{event_id: string, index: number, checkpoint: number, block: number | null, gateway: string}} Logged
 */

/**
 * A disclosure's record bound to the log by the record step's evidence bundle, or the part that failed.
 * @typedef {object} LogBinding
 * @property {boolean} ok  the bundle verifies and its event is the record step of the record
 * @property {"evidence" | "pending" | "chain" | "binding" | null} failed  the part that failed: "evidence" (a step of
 *   verifyBundle), "pending" (the event is in no cosigned checkpoint yet), "chain" (a step of verifyChain) or
 *   "binding" (the event is not the record step of this record)
 * @property {Step[]} evidence  verifyBundle's steps
 * @property {ChainStep[]} chain  verifyChain's steps (ok null: the anchor is pending, or a v1 bundle)
 * @property {Binding[]} binding  recordStepBinding's checks; empty when the bundle did not verify
 * @property {Logged | null} logged  when ok
 */

/**
 * Bind a disclosure's record to the log as `consortium verify disclosure --evidence` does: the record step's
 * evidence bundle verified against ``keys`` (verifyBundle, then verifyChain), then its event checked to be the
 * record step of ``record`` (recordStepBinding). The checks after a failed part are not made. Never throws.
 * @param {unknown} bundle  the evidence bundle (parsed JSON)
 * @param {unknown} keys  the keys it is checked against (GET /api/v1/keys for its checkpoint)
 * @param {Record<string, any>} record  the document's record (its ``record``)
 * @param {string} digest  the SHA-256 of the document's record, hex
 * @returns {Promise<LogBinding>}
 */
export async function bindDisclosure(bundle, keys, record, digest) {
  const evidence = await verifyBundle(bundle, keys);
  const chain = await verifyChain(bundle, keys);
  /** @type {LogBinding} */
  const answer = { ok: false, failed: null, evidence, chain, binding: [], logged: null };
  if (!passed(evidence)) return { ...answer, failed: "evidence" };
  if (evidence.some((s) => s.ok === null)) return { ...answer, failed: "pending" };
  if (!passed(chain)) return { ...answer, failed: "chain" };
  const b = /** @type {Record<string, any>} */ (bundle); // verifyBundle found it a bundle, its entry base64
  const entry = strictBase64(b.entry, "entry");
  const binding = await recordStepBinding(record, digest, entry);
  if (!binding.every((c) => c.ok)) return { ...answer, failed: "binding", binding };
  const event = JSON.parse(new TextDecoder().decode(entry)); // the binding parsed it as a JSON object
  const block = b.anchor && typeof b.anchor === "object" && b.anchor.block ? b.anchor.block.number : null;
  const logged = {
    event_id: String(event.event_id),
    index: Number(b.index),
    checkpoint: Number(b.checkpoint.size),
    block: typeof block === "number" ? block : null,
    gateway: String(event.gateway_id),
  };
  return { ...answer, ok: true, binding, logged };
}

/**
 * Most bytes of an evidence bundle the page reads from a file: a v2 bundle (the notary's) is some kilobytes; a v1
 * bundle carries its anchor block's transactions and receipts, a few megabytes for a full block.
 */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

/**
 * An evidence bundle the person holds, read from a file's bytes (the JSON `consortium verify evidence` and
 * `consortium verify disclosure --evidence` take), or why it is not one: "too_large" (over MAX_BUNDLE_BYTES),
 * "not_json" (not UTF-8 JSON) or "not_bundle" (no JSON object of an evidence format whose checkpoint is null, in
 * none yet, or has a size).
 * Only what the page needs to fetch the keys for its checkpoint is checked here; bindDisclosure verifies the rest.
 * @typedef {object} HeldBundle
 * @property {Record<string, any> | null} bundle  the parsed bundle; null when it is not one
 * @property {number | null} size  the size of the checkpoint it claims (the keys are those valid for it); null when
 *   it is in none
 * @property {"too_large" | "not_json" | "not_bundle" | null} error
 */

/**
 * Read an evidence bundle from a file's bytes (HeldBundle). Never throws.
 * @param {Uint8Array} bytes
 * @returns {HeldBundle}
 */
export function readBundle(bytes) {
  /** @type {HeldBundle} */
  const none = { bundle: null, size: null, error: "not_bundle" };
  if (bytes.length > MAX_BUNDLE_BYTES) return { ...none, error: "too_large" };
  let parsed;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ...none, error: "not_json" };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed) || !FORMATS.includes(parsed.format))
    return none;
  const checkpoint = parsed.checkpoint;
  if (checkpoint === null) return { bundle: parsed, size: null, error: null }; // in no checkpoint yet: pending
  const size = typeof checkpoint === "object" && !Array.isArray(checkpoint) ? checkpoint.size : undefined;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 1) return none;
  return { bundle: parsed, size, error: null };
}

/** The format of consortium.json (network.description.FORMAT). */
export const CONSORTIUM_FORMAT = "consortium-ledger/1";

/**
 * A trust file the person holds, read from a file's bytes, whose log and witness keys a bundle is then checked
 * under in place of the explorer's: the consortium's consortium.json (CONSORTIUM_FORMAT: its keys as it names them
 * now, verify.js keysFromConsortium; it holds no key history) or an evidence zip's consortium-keys.json
 * (EVIDENCE_KEYS_FORMAT: the keys valid at each of its bundles' checkpoints, and the latest). Or why it is not one:
 * "too_large" (over MAX_BUNDLE_BYTES, the limit of the other files the page reads), "not_json" (not UTF-8 JSON) or
 * "not_keys" (neither format, or a file of one whose keys are not there or not well formed: ``detail`` says what).
 * @typedef {object} HeldKeys
 * @property {"consortium" | "evidence_keys" | null} kind
 * @property {Record<string, any> | null} data  the parsed file; null when it is not one
 * @property {"too_large" | "not_json" | "not_keys" | null} error
 * @property {string | null} detail  why it is not a trust file (not_keys), in English
 */

/** @param {unknown} v */
const isPlain = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Whether ``keys`` has the shape of GET /api/v1/keys's answer (the signatures are checked by verify.js); why not.
 * @param {unknown} keys
 * @param {string} where
 * @returns {string | null}
 */
function keysShape(keys, where) {
  if (!isPlain(keys)) return `${where} is not an object`;
  const k = /** @type {Record<string, any>} */ (keys);
  if (typeof k.log_vkey !== "string") return `${where} has no log_vkey`;
  if (!Array.isArray(k.witnesses) || !k.witnesses.every((w) => isPlain(w) && typeof w.vkey === "string"))
    return `${where} has no list of witnesses with their vkeys`;
  if (!isPlain(k.policy)) return `${where} has no witness policy`;
  if (k.log_keys !== undefined && !Array.isArray(k.log_keys)) return `${where}'s log_keys is not a list`;
  return null;
}

/**
 * Read a trust file from its bytes (HeldKeys). Never throws.
 * @param {Uint8Array} bytes
 * @returns {Promise<HeldKeys>}
 */
export async function readKeysFile(bytes) {
  /** @type {(error: HeldKeys["error"], detail?: string) => HeldKeys} */
  const refused = (error, detail) => ({ kind: null, data: null, error, detail: detail ?? null });
  if (bytes.length > MAX_BUNDLE_BYTES) return refused("too_large");
  let parsed;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return refused("not_json");
  }
  if (!isPlain(parsed)) return refused("not_keys", "not a JSON object");
  if (parsed.format === CONSORTIUM_FORMAT) {
    try {
      await keysFromConsortium(parsed);
    } catch (exc) {
      return refused("not_keys", /** @type {Error} */ (exc).message);
    }
    return { kind: "consortium", data: parsed, error: null, detail: null };
  }
  if (parsed.format !== EVIDENCE_KEYS_FORMAT)
    return refused("not_keys", `of format ${JSON.stringify(parsed.format ?? null)}, not ${CONSORTIUM_FORMAT} or ${EVIDENCE_KEYS_FORMAT}`);
  if (!isPlain(parsed.checkpoints)) return refused("not_keys", "its checkpoints is not an object");
  for (const [size, keys] of Object.entries(parsed.checkpoints)) {
    if (!/^[1-9][0-9]{0,15}$/.test(size)) return refused("not_keys", `checkpoint size ${JSON.stringify(size)} is not a size`);
    const wrong = keysShape(keys, `the keys of checkpoint ${size}`);
    if (wrong) return refused("not_keys", wrong);
  }
  if (parsed.latest !== undefined) {
    const wrong = keysShape(parsed.latest, "the latest keys");
    if (wrong) return refused("not_keys", wrong);
  }
  return { kind: "evidence_keys", data: parsed, error: null, detail: null };
}

/**
 * The keys from a trust file (readKeysFile's, taken) for a bundle of checkpoint ``size`` (null: in none yet), or
 * that the file holds none for it: a consortium-keys.json without that checkpoint's (or, for a bundle in no
 * checkpoint, without latest ones). The page then says so; it never falls back to the explorer's keys.
 * consortium.json holds its keys as it names them now, for any checkpoint: a checkpoint signed before a key
 * rotation does not verify under them.
 * @param {HeldKeys} held
 * @param {number | null} size
 * @returns {Promise<{keys: unknown, missing: string | null}>}
 */
export async function keysFromFile(held, size) {
  const data = /** @type {Record<string, any>} */ (held.data);
  if (held.kind === "consortium") return { keys: await keysFromConsortium(data), missing: null };
  if (size === null) {
    return data.latest === undefined
      ? { keys: null, missing: "it holds no latest keys, for a bundle in no checkpoint yet" }
      : { keys: data.latest, missing: null };
  }
  const checkpoints = /** @type {Record<string, unknown>} */ (data.checkpoints);
  if (!Object.prototype.hasOwnProperty.call(checkpoints, String(size))) {
    const sizes = Object.keys(checkpoints).join(", ") || "none";
    return { keys: null, missing: `it holds no keys for the checkpoint of size ${size} (it holds sizes: ${sizes})` };
  }
  return { keys: checkpoints[String(size)], missing: null };
}
