// Re-verification of an evidence bundle's log part (consortium-ledger/evidence/v2, and v1 before it) in the
// browser, and of a v2 bundle's anchor proofs. The two formats differ only in the anchor part:
// verifyBundle checks the log part of both; verifyAnchorProofs checks a v2 anchor's Merkle-Patricia proofs and
// block hash (Besu's QBFT rule, as chain/seal.py) with log/keccak.js, log/rlp.js and log/mpt.js (WebCrypto has
// no keccak-256), and verifyAnchorLog that its receipt carries AuditAnchor's Anchored log of the bundle's
// checkpoint (verifyChain: both); the transaction's signature, the contract's address and the header's seals are
// left to notary/verify.py (`consortium verify evidence`).
//
// The same checks as notary/verify.py, for the links a browser can check without a chain node:
//   entry         H(0x00 ‖ entry) is the bundle's leaf_hash (RFC 9162 §2.1.1), and the entry is the
//                 canonical JSON (RFC 8785) of an event: the bundle's event, and the displayed one if given;
//   inclusion     the RFC 9162 §2.1.3.2 inclusion proof leads from that leaf, at the bundle's index, to the
//                 checkpoint's root at the checkpoint's size;
//   checkpoint    the C2SP signed note parses, its body is a C2SP tlog-checkpoint of the log's origin, and the
//                 log's key signed it;
//   cosignatures  each witness's C2SP tlog-cosignature over "cosignature/v1\ntime <t>\n" + body verifies, and
//                 they meet the witness policy (k of the witnesses, a regulator if required).
//
// The log's vkey pins the suite (docs/national-suite.md), and with it H and the signatures:
//   intl  an Ed25519 note key (type 0x01): H is SHA-256, witnesses cosign with Ed25519 (type 0x04), through WebCrypto;
//   sm    an SM2 note key (0xff ‖ "consortium-ledger/sm2-note/v1"): H is SM3, witnesses cosign with SM2
//         (0xff ‖ "consortium-ledger/sm2-cosignature/v1"), through the vendored sm-crypto-v2 (log/smcrypto.js).
// A witness key of the other suite is refused: a log's witnesses cosign under the log's suite.
//
// The formats and proofs are in log/ (as in notary/log/). No dependencies beyond them and the one vendored module:
// runs in a browser (secure context) and in Node 20 through globalThis.crypto.subtle. verifyBundle never throws: each step is
// {step, ok, detail, code, params} with ok true (checked), false (the check failed, the detail says which hash or
// signature) or null (the bundle says the part is still pending); detail is in English, written from code and params
// (CHECK_WORDS), which a page says in its language.

import { concat, equalBytes, fromBase64, fromHex, toBase64, toHex } from "./log/bytes.js";
import { parseCheckpoint } from "./log/checkpoint.js";
import { COSIGNATURE_V1, verifyCosignature } from "./log/cosignature.js";
import { CheckError, quote } from "./log/errors.js";
import { EVENT_FIELDS, OPTIONAL_EVENT_FIELDS, canonicalJson } from "./log/event.js";
import { HASH_SIZE, SHA256, SM3, hashLeaf } from "./log/hashing.js";
import { keccak256 } from "./log/keccak.js";
import { MAX_PROOF_NODES, verifyProof } from "./log/mpt.js";
import { ED25519, checkKeyName, decodeVkey, encodeVkey, keyId, parseNote } from "./log/note.js";
import { rootFromInclusion } from "./log/proof.js";
import { decodeRlp, encodeIndex, encodeRlp } from "./log/rlp.js";
import {
  OTHER_TYPE,
  SM2_COSIGNATURE,
  SM2_NOTE,
  decodeSm2Vkey,
  sm2KeyId,
  verifySm2Cosignature,
  verifySm2Note,
} from "./log/smnote.js";
import { importEd25519, verifyEd25519 } from "./log/webcrypto.js";

/** @import { Checkpoint } from "./log/checkpoint.js" */
/** @import { TreeHash } from "./log/hashing.js" */

export const FORMAT = "consortium-ledger/evidence/v2";
/** The formats whose log part this verifier checks: the notary builds FORMAT; v1 bundles carried the whole block. */
export const FORMATS = Object.freeze([FORMAT, "consortium-ledger/evidence/v1"]);
/** @type {readonly StepName[]} */
export const STEPS = Object.freeze(["entry", "inclusion", "checkpoint", "cosignatures"]);

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
/** An SM2 public key in consortium.json: the uncompressed point 04 ‖ x ‖ y in hex. */
const HEX_SM2_KEY = /^04[0-9a-fA-F]{128}$/;
const LOG_SUFFIX = "/audit-log";

/** @typedef {"entry" | "inclusion" | "checkpoint" | "cosignatures"} StepName */

/**
 * One step's answer: ok true (checked), false (failed: the detail says which hash or signature) or null
 * (pending: the detail says why); code and params (which verifyBundle always gives) say the detail for a
 * page's words (CHECK_WORDS).
 * @typedef {{step: StepName, ok: boolean | null, detail: string, code?: string, params?: Params}} Step
 */

/** @typedef {Record<string, string | number>} Params  the values a code's words name */
/** @typedef {{detail: string, code: string, params: Params}} Said  what a check found, in English and as a code */

/**
 * What a check of the log part can say, in English, by code: a step's detail is its code's words with its params.
 * A page says the code in its language ("verifyCheck.<code>" in i18n.js). A failed check's detail names hashes,
 * fields and signatures as they are, so it is said as it is ("failed").
 */
export const CHECK_WORDS = Object.freeze({
  "entry.ok":
    "event {event_id}: {caller} → {provider} {method} {route} ({decision}, status {status}); {hash}(0x00 ‖ entry) = {leaf}",
  "checkpoint.ok": "signed by the log key {name} (key id {key_id}): size {size}, root {root}",
  "checkpoint.okSm2": "signed by the log's SM2 key {name} (key id {key_id}): size {size}, root {root}",
  "checkpoint.okOnChain": "signed by the log key {name} ({key}): size {size}, root {root}",
  "checkpoint.okOnChainSm2": "signed by the log's SM2 key {name} ({key}): size {size}, root {root}",
  "cosignatures.ok": "cosigned by {who} (policy: {threshold} of {witnesses} witnesses)",
  "cosignatures.okRegulator": "cosigned by {who} (policy: {threshold} of {witnesses} witnesses including a regulator)",
  "inclusion.ok": "leaf {index} is in the tree of size {size} ({hashes} hashes): root {root}",
  pending: "pending: {reason}",
  failed: "{detail}",
  malformed: "malformed bundle ({what})",
  notBundle: "not an evidence bundle of format {formats} (got {found})",
  // the chain part (verifyChain)
  "chain.v1": "a v1 bundle carries the whole block: its roots are recomputed by notary/verify.py",
  "chain.notV2": "not an evidence bundle of format {format}",
  "chain.pending": "the anchor is pending",
  "txInBlock.ok": "transaction {index}: proof of {nodes} node(s) from transactionsRoot",
  "txSucceeded.ok": "receipt status 1, proof of {nodes} node(s) from receiptsRoot",
  "blockHash.ok": "block hash 0x{hash} recomputed from its header",
  "anchorLog.ok": "{contract} logged Anchored({origin}, size {size}, root {root}, {hash}(checkpoint body) {digest})",
  "anchorLog.okSigned":
    "{contract} logged Anchored({origin}, size {size}, root {root}, {hash}(checkpoint body) {digest}); checked on chain: AuditAnchor verified the SM2 signature of what it anchors (AnchorSigned) under the log's key",
  "anchorLog.okSignedOther":
    "{contract} logged Anchored({origin}, size {size}, root {root}, {hash}(checkpoint body) {digest}); checked on chain: AuditAnchor verified the SM2 signature of what it anchors (AnchorSigned) under a log key of the notary's member other than the log's keys given",
  "anchorLog.okUnsigned":
    "{contract} logged Anchored({origin}, size {size}, root {root}, {hash}(checkpoint body) {digest}); NOT checked on chain (no AnchorSigned log: a plain anchor, which only an AuditAnchor deployed before sm consortia refused unsigned anchors takes); the checkpoint's SM2 signature by the log key is checked offline in the checkpoint step",
});

