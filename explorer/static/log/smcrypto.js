// SM3 (GB/T 32905) and SM2 signature verification (GB/T 32918.2) for the national suite `sm`, which WebCrypto does
// not offer: through sm-crypto-v2, bundled into ../vendor/sm-crypto.js (explorer/vendor/build.mjs). This module
// is the only one that imports the bundle; it checks what the library leaves to its caller (the key's encoding
// and curve equation, the range of r and s) and always passes the profile's signer ID, never the library's default.

import { doVerifySignature, sm3 as sm3Hex } from "../vendor/sm-crypto.js";
import { fromHex, toHex } from "./bytes.js";
import { CheckError } from "./errors.js";

/** The signer ID of every SM2 signature of the profile (GB/T 35276), as docs/national-suite.md fixes it. */
export const SIGNER_ID = "1234567812345678";
/** An SM2 public key: the uncompressed point 04 ‖ x ‖ y. */
export const POINT_SIZE = 65;
/** An SM2 signature in a note: r ‖ s, each 32 bytes big-endian. */
export const SIGNATURE_SIZE = 64;

// The SM2 curve, GB/T 32918.5: y² = x³ + ax + b over F_p, a = p − 3, base point of order n.
const P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
const B = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;
const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;

/** @param {Uint8Array} bytes */
function toBigInt(bytes) {
  return bytes.length ? BigInt(`0x${toHex(bytes)}`) : 0n;
}

/** SM3 of bytes (async, like WebCrypto's SHA-256, so that a tree hash is either). */
export async function sm3(/** @type {Uint8Array} */ bytes) {
  return fromHex(sm3Hex(bytes));
}

/** @typedef {{point: Uint8Array, hex: string}} Sm2Key  a public key checked to be a point of the curve */

/**
 * A 65-byte SM2 public key, checked: uncompressed, coordinates below p, on the curve.
 * @param {Uint8Array} point
 * @param {string} what  names the key in the message of the CheckError thrown
 * @returns {Sm2Key}
 */
export function importSm2(point, what) {
  if (point.length !== POINT_SIZE || point[0] !== 0x04) {
    throw new CheckError(`${what}: an SM2 public key is the ${POINT_SIZE}-byte point 04 ‖ x ‖ y`);
  }
  const x = toBigInt(point.subarray(1, 33));
  const y = toBigInt(point.subarray(33));
  const mod = (/** @type {bigint} */ v) => ((v % P) + P) % P;
  if (x >= P || y >= P || mod(y * y) !== mod(x * x * x - 3n * x + B)) {
    throw new CheckError(`${what}: not a point of the SM2 curve`);
  }
  return { point: point.slice(), hex: toHex(point) };
}

/**
 * Whether ``signature`` (r ‖ s) is the key's SM2 signature of ``message`` under ``signerId``: SM3(Z_A ‖ message)
 * with Z_A binding the ID and the key. False for a signature of the wrong size or with r or s outside [1, n − 1].
 * @param {Sm2Key} key
 * @param {Uint8Array} signature
 * @param {Uint8Array} message
 * @param {string} [signerId]  the profile's unless told otherwise (tests check that another ID fails)
 */
export async function verifySm2(key, signature, message, signerId = SIGNER_ID) {
  if (signature.length !== SIGNATURE_SIZE) return false;
  const r = toBigInt(signature.subarray(0, 32));
  const s = toBigInt(signature.subarray(32));
  if (r < 1n || r >= N || s < 1n || s >= N) return false;
  try {
    return doVerifySignature(message, toHex(signature), key.hex, { der: false, hash: true, userId: signerId });
  } catch {
    return false;
  }
}
