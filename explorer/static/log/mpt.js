// Merkle-Patricia trie inclusion proofs (Yellow Paper, appendix D), as notary/mpt.py walks them: from a trie
// root, through the RLP-encoded nodes a proof lists (those referenced by hash on the key's path, root first),
// to the value at the key. Nodes under 32 bytes are embedded in their parents. The walk is strict: each listed
// node must hash to what its parent names, each node is a 17-item branch or a 2-item leaf or extension with a
// valid hex-prefix path, no listed node may be left over. A proof that does not lead to a value throws a
// CheckError saying where it stops.

import { equalBytes, toHex } from "./bytes.js";
import { CheckError } from "./errors.js";
import { keccak256 } from "./keccak.js";
import { decodeRlp, encodeRlp } from "./rlp.js";

/** @import { RlpItem } from "./rlp.js" */

/** Most nodes one proof may hold (as notary/mpt.py). */
export const MAX_PROOF_NODES = 64;
const HASH_SIZE = 32;

/** The nibbles of bytes, high nibble first. */
function nibbles(/** @type {Uint8Array} */ bytes) {
  /** @type {number[]} */
  const out = [];
  for (const b of bytes) out.push(b >> 4, b & 0x0f);
  return out;
}

/**
 * (nibble path, is a leaf) of a hex-prefix encoded path (Yellow Paper, appendix C).
 * @param {RlpItem} encoded @param {string} where
 * @returns {[number[], boolean]}
 */
function hexPrefix(encoded, where) {
  if (!(encoded instanceof Uint8Array) || encoded.length === 0) {
    throw new CheckError(`${where}: the path is not a non-empty byte string`);
  }
  const flag = encoded[0] >> 4;
  if (flag > 3) throw new CheckError(`${where}: bad hex-prefix flag ${flag}`);
  if (!(flag & 1) && encoded[0] & 0x0f) throw new CheckError(`${where}: an even hex-prefix path must pad with a zero nibble`);
  return [nibbles(encoded).slice(flag & 1 ? 1 : 2), Boolean(flag & 2)];
}

/** @param {RlpItem} node @param {string} where @returns {RlpItem[]} */
function trieNode(node, where) {
  if (node instanceof Uint8Array || (node.length !== 2 && node.length !== 17)) {
    throw new CheckError(`${where} is not a trie node (an RLP list of 2 or 17 items)`);
  }
  return node;
}

/**
 * The value at `key` in the trie of `root`, as `proof` proves it; throws a CheckError if it does not.
 * @param {Uint8Array} root @param {Uint8Array} key @param {Uint8Array[]} proof
 * @returns {Uint8Array}
 */
export function verifyProof(root, key, proof) {
  if (root.length !== HASH_SIZE) throw new CheckError(`the root must be ${HASH_SIZE} bytes, got ${root.length}`);
  if (proof.length > MAX_PROOF_NODES) {
    throw new CheckError(`the proof has ${proof.length} nodes, at most ${MAX_PROOF_NODES} allowed`);
  }
  const path = nibbles(key);
  /** @type {RlpItem} */
  let ref = root;
  let used = 0;
  let depth = 0;
  for (;;) {
    let where;
    /** @type {RlpItem[]} */
    let node;
    if (ref instanceof Uint8Array && ref.length === HASH_SIZE) {
      if (used === proof.length) throw new CheckError(`the proof ends after ${used} node(s), before the key's value`);
      const raw = proof[used];
      where = `proof node ${used}`;
      const digest = keccak256(raw);
      if (!equalBytes(digest, ref)) throw new CheckError(`${where} is not the node its parent names (keccak-256 0x${toHex(digest)})`);
      if (used && raw.length < HASH_SIZE) throw new CheckError(`${where} is under ${HASH_SIZE} bytes, so it must be embedded in its parent`);
      used += 1;
      node = trieNode(decodeRlp(raw), where);
    } else if (!(ref instanceof Uint8Array)) {
      where = `the node embedded in proof node ${used - 1}`;
      if (encodeRlp(ref).length >= HASH_SIZE) throw new CheckError(`${where} is not a trie node under ${HASH_SIZE} bytes`);
      node = trieNode(ref, where);
    } else if (ref.length === 0) {
      throw new CheckError(`the key is not in the trie: no child at nibble ${depth} (proof node ${used - 1})`);
    } else {
      throw new CheckError(`proof node ${used - 1} names a child that is neither a hash nor an embedded node`);
    }
    const rest = path.slice(depth);
    /** @type {RlpItem} */
    let value;
    if (node.length === 17) {
      if (rest.length) {
        ref = node[rest[0]];
        depth += 1;
        continue;
      }
      value = node[16];
    } else {
      const [segment, leaf] = hexPrefix(node[0], where);
      const onPath = segment.length <= rest.length && segment.every((n, i) => n === rest[i]);
      if (leaf) {
        if (!onPath || segment.length !== rest.length) throw new CheckError(`the key is not in the trie: ${where} is a leaf for another key`);
        value = node[1];
      } else {
        if (!segment.length || !onPath) throw new CheckError(`the key is not in the trie: ${where} is an extension off the key's path`);
        depth += segment.length;
        ref = node[1];
        continue;
      }
    }
    if (!(value instanceof Uint8Array) || value.length === 0) {
      throw new CheckError(`the key is not in the trie: ${where} holds no value for it`);
    }
    if (used !== proof.length) throw new CheckError(`the proof has ${proof.length - used} node(s) beyond the key's value`);
    return value;
  }
}
