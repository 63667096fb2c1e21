// Inclusion proofs of the audit log, RFC 9162 §2.1.3.2, step by step, every hash recomputed with the log's tree
// hash, a proof of the wrong length refused before it is looked at. BigInt throughout: indexes and sizes go up to
// 2^64-1. As notary/log/proof.py.

import { CheckError } from "./errors.js";
import { HASH_SIZE, SHA256, hashChildren } from "./hashing.js";

/** @import { TreeHash } from "./hashing.js" */

/** @param {bigint} n */
function bitLength(n) {
  return n === 0n ? 0n : BigInt(n.toString(2).length);
}

/** @param {bigint} n */
function bitCount(n) {
  let count = 0n;
  for (const c of n.toString(2)) if (c === "1") count++;
  return count;
}

/**
 * The number of hashes in the inclusion proof of ``index`` in a tree of ``size`` (0 ≤ index < size).
 * @param {bigint} index
 * @param {bigint} size
 */
export function inclusionProofLength(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  return Number(inner + bitCount(index >> inner));
}

/**
 * RFC 9162 §2.1.3.2: the root ``proof`` gives for ``leaf`` at ``index`` in the tree of ``size`` leaves.
 * @param {Uint8Array} leaf  the leaf hash
 * @param {bigint} index
 * @param {bigint} size
 * @param {Uint8Array[]} proof
 * @param {TreeHash} [tree]  the log's tree hash (SHA-256 unless told otherwise): another one gives another root
 * @returns {Promise<Uint8Array>}
 */
export async function rootFromInclusion(leaf, index, size, proof, tree = SHA256) {
  if (!(index >= 0n && index < size))
    throw new CheckError(`index ${index} is out of range for a tree of size ${size}`);
  if (leaf.length !== HASH_SIZE) throw new CheckError(`the leaf hash is ${leaf.length} bytes, not 32`);
  const want = inclusionProofLength(index, size);
  if (proof.length !== want) {
    throw new CheckError(
      `the proof has ${proof.length} hashes; index ${index} in a tree of size ${size} needs ${want}`,
    );
  }
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new CheckError("the proof is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await hashChildren(p, r, tree);
      while (fn !== 0n && (fn & 1n) === 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await hashChildren(r, p, tree);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new CheckError("the proof is too short");
  return r;
}
