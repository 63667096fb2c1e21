// How the verifier reports a failed check: a CheckError whose message says which hash or signature failed
// and what was expected. Anything else a check throws is a bug or a malformed bundle the checks did not foresee.

/** A check failed: the message says what was wrong. */
export class CheckError extends Error {}

/** A value as it appears in a message: JSON, cut after 100 characters. */
export function quote(/** @type {unknown} */ value) {
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 100 ? `${text.slice(0, 100)}…` : text;
  } catch {
    return String(value);
  }
}