/**
 * What a check found: the English words of `code` with `params`, and the code and params themselves.
 * @param {keyof typeof CHECK_WORDS} code
 * @param {Params} params
 * @returns {Said}
 */
function said(code, params) {
  const detail = CHECK_WORDS[code].replace(/\{(\w+)\}/g, (whole, name) =>
    params[name] === undefined ? whole : String(params[name]),
  );
  return { detail, code, params };
}

/**
 * The keys a bundle is checked against, as GET /api/v1/keys serves them. A witness's vkey may also be its raw
 * public key in hex, as consortium.json holds it.
 * @typedef {object} Keys
 * @property {string} origin  the log's origin, "<consortium>/audit-log"
 * @property {string} log_vkey  the log's C2SP vkey: Ed25519 (type 0x01) or SM2 (0xff ‖ "consortium-ledger/sm2-note/v1")
 * @property {{org: string, vkey: string, regulator: boolean}[]} witnesses  cosigner vkeys of the log's suite (type
 *   0x04, or 0xff ‖ "consortium-ledger/sm2-cosignature/v1")
 * @property {{threshold: number, require_regulator: boolean, witnesses?: string[], regulators?: string[]}} policy
 *   ``witnesses``: the orgs counted (default: those of ``witnesses``); ``regulators``: the regulators among them
 * @property {{source: string, block: number | null, anchored: boolean, detail: string}} [witness_keys]  where the
 *   witness keys come from, as the server read them: the chain at a block, or consortium.json. The browser checks
 *   the signatures against these keys and trusts the server for which keys were valid on chain then.
 * @property {ChainLogKeys} [log_keys]  the log's keys on chain (a log whose key rotated), judged at a block: when
 *   given, the checkpoint is checked under the key its signature line names, which must be valid at that block,
 *   and log_vkey (consortium.json's, the key the log started with) is not used for it.
 */

/**
 * The log's keys as the TrustDirectory records them, as GET /api/v1/keys serves them (notary/logkeys.py).
 * @typedef {object} ChainLogKeys
 * @property {number} block  the block they are judged at: the checkpoint's anchor block, or the chain head
 * @property {boolean} anchored  the block is the anchor's
 * @property {string} [detail]
 * @property {{vkey: string, key_id?: string, record: number, valid_from: number, valid_until: number | null,
 *   compromised?: boolean, valid?: boolean}[]} keys  each key with its validity: from valid_from, until valid_until
 */

/**
 * An evidence bundle (notary/evidence.py) as far as this verifier reads it; anything may be missing or of the
 * wrong type, which fails the steps that need it.
 * @typedef {object} Bundle
 * @property {string} format  one of FORMATS
 * @property {string} event_id
 * @property {string} origin
 * @property {number} index  the entry's leaf index
 * @property {string} entry  base64 of the entry bytes
 * @property {string} leaf_hash  base64
 * @property {{size: number, proof: string[]} | null} inclusion  base64 hashes
 * @property {{size: number, note: string, cosigners?: string[]} | null} checkpoint
 * @property {{part: string, reason: string}[]} pending  the parts not available yet, and why
 */

/** A check does not apply (the part is pending): the message says why. */
class PendingError extends Error {
  /** @param {string} reason  why the part is pending, as the bundle says */
  constructor(reason) {
    super(`pending: ${reason}`);
    this.reason = reason;
  }
}

const encoder = new TextEncoder();

