// Bytes: concatenation, constant-time comparison, lower-case hex and strict standard base64.

import { CheckError } from "./errors.js";

/** @param {Uint8Array[]} parts */
export function concat(...parts) {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** @param {Uint8Array} a @param {Uint8Array} b */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Lower-case hex of bytes. */
export function toHex(/** @type {Uint8Array} */ bytes) {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** The bytes of hex text of even length (the caller has checked its digits). */
export function fromHex(/** @type {string} */ text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard padded base64 of bytes. */
export function toBase64(/** @type {Uint8Array} */ bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Strict standard base64: only the canonical encoding of its bytes (like the log's own parsers).
 * @param {unknown} text
 * @param {string} what  names the value in the message of the CheckError thrown
 */
export function fromBase64(text, what) {
  if (typeof text !== "string") throw new CheckError(`${what} must be base64 text`);
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw new CheckError(`${what} is not valid base64`);
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  if (toBase64(bytes) !== text) throw new CheckError(`${what} is not canonical base64`);
  return bytes;
}
