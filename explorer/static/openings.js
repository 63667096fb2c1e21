// The terms documents (`consortium grant terms export`) a person opened in the explorer, held in the page's memory
// only, never in storage (not localStorage, sessionStorage or IndexedDB), and shared with the person's other tabs of
// the explorer in this browser over a BroadcastChannel (below): a reload forgets them unless another of the
// person's tabs still holds them, and a logout forgets them in every tab of that person. From each, the salt and
// purpose go to the explorer in the `consortium-grant-opening` header of a request for the grants list or an
// asset's detail (the explorer checks, by one rule for both, that they open a private grant's key with the
// person's firm as grantee, and keeps nothing), so that a grantee's list holds its private grants, and its asset
// pages their private grants (and a private asset's detail), before the log shows any call under them; the rest of
// the document stays in the page, where the list and the asset's grants show a grant's terms once they hash to the
// key and commitment the chain holds (grantterms.js).
//
// Sharing between tabs. A tab that knows who is logged in (`shareAs`, from session.js once GET /me answered) joins
// the channel CHANNEL of this origin, asks the tabs there for the documents they hold, and sends every document
// opened in it; a tab answers and accepts only for the person it is logged in as itself: the same firm and name as
// GET /me gave it (the login token is kept per tab, in session storage, so two tabs may be two people). A message
// is untrusted input: one that is not an object of a known kind for this tab's person, or whose documents are not
// a list of at most MAX_OPENINGS that each pass holdDocument's checks, is ignored whole, and the bound on what is
// held applies as to the documents opened here. A logout (`forgetDocuments`) tells the person's other tabs to
// forget too, and leaves the channel; a login as another person forgets what the tab held. Messages stay in this
// browser (same origin only): nothing is sent to a server, and the Content-Security-Policy has nothing to allow.

import { isObject } from "./api.js";
import { checkTerms } from "./grantterms.js";

/** @import { Grant } from "./types.js" */
/** @import { Terms } from "./grantterms.js" */

/** As `explorer.api.grants.MAX_OPENINGS`: at most this many openings in one request. */
export const MAX_OPENINGS = 64;
/** The BroadcastChannel of this origin on which the tabs of one person share the terms documents they hold. */
export const CHANNEL = "consortium-explorer.grant-terms-documents";
const SALT = /^0x[0-9a-f]{64}$/;
const PURPOSE = /^[a-z0-9][a-z0-9._-]{0,31}$/;

/** @type {Map<string, {opening: string, doc: Record<string, any>}>} grant id → its opening and document */
const held = new Map();
/** @type {string | null} the person this tab is logged in as, `personKey`'s form; null before GET /me answers */
let self = null;
/** @type {string | null} that person's firm; null before GET /me answers */
let selfOrg = null;
/** @type {BroadcastChannel | null} */
let channel = null;
/** @type {() => void} */
let shared = () => {};

/**
 * A terms document's grant id and opening ("<salt> <purpose>"), or null when it is not one that names a grant, a
 * salt and a purpose.
 * @param {unknown} doc
 * @returns {{id: string, opening: string, doc: Record<string, any>} | null}
 */
function opened(doc) {
  if (!isObject(doc)) return null;
  const { grant_id: id, salt, purpose } = doc;
  if (typeof id !== "string" || typeof salt !== "string" || typeof purpose !== "string") return null;
  const lower = salt.toLowerCase();
  if (!SALT.test(lower) || !PURPOSE.test(purpose)) return null;
  return { id, opening: `${lower} ${purpose}`, doc };
}

/**
 * Hold a checked document as the newest, dropping the oldest beyond MAX_OPENINGS; whether it changed what is held.
 * @param {{id: string, opening: string, doc: Record<string, any>}} one
 */
function hold({ id, opening, doc }) {
  const before = held.get(id);
  const same = before !== undefined && before.opening === opening && JSON.stringify(before.doc) === JSON.stringify(doc);
  held.delete(id);
  held.set(id, { opening, doc });
  for (const oldest of held.keys()) {
    if (held.size <= MAX_OPENINGS) break;
    held.delete(oldest);
  }
  return !same;
}