/** @returns {value is Record<string, any>} */
function isObject(/** @type {unknown} */ value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// -- the suite --------------------------------------------------------------------------------------------

/**
 * What the log's vkey pins: the tree hash, and the type of the log's and the witnesses' keys.
 * @typedef {{name: "intl" | "sm", tree: TreeHash, logKey: string}} Suite
 */

/** @type {Suite} */
const INTL = Object.freeze({ name: "intl", tree: SHA256, logKey: "the log key" });
/** @type {Suite} */
const SM = Object.freeze({ name: "sm", tree: SM3, logKey: "the log's SM2 key" });

/**
 * The first byte of a vkey's key, or null if it has none (the parsers say what is wrong with it).
 * @param {unknown} vkey
 */
function vkeyTypeByte(vkey) {
  if (typeof vkey !== "string") return null;
  const parts = vkey.split("+");
  if (parts.length < 3) return null;
  try {
    const blob = fromBase64(parts.slice(2).join("+"), "vkey");
    return blob.length ? blob[0] : null;
  } catch (exc) {
    if (exc instanceof CheckError) return null;
    throw exc;
  }
}

/**
 * The suite the log's vkey pins: sm for a key of type 0xff (the SM2 profile's), intl for any other, and for keys
 * too broken to tell, whose checks then fail in the checkpoint step.
 * @param {unknown} keys
 */
function suiteOf(keys) {
  return isObject(keys) && vkeyTypeByte(keys.log_vkey) === OTHER_TYPE ? SM : INTL;
}

/** @typedef {(text: string, signature: Uint8Array<ArrayBuffer>) => Promise<boolean>} SignatureCheck */

// -- the keys ---------------------------------------------------------------------------------------------

/**
 * The vkey of the profile's SM2 key: "<name>+<8 hex key id>+<base64(type bytes ‖ point)>".
 * @param {string} name
 * @param {Uint8Array} typeBytes  SM2_NOTE or SM2_COSIGNATURE
 * @param {Uint8Array} point
 */
async function encodeSm2Vkey(name, typeBytes, point) {
  const id = toHex(await sm2KeyId(name, typeBytes, point));
  return `${name}+${id}+${toBase64(concat(typeBytes, point))}`;
}

/**
 * The keys (as GET /api/v1/keys serves them) from the consortium's public description, consortium.json:
 * origin "<name>/audit-log" signed by the notary member's key, witnesses "<name>/witness/<org>" (network.logsetup).
 * The keys are of the consortium's suite, its "crypto" ("intl" when absent): Ed25519 vkeys under intl, the SM2
 * profile's under sm. Throws an Error naming what is missing.
 * @param {unknown} description  consortium.json, parsed
 * @returns {Promise<Keys>}
 */
export async function keysFromConsortium(description) {
  if (!isObject(description) || typeof description.name !== "string" || !Array.isArray(description.members)) {
    throw new Error("not a consortium.json: it needs a name and members");
  }
  /** @type {Record<string, any>[]} */
  const members = description.members.filter(isObject);
  const roles = (/** @type {Record<string, any>} */ m) => (Array.isArray(m.roles) ? m.roles.map(String) : []);
  const crypto = description.crypto === undefined ? "intl" : description.crypto;
  if (crypto !== "intl" && crypto !== "sm") throw new Error(`consortium.json: crypto must be "intl" or "sm", not ${quote(crypto)}`);
  const sm = crypto === "sm";
  const keyPattern = sm ? HEX_SM2_KEY : HEX_KEY;
  const notary = members.find((m) => roles(m).includes("notary"));
  if (!notary || typeof notary.notary_public_key !== "string") {
    throw new Error("consortium.json names no notary member with a notary_public_key");
  }
  if (!keyPattern.test(notary.notary_public_key)) {
    throw new Error(`consortium.json: the notary_public_key of ${notary.org} is not a key of its suite (${crypto})`);
  }
  const policy = isObject(description.witness_policy) ? description.witness_policy : {};
  /** @type {string[]} */
  let orgs = Array.isArray(policy.witnesses) ? policy.witnesses.map(String) : [];
  if (orgs.length === 1 && orgs[0] === "all-members") orgs = members.map((m) => String(m.org));
  const witnesses = [];
  for (const org of orgs) {
    const m = members.find((x) => x.org === org);
    if (!m || typeof m.witness_public_key !== "string") {
      throw new Error(`consortium.json: witness ${org} has no witness_public_key`);
    }
    if (!keyPattern.test(m.witness_public_key)) {
      throw new Error(`consortium.json: the witness_public_key of ${org} is not a key of its suite (${crypto})`);
    }
    const name = `${description.name}/witness/${org}`;
    const witnessKey = fromHex(m.witness_public_key);
    witnesses.push({
      org,
      vkey: sm
        ? await encodeSm2Vkey(name, SM2_COSIGNATURE, witnessKey)
        : await encodeVkey(name, COSIGNATURE_V1, witnessKey),
      regulator: roles(m).includes("regulator"),
    });
  }
  const origin = `${description.name}${LOG_SUFFIX}`;
  return {
    origin,
    log_vkey: sm
      ? await encodeSm2Vkey(origin, SM2_NOTE, fromHex(notary.notary_public_key))
      : await encodeVkey(origin, ED25519, fromHex(notary.notary_public_key)),
    witnesses,
    policy: { threshold: Number(policy.threshold), require_regulator: policy.require_regulator === true },
  };
}

/** The format of an evidence zip's consortium-keys.json (explorer/exports.py). */
export const EVIDENCE_KEYS_FORMAT = "consortium-ledger/evidence-keys/v1";

/**
 * The keys a bundle of checkpoint ``size`` is checked against, from a keys file: an evidence zip's
 * consortium-keys.json (EVIDENCE_KEYS_FORMAT) holds the keys valid at each of its bundles' checkpoints
 * ({checkpoints: {size: keys}}) and those valid when it was made ({latest: keys}, for a bundle without a checkpoint);
 * any other file is the keys themselves. Throws an Error when the zip's file holds no keys for ``size``.
 * @param {unknown} data  the keys file, parsed
 * @param {number | undefined} size  the bundle's checkpoint size (undefined: it has none)
 * @returns {unknown}
 */
export function keysForCheckpoint(data, size) {
  if (!isObject(data) || data.format !== EVIDENCE_KEYS_FORMAT) return data;
  if (size === undefined) {
    if (data.latest === undefined) throw new Error("the keys file holds no keys for a bundle without a checkpoint");
    return data.latest;
  }
  const checkpoints = isObject(data.checkpoints) ? data.checkpoints : {};
  if (!Object.prototype.hasOwnProperty.call(checkpoints, String(size))) {
    const sizes = Object.keys(checkpoints).join(", ") || "none";
    throw new Error(`the keys file holds no keys for the checkpoint of size ${size} (it holds sizes: ${sizes})`);
  }
  return checkpoints[String(size)];
}

/**
 * The log's key; keys.log_vkey in C2SP form, of the suite's type.
 * @param {unknown} keys
 * @param {Suite} suite
 * @returns {Promise<{origin: string, name: string, keyId: Uint8Array, verify: SignatureCheck}>}
 */
async function parseLogKey(keys, suite) {
  if (!isObject(keys))
    throw new CheckError("no keys to check against (expected {origin, log_vkey, witnesses, policy})");
  const { name, keyId: id, verify } = await parseLogVkey(keys.log_vkey, suite, "the log's vkey (keys.log_vkey)");
  const origin = keys.origin === undefined ? name : keys.origin;
  if (origin !== name)
    throw new CheckError(`the log's vkey is named ${quote(name)}, but keys.origin is ${quote(origin)}`);
  return { origin, name, keyId: id, verify };
}

/**
 * A log key's vkey, of the suite's type: its name, key id and signature check.
 * @param {unknown} vkey  @param {Suite} suite  @param {string} what
 * @returns {Promise<{name: string, keyId: Uint8Array, verify: SignatureCheck}>}
 */
async function parseLogVkey(vkey, suite, what) {
  let name;
  let id;
  /** @type {SignatureCheck} */
  let verify;
  if (suite === SM) {
    const sm2 = await decodeSm2Vkey(vkey, what);
    if (sm2.kind !== "note") {
      throw new CheckError(`${what} is an SM2 cosigner key: a log signs with an SM2 note key (consortium-ledger/sm2-note/v1)`);
    }
    ({ name, keyId: id } = sm2);
    verify = (text, signature) => verifySm2Note(sm2.key, text, signature);
  } else {
    const decoded = await decodeVkey(vkey, ED25519, what);
    name = decoded.name;
    id = await keyId(name, ED25519, decoded.publicKey);
    const key = await importEd25519(decoded.publicKey, what);
    verify = (text, signature) => verifyEd25519(key, signature, encoder.encode(text));
  }
  return { name, keyId: id, verify };
}

/**
 * One log key on chain: its vkey parsed, and its record's validity.
 * @typedef {{name: string, keyId: Uint8Array, verify: SignatureCheck, record: number, validFrom: number,
 *   validUntil: number | null, compromised: boolean}} ChainLogKey
 */

/**
 * The log's keys on chain (keys.log_keys), or null when the keys give none (consortium.json's log_vkey is used).
 * Each must be a key of the suite named by the log's origin.
 * @param {unknown} keys  @param {Suite} suite
 * @returns {Promise<{block: number, anchored: boolean, origin: string, keys: ChainLogKey[]} | null>}
 */
async function parseChainLogKeys(keys, suite) {
  if (!isObject(keys) || keys.log_keys === undefined || keys.log_keys === null) return null;
  const part = keys.log_keys;
  if (!isObject(part) || !Array.isArray(part.keys))
    throw new CheckError("keys.log_keys must be {block, anchored, keys: [{vkey, record, valid_from, valid_until}]}");
  const block = part.block;
  if (!Number.isSafeInteger(block) || block < 0)
    throw new CheckError(`keys.log_keys.block must be a non-negative integer, not ${quote(block)}`);
  const origin = keys.origin;
  if (typeof origin !== "string") throw new CheckError("keys.origin must name the log when keys.log_keys is given");
  /** @type {ChainLogKey[]} */
  const parsed = [];
  for (let i = 0; i < part.keys.length; i++) {
    const k = part.keys[i];
    const what = `keys.log_keys.keys[${i}]`;
    if (!isObject(k)) throw new CheckError(`${what} must be {vkey, record, valid_from, valid_until}`);
    const { valid_from: from, valid_until: until } = k;
    if (!Number.isSafeInteger(from) || from < 0) throw new CheckError(`${what}.valid_from must be a non-negative integer`);
    if (until !== null && until !== undefined && !Number.isSafeInteger(until))
      throw new CheckError(`${what}.valid_until must be an integer or null`);
    const key = await parseLogVkey(k.vkey, suite, `the vkey of ${what}`);
    if (key.name !== origin) throw new CheckError(`the vkey of ${what} is named ${quote(key.name)}, not the log's ${quote(origin)}`);
    parsed.push({
      ...key,
      record: Number.isSafeInteger(k.record) ? k.record : i,
      validFrom: from,
      validUntil: until === undefined || until === null ? null : until,
      compromised: k.compromised === true,
    });
  }
  return { block, anchored: part.anchored === true, origin, keys: parsed };
}

/** As notary/logkeys.py's LogKey.describe. @param {ChainLogKey} k */
function describeLogKey(k) {
  const until = k.validUntil === null ? "" : ` until block ${k.validUntil}`;
  const end = k.compromised ? " (declared compromised)" : k.validUntil !== null ? " (retired)" : "";
  return `log key ${toHex(k.keyId)} (record ${k.record}) valid from block ${k.validFrom}${until}${end}`;
}

/**
 * The checkpoint step under the log's keys on chain, by the rule of notary/logkeys.py: the key the note's
 * signature line names (by the log's origin and key id), valid at the block the keys are judged at (the anchor's,
 * or the head), and its signature verifies. What it says names the key and the block.
 * @param {{text: string, signatures: {name: string, keyId: Uint8Array, signature: Uint8Array<ArrayBuffer>}[]}} note
 * @param {{block: number, anchored: boolean, origin: string, keys: ChainLogKey[]}} chain
 */
async function checkUnderChainLogKeys(note, chain) {
  const where = chain.anchored ? `its anchor's block ${chain.block}` : `the chain head ${chain.block}`;
  const named = note.signatures.filter((sig) => sig.name === chain.origin);
  /** @type {ChainLogKey | undefined} */
  let key;
  /** @type {{name: string, keyId: Uint8Array, signature: Uint8Array<ArrayBuffer>} | undefined} */
  let line;
  for (const sig of named) {
    key = chain.keys.find((k) => equalBytes(k.keyId, sig.keyId));
    if (key) {
      line = sig;
      break;
    }
  }
  if (!key || !line) {
    const ids = [...new Set(named.map((sig) => toHex(sig.keyId)))].sort().join(", ") || "none";
    const onChain = chain.keys.map((k) => toHex(k.keyId)).join(", ") || "none";
    throw new CheckError(
      `signed by no log key of ${chain.origin} on chain (key ids of the log's name on the note: ${ids}; on chain: ${onChain})`,
    );
  }
  const valid = key.validFrom <= chain.block && (key.validUntil === null || chain.block < key.validUntil);
  if (!valid) throw new CheckError(`the checkpoint is signed by ${describeLogKey(key)}, not valid at ${where}`);
  if (!(await key.verify(note.text, line.signature))) {
    throw new CheckError(
      `the log's signature by ${line.name} (key id ${toHex(line.keyId)}) does not verify over the checkpoint body`,
    );
  }
  return { name: key.name, describe: `${describeLogKey(key)}, valid on chain at ${where}` };
}

/** @typedef {{org: string, name: string, regulator: boolean, keyId: Uint8Array, verify: SignatureCheck}} Witness */

/**
 * One witness: a cosigner vkey "<name>+<key id>+<base64(0x04 ‖ key)>" (notary.log.cosignature), or the raw
 * public key in hex as consortium.json holds it, named "<consortium>/witness/<org>" (network.logsetup); under the
 * sm suite an SM2 cosigner vkey (notary.log.smnote). A key of the other suite is refused.
 * @param {unknown} w
 * @param {number} i
 * @param {unknown} origin
 * @param {Suite} suite
 * @returns {Promise<Witness>}
 */
async function parseWitness(w, i, origin, suite) {
  if (!isObject(w) || typeof w.org !== "string" || !w.org)
    throw new CheckError(`keys.witnesses[${i}] must be {org, vkey, regulator}`);
  const what = `the vkey of witness ${w.org}`;
  const vkey = w.vkey !== undefined ? w.vkey : w.public_key !== undefined ? w.public_key : w.witness_public_key;
  const sm2Key = vkeyTypeByte(vkey) === OTHER_TYPE;
  if (suite === SM && !sm2Key) {
    const found = typeof vkey === "string" && HEX_KEY.test(vkey) ? "a bare Ed25519 public key" : "not an SM2 cosigner vkey";
    throw new CheckError(
      `${what} is ${found}, but the log's key is SM2 (suite sm): the witnesses of an sm log cosign with SM2 keys, given as vkeys`,
    );
  }
  if (suite === INTL && sm2Key) {
    throw new CheckError(
      `${what} is an SM2 key (suite sm), but the log's key is not (suite intl): a log's witnesses cosign under its suite`,
    );
  }
  if (suite === SM) {
    const sm2 = await decodeSm2Vkey(vkey, what);
    if (sm2.kind !== "cosignature") {
      throw new CheckError(`${what} is an SM2 note key: a witness cosigns with an SM2 cosigner key (consortium-ledger/sm2-cosignature/v1)`);
    }
    return {
      org: w.org,
      name: sm2.name,
      regulator: w.regulator === true,
      keyId: sm2.keyId,
      verify: (text, signature) => verifySm2Cosignature(sm2.key, text, signature),
    };
  }
  let name;
  let publicKey;
  if (typeof vkey === "string" && HEX_KEY.test(vkey)) {
    if (typeof w.name === "string") {
      name = w.name;
    } else if (typeof origin === "string" && origin.endsWith(LOG_SUFFIX)) {
      name = `${origin.slice(0, -LOG_SUFFIX.length)}/witness/${w.org}`;
    } else {
      throw new CheckError(
        `${what} is a bare public key, and its key name cannot be derived from the origin ${quote(origin)}`,
      );
    }
    checkKeyName(name, what);
    publicKey = fromHex(vkey);
  } else {
    ({ name, publicKey } = await decodeVkey(vkey, COSIGNATURE_V1, what));
  }
  const key = await importEd25519(publicKey, what);
  return {
    org: w.org,
    name,
    regulator: w.regulator === true,
    keyId: await keyId(name, COSIGNATURE_V1, publicKey),
    verify: (text, signature) => verifyCosignature(key, text, signature),
  };
}

/**
 * The witness policy: ``threshold`` of the ``witnesses`` counted, one of them a regulator if required.
 * @typedef {{threshold: number, requireRegulator: boolean, witnesses: Set<string>, regulators: Set<string>}} Policy
 */

/**
 * @param {unknown} keys
 * @param {Suite} suite
 * @returns {Promise<{witnesses: Witness[], policy: Policy}>}
 */
async function parseWitnessKeys(keys, suite) {
  if (!isObject(keys))
    throw new CheckError("no keys to check against (expected {origin, log_vkey, witnesses, policy})");
  if (!Array.isArray(keys.witnesses))
    throw new CheckError("keys.witnesses must be a list of {org, vkey, regulator}");
  let origin = keys.origin;
  if (origin === undefined && typeof keys.log_vkey === "string") origin = keys.log_vkey.split("+")[0];
  const witnesses = [];
  for (let i = 0; i < keys.witnesses.length; i++) witnesses.push(await parseWitness(keys.witnesses[i], i, origin, suite));
  const policy = keys.policy;
  if (!isObject(policy)) throw new CheckError("keys.policy must be {threshold, require_regulator}");
  const threshold = policy.threshold;
  if (typeof threshold !== "number" || !Number.isSafeInteger(threshold) || threshold < 0) {
    throw new CheckError(`keys.policy.threshold must be a non-negative integer, not ${quote(threshold)}`);
  }
  /** @type {string[]} */
  const counted = Array.isArray(policy.witnesses) ? policy.witnesses.map(String) : witnesses.map((w) => w.org);
  const regulators = new Set(witnesses.filter((w) => w.regulator).map((w) => w.org));
  if (Array.isArray(policy.regulators)) for (const r of policy.regulators) regulators.add(String(r));
  return {
    witnesses: witnesses.sort((a, b) => (a.org < b.org ? -1 : a.org > b.org ? 1 : 0)),
    policy: {
      threshold,
      requireRegulator: policy.require_regulator === true,
      witnesses: new Set(counted),
      regulators,
    },
  };
}

/** @param {Policy} policy */
function describePolicy(policy) {
  const regulator = policy.requireRegulator ? " including a regulator" : "";
  return `${policy.threshold} of ${policy.witnesses.size} witnesses${regulator}`;
}

/** @param {Policy} policy @param {Set<string>} cosigners */
function policySatisfied(policy, cosigners) {
  const counted = [...cosigners].filter((org) => policy.witnesses.has(org));
  if (counted.length < policy.threshold) return false;
  return !policy.requireRegulator || counted.some((org) => policy.regulators.has(org));
}

// -- the steps --------------------------------------------------------------------------------------------

class State {
  /**
   * @param {Record<string, any>} bundle  of the right format; its parts are checked by the steps
   * @param {unknown} keys
   * @param {unknown} event  the displayed event, or undefined
   */
  constructor(bundle, keys, event) {
    this.bundle = bundle;
    this.keys = keys;
    this.event = event;
    /** the suite the log's vkey pins */
    this.suite = suiteOf(keys);
    /** @type {Uint8Array | null} the entry bytes */
    this.entry = null;
    /** @type {Uint8Array | null} H(0x00 ‖ entry), recomputed with the suite's tree hash */
    this.leaf = null;
    /** @type {Checkpoint | null} the parsed checkpoint body, signed or not */
    this.checkpoint = null;
  }

  index() {
    const index = this.bundle.index;
    if (!Number.isSafeInteger(index) || index < 0)
      throw new CheckError(`index must be a non-negative integer, not ${quote(index)}`);
    return BigInt(index);
  }

  /**
   * What to raise for a missing part: not applicable if the bundle says why it is pending, else a failure.
   * @param {string} part
   */
  pending(part) {
    const items = Array.isArray(this.bundle.pending) ? this.bundle.pending : [];
    for (const item of items) {
      if (isObject(item) && item.part === part) {
        return new PendingError(item.reason === undefined ? "not available yet" : String(item.reason));
      }
    }
    return new CheckError(`the bundle has no ${part} and does not say why it is pending`);
  }

  /** @returns {Record<string, any>} */
  checkpointPart() {
    const part = this.bundle.checkpoint;
    if (part === null || part === undefined) throw this.pending("checkpoint");
    if (!isObject(part)) throw new CheckError("checkpoint must be a JSON object");
    return part;
  }
}

/** @param {State} s */
async function stepEntry(s) {
  const entry = fromBase64(s.bundle.entry, "entry");
  s.entry = entry;
  const tree = s.suite.tree;
  const leaf = await hashLeaf(entry, tree);
  s.leaf = leaf;
  const problems = [];
  try {
    const claimed = fromBase64(s.bundle.leaf_hash, "leaf_hash");
    if (!equalBytes(claimed, leaf)) {
      problems.push(`${tree.name}(0x00 ‖ entry) is ${toHex(leaf)}, the bundle's leaf_hash is ${toHex(claimed)}`);
    }
  } catch (exc) {
    if (!(exc instanceof CheckError)) throw exc;
    problems.push(exc.message);
  }
  /** @type {Record<string, any> | null} */
  let event = null;
  let text = null;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(entry);
  } catch {
    problems.push("the entry is not UTF-8");
  }
  if (text !== null) {
    try {
      const parsed = JSON.parse(text);
      if (isObject(parsed)) event = parsed;
      else problems.push("the entry is not a JSON object");
    } catch (exc) {
      problems.push(`the entry is not JSON (${/** @type {Error} */ (exc).message})`);
    }
  }
  if (event !== null) {
    if (canonicalJson(event) !== text)
      problems.push("the entry is not in canonical form (RFC 8785: sorted keys, no whitespace)");
    const missing = EVENT_FIELDS.filter((f) => !Object.prototype.hasOwnProperty.call(event, f));
    const unknown = Object.keys(event).filter((f) => !EVENT_FIELDS.includes(f) && !OPTIONAL_EVENT_FIELDS.includes(f));
    if (missing.length) problems.push(`the entry lacks the event field(s) ${missing.join(", ")}`);
    if (unknown.length) problems.push(`the entry holds unknown field(s) ${unknown.join(", ")}`);
    if (event.event_id !== s.bundle.event_id) {
      problems.push(`the entry is event ${quote(event.event_id)}, the bundle claims ${quote(s.bundle.event_id)}`);
    }
    if (s.event !== undefined) {
      const shown = s.event;
      if (!isObject(shown)) {
        problems.push("the displayed event is not a JSON object");
      } else if (canonicalJson(shown) !== text) {
        const logged = event;
        const names = [...new Set([...Object.keys(logged), ...Object.keys(shown)])].sort();
        const differ = names.filter((k) => {
          const a = logged[k] === undefined ? "∅" : canonicalJson(logged[k]);
          const b = shown[k] === undefined ? "∅" : canonicalJson(shown[k]);
          return a !== b;
        });
        problems.push(`the entry is not the displayed event (they differ in ${differ.join(", ") || "their encoding"})`);
      }
    }
  }
  if (problems.length || event === null) throw new CheckError(problems.join("; "));
  const { event_id, caller_org: caller, provider_org: provider, method, route, decision, status } = event;
  const named = { event_id, caller, provider, method, route, decision, status };
  /** @type {Params} */
  const params = Object.fromEntries(Object.entries(named).map(([k, v]) => [k, typeof v === "number" ? v : String(v)]));
  return said("entry.ok", { ...params, hash: tree.name, leaf: toHex(leaf) });
}

