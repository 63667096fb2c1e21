// The types of what sm-crypto.js (built from explorer/vendor/sm-crypto.js) exports, as log/smcrypto.js and vrf.js
// use it; tsc reads this file in place of the bundle, which tsconfig.json leaves out of the check.

/** SM3 (GB/T 32905) of the bytes, as 64 lower-case hex digits. */
export function sm3(input: Uint8Array): string;

/**
 * Whether ``signHex`` is an SM2 signature (GB/T 32918.2) of ``msg`` by ``publicKey``. With ``hash: true`` the
 * message is hashed as SM3(Z_A ‖ msg) under ``userId`` (UTF-8); with ``der: false`` the signature is r ‖ s in hex.
 * Throws on a public key that is not a point of the curve.
 */
export function doVerifySignature(
  msg: Uint8Array,
  signHex: string,
  publicKey: string,
  options: { der: false; hash: true; userId: string },
): boolean;

/** SHA-512 (FIPS 180-4) of the bytes. */
export function sha512(input: Uint8Array): Uint8Array;

/** A point of edwards25519 (noble's ``ed25519.Point``), what vrf.js uses of it. */
export interface Ed25519PointValue {
  add(other: Ed25519PointValue): Ed25519PointValue;
  subtract(other: Ed25519PointValue): Ed25519PointValue;
  /** ``scalar``·P for 0 ≤ scalar < L (not constant time: only public values are checked). */
  multiplyUnsafe(scalar: bigint): Ed25519PointValue;
  /** 8·P. */
  clearCofactor(): Ed25519PointValue;
  isSmallOrder(): boolean;
  isTorsionFree(): boolean;
  equals(other: Ed25519PointValue): boolean;
  /** RFC 8032 §5.1.2's 32 bytes. */
  toBytes(): Uint8Array;
}

export const Ed25519Point: {
  readonly BASE: Ed25519PointValue;
  readonly ZERO: Ed25519PointValue;
  /** RFC 8032 §5.1.3 decoding (with ``zip215`` false: y < p, no x = 0 with the sign bit); throws on no point. */
  fromBytes(bytes: Uint8Array, zip215?: boolean): Ed25519PointValue;
};

/** A point of the SM2 curve (noble's short Weierstrass point), what vrf.js uses of it. */
export interface Sm2PointValue {
  add(other: Sm2PointValue): Sm2PointValue;
  subtract(other: Sm2PointValue): Sm2PointValue;
  /** ``scalar``·P for 0 ≤ scalar < n (not constant time: only public values are checked). */
  multiplyUnsafe(scalar: bigint): Sm2PointValue;
  is0(): boolean;
  equals(other: Sm2PointValue): boolean;
  /** The compressed (33 bytes, 02 or 03 ‖ x) or uncompressed encoding; throws for the identity. */
  toBytes(isCompressed?: boolean): Uint8Array;
}

export const Sm2Point: {
  readonly BASE: Sm2PointValue;
  readonly ZERO: Sm2PointValue;
  /** The point an encoding names (compressed or uncompressed), checked to be on the curve; throws otherwise. */
  fromBytes(bytes: Uint8Array): Sm2PointValue;
};

/**
 * RFC 9380 §3's encode_to_curve on the SM2 curve (SM2_XMD:SM3_SSWU_NU_): hash_to_field by expand_message_xmd over
 * SM3 (k = 128), the simplified SWU map with Z = −9, under the domain separation tag ``dst``.
 */
export function sm2EncodeToCurve(msg: Uint8Array, dst: Uint8Array): Sm2PointValue;
