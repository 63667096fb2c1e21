// Re-verification of an evidence bundle's log part (consortium-ledger/evidence/v1) with WebCrypto alone.
//
// The same checks as notary/verify.py, for the links a browser can check without a chain node:
//   entry         SHA-256(0x00 ‖ entry) is the bundle's leaf_hash (RFC 9162 §2.1.1), and the entry is the
//                 canonical JSON (RFC 8785) of an event: the bundle's event, and the displayed one if given;
//   inclusion     the RFC 9162 §2.1.3.2 inclusion proof leads from that leaf, at the bundle's index, to the
//                 checkpoint's root at the checkpoint's size;
//   checkpoint    the C2SP signed note parses, its body is a C2SP tlog-checkpoint of the log's origin, and the
//                 log's Ed25519 key signed it (key id SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[:4]);
//   cosignatures  each witness's C2SP tlog-cosignature (type 0x04) over "cosignature/v1\ntime <t>\n" + body
//                 verifies, and they meet the witness policy (k of the witnesses, a regulator if required).
//
// No dependencies: runs in a browser (secure context) and in Node 20 through globalThis.crypto.subtle.
// verifyBundle never throws: each step is {step, ok, detail} with ok true (checked), false (the check failed,
// the detail says which hash or signature) or null (the bundle says the part is still pending).

export const FORMAT = "consortium-ledger/evidence/v1";
export const STEPS = Object.freeze(["entry", "inclusion", "checkpoint", "cosignatures"]);

const ED25519 = 0x01;
const COSIGNATURE_V1 = 0x04;
const KEY_ID_SIZE = 4;
const HASH_SIZE = 32;
const MAX_NOTE_SIZE = 1 << 20;
const MAX_SIGNATURES = 100;
const MAX_TREE_SIZE = 2n ** 64n - 1n;
const MAX_TIMESTAMP = 2n ** 63n - 1n;
const SIGNATURE_PREFIX = "\u2014 ";
const CONTROL = /[\x00-\x09\x0b-\x1f]/;
const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;
const HEX8 = /^[0-9a-f]{8}$/;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const LOG_SUFFIX = "/audit-log";