/** @param {State} s */
async function stepCheckpoint(s) {
  const part = s.checkpointPart();
  const note = parseNote(part.note);
  const cp = parseCheckpoint(note.text);
  s.checkpoint = cp;
  const label = s.suite.logKey;
  const chain = await parseChainLogKeys(s.keys, s.suite);
  if (chain !== null) {
    const signer = await checkUnderChainLogKeys(note, chain);
    checkpointClaims(s, part, cp, chain.origin);
    const found = { name: signer.name, key: signer.describe, size: String(cp.size), root: toHex(cp.root) };
    return said(s.suite.name === "sm" ? "checkpoint.okOnChainSm2" : "checkpoint.okOnChain", found);
  }
  const log = await parseLogKey(s.keys, s.suite);
  let signed = false;
  for (const sig of note.signatures) {
    if (sig.name !== log.name || !equalBytes(sig.keyId, log.keyId)) continue;
    if (!(await log.verify(note.text, sig.signature))) {
      throw new CheckError(
        `the log's signature by ${sig.name} (key id ${toHex(sig.keyId)}) does not verify over the checkpoint body`,
      );
    }
    signed = true;
  }
  if (!signed) {
    const names = note.signatures.map((sig) => `${sig.name} (${toHex(sig.keyId)})`).join(", ");
    throw new CheckError(`no signature by ${label} ${log.name} (key id ${toHex(log.keyId)}); signed by: ${names}`);
  }
  checkpointClaims(s, part, cp, log.origin);
  const found = { name: log.name, key_id: toHex(log.keyId), size: String(cp.size), root: toHex(cp.root) };
  return said(s.suite.name === "sm" ? "checkpoint.okSm2" : "checkpoint.ok", found);
}

