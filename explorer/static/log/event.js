// The log's entries: audit events in the canonical JSON of RFC 8785 (JCS) over the event schema's value types.
// As notary/event.py.

import { CheckError } from "./errors.js";

/** The fields of an audit event (notary/event.py FIELDS). */
export const EVENT_FIELDS = Object.freeze([
  "v",
  "event_id",
  "traceparent",
  "time_ms",
  "caller_org",
  "caller_identity",
  "provider_org",
  "center",
  "unit",
  "api",
  "method",
  "route",
  "asset_id",
  "asset_version",
  "grant_id",
  "decision",
  "denial_reason",
  "request_digest",
  "response_digest",
  "status",
  "latency_us",
  "gateway_id",
  "gateway_seq",
]);

/**
 * The fields an event may leave out (notary/event.py OPTIONAL_FIELDS): an explorer query's subject; the ε a PSI job's
 * admitted request was charged, the job's tag, record digest, the counted request a request repeats, and record summary.
 */
export const OPTIONAL_EVENT_FIELDS = Object.freeze([
  "subject",
  "psi_dp_cost",
  "psi_job",
  "psi_record",
  "psi_retry_of",
  "psi_summary",
]);

/**
 * JCS: keys sorted by UTF-16 code units, no whitespace, ECMAScript number and string serialisation.
 * @param {unknown} value  parsed JSON
 * @returns {string}
 */
export function canonicalJson(value) {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new CheckError(`${value} has no JSON form`);
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      const object = /** @type {Record<string, unknown>} */ (value);
      return `{${Object.keys(object)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canonicalJson(object[k])}`)
        .join(",")}}`;
    }
    default:
      throw new CheckError(`a ${typeof value} has no JSON form`);
  }
}
