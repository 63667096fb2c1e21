// Runs explorer/static/openings.js as several tabs of one browser under Node: each "tab" is the module imported
// under its own query string (its own held documents), and they talk over Node's BroadcastChannel as a browser's
// tabs of one origin do; a "probe" channel of the same name posts what another page of the origin could.
//
//   node openings_tabs_check.mjs INPUT_JSON
//
// INPUT_JSON is {"docs": [three terms documents]}. The output (stdout) is one JSON object of what the tabs held after
// each step (grant ids, in the order held) and which storage the module touched; test_grant_terms_js.py asserts it.
//
// Nothing here waits on the clock: one thread delivers a channel's messages in the order they were posted, so once a
// tab has taken a valid message the probe posted last, it has seen (and ignored) everything posted before it. Each
// wait has a deadline of 5 s, which fails the run.

import { readFile } from "node:fs/promises";

const touched = [];
for (const name of ["localStorage", "sessionStorage", "indexedDB"]) {
  Object.defineProperty(globalThis, name, {
    configurable: true,
    get() {
      touched.push(name);
      return undefined;
    },
  });
}

const base = new URL("../../../explorer/static/openings.js", import.meta.url).href;
const input = JSON.parse(await readFile(process.argv[2], "utf8"));
const [doc0, doc1, doc2] = input.docs;

const P = { org: "beta", name: "compliance" };
const SAME_FIRM = { org: "beta", name: "auditor" };
const OTHER_FIRM = { org: "gamma", name: "compliance" };
const key = (/** @type {{org: string, name: string}} */ p) => JSON.stringify([p.org, p.name]);

/** A tab: the module under its own URL, with a waiter woken at each change another tab made. */
async function tab(name) {
  const m = { ...(await import(`${base}?tab=${name}`)) };
  const waiters = new Set();
  m.onShared(() => {
    for (const wake of [...waiters]) wake();
  });
  /** Resolve once pred() holds, checked now and at each change; fail after 5 s. */
  m.until = (pred, what) =>
    new Promise((resolve, reject) => {
      if (pred()) return resolve();
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`tab ${name}: no ${what} within 5 s`));
      }, 5000);
      const check = () => {
        if (!pred()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
    });
  m.ids = () => held(m);
  return m;
}

/** The grant ids a tab holds, oldest first (the order of its header). */
function held(m) {
  const all = [doc0, doc1, doc2, ...synthetic.values()];
  const openings = m.openingsHeader()?.["consortium-grant-opening"].split(", ") ?? [];
  return openings.map((o) => all.find((d) => `${d.salt.toLowerCase()} ${d.purpose}` === o)?.grant_id ?? `?${o}`);
}

/** @type {Map<string, Record<string, string>>} */
const synthetic = new Map();
/** A document that passes holdDocument's checks (and opens nothing): grant id and salt from ``n``. */
function fake(/** @type {number} */ n, /** @type {string} */ purpose = "bound") {
  const hex = n.toString(16).padStart(64, "0");
  const doc = { grant_id: `0x${hex}`, salt: `0x${hex}`, purpose };
  synthetic.set(doc.grant_id, doc);
  return doc;
}

const out = {};

// 1. a tab of P opens a document; a second tab of P, logged in later, asks and gets it
const a = await tab("a");
out.channel = a.CHANNEL;
const probe = new BroadcastChannel(a.CHANNEL);
const send = (/** @type {unknown} */ message) => probe.postMessage(message);
a.shareAs(P);
a.holdDocument(doc0);
const b = await tab("b");
b.shareAs(P);
await b.until(() => b.heldCount() === 1, "answer to its ask");
out.asked = b.ids();

// 2. a document opened in one tab reaches the other tab of P, not a tab of another person of the firm or another firm
const sameFirm = await tab("c");
sameFirm.shareAs(SAME_FIRM);
const otherFirm = await tab("d");
otherFirm.shareAs(OTHER_FIRM);
a.holdDocument(doc1);
await b.until(() => b.heldCount() === 2, "document opened in tab a");
out.sent = b.ids();
const sentinel1 = fake(1, "sentinel");
const sentinel2 = fake(2, "sentinel");
send({ kind: "held", who: key(SAME_FIRM), docs: [sentinel1] });
send({ kind: "held", who: key(OTHER_FIRM), docs: [sentinel2] });
await sameFirm.until(() => sameFirm.heldCount() > 0, "sentinel");
await otherFirm.until(() => otherFirm.heldCount() > 0, "sentinel");
out.same_firm = sameFirm.ids();
out.other_firm = otherFirm.ids();

