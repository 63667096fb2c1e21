// Witness cosignatures, C2SP tlog-cosignature (Ed25519, signature type 0x04): a witness signs
// "cosignature/v1\ntime <timestamp>\n" followed by the checkpoint body; the note signature is the timestamp as
// 8 big-endian bytes followed by the 64-byte Ed25519 signature. As notary/log/cosignature.py. The sm suite's SM2
// cosignatures (smnote.js) sign the same message.

import { verifyEd25519 } from "./webcrypto.js";

/** The signature type of a cosigner key. */
export const COSIGNATURE_V1 = 0x04;
const MAX_TIMESTAMP = 2n ** 63n - 1n;

const encoder = new TextEncoder();

/**
 * The message a cosignature ``signature`` (8-byte timestamp ‖ signature of ``size`` bytes) signs over the checkpoint
 * ``text``, and the signature after the timestamp; null for a cosignature of the wrong size or time.
 * @param {string} text  the checkpoint body
 * @param {Uint8Array<ArrayBuffer>} signature  the note signature, after the key id
 * @param {number} size  the signature's size after the timestamp
 */
export function cosigned(text, signature, size) {
  if (signature.length !== 8 + size) return null;
  let timestamp = 0n;
  for (const b of signature.subarray(0, 8)) timestamp = (timestamp << 8n) | BigInt(b);
  if (timestamp > MAX_TIMESTAMP) return null;
  return { message: encoder.encode(`cosignature/v1\ntime ${timestamp}\n${text}`), signature: signature.subarray(8) };
}

/**
 * Whether ``signature`` (timestamp ‖ Ed25519 signature) is the witness key's cosignature of the checkpoint ``text``.
 * @param {CryptoKey} key
 * @param {string} text  the checkpoint body
 * @param {Uint8Array<ArrayBuffer>} signature  the note signature, after the key id
 */
export async function verifyCosignature(key, text, signature) {
  const signed = cosigned(text, signature, 64);
  return signed !== null && verifyEd25519(key, signed.signature, signed.message);
}