/**
 * What the signed checkpoint must agree with: the log's origin, the bundle's origin and size, and the entry's index.
 * @param {State} s  @param {Record<string, any>} part  @param {Checkpoint} cp  @param {string} origin
 */
function checkpointClaims(s, part, cp, origin) {
  const problems = [];
  if (cp.origin !== origin) problems.push(`its origin is ${quote(cp.origin)}, the log's is ${quote(origin)}`);
  if (s.bundle.origin !== origin) problems.push(`the bundle names origin ${quote(s.bundle.origin)}`);
  if (!(Number.isSafeInteger(part.size) && BigInt(part.size) === cp.size)) {
    problems.push(`the bundle claims size ${quote(part.size)}, the note says ${cp.size}`);
  }
  const index = s.index();
  if (cp.size <= index) problems.push(`size ${cp.size} does not cover index ${index}`);
  if (problems.length) throw new CheckError(problems.join("; "));
}

/** @param {State} s */
async function stepCosignatures(s) {
  const part = s.checkpointPart();
  const note = parseNote(part.note);
  const { witnesses, policy } = await parseWitnessKeys(s.keys, s.suite);
  /** @type {Set<string>} */
  const good = new Set();
  /** @type {Set<string>} */
  const bad = new Set();
  for (const w of witnesses) {
    for (const sig of note.signatures) {
      if (sig.name !== w.name || !equalBytes(sig.keyId, w.keyId)) continue;
      ((await w.verify(note.text, sig.signature)) ? good : bad).add(w.org);
    }
  }
  const who = [...good].sort().join(", ") || "nobody";
  if (bad.size) {
    throw new CheckError(
      `the cosignature by ${[...bad].sort().join(", ")} does not verify over the checkpoint body (valid: ${who})`,
    );
  }
  if (!policySatisfied(policy, good)) {
    const regulators = [...policy.regulators].filter((r) => policy.witnesses.has(r)).sort();
    const which = policy.requireRegulator && regulators.length ? ` (regulators: ${regulators.join(", ")})` : "";
    throw new CheckError(`cosigned by ${who}: the policy needs ${describePolicy(policy)}${which}`);
  }
  const counted = { who, threshold: policy.threshold, witnesses: policy.witnesses.size };
  return said(policy.requireRegulator ? "cosignatures.okRegulator" : "cosignatures.ok", counted);
}

