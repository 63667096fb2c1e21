// The types of what sm-crypto.js (built from explorer/vendor/sm-crypto.js) exports, as log/smcrypto.js uses it;
// tsc reads this file in place of the bundle, which tsconfig.json leaves out of the check.

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
