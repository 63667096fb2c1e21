// A PSI job's record checked against the log in the browser (and in Node 20, for the tests): the job tag of a
// grant id and a job id (privacy.asset.job_tag), the record summary the record step's event holds against the job
// it is shown for, and a record.json's SHA-256, tag and summary against what the job's events name. No DOM and no
// strings of the UI: the job page (views/jobs.js) shows the outcome.

import { toHex } from "./log/bytes.js";
import { canonicalJson } from "./log/event.js";
import { sha256 } from "./log/webcrypto.js";

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

/**
 * What a disclosure document (``consortium privacy prove-member``) says about a job as the log holds it: the record
 * it carries checked as a record.json is (checkRecord), that record's SHA-256 against the one the document names,
 * and the claim's job against the record's. The proof of the claim (the VRF proof, the Merkle paths, the record's
 * signatures) is not checked here: ``consortium verify disclosure`` does that.
 * @typedef {object} DisclosureCheck
 * @property {RecordCheck | null} recordCheck  its record's check against the log; null when it carries none
 * @property {boolean} namedDigestOk  whether its ``record_sha256`` is the SHA-256 of the record it carries
 * @property {boolean} claimJobOk  whether the claim's job id is the record's
 * @property {{job_id: string, party: string, set: string, identifier: string, member: boolean} | null} claim
 * @property {string | null} error  why it is not a disclosure document: "not_json" or "not_disclosure"
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
  const none = { recordCheck: null, namedDigestOk: false, claimJobOk: false, claim: null, error: "not_disclosure" };
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
  return {
    recordCheck,
    namedDigestOk: toHex(named) === recordCheck.digest,
    claimJobOk: recordCheck.record !== null && recordCheck.record.job_id === job_id,
    claim: { job_id, party, set, identifier, member },
    error: recordCheck.error === null ? null : "not_disclosure",
  };
}
