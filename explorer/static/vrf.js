// ECVRF verification (RFC 9381 §5.3) of the VRF proofs in a PSI disclosure document, for the job page's check
// (psi.js): ECVRF-EDWARDS25519-SHA512-TAI (suite 0x03, the intl suite's, as privacy/vrf.py) and our
// ECVRF-SM2-SM3-SSWU (the sm suite's, as privacy/smvrf.py). The point arithmetic, SHA-512 and RFC 9380's
// encode_to_curve are the vendored @noble packages' (vendor/sm-crypto.js); SM3 is sm-crypto-v2's. Only public
// values are handled, so nothing here needs to run in constant time. Decoding refuses what the Python verifier
// refuses: a key or Gamma that is not a point of the prime-order group (under edwards25519, also one with a
// small-order component, as libsodium's is_valid_point), s not below the group order, and c or s of 0.

import { Ed25519Point, Sm2Point, sha512, sm2EncodeToCurve } from "./vendor/sm-crypto.js";
import { concat, equalBytes, toHex } from "./log/bytes.js";
import { sm3 } from "./log/smcrypto.js";

/** @import { Ed25519PointValue, Sm2PointValue } from "./vendor/sm-crypto.js" */

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
/** The SM2 curve's group order n. */
const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
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
 * @property {string} name  ``intl`` or ``sm`` (privacy.suites)
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

// --- ECVRF-SM2-SM3-SSWU ---------------------------------------------------------------------------------------

const TEXT = new TextEncoder();
const SM_SUITE = concat(Uint8Array.of(0xff), TEXT.encode("consortium-ledger/ECVRF-SM2-SM3-SSWU"));
const SM_DST = concat(TEXT.encode("ECVRF_SM2_XMD:SM3_SSWU_NU_"), SM_SUITE);

/**
 * A compressed SM2 point (02 or 03 ‖ x), checked as suite.sm2group.decode_point checks it.
 * @param {Uint8Array} bytes
 * @param {string} what
 * @returns {Sm2PointValue}
 */
function smValidPoint(bytes, what) {
  if (bytes.length !== 33 || (bytes[0] !== 2 && bytes[0] !== 3))
    throw new VrfError(`${what} is not a compressed SM2 point (33 bytes, 02 or 03 ‖ x)`);
  try {
    return Sm2Point.fromBytes(bytes);
  } catch {
    throw new VrfError(`${what} is not a valid point: no point of the SM2 curve has this x coordinate below p`);
  }
}

/** @type {VrfSuite} */
export const SM2_VRF = Object.freeze({
  name: "sm",
  publicKeySize: 33,
  proofSize: 81,
  outputSize: 32,
  async verify(/** @type {Uint8Array} */ publicKey, /** @type {Uint8Array} */ proof, /** @type {Uint8Array} */ alpha) {
    const y = smValidPoint(publicKey, "VRF public key");
    if (proof.length !== 81) throw new VrfError(`VRF proof is ${proof.length} bytes, not 81`);
    const gammaBytes = proof.subarray(0, 33);
    const gamma = smValidPoint(gammaBytes, "VRF proof: Gamma");
    const cBytes = proof.subarray(33, 33 + C_LEN);
    const c = bigEndian(cBytes);
    const s = bigEndian(proof.subarray(33 + C_LEN));
    if (s >= N) throw new VrfError("VRF proof: s is not below the group order");
    const h = sm2EncodeToCurve(concat(publicKey, alpha), SM_DST);
    const u = Sm2Point.BASE.multiplyUnsafe(s).subtract(y.multiplyUnsafe(c));
    const v = h.multiplyUnsafe(s).subtract(gamma.multiplyUnsafe(c));
    const fail = new VrfError("VRF proof does not verify for this public key and input");
    if (u.is0() || v.is0()) throw fail;
    const challenge = await sm3(
      concat(SM_SUITE, Uint8Array.of(0x02), publicKey, h.toBytes(true), gammaBytes, u.toBytes(true),
        v.toBytes(true), Uint8Array.of(0x00)),
    );
    if (!equalBytes(challenge.subarray(0, C_LEN), cBytes)) throw fail;
    return sm3(concat(SM_SUITE, Uint8Array.of(0x03), gammaBytes, Uint8Array.of(0x00)));
  },
});

/**
 * The VRF of a suite by its name (the record's protocol names the suite, psi.js).
 * @param {string} name
 * @returns {VrfSuite | null}
 */
export function vrfSuite(name) {
  return name === "intl" ? ED25519_VRF : name === "sm" ? SM2_VRF : null;
}