/** @param {State} s */
async function stepInclusion(s) {
  s.checkpointPart(); // no checkpoint: pending like it
  const part = s.bundle.inclusion;
  if (!isObject(part)) throw new CheckError("inclusion must be a JSON object");
  if (s.leaf === null) throw new CheckError("no leaf hash to prove (the entry is unreadable)");
  if (s.checkpoint === null) throw new CheckError("no readable checkpoint to prove against");
  const cp = s.checkpoint;
  if (!(Number.isSafeInteger(part.size) && BigInt(part.size) === cp.size)) {
    throw new CheckError(`the proof is for size ${quote(part.size)}, the checkpoint's size is ${cp.size}`);
  }
  if (!Array.isArray(part.proof)) throw new CheckError("inclusion.proof must be a list of base64 hashes");
  const proof = part.proof.map((/** @type {unknown} */ h, /** @type {number} */ i) =>
    fromBase64(h, `inclusion.proof[${i}]`),
  );
  proof.forEach((/** @type {Uint8Array} */ h, /** @type {number} */ i) => {
    if (h.length !== HASH_SIZE) throw new CheckError(`inclusion.proof[${i}] is ${h.length} bytes, not 32`);
  });
  const index = s.index();
  const root = await rootFromInclusion(s.leaf, index, cp.size, proof, s.suite.tree);
  if (!equalBytes(root, cp.root)) {
    throw new CheckError(
      `the proof leads from leaf ${index} (${toHex(s.leaf)}) to root ${toHex(root)}, the checkpoint's root is ${toHex(cp.root)}`,
    );
  }
  const proved = { index: String(index), size: String(cp.size), hashes: proof.length, root: toHex(root) };
  return said("inclusion.ok", proved);
}

/**
 * Run in this order (inclusion needs the checkpoint's root); reported in STEPS order.
 * @type {[StepName, (s: State) => Promise<Said>][]}
 */
const CHECKS = [
  ["entry", stepEntry],
  ["checkpoint", stepCheckpoint],
  ["cosignatures", stepCosignatures],
  ["inclusion", stepInclusion],
];

/**
 * Verify the log part of an evidence bundle.
 * @param {unknown} bundle  the bundle (parsed JSON), of type Bundle if it is one
 * @param {unknown} keys  of type Keys if they are
 * @param {{event?: unknown}} [options]  event: the displayed event, which the entry must encode exactly
 * @returns {Promise<Step[]>} for "entry", "inclusion", "checkpoint", "cosignatures"
 */
export async function verifyBundle(bundle, keys, options) {
  if (!isObject(bundle) || !FORMATS.includes(bundle.format)) {
    const found = isObject(bundle)
      ? quote(bundle.format)
      : bundle === null
        ? "null"
        : Array.isArray(bundle)
          ? "a list"
          : typeof bundle;
    return STEPS.map((step) => ({ step, ok: false, ...said("notBundle", { formats: FORMATS.join(" or "), found }) }));
  }
  const event = isObject(options) && options.event !== undefined && options.event !== null ? options.event : undefined;
  const state = new State(bundle, keys, event);
  /** @type {Partial<Record<StepName, Step>>} */
  const results = {};
  for (const [step, check] of CHECKS) {
    try {
      results[step] = { step, ok: true, ...(await check(state)) };
    } catch (exc) {
      if (exc instanceof PendingError) results[step] = { step, ok: null, ...said("pending", { reason: exc.reason }) };
      else if (exc instanceof CheckError) results[step] = { step, ok: false, ...said("failed", { detail: exc.message }) };
      else {
        const error = /** @type {{name?: unknown, message?: unknown} | null | undefined} */ (exc);
        const what = error && error.name ? `${error.name}: ${error.message}` : String(exc);
        results[step] = { step, ok: false, ...said("malformed", { what }) };
      }
    }
  }
  return STEPS.map((step) => /** @type {Step} */ (results[step]));
}

/**
 * True when no step failed (pending steps do not count against).
 * @param {unknown} steps
 */
export function passed(steps) {
  return Array.isArray(steps) && steps.every((s) => s && s.ok !== false);
}

// -- the anchor part's proofs (v2) ------------------------------------------------------------------------

/** @typedef {"transaction in block" | "transaction succeeded" | "block hash"} AnchorStepName */
/** @type {readonly AnchorStepName[]} */
export const ANCHOR_STEPS = Object.freeze(["transaction in block", "transaction succeeded", "block hash"]);

const HEX = /^0x(?:[0-9a-f]{2})*$/;
/** Header field positions in the RLP list (Yellow Paper §4.3), as notary/verify.py. */
const HEADER_TX_ROOT = 4;
const HEADER_RECEIPT_ROOT = 5;
const HEADER_EXTRA = 12;
const HEADER_MIN_FIELDS = 15;

/**
 * A block's hash from its RLP header fields, as chain/seal.py's block_hash: when the extra data is an RLP list of
 * five items whose fourth (the round) is a byte string and fifth (the seals) a list, QBFT's rule (Besu's
 * BftBlockHashing): keccak-256 of the header with round and seals emptied; otherwise keccak-256 of the header.
 * @param {Uint8Array} raw  the RLP header  @param {Uint8Array[]} fields  its fields
 */
export function blockHash(raw, fields) {
  let extra = null;
  try {
    extra = decodeRlp(fields[HEADER_EXTRA]);
  } catch (exc) {
    if (!(exc instanceof CheckError)) throw exc;
  }
  if (!Array.isArray(extra) || extra.length !== 5 || !(extra[3] instanceof Uint8Array) || !Array.isArray(extra[4])) {
    return keccak256(raw);
  }
  const unsealed = [...fields];
  unsealed[HEADER_EXTRA] = encodeRlp([...extra.slice(0, 3), new Uint8Array(0), []]);
  return keccak256(encodeRlp(unsealed));
}

/** @param {unknown} value @param {string} what */
function hexField(value, what) {
  if (typeof value !== "string" || !HEX.test(value)) throw new CheckError(`${what} must be 0x-prefixed lowercase hex`);
  return fromHex(value.slice(2));
}

/** @param {unknown} value @param {string} what */
function hexList(value, what) {
  if (!Array.isArray(value)) throw new CheckError(`${what} must be a list`);
  if (value.length > MAX_PROOF_NODES) throw new CheckError(`${what} has ${value.length} items, at most ${MAX_PROOF_NODES} allowed`);
  return value.map((v, i) => hexField(v, `${what}[${i}]`));
}

/** The value a proof proves at rlp(index) from a root, or a CheckError naming the proof. */
function proven(/** @type {Uint8Array} */ root, /** @type {number} */ index, /** @type {Uint8Array[]} */ proof, /** @type {string} */ what) {
  try {
    return verifyProof(root, encodeIndex(index), proof);
  } catch (exc) {
    if (!(exc instanceof CheckError)) throw exc;
    throw new CheckError(`the ${what} proof does not lead from the header's root to index ${index}: ${exc.message}`);
  }
}

/** EIP-658 status of a consensus-encoded receipt (typed per EIP-2718 or legacy). */
function receiptStatus(/** @type {Uint8Array} */ raw) {
  const fields = decodeRlp(raw.length && raw[0] >= 0xc0 ? raw : raw.subarray(1));
  if (fields instanceof Uint8Array || fields.length !== 4 || !(fields[0] instanceof Uint8Array)) {
    throw new CheckError("the receipt is not RLP [status, cumulativeGasUsed, logsBloom, logs]");
  }
  const status = fields[0];
  if (status.length > 1 || (status.length === 1 && status[0] !== 1)) {
    throw new CheckError("the receipt carries a pre-Byzantium state root, not a status");
  }
  return status.length;
}

