// A PSI job's record checked against the log in the browser (and in Node 20, for the tests): the job tag of a
// grant id and a job id (privacy.asset.job_tag), and a record.json's SHA-256 and tag against what the job's events
// name. No DOM and no strings of the UI: the job page (views/jobs.js) shows the outcome.

import { toHex } from "./log/bytes.js";
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
 * What a record.json says about a job as the log holds it.
 * @typedef {object} RecordCheck
 * @property {string} digest  the file's SHA-256, hex
 * @property {boolean | null} digestOk  whether it is the log's ``record_sha256``; null when the log holds none
 * @property {boolean} tagOk  whether the tag of its grant id and job id is the job's tag
 * @property {Record<string, any> | null} record  the record (its ``record`` object), null if it is none
 * @property {string | null} error  why the file is not a record: "not_json" or "not_record"
 */

/**
 * Check a record.json (its bytes) against a job's ``tag`` and ``record_sha256``. Never throws.
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {{tag: string, record_sha256: string | null}} job
 * @returns {Promise<RecordCheck>}
 */
export async function checkRecord(bytes, job) {
  const digest = await sha256Hex(bytes);
  const digestOk = job.record_sha256 ? digest === job.record_sha256 : null;
  let parsed;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { digest, digestOk, tagOk: false, record: null, error: "not_json" };
  }
  const record = parsed !== null && typeof parsed === "object" ? parsed.record : null;
  if (record === null || typeof record !== "object" || typeof record.grant_id !== "string" || typeof record.job_id !== "string")
    return { digest, digestOk, tagOk: false, record: null, error: "not_record" };
  const tagOk = (await jobTag(record.grant_id, record.job_id)) === job.tag;
  return { digest, digestOk, tagOk, record, error: null };
}
