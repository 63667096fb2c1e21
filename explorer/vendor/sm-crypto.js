// The entry of explorer/static/vendor/sm-crypto.js, the one third-party module the explorer serves: SM3 (GB/T 32905)
// and SM2 signature verification (GB/T 32918.2) from the npm package sm-crypto-v2, and from the @noble packages it
// is built on the point arithmetic the disclosure check of the job page needs for the VRF proofs of either suite
// (explorer/static/vrf.js): the edwards25519 group with SHA-512, and the SM2 curve with RFC 9380's encode_to_curve
// (simplified SWU, expand_message_xmd over SM3). Bundled by build.mjs beside this file (`npm run build:vendor`);
// explorer/static/vendor/sm-crypto.d.ts types what it exports. explorer/static/log/smcrypto.js and
// explorer/static/vrf.js are the only modules that import the bundle.

import { createHasher } from "@noble/curves/abstract/hash-to-curve";
import { mapToCurveSimpleSWU, weierstrassN } from "@noble/curves/abstract/weierstrass";
import { ed25519 } from "@noble/curves/ed25519";
import { sha512 } from "@noble/hashes/sha2";
import { hexToBytes } from "@noble/hashes/utils";
import { sm2, sm3 } from "sm-crypto-v2";

export { sm3, sha512 };
export const { doVerifySignature } = sm2;

/** The points of edwards25519 (RFC 8032; noble's ``ed25519.Point``). */
export const Ed25519Point = ed25519.Point;

/** The points of the SM2 curve, GB/T 32918.5 (the same curve sm-crypto-v2 verifies signatures on). */
export const Sm2Point = weierstrassN({
  p: 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn,
  n: 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n,
  h: 1n,
  a: 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn,
  b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
  Gx: 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
  Gy: 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
});

/** SM3 as RFC 9380's expand_message_xmd takes a hash: bytes to bytes, with its output and block sizes. */
const sm3Bytes = Object.assign((/** @type {Uint8Array} */ msg) => hexToBytes(sm3(msg)), {
  outputLen: 32,
  blockLen: 64,
});

const { a, b, p } = Sm2Point.CURVE();
// Z = −9: the SSWU constant of the SM2 suites of docs/national-suite.md (suite.sm2group's Curve.z).
const sm2Swu = mapToCurveSimpleSWU(Sm2Point.Fp, { A: a, B: b, Z: p - 9n });

/**
 * RFC 9380 §3's encode_to_curve on the SM2 curve (suite SM2_XMD:SM3_SSWU_NU_): one field element by
 * expand_message_xmd over SM3 (k = 128, so 48 bytes), mapped by the simplified SWU map with Z = −9 (cofactor 1).
 * @param {Uint8Array} msg
 * @param {Uint8Array} dst
 */
export function sm2EncodeToCurve(msg, dst) {
  const hasher = createHasher(Sm2Point, (scalars) => sm2Swu(scalars[0]), {
    DST: dst, p, m: 1, k: 128, expand: "xmd", hash: sm3Bytes,
  });
  return hasher.encodeToCurve(msg);
}
