// ECVRF verification (RFC 9381 §5.3) of the VRF proofs in a PSI disclosure document, for the job page's check
// (psi.js): ECVRF-EDWARDS25519-SHA512-TAI (suite 0x03, the intl suite's, as privacy/vrf.py). The point arithmetic
// and SHA-512 are the vendored @noble packages' (vendor/sm-crypto.js). Only public values are handled, so nothing
// here needs to run in constant time. Decoding refuses what the Python verifier refuses: a key or Gamma that is not
// a point of the prime-order subgroup or has a small-order component (libsodium's is_valid_point), s not below the
// group order, and c or s of 0.

import { Ed25519Point, sha512 } from "./vendor/sm-crypto.js";
import { concat, equalBytes, toHex } from "./log/bytes.js";

/** @import { Ed25519PointValue } from "./vendor/sm-crypto.js" */

/** Why a VRF proof does not verify; ``message`` says what is wrong (as privacy.errors.VrfError). */
export class VrfError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "VrfError";
  }
}

/** The edwards25519 group order, RFC 8032's L. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const C_LEN = 16;

/** @param {Uint8Array} bytes */
function bigEndian(bytes) {
  return bytes.length ? BigInt(`0x${toHex(bytes)}`) : 0n;
}

/** @param {Uint8Array} bytes */
function littleEndian(bytes) {
  return bigEndian(Uint8Array.from(bytes).reverse());
}

/**
 * The RFC 9381 parameters of one suite: its name, the sizes a document's VRF values have under it, and its
 * ECVRF_verify.
 * @typedef {object} VrfSuite
 * @property {string} name  ``intl`` (privacy.suites)
 * @property {number} publicKeySize
 * @property {number} proofSize
 * @property {number} outputSize
 * @property {(publicKey: Uint8Array, proof: Uint8Array, alpha: Uint8Array) => Promise<Uint8Array>} verify
 *   beta if ``proof`` is valid for ``publicKey`` and ``alpha``; throws VrfError otherwise
 */

// --- ECVRF-EDWARDS25519-SHA512-TAI ----------------------------------------------------------------------------

const ED_SUITE = Uint8Array.of(0x03);

/**
 * A public key or Gamma: RFC 8032 §5.1.3 decoding, then a point of the prime-order subgroup, not of small order
 * (libsodium's crypto_core_ed25519_is_valid_point, which privacy/vrf.py uses).
 * @param {Uint8Array} bytes
 * @param {string} what
 * @returns {Ed25519PointValue}
 */
function edValidPoint(bytes, what) {
  let point;
  try {
    point = Ed25519Point.fromBytes(bytes, false);
  } catch {
    throw new VrfError(`${what} is not a point of edwards25519`);
  }
  if (point.isSmallOrder() || !point.isTorsionFree())
    throw new VrfError(`${what} is not a point of edwards25519's prime-order subgroup other than the identity`);
  return point;
}

/**
 * §5.4.1.1 try-and-increment, salted with the public key: the first counter whose SHA-512 decodes to a point,
 * times the cofactor.
 * @param {Uint8Array} salt
 * @param {Uint8Array} alpha
 */
function edEncodeToCurve(salt, alpha) {
  for (let ctr = 0; ctr < 256; ctr++) {
    const candidate = sha512(concat(ED_SUITE, Uint8Array.of(0x01), salt, alpha, Uint8Array.of(ctr, 0x00)));
    let point;
    try {
      point = Ed25519Point.fromBytes(candidate.subarray(0, 32), false);
    } catch {
      continue;
    }
    return point.clearCofactor();
  }
  throw new VrfError("no counter below 256 gave a point (probability about 2^-256)");
}

/** §5.4.3 over the encodings of Y, H, Gamma, U and V: the first cLen bytes of the SHA-512. */
function edChallenge(/** @type {Uint8Array[]} */ ...points) {
  return sha512(concat(ED_SUITE, Uint8Array.of(0x02), ...points, Uint8Array.of(0x00))).subarray(0, C_LEN);
}

/** @type {VrfSuite} */
export const ED25519_VRF = Object.freeze({
  name: "intl",
  publicKeySize: 32,
  proofSize: 80,
  outputSize: 64,
  async verify(/** @type {Uint8Array} */ publicKey, /** @type {Uint8Array} */ proof, /** @type {Uint8Array} */ alpha) {
    if (publicKey.length !== 32) throw new VrfError(`VRF public key is ${publicKey.length} bytes, not 32`);
    const y = edValidPoint(publicKey, "VRF public key");
    if (proof.length !== 80) throw new VrfError(`VRF proof is ${proof.length} bytes, not 80`);
    const gammaBytes = proof.subarray(0, 32);
    const gamma = edValidPoint(gammaBytes, "VRF proof: Gamma");
    const cBytes = proof.subarray(32, 48);
    const c = littleEndian(cBytes);
    const s = littleEndian(proof.subarray(48));
    if (s >= L) throw new VrfError("VRF proof: s is not below the group order");
    if (c === 0n || s === 0n) throw new VrfError("VRF proof: c or s is 0");
    const h = edEncodeToCurve(publicKey, alpha);
    const u = Ed25519Point.BASE.multiplyUnsafe(s).subtract(y.multiplyUnsafe(c));
    const v = h.multiplyUnsafe(s).subtract(gamma.multiplyUnsafe(c));
    if (!equalBytes(edChallenge(publicKey, h.toBytes(), gammaBytes, u.toBytes(), v.toBytes()), cBytes))
      throw new VrfError("VRF proof does not verify for this public key and input");
    return sha512(concat(ED_SUITE, Uint8Array.of(0x03), gamma.clearCofactor().toBytes(), Uint8Array.of(0x00)));
  },
});

/**
 * The VRF of a suite by its name (the record's protocol names the suite, psi.js); null for the sm suite's, which
 * this page does not check yet.
 * @param {string} name
 * @returns {VrfSuite | null}
 */
export function vrfSuite(name) {
  return name === "intl" ? ED25519_VRF : null;
}