// The fields of an audit event (notary/event.py FIELDS).
const EVENT_FIELDS = Object.freeze([
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

/** A check failed: the message says what was wrong. */
class Fail extends Error {}

/** A check does not apply (the part is pending): the message says why. */
class Skip extends Error {}

const encoder = new TextEncoder();

// -- bytes ------------------------------------------------------------------------------------------------

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function concat(...parts) {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Lower-case hex of bytes. */
export function toHex(bytes) {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Standard padded base64 of bytes. */
export function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Strict standard base64: only the canonical encoding of its bytes (like the log's own parsers). */
function fromBase64(text, what) {
  if (typeof text !== "string") throw new Fail(`${what} must be base64 text`);
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw new Fail(`${what} is not valid base64`);
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  if (toBase64(bytes) !== text) throw new Fail(`${what} is not canonical base64`);
  return bytes;
}

function quote(value) {
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 100 ? `${text.slice(0, 100)}…` : text;
  } catch {
    return String(value);
  }
}

// -- WebCrypto --------------------------------------------------------------------------------------------

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s)
    throw new Fail("this page has no WebCrypto (crypto.subtle needs HTTPS or localhost), so nothing can be checked");
  return s;
}

async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

async function importEd25519(publicKey, what) {
  if (publicKey.length !== 32) throw new Fail(`${what}: the Ed25519 public key is ${publicKey.length} bytes, not 32`);
  try {
    return await subtle().importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (exc) {
    if (exc instanceof Fail) throw exc;
    if (exc && exc.name === "NotSupportedError") {
      throw new Fail("this browser's WebCrypto cannot verify Ed25519 signatures; use a current browser");
    }
    throw new Fail(`${what}: not a valid Ed25519 public key (${exc && exc.name})`);
  }
}

async function verifyEd25519(key, signature, message) {
  if (signature.length !== 64) return false;
  try {
    return await subtle().verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}

/** The note key id: SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4]. */
export async function keyId(name, keyType, publicKey) {
  const digest = await sha256(concat(encoder.encode(`${name}\n`), Uint8Array.of(keyType), publicKey));
  return digest.slice(0, KEY_ID_SIZE);
}

// -- canonical JSON (RFC 8785 over the event schema's types) ----------------------------------------------

/** JCS: keys sorted by UTF-16 code units, no whitespace, ECMAScript number and string serialisation. */
export function canonicalJson(value) {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new Fail(`${value} has no JSON form`);
      return JSON.stringify(value);
    case "object":
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      return `{${Object.keys(value)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
        .join(",")}}`;
    default:
      throw new Fail(`a ${typeof value} has no JSON form`);
  }
}

// -- C2SP signed notes, checkpoints, vkeys ----------------------------------------------------------------

function checkKeyName(name, what) {
  if (typeof name !== "string" || !name || name.includes("+") || CONTROL.test(name) || /\s/u.test(name)) {
    throw new Fail(`${what}: invalid key name ${quote(name)} (must be non-empty, without spaces or '+')`);
  }
}

function checkText(text, what) {
  if (!text.endsWith("\n")) throw new Fail(`${what} must end with a newline`);
  const bad = CONTROL.exec(text);
  if (bad) throw new Fail(`${what} holds control character ${quote(bad[0])} at offset ${bad.index}`);
}

function parseSignatureLine(line) {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw new Fail(`signature line must start with '— ': ${quote(line)}`);
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  if (space < 0) throw new Fail(`signature line lacks a signature: ${quote(line)}`);
  const name = rest.slice(0, space);
  checkKeyName(name, "signature line");
  const blob = fromBase64(rest.slice(space + 1), `signature by ${quote(name)}`);
  if (blob.length <= KEY_ID_SIZE) {
    throw new Fail(`signature by ${quote(name)} is ${blob.length} bytes, expected a key id and a signature`);
  }
  return { name, keyId: blob.slice(0, KEY_ID_SIZE), signature: blob.slice(KEY_ID_SIZE) };
}

/** A C2SP signed note: its text (ending in a newline) and signature lines; the last blank line separates them. */
export function parseNote(whole) {
  if (typeof whole !== "string") throw new Fail("checkpoint.note must be the note's text");
  if (typeof whole.isWellFormed === "function" && !whole.isWellFormed()) {
    throw new Fail("the checkpoint note is not valid Unicode text");
  }
  if (encoder.encode(whole).length > MAX_NOTE_SIZE)
    throw new Fail(`the checkpoint note exceeds ${MAX_NOTE_SIZE} bytes`);
  const bad = CONTROL.exec(whole);
  if (bad) throw new Fail(`the checkpoint note holds control character ${quote(bad[0])} at offset ${bad.index}`);
  const split = whole.lastIndexOf("\n\n");
  if (split < 0) throw new Fail("the checkpoint note lacks the blank line before its signatures");
  const block = whole.slice(split + 2);
  if (!block.endsWith("\n")) throw new Fail("the checkpoint note's signature lines must end with a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES)
    throw new Fail(`${lines.length} signature lines, at most ${MAX_SIGNATURES} accepted`);
  return { text: whole.slice(0, split + 1), signatures: lines.map(parseSignatureLine) };
}

/** A C2SP tlog-checkpoint body: origin, decimal size, base64 root, extension lines. Size is a BigInt. */
export function parseCheckpoint(text) {
  checkText(text, "the checkpoint body");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new Fail(`the checkpoint has ${lines.length} lines, needs origin, size and root hash`);
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!origin) throw new Fail("the checkpoint origin is empty");
  if (!DECIMAL.test(sizeText)) {
    throw new Fail(`the checkpoint tree size must be a decimal without leading zeros: ${quote(sizeText)}`);
  }
  const size = BigInt(sizeText);
  if (size > MAX_TREE_SIZE) throw new Fail(`the checkpoint tree size ${size} exceeds 2^64-1`);
  const root = fromBase64(rootText, "the checkpoint root hash");
  if (root.length !== HASH_SIZE) throw new Fail(`the checkpoint root hash is ${root.length} bytes, expected 32`);
  if (extensions.some((line) => !line)) throw new Fail("the checkpoint's extension lines must be non-empty");
  return { origin, size, root, extensions };
}

/** The name and public key of a C2SP vkey "<name>+<8 hex key id>+<base64(type ‖ key)>" of ``keyType``. */
export async function decodeVkey(vkey, keyType, what) {
  if (typeof vkey !== "string") throw new Fail(`${what} must be a vkey string`);
  // Split at the first two '+' only: the base64 key may hold '+' itself (as C2SP's reference parser does).
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) throw new Fail(`${what} must be <name>+<key id>+<key>: ${quote(vkey)}`);
  const name = vkey.slice(0, first);
  const hexId = vkey.slice(first + 1, second);
  const encoded = vkey.slice(second + 1);
  checkKeyName(name, what);
  if (!HEX8.test(hexId)) throw new Fail(`${what}: the key id must be 8 lower-case hex digits, not ${quote(hexId)}`);
  const blob = fromBase64(encoded, `${what} (${name})`);
  if (blob.length === 0 || blob[0] !== keyType) {
    const found = blob.length ? `0x${blob[0].toString(16).padStart(2, "0")}` : "none";
    throw new Fail(`${what} (${name}) is of signature type ${found}, expected 0x0${keyType.toString(16)}`);
  }
  const publicKey = blob.slice(1);
  const id = toHex(await keyId(name, keyType, publicKey));
  if (id !== hexId) throw new Fail(`${what} (${name}): key id ${hexId} does not match the key (${id})`);
  return { name, publicKey };
}

function hexBytes(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The C2SP vkey of a public key: "<name>+<8 hex key id>+<base64(type ‖ key)>". */
export async function encodeVkey(name, keyType, publicKey) {
  const id = toHex(await keyId(name, keyType, publicKey));
  return `${name}+${id}+${toBase64(concat(Uint8Array.of(keyType), publicKey))}`;
}

/** The keys (as GET /api/v1/keys serves them) from the consortium's public description, consortium.json:
 * origin "<name>/audit-log" signed by the notary member's key, witnesses "<name>/witness/<org>" (network.logsetup).
 * Throws an Error naming what is missing. */
export async function keysFromConsortium(description) {
  if (!isObject(description) || typeof description.name !== "string" || !Array.isArray(description.members)) {
    throw new Error("not a consortium.json: it needs a name and members");
  }
  const members = description.members.filter(isObject);
  const roles = (m) => (Array.isArray(m.roles) ? m.roles.map(String) : []);
  const notary = members.find((m) => roles(m).includes("notary"));
  if (!notary || typeof notary.notary_public_key !== "string" || !HEX_KEY.test(notary.notary_public_key)) {
    throw new Error("consortium.json names no notary member with a notary_public_key");
  }
  const policy = isObject(description.witness_policy) ? description.witness_policy : {};
  let orgs = Array.isArray(policy.witnesses) ? policy.witnesses.map(String) : [];
  if (orgs.length === 1 && orgs[0] === "all-members") orgs = members.map((m) => String(m.org));
  const witnesses = [];
  for (const org of orgs) {
    const m = members.find((x) => x.org === org);
    if (!m || typeof m.witness_public_key !== "string" || !HEX_KEY.test(m.witness_public_key)) {
      throw new Error(`consortium.json: witness ${org} has no witness_public_key`);
    }
    const name = `${description.name}/witness/${org}`;
    witnesses.push({
      org,
      vkey: await encodeVkey(name, COSIGNATURE_V1, hexBytes(m.witness_public_key)),
      regulator: roles(m).includes("regulator"),
    });
  }
  const origin = `${description.name}${LOG_SUFFIX}`;
  return {
    origin,
    log_vkey: await encodeVkey(origin, ED25519, hexBytes(notary.notary_public_key)),
    witnesses,
    policy: { threshold: Number(policy.threshold), require_regulator: policy.require_regulator === true },
  };
}

// -- RFC 9162 inclusion proofs (BigInt: indexes go up to 2^64-1) ------------------------------------------

function bitLength(n) {
  return n === 0n ? 0n : BigInt(n.toString(2).length);
}

function bitCount(n) {
  let count = 0n;
  for (const c of n.toString(2)) if (c === "1") count++;
  return count;
}

/** The number of hashes in the inclusion proof of ``index`` in a tree of ``size`` (0 ≤ index < size). */
export function inclusionProofLength(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  return Number(inner + bitCount(index >> inner));
}

/** RFC 9162 §2.1.3.2: the root ``proof`` gives for ``leaf`` at ``index`` in the tree of ``size`` leaves. */
export async function rootFromInclusion(leaf, index, size, proof) {
  if (!(index >= 0n && index < size)) throw new Fail(`index ${index} is out of range for a tree of size ${size}`);
  if (leaf.length !== HASH_SIZE) throw new Fail(`the leaf hash is ${leaf.length} bytes, not 32`);
  const want = inclusionProofLength(index, size);
  if (proof.length !== want) {
    throw new Fail(`the proof has ${proof.length} hashes; index ${index} in a tree of size ${size} needs ${want}`);
  }
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new Fail("the proof is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(concat(Uint8Array.of(1), p, r));
      while (fn !== 0n && (fn & 1n) === 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await sha256(concat(Uint8Array.of(1), r, p));
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Fail("the proof is too short");
  return r;
}

// -- the keys ---------------------------------------------------------------------------------------------

/** The log's key: {origin, name, keyId, key}; keys.log_vkey in C2SP form (type 0x01). */
async function parseLogKey(keys) {
  if (!isObject(keys)) throw new Fail("no keys to check against (expected {origin, log_vkey, witnesses, policy})");
  const { name, publicKey } = await decodeVkey(keys.log_vkey, ED25519, "the log's vkey (keys.log_vkey)");
  const origin = keys.origin === undefined ? name : keys.origin;
  if (origin !== name) throw new Fail(`the log's vkey is named ${quote(name)}, but keys.origin is ${quote(origin)}`);
  return {
    origin,
    name,
    keyId: await keyId(name, ED25519, publicKey),
    key: await importEd25519(publicKey, "the log's vkey"),
  };
}

/** One witness: a cosigner vkey "<name>+<key id>+<base64(0x04 ‖ key)>" (notary.log.cosignature), or the raw
 * public key in hex as consortium.json holds it, named "<consortium>/witness/<org>" (network.logsetup). */
async function parseWitness(w, i, origin) {
  if (!isObject(w) || typeof w.org !== "string" || !w.org)
    throw new Fail(`keys.witnesses[${i}] must be {org, vkey, regulator}`);
  const what = `the vkey of witness ${w.org}`;
  const vkey = w.vkey !== undefined ? w.vkey : w.public_key !== undefined ? w.public_key : w.witness_public_key;
  let name;
  let publicKey;
  if (typeof vkey === "string" && HEX_KEY.test(vkey)) {
    if (typeof w.name === "string") {
      name = w.name;
    } else if (typeof origin === "string" && origin.endsWith(LOG_SUFFIX)) {
      name = `${origin.slice(0, -LOG_SUFFIX.length)}/witness/${w.org}`;
    } else {
      throw new Fail(
        `${what} is a bare public key, and its key name cannot be derived from the origin ${quote(origin)}`,
      );
    }
    checkKeyName(name, what);
    publicKey = hexBytes(vkey);
  } else {
    ({ name, publicKey } = await decodeVkey(vkey, COSIGNATURE_V1, what));
  }
  return {
    org: w.org,
    name,
    regulator: w.regulator === true,
    keyId: await keyId(name, COSIGNATURE_V1, publicKey),
    key: await importEd25519(publicKey, what),
  };
}

async function parseWitnessKeys(keys) {
  if (!isObject(keys)) throw new Fail("no keys to check against (expected {origin, log_vkey, witnesses, policy})");
  if (!Array.isArray(keys.witnesses)) throw new Fail("keys.witnesses must be a list of {org, vkey, regulator}");
  let origin = keys.origin;
  if (origin === undefined && typeof keys.log_vkey === "string") origin = keys.log_vkey.split("+")[0];
  const witnesses = [];
  for (let i = 0; i < keys.witnesses.length; i++) witnesses.push(await parseWitness(keys.witnesses[i], i, origin));
  const policy = keys.policy;
  if (!isObject(policy)) throw new Fail("keys.policy must be {threshold, require_regulator}");
  const threshold = policy.threshold;
  if (!Number.isSafeInteger(threshold) || threshold < 0) {
    throw new Fail(`keys.policy.threshold must be a non-negative integer, not ${quote(threshold)}`);
  }
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

function describePolicy(policy) {
  const regulator = policy.requireRegulator ? " including a regulator" : "";
  return `${policy.threshold} of ${policy.witnesses.size} witnesses${regulator}`;
}

function policySatisfied(policy, cosigners) {
  const counted = [...cosigners].filter((org) => policy.witnesses.has(org));
  if (counted.length < policy.threshold) return false;
  return !policy.requireRegulator || counted.some((org) => policy.regulators.has(org));
}

// -- the steps --------------------------------------------------------------------------------------------

class State {
  constructor(bundle, keys, event) {
    this.bundle = bundle;
    this.keys = keys;
    this.event = event; // the displayed event, or undefined
    this.entry = null; // the entry bytes
    this.leaf = null; // SHA-256(0x00 ‖ entry), recomputed
    this.checkpoint = null; // the parsed checkpoint body, signed or not
  }

  index() {
    const index = this.bundle.index;
    if (!Number.isSafeInteger(index) || index < 0)
      throw new Fail(`index must be a non-negative integer, not ${quote(index)}`);
    return BigInt(index);
  }

  /** What to raise for a missing part: not applicable if the bundle says why it is pending, else a failure. */
  pending(part) {
    const items = Array.isArray(this.bundle.pending) ? this.bundle.pending : [];
    for (const item of items) {
      if (isObject(item) && item.part === part) {
        return new Skip(`pending: ${item.reason === undefined ? "not available yet" : String(item.reason)}`);
      }
    }
    return new Fail(`the bundle has no ${part} and does not say why it is pending`);
  }

  checkpointPart() {
    const part = this.bundle.checkpoint;
    if (part === null || part === undefined) throw this.pending("checkpoint");
    if (!isObject(part)) throw new Fail("checkpoint must be a JSON object");
    return part;
  }
}

function describeEvent(event) {
  return (
    `event ${event.event_id}: ${event.caller_org} → ${event.provider_org} ${event.method} ${event.route} ` +
    `(${event.decision}, status ${event.status})`
  );
}

async function stepEntry(s) {
  const entry = fromBase64(s.bundle.entry, "entry");
  s.entry = entry;
  s.leaf = await sha256(concat(Uint8Array.of(0), entry));
  const problems = [];
  try {
    const claimed = fromBase64(s.bundle.leaf_hash, "leaf_hash");
    if (!equalBytes(claimed, s.leaf)) {
      problems.push(`SHA-256(0x00 ‖ entry) is ${toHex(s.leaf)}, the bundle's leaf_hash is ${toHex(claimed)}`);
    }
  } catch (exc) {
    if (!(exc instanceof Fail)) throw exc;
    problems.push(exc.message);
  }
  let event = null;
  let text = null;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(entry);
  } catch {
    problems.push("the entry is not UTF-8");
  }
  if (text !== null) {
    try {
      event = JSON.parse(text);
      if (!isObject(event)) {
        problems.push("the entry is not a JSON object");
        event = null;
      }
    } catch (exc) {
      problems.push(`the entry is not JSON (${exc.message})`);
    }
  }
  if (event !== null) {
    if (canonicalJson(event) !== text)
      problems.push("the entry is not in canonical form (RFC 8785: sorted keys, no whitespace)");
    const missing = EVENT_FIELDS.filter((f) => !Object.prototype.hasOwnProperty.call(event, f));
    const unknown = Object.keys(event).filter((f) => !EVENT_FIELDS.includes(f));
    if (missing.length) problems.push(`the entry lacks the event field(s) ${missing.join(", ")}`);
    if (unknown.length) problems.push(`the entry holds unknown field(s) ${unknown.join(", ")}`);
    if (event.event_id !== s.bundle.event_id) {
      problems.push(`the entry is event ${quote(event.event_id)}, the bundle claims ${quote(s.bundle.event_id)}`);
    }
    if (s.event !== undefined) {
      if (!isObject(s.event)) {
        problems.push("the displayed event is not a JSON object");
      } else if (canonicalJson(s.event) !== text) {
        const names = [...new Set([...Object.keys(event), ...Object.keys(s.event)])].sort();
        const differ = names.filter((k) => {
          const a = event[k] === undefined ? "∅" : canonicalJson(event[k]);
          const b = s.event[k] === undefined ? "∅" : canonicalJson(s.event[k]);
          return a !== b;
        });
        problems.push(`the entry is not the displayed event (they differ in ${differ.join(", ") || "their encoding"})`);
      }
    }
  }
  if (problems.length) throw new Fail(problems.join("; "));
  return `${describeEvent(event)}; SHA-256(0x00 ‖ entry) = ${toHex(s.leaf)}`;
}

async function stepCheckpoint(s) {
  const part = s.checkpointPart();
  const note = parseNote(part.note);
  s.checkpoint = parseCheckpoint(note.text);
  const cp = s.checkpoint;
  const log = await parseLogKey(s.keys);
  const body = encoder.encode(note.text);
  let signed = false;
  for (const sig of note.signatures) {
    if (sig.name !== log.name || !equalBytes(sig.keyId, log.keyId)) continue;
    if (!(await verifyEd25519(log.key, sig.signature, body))) {
      throw new Fail(
        `the log's signature by ${sig.name} (key id ${toHex(sig.keyId)}) does not verify over the checkpoint body`,
      );
    }
    signed = true;
  }
  if (!signed) {
    const names = note.signatures.map((sig) => `${sig.name} (${toHex(sig.keyId)})`).join(", ");
    throw new Fail(`no signature by the log key ${log.name} (key id ${toHex(log.keyId)}); signed by: ${names}`);
  }
  const problems = [];
  if (cp.origin !== log.origin) problems.push(`its origin is ${quote(cp.origin)}, the log's is ${quote(log.origin)}`);
  if (s.bundle.origin !== log.origin) problems.push(`the bundle names origin ${quote(s.bundle.origin)}`);
  if (!(Number.isSafeInteger(part.size) && BigInt(part.size) === cp.size)) {
    problems.push(`the bundle claims size ${quote(part.size)}, the note says ${cp.size}`);
  }
  const index = s.index();
  if (cp.size <= index) problems.push(`size ${cp.size} does not cover index ${index}`);
  if (problems.length) throw new Fail(problems.join("; "));
  return `signed by the log key ${log.name} (key id ${toHex(log.keyId)}): size ${cp.size}, root ${toHex(cp.root)}`;
}

async function verifyCosignature(witness, text, sig) {
  if (sig.signature.length !== 8 + 64) return false;
  let timestamp = 0n;
  for (const b of sig.signature.subarray(0, 8)) timestamp = (timestamp << 8n) | BigInt(b);
  if (timestamp > MAX_TIMESTAMP) return false;
  const message = encoder.encode(`cosignature/v1\ntime ${timestamp}\n${text}`);
  return verifyEd25519(witness.key, sig.signature.subarray(8), message);
}

async function stepCosignatures(s) {
  const part = s.checkpointPart();
  const note = parseNote(part.note);
  const { witnesses, policy } = await parseWitnessKeys(s.keys);
  const good = new Set();
  const bad = new Set();
  for (const w of witnesses) {
    for (const sig of note.signatures) {
      if (sig.name !== w.name || !equalBytes(sig.keyId, w.keyId)) continue;
      ((await verifyCosignature(w, note.text, sig)) ? good : bad).add(w.org);
    }
  }
  const who = [...good].sort().join(", ") || "nobody";
  if (bad.size) {
    throw new Fail(
      `the cosignature by ${[...bad].sort().join(", ")} does not verify over the checkpoint body (valid: ${who})`,
    );
  }
  if (!policySatisfied(policy, good)) {
    const regulators = [...policy.regulators].filter((r) => policy.witnesses.has(r)).sort();
    const which = policy.requireRegulator && regulators.length ? ` (regulators: ${regulators.join(", ")})` : "";
    throw new Fail(`cosigned by ${who}: the policy needs ${describePolicy(policy)}${which}`);
  }
  return `cosigned by ${who} (policy: ${describePolicy(policy)})`;
}

async function stepInclusion(s) {
  s.checkpointPart(); // no checkpoint: pending like it
  const part = s.bundle.inclusion;
  if (!isObject(part)) throw new Fail("inclusion must be a JSON object");
  if (s.leaf === null) throw new Fail("no leaf hash to prove (the entry is unreadable)");
  if (s.checkpoint === null) throw new Fail("no readable checkpoint to prove against");
  const cp = s.checkpoint;
  if (!(Number.isSafeInteger(part.size) && BigInt(part.size) === cp.size)) {
    throw new Fail(`the proof is for size ${quote(part.size)}, the checkpoint's size is ${cp.size}`);
  }
  if (!Array.isArray(part.proof)) throw new Fail("inclusion.proof must be a list of base64 hashes");
  const proof = part.proof.map((h, i) => fromBase64(h, `inclusion.proof[${i}]`));
  proof.forEach((h, i) => {
    if (h.length !== HASH_SIZE) throw new Fail(`inclusion.proof[${i}] is ${h.length} bytes, not 32`);
  });
  const index = s.index();
  const root = await rootFromInclusion(s.leaf, index, cp.size, proof);
  if (!equalBytes(root, cp.root)) {
    throw new Fail(
      `the proof leads from leaf ${index} (${toHex(s.leaf)}) to root ${toHex(root)}, the checkpoint's root is ${toHex(cp.root)}`,
    );
  }
  return `leaf ${index} is in the tree of size ${cp.size} (${proof.length} hashes): root ${toHex(root)}`;
}

// Run in this order (inclusion needs the checkpoint's root); reported in STEPS order.
const CHECKS = [
  ["entry", stepEntry],
  ["checkpoint", stepCheckpoint],
  ["cosignatures", stepCosignatures],
  ["inclusion", stepInclusion],
];

/**
 * Verify the log part of an evidence bundle.
 * @param bundle  the bundle (parsed JSON)
 * @param keys    {origin, log_vkey, witnesses: [{org, vkey, regulator}], policy: {threshold, require_regulator}}
 * @param options {event}: the displayed event, which the entry must encode exactly (optional)
 * @returns [{step, ok: true|false|null, detail}] for "entry", "inclusion", "checkpoint", "cosignatures"
 */
export async function verifyBundle(bundle, keys, options) {
  if (!isObject(bundle) || bundle.format !== FORMAT) {
    const found = isObject(bundle)
      ? quote(bundle.format)
      : bundle === null
        ? "null"
        : Array.isArray(bundle)
          ? "a list"
          : typeof bundle;
    return STEPS.map((step) => ({
      step,
      ok: false,
      detail: `not an evidence bundle of format ${FORMAT} (got ${found})`,
    }));
  }
  const event = isObject(options) && options.event !== undefined && options.event !== null ? options.event : undefined;
  const state = new State(bundle, keys, event);
  const results = {};
  for (const [step, check] of CHECKS) {
    try {
      results[step] = { step, ok: true, detail: await check(state) };
    } catch (exc) {
      if (exc instanceof Skip) results[step] = { step, ok: null, detail: exc.message };
      else if (exc instanceof Fail) results[step] = { step, ok: false, detail: exc.message };
      else {
        const what = exc && exc.name ? `${exc.name}: ${exc.message}` : String(exc);
        results[step] = { step, ok: false, detail: `malformed bundle (${what})` };
      }
    }
  }
  return STEPS.map((step) => results[step]);
}

/** True when no step failed (pending steps do not count against). */
export function passed(steps) {
  return Array.isArray(steps) && steps.every((s) => s && s.ok !== false);
}