// 3. garbage, and messages whose documents are not all terms documents or too many, are ignored whole
const bad = { grant_id: "0x" + "ab".repeat(32), salt: "0x12", purpose: "research" };
const tooMany = Array.from({ length: 65 }, (_, i) => fake(1000 + i));
for (const message of [
  null,
  "held",
  42,
  [],
  { kind: "held", docs: [doc2] },
  { kind: "held", who: key(P).toUpperCase(), docs: [doc2] },
  { kind: "held", who: key(P), docs: "doc2" },
  { kind: "held", who: key(P), docs: [] },
  { kind: "held", who: key(P), docs: [doc2, bad] },
  { kind: "held", who: key(P), docs: [doc2, null] },
  { kind: "held", who: key(P), docs: tooMany },
  { kind: "forget", who: key(P).slice(1) },
  { kind: "nonsense", who: key(P), docs: [doc2] },
]) {
  send(message);
}
const sentinel3 = fake(3, "sentinel");
send({ kind: "held", who: key(P), docs: [sentinel3] });
await b.until(() => b.heldCount() === 3, "sentinel");
await a.until(() => a.heldCount() === 3, "sentinel");
out.after_garbage = b.ids();
out.after_garbage_a = a.ids();
// the ask of the probe, as P, was answered once by each tab of P with what it holds
const answers = [];
const ear = new BroadcastChannel(a.CHANNEL);
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => {
    reject(new Error(`no three answers to the probe's asks within 5 s: ${JSON.stringify(answers)}`));
  }, 5000);
  ear.onmessage = (event) => {
    if (event.data?.kind === "held") answers.push(event.data);
    if (answers.length === 3) {
      clearTimeout(timer);
      resolve();
    }
  };
  send({ kind: "ask", who: key(OTHER_FIRM) });
  send({ kind: "ask", who: key(SAME_FIRM).replace("auditor", "nobody") });
  send({ kind: "ask", who: key(P) });
});
ear.close();
out.answers = answers
  .map((m) => ({ who: m.who, grants: m.docs.map((d) => d.grant_id) }))
  .sort((x, y) => x.who.localeCompare(y.who) || x.grants.length - y.grants.length);

// 4. the bound: 2 × 64 documents received, the newest 64 held
const first = Array.from({ length: 64 }, (_, i) => fake(2000 + i));
const second = Array.from({ length: 64 }, (_, i) => fake(3000 + i));
send({ kind: "held", who: key(P), docs: first });
send({ kind: "held", who: key(P), docs: second });
await b.until(() => b.ids().includes(second[63].grant_id), "the second 64");
out.bound = { count: b.heldCount(), ids: b.ids(), expected: second.map((d) => d.grant_id) };

// 5. a logout in tab a: tab b of P forgets, the other people's tabs keep theirs, tab a takes nothing more
a.forgetDocuments();
await b.until(() => b.heldCount() === 0, "forgetting at the logout of tab a");
out.after_logout_b = b.ids();
send({ kind: "held", who: key(P), docs: [doc2] });
const sentinel4 = fake(4, "sentinel");
send({ kind: "held", who: key(OTHER_FIRM), docs: [sentinel4] });
await otherFirm.until(() => otherFirm.heldCount() === 2, "sentinel");
await b.until(() => b.heldCount() === 1, "a document after the logout");
out.after_logout_a = a.ids();
out.after_logout_other_firm = otherFirm.ids();
out.after_logout_same_firm = sameFirm.ids();

// 6. tab b logs in as another firm's person: it forgets P's document and gets that person's from its tab
b.shareAs(OTHER_FIRM);
await b.until(() => b.heldCount() === 2, "the other firm's documents");
out.relogin = b.ids();

for (const t of [a, b, sameFirm, otherFirm]) t.shareAs(null);
probe.close();
out.touched = touched;
process.stdout.write(JSON.stringify(out));
