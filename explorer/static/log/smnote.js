// Signed notes and witness cosignatures with SM2 and SM3: the sm suite's profile of C2SP signed-note
// (docs/national-suite.md). Signature type 0xff followed by an ASCII identifier: "consortium-ledger/sm2-note/v1"
// for note signatures (r ‖ s over the note text), "consortium-ledger/sm2-cosignature/v1" for witness cosignatures
// (8-byte timestamp ‖ r ‖ s over C2SP tlog-cosignature's message). A public key is the 65-byte point, its key id
// SM3(name ‖ "\n" ‖ type bytes ‖ point)[:4], its vkey "<name>+<hex key id>+base64(type bytes ‖ point)"; every
// signature is made under the signer ID 1234567812345678. As notary/log/smnote.py.

import { concat, equalBytes, fromBase64, toHex } from "./bytes.js";
import { cosigned } from "./cosignature.js";
import { CheckError, quote } from "./errors.js";
import { splitVkey } from "./note.js";
import { POINT_SIZE, SIGNATURE_SIZE, importSm2, sm3, verifySm2 } from "./smcrypto.js";

/** @import { Sm2Key } from "./smcrypto.js" */

/** The first byte of the type bytes of every key of the profile: C2SP's "other signature types". */
export const OTHER_TYPE = 0xff;

const encoder = new TextEncoder();
/** The type bytes of a log's note key (checkpoints, batch statements). */
export const SM2_NOTE = concat(Uint8Array.of(OTHER_TYPE), encoder.encode("consortium-ledger/sm2-note/v1"));
/** The type bytes of a witness's cosigner key. */
export const SM2_COSIGNATURE = concat(Uint8Array.of(OTHER_TYPE), encoder.encode("consortium-ledger/sm2-cosignature/v1"));
const KEY_ID_SIZE = 4;

/**
 * The profile's key id: SM3(name ‖ "\n" ‖ type bytes ‖ point)[:4].
 * @param {string} name
 * @param {Uint8Array} typeBytes
 * @param {Uint8Array} point
 */
export async function sm2KeyId(name, typeBytes, point) {
  const digest = await sm3(concat(encoder.encode(`${name}\n`), typeBytes, point));
  return digest.slice(0, KEY_ID_SIZE);
}

/** @typedef {"note" | "cosignature"} Sm2KeyKind */
/** @typedef {{name: string, kind: Sm2KeyKind, keyId: Uint8Array, key: Sm2Key}} Sm2Vkey */

/**
 * The key of an SM2 vkey of the profile, of either type; a CheckError unless canonical, of the profile, a point of
 * the curve, and its key id the key's.
 * @param {unknown} vkey
 * @param {string} what  names the vkey in the message of the CheckError thrown
 * @returns {Promise<Sm2Vkey>}
 */
export async function decodeSm2Vkey(vkey, what) {
  const { name, hexId, encoded } = splitVkey(vkey, what);
  const blob = fromBase64(encoded, `${what} (${name})`);
  const typeBytes = blob.slice(0, Math.max(0, blob.length - POINT_SIZE));
  const kind = equalBytes(typeBytes, SM2_NOTE) ? "note" : equalBytes(typeBytes, SM2_COSIGNATURE) ? "cosignature" : null;
  if (kind === null) {
    const found = typeBytes[0] === OTHER_TYPE ? `0xff ${quote(new TextDecoder().decode(typeBytes.subarray(1, 65)))}` : "other";
    throw new CheckError(
      `${what} (${name}) is not an SM2 key of the profile: its type bytes must be 0xff followed by ` +
        `consortium-ledger/sm2-note/v1 or consortium-ledger/sm2-cosignature/v1, then a ${POINT_SIZE}-byte point (found ${found})`,
    );
  }
  const key = importSm2(blob.slice(blob.length - POINT_SIZE), `${what} (${name})`);
  const keyId = await sm2KeyId(name, typeBytes, key.point);
  if (toHex(keyId) !== hexId) {
    throw new CheckError(`${what} (${name}): key id ${hexId} does not match the key (${toHex(keyId)})`);
  }
  return { name, kind, keyId, key };
}

/**
 * Whether ``signature`` (r ‖ s) is the key's SM2 signature of the note ``text``.
 * @param {Sm2Key} key
 * @param {string} text  the note text, ending in a newline
 * @param {Uint8Array} signature  the note signature, after the key id
 */
export function verifySm2Note(key, text, signature) {
  return verifySm2(key, signature, encoder.encode(text));
}

/**
 * Whether ``signature`` (8-byte timestamp ‖ r ‖ s) is the witness key's SM2 cosignature of the checkpoint ``text``.
 * @param {Sm2Key} key
 * @param {string} text  the checkpoint body
 * @param {Uint8Array<ArrayBuffer>} signature  the note signature, after the key id
 */
export async function verifySm2Cosignature(key, text, signature) {
  const signed = cosigned(text, signature, SIGNATURE_SIZE);
  return signed !== null && verifySm2(key, signed.signature, signed.message);
}
