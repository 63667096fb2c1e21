// Witness cosignatures, C2SP tlog-cosignature (Ed25519, signature type 0x04): a witness signs
// "cosignature/v1\ntime <timestamp>\n" followed by the checkpoint body; the note signature is the timestamp as
// 8 big-endian bytes followed by the 64-byte Ed25519 signature. As notary/log/cosignature.py.

import { verifyEd25519 } from "./webcrypto.js";

/** The signature type of a cosigner key. */
export const COSIGNATURE_V1 = 0x04;
const MAX_TIMESTAMP = 2n ** 63n - 1n;

const encoder = new TextEncoder();

/**
 * Whether ``signature`` (timestamp ‖ Ed25519 signature) is the witness key's cosignature of the checkpoint ``text``.
 * @param {CryptoKey} key
 * @param {string} text  the checkpoint body
 * @param {Uint8Array<ArrayBuffer>} signature  the note signature, after the key id
 */
export async function verifyCosignature(key, text, signature) {
  if (signature.length !== 8 + 64) return false;
  let timestamp = 0n;
  for (const b of signature.subarray(0, 8)) timestamp = (timestamp << 8n) | BigInt(b);
  if (timestamp > MAX_TIMESTAMP) return false;
  const message = encoder.encode(`cosignature/v1\ntime ${timestamp}\n${text}`);
  return verifyEd25519(key, signature.subarray(8), message);
}
