// Merkle tree hashing of the audit log, RFC 9162 §2.1.1 (the same hashes as RFC 6962): a leaf hash is
// SHA-256(0x00 ‖ data), an interior hash SHA-256(0x01 ‖ left ‖ right). As notary/log/hashing.py.

import { concat } from "./bytes.js";
import { sha256 } from "./webcrypto.js";

export const HASH_SIZE = 32;

/** SHA-256(0x00 ‖ data). */
export function hashLeaf(/** @type {Uint8Array} */ data) {
  return sha256(concat(Uint8Array.of(0), data));
}

/** SHA-256(0x01 ‖ left ‖ right). */
export function hashChildren(/** @type {Uint8Array} */ left, /** @type {Uint8Array} */ right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}