/**
 * Hold a terms document that names a grant, a salt and a purpose (the newest MAX_OPENINGS of them), and send it to
 * the person's other tabs; returns its grant id, or null for anything else, which is not held.
 * @param {unknown} doc
 */
export function holdDocument(doc) {
  const one = opened(doc);
  if (one === null) return null;
  hold(one);
  post("held", [one.doc]);
  return one.id;
}

/**
 * The header that opens the held documents' grants, or undefined when none is held that could open one. A document
 * whose grantee is another firm than the person's (the grantor's own grants, every document a regulator holds) can
 * open nothing for the person (the key binds the grantee: `explorer.api.grants.opens_key`), so its salt is not sent:
 * its terms are shown from the page alone.
 */
export function openingsHeader() {
  const mine = [...held.values()].filter((v) => !(typeof v.doc.grantee === "string" && v.doc.grantee !== selfOrg));
  if (mine.length === 0) return undefined;
  return { "consortium-grant-opening": mine.map((v) => v.opening).join(", ") };
}

/** The document held for ``grantId``, or undefined. */
export function heldDocument(/** @type {string} */ grantId) {
  return held.get(grantId)?.doc;
}

/**
 * A private grant's terms from the document held for it, when they hash to the key and commitment the chain holds
 * (checked here, grantterms.js); else null. The grants list and an asset's grants show them.
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

/** A person as the tabs compare them: the firm and the name GET /me gives. */
function personKey(/** @type {{org: string, name: string}} */ person) {
  return JSON.stringify([person.org, person.name]);
}

/**
 * Share the held documents with the other tabs of ``person``, who is logged in here (GET /me's answer), or with none
 * (null, or an answer without a firm and a name). A change of person forgets what this tab held (the other tabs keep theirs); a tab that shares asks the
 * other tabs of the same person for their documents.
 * @param {{org: string, name: string} | null} person
 */
export function shareAs(person) {
  const known = isObject(person) && typeof person.org === "string" && typeof person.name === "string";
  const who = known ? personKey(person) : null;
  if (who === self) return;
  held.clear();
  leave();
  self = who;
  selfOrg = known ? String(person.org) : null;
  if (who === null || typeof BroadcastChannel !== "function") return;
  channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = (event) => receive(event.data);
  post("ask");
}

/** Called when another tab of the person changed what this tab holds (the pages that show them render again). */
export function onShared(/** @type {() => void} */ listener) {
  shared = listener;
}

/** Forget every document (at logout), and tell the person's other tabs to forget theirs. */
export function forgetDocuments() {
  held.clear();
  post("forget");
  leave();
  self = null;
  selfOrg = null;
}

function leave() {
  if (channel !== null) channel.close();
  channel = null;
}

/**
 * Post a message for this tab's person on the channel, if it shares.
 * @param {"ask" | "held" | "forget"} kind
 * @param {Record<string, any>[]} [docs]
 */
function post(kind, docs) {
  if (channel === null || self === null) return;
  try {
    channel.postMessage(docs === undefined ? { kind, who: self } : { kind, who: self, docs });
  } catch {
    // a document that cannot be cloned stays in this tab
  }
}

/**
 * A message from another tab, untrusted: ignored unless it is for this tab's person and well formed.
 * @param {unknown} message
 */
function receive(message) {
  if (self === null || !isObject(message) || message.who !== self) return;
  if (message.kind === "ask") {
    if (held.size) post("held", [...held.values()].map((v) => v.doc));
  } else if (message.kind === "held") {
    const docs = message.docs;
    if (!Array.isArray(docs) || docs.length === 0 || docs.length > MAX_OPENINGS) return;
    const checked = docs.map(opened);
    if (checked.some((one) => one === null)) return;
    let changed = false;
    for (const one of checked) if (hold(/** @type {NonNullable<typeof one>} */ (one))) changed = true;
    if (changed) shared();
  } else if (message.kind === "forget") {
    if (held.size === 0) return;
    held.clear();
    shared();
  }
}
