// Checkpoints of the audit log, C2SP tlog-checkpoint: the note text that commits to a tree head, the origin
// line, the tree size in decimal, the base64 root hash, then optional extension lines, each ending in a
// newline. As notary/log/checkpoint.py.

import { fromBase64 } from "./bytes.js";
import { CheckError, quote } from "./errors.js";
import { HASH_SIZE } from "./hashing.js";
import { checkText } from "./note.js";

const MAX_TREE_SIZE = 2n ** 64n - 1n;
const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

/** @typedef {{origin: string, size: bigint, root: Uint8Array, extensions: string[]}} Checkpoint */

/**
 * A C2SP tlog-checkpoint body: origin, decimal size, base64 root, extension lines. Size is a BigInt.
 * @param {string} text
 * @returns {Checkpoint}
 */
export function parseCheckpoint(text) {
  checkText(text, "the checkpoint body");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3)
    throw new CheckError(`the checkpoint has ${lines.length} lines, needs origin, size and root hash`);
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!origin) throw new CheckError("the checkpoint origin is empty");
  if (!DECIMAL.test(sizeText)) {
    throw new CheckError(`the checkpoint tree size must be a decimal without leading zeros: ${quote(sizeText)}`);
  }
  const size = BigInt(sizeText);
  if (size > MAX_TREE_SIZE) throw new CheckError(`the checkpoint tree size ${size} exceeds 2^64-1`);
  const root = fromBase64(rootText, "the checkpoint root hash");
  if (root.length !== HASH_SIZE)
    throw new CheckError(`the checkpoint root hash is ${root.length} bytes, expected 32`);
  if (extensions.some((line) => !line)) throw new CheckError("the checkpoint's extension lines must be non-empty");
  return { origin, size, root, extensions };
}
