// Who is logged in: the person GET /api/v1/me describes, the keys GET /api/v1/keys serves (those valid now
// fetched once per login; a checkpoint's, each time), and what the login page needs across a reload: why the last session ended and where to go next.

import { clearToken, getJson } from "./api.js";
import { forgetDocuments, shareAs } from "./openings.js";

/** @import { Unauthorized } from "./api.js" */
/** @import { Person } from "./types.js" */
/** @import { Keys } from "./verify.js" */

const REASON_KEY = "explorer.loginReason";
const NEXT_KEY = "explorer.next";

/** @type {Person | null} */
let me = null; // GET /api/v1/me, while logged in
/** @type {Keys | null} */
let keysCache = null;

/** The person logged in, once fetched. */
export function person() {
  return me;
}

/**
 * GET /me with the token held; a 401 throws (and api.js's handler ends the session). The terms documents are then
 * shared with this person's other tabs (openings.js), and those held for another person are forgotten.
 */
export async function fetchPerson() {
  me = /** @type {Person} */ (await getJson("/me"));
  shareAs(me);
  return me;
}

/**
 * GET /keys: the log's key and the witness keys the server reads from the chain. Without ``size``, those valid
 * now (once per login); with it, those valid for the checkpoint of that size (at the block that anchored it, at
 * the head while it is not anchored), asked each time, since the answer moves once the checkpoint is anchored.
 * @param {number} [size]
 * @returns {Promise<Keys>}
 */
export async function fetchKeys(size) {
  if (size !== undefined) return /** @type {Keys} */ (await getJson("/keys", { size }));
  if (!keysCache) keysCache = /** @type {Keys} */ (await getJson("/keys"));
  return keysCache;
}

/** Drop the token, what was fetched with it and the terms documents held, in this tab and the person's others. */
export function forget() {
  clearToken();
  forgetDocuments();
  me = null;
  keysCache = null;
}

/**
 * Read (value undefined), remove (null) or set an item of sessionStorage; null when storage is unavailable.
 * @param {string} key
 * @param {string | null} [value]
 */
function stored(key, value) {
  try {
    if (value === undefined) return sessionStorage.getItem(key);
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch {
    // storage unavailable
  }
  return null;
}

/** Why the last session ended, for the login page; null if it did not end on a 401. */
export function loginReason() {
  try {
    return /** @type {Unauthorized | null} */ (JSON.parse(stored(REASON_KEY) || "null"));
  } catch {
    return null;
  }
}

export function setLoginReason(/** @type {Unauthorized | null} */ reason) {
  stored(REASON_KEY, reason === null ? null : JSON.stringify(reason));
}

/** The page to show after logging in, forgotten once read. */
export function takeNextPage() {
  const next = stored(NEXT_KEY);
  stored(NEXT_KEY, null);
  return next;
}

export function setNextPage(/** @type {string | null} */ hash) {
  stored(NEXT_KEY, hash);
}
