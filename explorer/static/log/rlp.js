// RLP (Ethereum Yellow Paper, appendix B), decoding only and strictly: an item's bytes must be its one canonical
// encoding (shortest length prefix, a single byte below 0x80 not wrapped), as Python's rlp.decode(strict=True)
// requires. Used for the trie nodes of an evidence bundle's anchor proofs.

import { CheckError } from "./errors.js";

/** @typedef {Uint8Array | RlpList} RlpItem */
/** @typedef {RlpItem[]} RlpList */

/**
 * The item encoded at `start`, and where it ends.
 * @param {Uint8Array} data @param {number} start @param {number} end  the end of the enclosing item
 * @returns {[RlpItem, number]}
 */
function decodeAt(data, start, end) {
  if (start >= end) throw new CheckError("RLP: an item runs past its end");
  const first = data[start];
  if (first < 0x80) return [data.subarray(start, start + 1), start + 1];
  let begin;
  let length;
  if (first < 0xb8 || (first >= 0xc0 && first < 0xf8)) {
    begin = start + 1;
    length = first - (first < 0xc0 ? 0x80 : 0xc0);
  } else {
    const size = first - (first < 0xc0 ? 0xb7 : 0xf7);
    begin = start + 1 + size;
    if (begin > end) throw new CheckError("RLP: a length runs past the end");
    if (data[start + 1] === 0) throw new CheckError("RLP: a length with a leading zero");
    length = 0;
    for (let i = start + 1; i < begin; i++) length = length * 256 + data[i];
    if (length < 56) throw new CheckError("RLP: a long length under 56");
  }
  const stop = begin + length;
  if (stop > end) throw new CheckError("RLP: an item runs past its end");
  if (first < 0xc0) {
    if (length === 1 && data[begin] < 0x80) throw new CheckError("RLP: a single byte below 0x80 wrapped");
    return [data.subarray(begin, stop), stop];
  }
  /** @type {RlpList} */
  const items = [];
  let at = begin;
  while (at < stop) {
    const [item, next] = decodeAt(data, at, stop);
    items.push(item);
    at = next;
  }
  return [items, stop];
}

/** The one item `data` encodes, all of it. */
export function decodeRlp(/** @type {Uint8Array} */ data) {
  const [item, end] = decodeAt(data, 0, data.length);
  if (end !== data.length) throw new CheckError(`RLP: ${data.length - end} byte(s) after the item`);
  return item;
}

/**
 * The RLP encoding of a byte string or a list of them (for keys and for measuring embedded nodes).
 * @param {RlpItem} item
 * @returns {Uint8Array}
 */
export function encodeRlp(item) {
  /** @param {number} offset @param {number} length */
  const prefix = (offset, length) => {
    if (length < 56) return [offset + length];
    /** @type {number[]} */
    const digits = [];
    for (let n = length; n > 0; n = Math.floor(n / 256)) digits.unshift(n % 256);
    return [offset + 55 + digits.length, ...digits];
  };
  if (item instanceof Uint8Array) {
    if (item.length === 1 && item[0] < 0x80) return item;
    return Uint8Array.from([...prefix(0x80, item.length), ...item]);
  }
  /** @type {Uint8Array[]} */
  const body = item.map(encodeRlp);
  const size = body.reduce((/** @type {number} */ n, b) => n + b.length, 0);
  const out = new Uint8Array(prefix(0xc0, size).length + size);
  out.set(prefix(0xc0, size));
  let at = out.length - size;
  for (const b of body) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** rlp(i) for a non-negative integer: the key of item i in a block's transactions and receipts tries. */
export function encodeIndex(/** @type {number} */ index) {
  /** @type {number[]} */
  const digits = [];
  for (let n = index; n > 0; n = Math.floor(n / 256)) digits.unshift(n % 256);
  return encodeRlp(Uint8Array.from(digits));
}
