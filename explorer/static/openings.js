// The terms documents (`consortium grant terms export`) a person opened in this tab, held in the page's memory
// only (not in storage: a reload or a logout forgets them). From each, the salt and purpose go to the explorer in
// the `consortium-grant-opening` header of a request for the grants list or an asset's detail (the explorer
// checks, by one rule for both, that they open a
// private grant's key with the person's firm as grantee, and keeps nothing), so that a grantee's list holds its
// private grants, and its asset pages their private grants (and a private asset's detail), before the log shows any
// call under them; the rest of the document stays in the page, where the list and the asset's grants show a grant's
// terms once they hash to the key and commitment the chain holds (grantterms.js).

import { isObject } from "./api.js";
import { checkTerms } from "./grantterms.js";

/** @import { Grant } from "./types.js" */
/** @import { Terms } from "./grantterms.js" */

/** As `explorer.api.grants.MAX_OPENINGS`: at most this many openings in one request. */
export const MAX_OPENINGS = 64;
const SALT = /^0x[0-9a-f]{64}$/;
const PURPOSE = /^[a-z0-9][a-z0-9._-]{0,31}$/;

/** @type {Map<string, {opening: string, doc: Record<string, any>}>} grant id → its opening and document */
const held = new Map();

/**
 * Hold a terms document that names a grant, a salt and a purpose (the newest MAX_OPENINGS of them); returns its
 * grant id, or null for anything else, which is not held.
 * @param {unknown} doc
 */
export function holdDocument(doc) {
  if (!isObject(doc)) return null;
  const { grant_id: id, salt, purpose } = doc;
  if (typeof id !== "string" || typeof salt !== "string" || typeof purpose !== "string") return null;
  const lower = salt.toLowerCase();
  if (!SALT.test(lower) || !PURPOSE.test(purpose)) return null;
  held.delete(id);
  held.set(id, { opening: `${lower} ${purpose}`, doc });
  for (const oldest of held.keys()) {
    if (held.size <= MAX_OPENINGS) break;
    held.delete(oldest);
  }
  return id;
}

/** The header that opens the held documents' grants, or undefined when none is held. */
export function openingsHeader() {
  if (held.size === 0) return undefined;
  return { "consortium-grant-opening": [...held.values()].map((v) => v.opening).join(", ") };
}

/** The document held for ``grantId``, or undefined. */
export function heldDocument(/** @type {string} */ grantId) {
  return held.get(grantId)?.doc;
}

/**
 * A private grant's terms from the document held for it in this tab, when they hash to the key and commitment the
 * chain holds (checked here, grantterms.js); else null. The grants list and an asset's grants show them.
 * @param {Grant} g
 * @returns {Terms | null}
 */
export function heldTerms(g) {
  const doc = heldDocument(g.grant_id);
  if (doc === undefined) return null;
  const checked = checkTerms(doc, g);
  return checked.ok ? checked.terms : null;
}

/** How many documents are held. */
export function heldCount() {
  return held.size;
}

/** Forget every document (at logout). */
export function forgetDocuments() {
  held.clear();
}
