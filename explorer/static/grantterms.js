// A private grant's terms, checked in the browser: the explorer holds no terms (docs/confidentiality.md, "Private
// grants"), so a party (grantor, grantee, or the regulator once given them) opens its own terms document, the one
// `consortium grant terms export` prints, and this module checks that its terms and salt hash to the key and the
// commitment the chain holds for the grant, as `chain.contracts.grants.PrivateTerms` computes them:
//
//   key        = keccak256(abi_encode(salt, asset, grantee, purpose))
//   commitment = keccak256(abi_encode(salt, grantee, purpose, not_before, expires_at, quota))
//
// every value in one 32-byte word: names as bytes32 (ASCII, zero-padded on the right), times as uint64 and the
// quota as uint256 (big-endian). The document never leaves the page: nothing here sends it anywhere.

import { concat, equalBytes, fromHex } from "./log/bytes.js";
import { keccak256 } from "./log/keccak.js";

export const TERMS_FORMAT = "consortium-ledger/grant-terms/v1";
const NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;
const HEX32 = /^0x[0-9a-f]{64}$/;
const UINT64_MAX = (1n << 64n) - 1n;
const UINT256_MAX = (1n << 256n) - 1n;

/**
 * What the chain holds of a private grant, as `GET /grants/{id}` serves it.
 * @typedef {{grant_id: string, asset: string, grantor: string, key?: string, commitment?: string}} OnChain
 */

/**
 * Terms that hash to the grant's key and commitment.
 * @typedef {{grantee: string, purpose: string, not_before: number, expires_at: number, quota: number}} Terms
 */

/** @typedef {{ok: true, terms: Terms} | {ok: false, problem: string}} TermsCheck */

/** A short name as the 32 bytes stored on chain. */
function name32(/** @type {string} */ value) {
  const out = new Uint8Array(32);
  for (let i = 0; i < value.length; i++) out[i] = value.charCodeAt(i);
  return out;
}

/** An unsigned integer as one big-endian 32-byte word. */
function word(/** @type {bigint} */ value) {
  const out = new Uint8Array(32);
  let v = value;
  for (let i = 31; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * The key and commitment of terms under a salt (32 bytes each).
 * @param {Uint8Array} salt
 * @param {{asset: string, grantee: string, purpose: string, not_before: bigint, expires_at: bigint, quota: bigint}} t
 */
export function keyAndCommitment(salt, t) {
  const key = keccak256(concat(salt, name32(t.asset), name32(t.grantee), name32(t.purpose)));
  const commitment = keccak256(
    concat(salt, name32(t.grantee), name32(t.purpose), word(t.not_before), word(t.expires_at), word(t.quota)),
  );
  return { key, commitment };
}

/** An integer of the document within [0, max], or null. */
function uint(/** @type {unknown} */ value, /** @type {bigint} */ max) {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) return null;
  const big = BigInt(value);
  return big <= max ? big : null;
}

/**
 * Whether the terms document `doc` is the terms of the private grant `grant`: its format, its asset, grantor and
 * grant id, and its terms and salt hashing to the key and commitment on chain.
 * @param {unknown} doc  the parsed JSON of a terms document
 * @param {OnChain} grant
 * @returns {TermsCheck}
 */
export function checkTerms(doc, grant) {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return { ok: false, problem: "not_a_document" };
  const d = /** @type {Record<string, unknown>} */ (doc);
  if (d.format !== TERMS_FORMAT) return { ok: false, problem: "not_a_document" };
  for (const field of ["asset", "grantor", "grantee", "purpose"]) {
    if (typeof d[field] !== "string" || !NAME.test(/** @type {string} */ (d[field])))
      return { ok: false, problem: `malformed:${field}` };
  }
  const notBefore = uint(d.not_before, UINT64_MAX);
  const expiresAt = uint(d.expires_at, UINT64_MAX);
  const quota = uint(d.quota, UINT256_MAX);
  if (notBefore === null) return { ok: false, problem: "malformed:not_before" };
  if (expiresAt === null) return { ok: false, problem: "malformed:expires_at" };
  if (quota === null) return { ok: false, problem: "malformed:quota" };
  if (typeof d.salt !== "string" || !HEX32.test(d.salt)) return { ok: false, problem: "malformed:salt" };
  if (d.grant_id !== null && d.grant_id !== undefined && d.grant_id !== grant.grant_id)
    return { ok: false, problem: "other_grant" };
  if (d.asset !== grant.asset || d.grantor !== grant.grantor) return { ok: false, problem: "other_grant" };
  if (!grant.key || !HEX32.test(grant.key) || !grant.commitment || !HEX32.test(grant.commitment))
    return { ok: false, problem: "no_commitment" };
  const terms = {
    asset: /** @type {string} */ (d.asset),
    grantee: /** @type {string} */ (d.grantee),
    purpose: /** @type {string} */ (d.purpose),
    not_before: notBefore,
    expires_at: expiresAt,
    quota,
  };
  const { key, commitment } = keyAndCommitment(fromHex(d.salt.slice(2)), terms);
  if (!equalBytes(key, fromHex(grant.key.slice(2)))) return { ok: false, problem: "key_mismatch" };
  if (!equalBytes(commitment, fromHex(grant.commitment.slice(2)))) return { ok: false, problem: "commitment_mismatch" };
  return {
    ok: true,
    terms: {
      grantee: terms.grantee,
      purpose: terms.purpose,
      not_before: Number(notBefore),
      expires_at: Number(expiresAt),
      quota: Number(quota),
    },
  };
}