/**
 * Check a v2 bundle's anchor proofs as notary/verify.py does (the same step names): the anchor transaction is
 * at its index in the block's transactions trie and its receipt, with status 1, in the receipts trie, both
 * proven from the header's roots (log/mpt.js), and the block hash is the header's (blockHash). The
 * transaction's signature and calldata and the header's seals are not checked here. Never throws: ok null when
 * the anchor is pending, or for a v1 bundle (whole blocks are not rechecked in the browser).
 * @param {unknown} bundle
 * @returns {({step: AnchorStepName, ok: boolean | null} & Said)[]}
 */
export function verifyAnchorProofs(bundle) {
  /** @type {(ok: boolean | null, found: Said) => ({step: AnchorStepName, ok: boolean | null} & Said)[]} */
  const all = (ok, found) => ANCHOR_STEPS.map((step) => ({ step, ok, ...found }));
  if (!isObject(bundle) || bundle.format !== FORMAT) {
    if (isObject(bundle) && FORMATS.includes(bundle.format)) return all(null, said("chain.v1", {}));
    return all(false, said("chain.notV2", { format: FORMAT }));
  }
  if (bundle.anchor === null) return all(null, said("chain.pending", {}));
  /** @type {Uint8Array[] | null} */
  let header = null;
  /** @type {number | null} */
  let position = null;
  const anchor = isObject(bundle.anchor) ? bundle.anchor : {};
  const block = isObject(anchor.block) ? anchor.block : {};
  const transaction = isObject(anchor.transaction) ? anchor.transaction : {};
  const readHeader = () => {
    if (header === null) {
      const fields = decodeRlp(hexField(block.header, "anchor.block.header"));
      if (fields instanceof Uint8Array || fields.length < HEADER_MIN_FIELDS || fields.some((f) => !(f instanceof Uint8Array))) {
        throw new CheckError(`the block header is not an RLP list of at least ${HEADER_MIN_FIELDS} byte strings`);
      }
      header = /** @type {Uint8Array[]} */ (fields);
    }
    return header;
  };
  const index = () => {
    const value = transaction.index;
    if (!Number.isSafeInteger(value) || value < 0) throw new CheckError("anchor.transaction.index must be a non-negative integer");
    return /** @type {number} */ (value);
  };
  /** @type {Record<AnchorStepName, () => Said>} */
  const checks = {
    "transaction in block": () => {
      const at = index();
      const raw = hexField(transaction.raw, "anchor.transaction.raw");
      const proof = hexList(block.transaction_proof, "anchor.block.transaction_proof");
      const value = proven(readHeader()[HEADER_TX_ROOT], at, proof, "transaction");
      if (!equalBytes(value, raw)) {
        throw new CheckError(`the transactions trie holds another transaction at index ${at} (keccak 0x${toHex(keccak256(value))})`);
      }
      position = at;
      return said("txInBlock.ok", { index: at, nodes: proof.length });
    },
    "transaction succeeded": () => {
      const at = index();
      const receipt = hexField(block.receipt, "anchor.block.receipt");
      const proof = hexList(block.receipt_proof, "anchor.block.receipt_proof");
      const value = proven(readHeader()[HEADER_RECEIPT_ROOT], at, proof, "receipt");
      if (position === null) throw new CheckError("the anchor transaction is not proven in the block, so its receipt is not proven its own");
      if (!equalBytes(value, receipt)) throw new CheckError(`the receipts trie holds another receipt at index ${at} than the bundle's`);
      const status = receiptStatus(receipt);
      if (status !== 1) throw new CheckError(`the anchor transaction failed (receipt status ${status})`);
      return said("txSucceeded.ok", { nodes: proof.length });
    },
    "block hash": () => {
      const digest = blockHash(hexField(block.header, "anchor.block.header"), readHeader());
      const claimed = hexField(block.hash, "anchor.block.hash");
      if (!equalBytes(digest, claimed)) {
        throw new CheckError(`the header hashes to 0x${toHex(digest)}, the bundle claims 0x${toHex(claimed)}`);
      }
      return said("blockHash.ok", { hash: toHex(digest) });
    },
  };
  return ANCHOR_STEPS.map((step) => {
    try {
      return { step, ok: true, ...checks[step]() };
    } catch (exc) {
      if (exc instanceof CheckError) return { step, ok: false, ...said("failed", { detail: exc.message }) };
      const error = /** @type {{name?: unknown, message?: unknown} | null | undefined} */ (exc);
      return { step, ok: false, ...said("malformed", { what: error && error.name ? `${error.name}: ${error.message}` : String(exc) }) };
    }
  });
}

// -- the anchor's log (v2) ------------------------------------------------------------------------------

/** The name of the step that checks the receipt's Anchored log against the bundle's checkpoint. */
export const ANCHOR_LOG_STEP = "anchor log";
/** @typedef {AnchorStepName | "anchor log"} ChainStepName */
/** @typedef {{step: ChainStepName, ok: boolean | null, detail: string, code?: string, params?: Params}} ChainStep */
/** @type {readonly ChainStepName[]} */
export const CHAIN_STEPS = Object.freeze([...ANCHOR_STEPS, ANCHOR_LOG_STEP]);

/** AuditAnchor's event (contracts/src/AuditAnchor.vy): origin_hash and tree_size indexed, the rest in the data. */
const ANCHORED_EVENT = "Anchored(bytes32,uint64,string,bytes32,bytes32,bytes32)";
/** What AuditAnchor.anchor_signed logs beside Anchored once it has checked the log's SM2 signature on chain. */
const ANCHOR_SIGNED_EVENT = "AnchorSigned(bytes32,uint64,uint256,bytes32,bytes32,bytes32,bytes32)";
/** Where a typed transaction's `to` sits in its RLP list (EIP-2930, EIP-1559, EIP-4844, EIP-7702); legacy at 3. */
const TYPED_TO = new Map([[1, 4], [2, 5], [3, 5], [4, 5]]);
const WORD = 32;

/** The address a signed raw transaction calls; its signature is left to notary/verify.py. */
function transactionTo(/** @type {Uint8Array} */ raw) {
  const position = raw.length && raw[0] >= 0xc0 ? 3 : TYPED_TO.get(raw[0]);
  if (position === undefined) throw new CheckError(`the anchor transaction is of unknown type 0x${toHex(raw.subarray(0, 1))}`);
  const fields = decodeRlp(position === 3 && raw[0] >= 0xc0 ? raw : raw.subarray(1));
  const to = Array.isArray(fields) ? fields[position] : undefined;
  if (!(to instanceof Uint8Array) || to.length !== 20) throw new CheckError("the anchor transaction calls no contract");
  return to;
}

