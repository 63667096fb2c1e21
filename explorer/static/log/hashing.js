// Merkle tree hashing of the audit log, RFC 9162 §2.1.1 (the same hashes as RFC 6962), over the log's tree hash H:
// a leaf hash is H(0x00 ‖ data), an interior hash H(0x01 ‖ left ‖ right). H is SHA-256 (the intl suite's, RFC
// 9162's own; the default) or SM3 (the sm suite's, GB/T 32905); both give 32 bytes. As notary/log/hashing.py.

import { concat } from "./bytes.js";
import { sm3 } from "./smcrypto.js";
import { sha256 } from "./webcrypto.js";

export const HASH_SIZE = 32;

/**
 * A log's tree hash: its name as details show it, and the hash itself.
 * @typedef {{name: string, digest: (bytes: Uint8Array<ArrayBuffer>) => Promise<Uint8Array>}} TreeHash
 */

/** @type {TreeHash} */
export const SHA256 = Object.freeze({ name: "SHA-256", digest: sha256 });
/** @type {TreeHash} */
export const SM3 = Object.freeze({ name: "SM3", digest: sm3 });

/** H(0x00 ‖ data). */
export function hashLeaf(/** @type {Uint8Array} */ data, tree = SHA256) {
  return tree.digest(concat(Uint8Array.of(0), data));
}

/** H(0x01 ‖ left ‖ right). */
export function hashChildren(/** @type {Uint8Array} */ left, /** @type {Uint8Array} */ right, tree = SHA256) {
  return tree.digest(concat(Uint8Array.of(1), left, right));
}
