// Signed notes, C2SP signed-note: UTF-8 text ending in a newline, a blank line, then signature lines
// "— <key name> base64(key id ‖ signature)". The key id of a key is SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4];
// verifier keys (vkeys) are "<name>+<hex key id>+<base64(type ‖ key)>". As notary/log/note.py.

import { concat, fromBase64, toBase64, toHex } from "./bytes.js";
import { CheckError, quote } from "./errors.js";
import { sha256 } from "./webcrypto.js";

/** The signature type of a note key (Ed25519). */
export const ED25519 = 0x01;
const KEY_ID_SIZE = 4;
const MAX_NOTE_SIZE = 1 << 20;
const MAX_SIGNATURES = 100;
const SIGNATURE_PREFIX = "\u2014 ";
const CONTROL = /[\x00-\x09\x0b-\x1f]/;
const HEX8 = /^[0-9a-f]{8}$/;

const encoder = new TextEncoder();

/** @typedef {{name: string, keyId: Uint8Array, signature: Uint8Array<ArrayBuffer>}} NoteSignature */
/** @typedef {{text: string, signatures: NoteSignature[]}} Note  text: what is signed, ending in a newline */

/**
 * The note key id: SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4].
 * @param {string} name
 * @param {number} keyType
 * @param {Uint8Array} publicKey
 */
export async function keyId(name, keyType, publicKey) {
  const digest = await sha256(concat(encoder.encode(`${name}\n`), Uint8Array.of(keyType), publicKey));
  return digest.slice(0, KEY_ID_SIZE);
}

/**
 * @param {unknown} name
 * @param {string} what  names the key in the message of the CheckError thrown
 * @returns {asserts name is string}
 */
export function checkKeyName(name, what) {
  if (typeof name !== "string" || !name || name.includes("+") || CONTROL.test(name) || /\s/u.test(name)) {
    throw new CheckError(`${what}: invalid key name ${quote(name)} (must be non-empty, without spaces or '+')`);
  }
}

/** Note text: ends in a newline, holds no control character but newlines. */
export function checkText(/** @type {string} */ text, /** @type {string} */ what) {
  if (!text.endsWith("\n")) throw new CheckError(`${what} must end with a newline`);
  const bad = CONTROL.exec(text);
  if (bad) throw new CheckError(`${what} holds control character ${quote(bad[0])} at offset ${bad.index}`);
}

/** @returns {NoteSignature} */
function parseSignatureLine(/** @type {string} */ line) {
  if (!line.startsWith(SIGNATURE_PREFIX))
    throw new CheckError(`signature line must start with '— ': ${quote(line)}`);
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  if (space < 0) throw new CheckError(`signature line lacks a signature: ${quote(line)}`);
  const name = rest.slice(0, space);
  checkKeyName(name, "signature line");
  const blob = fromBase64(rest.slice(space + 1), `signature by ${quote(name)}`);
  if (blob.length <= KEY_ID_SIZE) {
    throw new CheckError(`signature by ${quote(name)} is ${blob.length} bytes, expected a key id and a signature`);
  }
  return { name, keyId: blob.slice(0, KEY_ID_SIZE), signature: blob.slice(KEY_ID_SIZE) };
}

/**
 * A C2SP signed note: its text (ending in a newline) and signature lines; the last blank line separates them.
 * @param {unknown} whole
 * @returns {Note}
 */
export function parseNote(whole) {
  if (typeof whole !== "string") throw new CheckError("checkpoint.note must be the note's text");
  if (typeof whole.isWellFormed === "function" && !whole.isWellFormed()) {
    throw new CheckError("the checkpoint note is not valid Unicode text");
  }
  if (encoder.encode(whole).length > MAX_NOTE_SIZE)
    throw new CheckError(`the checkpoint note exceeds ${MAX_NOTE_SIZE} bytes`);
  const bad = CONTROL.exec(whole);
  if (bad)
    throw new CheckError(`the checkpoint note holds control character ${quote(bad[0])} at offset ${bad.index}`);
  const split = whole.lastIndexOf("\n\n");
  if (split < 0) throw new CheckError("the checkpoint note lacks the blank line before its signatures");
  const block = whole.slice(split + 2);
  if (!block.endsWith("\n")) throw new CheckError("the checkpoint note's signature lines must end with a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES)
    throw new CheckError(`${lines.length} signature lines, at most ${MAX_SIGNATURES} accepted`);
  return { text: whole.slice(0, split + 1), signatures: lines.map(parseSignatureLine) };
}

/**
 * The three parts of a C2SP vkey "<name>+<8 hex key id>+<base64 key>", the name and key id checked.
 * @param {unknown} vkey
 * @param {string} what  names the vkey in the message of the CheckError thrown
 */
export function splitVkey(vkey, what) {
  if (typeof vkey !== "string") throw new CheckError(`${what} must be a vkey string`);
  // Split at the first two '+' only: the base64 key may hold '+' itself (as C2SP's reference parser does).
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) throw new CheckError(`${what} must be <name>+<key id>+<key>: ${quote(vkey)}`);
  const name = vkey.slice(0, first);
  const hexId = vkey.slice(first + 1, second);
  const encoded = vkey.slice(second + 1);
  checkKeyName(name, what);
  if (!HEX8.test(hexId))
    throw new CheckError(`${what}: the key id must be 8 lower-case hex digits, not ${quote(hexId)}`);
  return { name, hexId, encoded };
}

/**
 * The name and public key of a C2SP vkey "<name>+<8 hex key id>+<base64(type ‖ key)>" of ``keyType``.
 * @param {unknown} vkey
 * @param {number} keyType
 * @param {string} what  names the vkey in the message of the CheckError thrown
 */
export async function decodeVkey(vkey, keyType, what) {
  const { name, hexId, encoded } = splitVkey(vkey, what);
  const blob = fromBase64(encoded, `${what} (${name})`);
  if (blob.length === 0 || blob[0] !== keyType) {
    const found = blob.length ? `0x${blob[0].toString(16).padStart(2, "0")}` : "none";
    throw new CheckError(`${what} (${name}) is of signature type ${found}, expected 0x0${keyType.toString(16)}`);
  }
  const publicKey = blob.slice(1);
  const id = toHex(await keyId(name, keyType, publicKey));
  if (id !== hexId) throw new CheckError(`${what} (${name}): key id ${hexId} does not match the key (${id})`);
  return { name, publicKey };
}

/**
 * The C2SP vkey of a public key: "<name>+<8 hex key id>+<base64(type ‖ key)>".
 * @param {string} name
 * @param {number} keyType
 * @param {Uint8Array} publicKey
 */
export async function encodeVkey(name, keyType, publicKey) {
  const id = toHex(await keyId(name, keyType, publicKey));
  return `${name}+${id}+${toBase64(concat(Uint8Array.of(keyType), publicKey))}`;
}