/** A uint64 as a 32-byte ABI word. */
function word(/** @type {bigint} */ value) {
  const out = new Uint8Array(WORD);
  for (let i = WORD - 1, v = value; i >= 0 && v > 0n; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/**
 * The logs of an event (Anchored unless named) in a consensus-encoded receipt: [address, [topics], data] whose
 * first topic is the event's.
 * @param {Uint8Array} raw  @param {string} [event]
 * @returns {{address: Uint8Array, topics: Uint8Array[], data: Uint8Array}[]}
 */
function anchoredLogs(raw, event = ANCHORED_EVENT) {
  const fields = decodeRlp(raw.length && raw[0] >= 0xc0 ? raw : raw.subarray(1));
  if (!Array.isArray(fields) || fields.length !== 4 || !Array.isArray(fields[3])) {
    throw new CheckError("the receipt is not RLP [status, cumulativeGasUsed, logsBloom, logs]");
  }
  const topic = keccak256(encoder.encode(event));
  const found = [];
  for (const item of fields[3]) {
    if (!Array.isArray(item) || item.length !== 3) throw new CheckError("a log of the receipt is not RLP [address, topics, data]");
    const [address, topics, data] = item;
    if (!(address instanceof Uint8Array) || !Array.isArray(topics) || !(data instanceof Uint8Array)) {
      throw new CheckError("a log of the receipt is not RLP [address, topics, data]");
    }
    const hashes = topics.filter((x) => x instanceof Uint8Array);
    if (hashes.length && equalBytes(hashes[0], topic)) found.push({ address, topics: hashes, data });
  }
  return found;
}

/**
 * What an Anchored log says differs from the checkpoint: origin, tree size, root and digest (empty when none).
 * @param {{topics: Uint8Array[], data: Uint8Array}} log
 * @param {Checkpoint} cp  @param {Uint8Array} digest  @param {string} digestName
 */
function anchoredDiffers(log, cp, digest, digestName) {
  const origin = encoder.encode(cp.origin);
  const { topics, data } = log;
  const problems = [];
  if (topics.length !== 3 || !equalBytes(topics[1], keccak256(origin)) || !equalBytes(topics[2], word(cp.size))) {
    problems.push(`its topics are not keccak256(${quote(cp.origin)}) and tree size ${cp.size}`);
  }
  const at = (/** @type {number} */ i) => data.subarray(i * WORD, (i + 1) * WORD);
  const length = data.length >= 5 * WORD ? Number(BigInt(`0x${toHex(at(4))}`)) : -1;
  const stored = length >= 0 && data.length >= 5 * WORD + length ? data.subarray(5 * WORD, 5 * WORD + length) : null;
  if (data.length < 5 * WORD || !equalBytes(at(0), word(4n * BigInt(WORD))) || stored === null || !equalBytes(stored, origin)) {
    problems.push(`its data does not name the origin ${quote(cp.origin)}`);
  }
  if (data.length >= 3 * WORD) {
    if (!equalBytes(at(1), cp.root)) problems.push(`it anchors root ${toHex(at(1))}, the checkpoint's is ${toHex(cp.root)}`);
    if (!equalBytes(at(2), digest)) {
      problems.push(`it anchors checkpoint digest ${toHex(at(2))}, ${digestName}(checkpoint body) is ${toHex(digest)}`);
    }
  }
  return problems;
}

/**
 * For a log of the sm suite: whether AuditAnchor checked the log's SM2 signature of this anchor on chain, which its
 * AnchorSigned log beside Anchored says (anchor_signed), and under which key; an anchor without one was taken
 * unchecked, by an AuditAnchor deployed before sm consortia refused unsigned anchors.
 * @param {Uint8Array} receipt  @param {Uint8Array} to  @param {Checkpoint} cp  @param {unknown} keys
 * @returns {"anchorLog.okUnsigned" | "anchorLog.okSigned" | "anchorLog.okSignedOther"}
 */
function signatureCheckedOnChain(receipt, to, cp, keys) {
  const origin = keccak256(encoder.encode(cp.origin));
  const signed = anchoredLogs(receipt, ANCHOR_SIGNED_EVENT).filter(
    (log) => equalBytes(log.address, to) && log.topics.length === 3 && equalBytes(log.topics[1], origin) && equalBytes(log.topics[2], word(cp.size)),
  );
  if (!signed.length) return "anchorLog.okUnsigned";
  const data = signed[0].data;
  // the log's vkey, and its keys on chain when the keys list them (a log whose key rotated)
  const chainKeys = isObject(keys) && isObject(keys.log_keys) && Array.isArray(keys.log_keys.keys) ? keys.log_keys.keys : [];
  const vkeys = [isObject(keys) ? keys.log_vkey : undefined, ...chainKeys.map((/** @type {unknown} */ k) => (isObject(k) ? k.vkey : undefined))];
  const logKey = vkeys.some((vkey) => {
    if (typeof vkey !== "string" || vkeyTypeByte(vkey) === null) return false;
    const blob = fromBase64(vkey.split("+").slice(2).join("+"), "vkey");
    return data.length >= 3 * WORD && blob.length >= 64 && equalBytes(data.subarray(WORD, 3 * WORD), blob.subarray(blob.length - 64));
  });
  return logKey ? "anchorLog.okSigned" : "anchorLog.okSignedOther";
}

/**
 * Check that a v2 bundle's receipt carries AuditAnchor's Anchored log of the bundle's checkpoint: emitted by the
 * contract the anchor transaction calls, for the checkpoint's origin and size, with its root and the digest of its
 * body (SHA-256, or SM3 for a log of the sm suite, which the keys' log vkey pins). The receipt's place in the block
 * is the "transaction succeeded" step's; the contract's address is not pinned here (notary/verify.py compares it
 * with consortium.json's). Never throws: ok null for a pending anchor and for a v1 bundle, as verifyAnchorProofs.
 * @param {unknown} bundle
 * @param {unknown} keys  of type Keys if they are
 * @returns {Promise<ChainStep>}
 */
export async function verifyAnchorLog(bundle, keys) {
  const step = ANCHOR_LOG_STEP;
  const [proofs] = verifyAnchorProofs(bundle);
  if (proofs.ok === null || !isObject(bundle) || bundle.format !== FORMAT) {
    return { step, ok: proofs.ok, detail: proofs.detail, code: proofs.code, params: proofs.params };
  }
  try {
    const anchor = isObject(bundle.anchor) ? bundle.anchor : {};
    const block = isObject(anchor.block) ? anchor.block : {};
    const transaction = isObject(anchor.transaction) ? anchor.transaction : {};
    if (!isObject(bundle.checkpoint)) throw new CheckError("no checkpoint to compare the anchored one with");
    const note = parseNote(bundle.checkpoint.note);
    const cp = parseCheckpoint(note.text);
    const tree = suiteOf(keys).tree;
    const digest = await tree.digest(encoder.encode(note.text));
    const to = transactionTo(hexField(transaction.raw, "anchor.transaction.raw"));
    const logs = anchoredLogs(hexField(block.receipt, "anchor.block.receipt"));
    const own = logs.filter((log) => equalBytes(log.address, to));
    if (!own.length) {
      const others = logs.map((log) => `0x${toHex(log.address)}`).join(", ");
      throw new CheckError(
        `the receipt carries no Anchored log of 0x${toHex(to)}, the contract the anchor transaction calls${others ? ` (only of ${others})` : ""}`,
      );
    }
    const problems = own.map((log) => anchoredDiffers(log, cp, digest, tree.name));
    if (problems.every((p) => p.length)) throw new CheckError(`the Anchored log is not the checkpoint's: ${problems[0].join("; ")}`);
    const code = suiteOf(keys) === SM ? signatureCheckedOnChain(hexField(block.receipt, "anchor.block.receipt"), to, cp, keys) : "anchorLog.ok";
    const logged = { contract: `0x${toHex(to)}`, origin: quote(cp.origin), size: String(cp.size), root: toHex(cp.root) };
    return { step, ok: true, ...said(code, { ...logged, hash: tree.name, digest: toHex(digest) }) };
  } catch (exc) {
    if (exc instanceof CheckError) return { step, ok: false, ...said("failed", { detail: exc.message }) };
    const error = /** @type {{name?: unknown, message?: unknown} | null | undefined} */ (exc);
    return { step, ok: false, ...said("malformed", { what: error && error.name ? `${error.name}: ${error.message}` : String(exc) }) };
  }
}

/**
 * The chain part of a bundle as the browser checks it: verifyAnchorProofs's steps, then verifyAnchorLog's.
 * @param {unknown} bundle  @param {unknown} keys
 * @returns {Promise<ChainStep[]>}
 */
export async function verifyChain(bundle, keys) {
  return [...verifyAnchorProofs(bundle), await verifyAnchorLog(bundle, keys)];
}
