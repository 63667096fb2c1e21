// SHA-256 and Ed25519 through WebCrypto (globalThis.crypto.subtle): in a browser's secure context and in Node 20.

import { CheckError } from "./errors.js";

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s)
    throw new CheckError(
      "this page has no WebCrypto (crypto.subtle needs HTTPS or localhost), so nothing can be checked",
    );
  return s;
}

/** SHA-256 of bytes. */
export async function sha256(/** @type {Uint8Array<ArrayBuffer>} */ bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

/**
 * A raw 32-byte Ed25519 public key as a WebCrypto key for verifying.
 * @param {Uint8Array<ArrayBuffer>} publicKey
 * @param {string} what  names the key in the message of the CheckError thrown
 */
export async function importEd25519(publicKey, what) {
  if (publicKey.length !== 32)
    throw new CheckError(`${what}: the Ed25519 public key is ${publicKey.length} bytes, not 32`);
  try {
    return await subtle().importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (exc) {
    if (exc instanceof CheckError) throw exc;
    const name = exc ? /** @type {{name?: unknown}} */ (exc).name : exc;
    if (name === "NotSupportedError") {
      throw new CheckError("this browser's WebCrypto cannot verify Ed25519 signatures; use a current browser");
    }
    throw new CheckError(`${what}: not a valid Ed25519 public key (${name})`);
  }
}

/**
 * Whether ``signature`` is the key's Ed25519 signature of ``message``; false for a signature of the wrong size.
 * @param {CryptoKey} key
 * @param {Uint8Array<ArrayBuffer>} signature
 * @param {Uint8Array<ArrayBuffer>} message
 */
export async function verifyEd25519(key, signature, message) {
  if (signature.length !== 64) return false;
  try {
    return await subtle().verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}
