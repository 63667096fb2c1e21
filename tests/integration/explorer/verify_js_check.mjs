// Runs explorer/static/verify.js under Node on the cases test_verify_js.py writes, and prints the answers.
//
//   node verify_js_check.mjs [VERIFY_JS] CASES_JSON
//
// CASES_JSON is {"cases": [{"name", "bundle", "keys" | "consortium" | "keys_file", "event"?, "proofs"?}]}: with
// "consortium" (a consortium.json) the keys are derived from it by keysFromConsortium, with "keys_file" (a keys file
// as the verify page reads it: an evidence zip's consortium-keys.json) picked by keysForCheckpoint for the bundle's
// checkpoint size; with "proofs": true the case's answer is
// verifyAnchorProofs(bundle) (the v2 anchor proofs) instead of verifyBundle's, with "chain": true verifyChain(bundle,
// keys) (those proofs and the receipt's Anchored log). The output (stdout) is one JSON object
// {"results": {name: the steps verifyBundle returned, or {"threw": "..."} if it threw (which it never may)},
//  "keys": {name: the keys derived from the case's consortium.json, or {"error": "..."} if it has none}}.
// verify.js is loaded as an ES module from its path, with the log/ modules it imports: the repository's
// package.json declares "type": "module", so Node reads every ".js" file of explorer/static as one.

import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const casesPath = args.pop();
const modulePath = args.length ? pathToFileURL(args[0]) : new URL("../../../explorer/static/verify.js", import.meta.url);

const { keysForCheckpoint, keysFromConsortium, verifyAnchorProofs, verifyBundle, verifyChain } = await import(modulePath.href);
const input = JSON.parse(await readFile(casesPath, "utf8"));
const results = {};
const derived = {};
for (const c of input.cases) {
  if (c.chain) {
    try {
      results[c.name] = await verifyChain(c.bundle, c.keys);
    } catch (exc) {
      results[c.name] = { threw: String((exc && exc.stack) || exc) };
    }
    continue;
  }
  if (c.proofs) {
    try {
      results[c.name] = verifyAnchorProofs(c.bundle);
    } catch (exc) {
      results[c.name] = { threw: String((exc && exc.stack) || exc) };
    }
    continue;
  }
  let keys = c.keys;
  if (c.keys_file !== undefined) {
    const checkpoint = c.bundle && typeof c.bundle === "object" ? c.bundle.checkpoint : undefined;
    try {
      keys = derived[c.name] = keysForCheckpoint(c.keys_file, checkpoint && typeof checkpoint === "object" ? checkpoint.size : undefined);
    } catch (exc) {
      derived[c.name] = { error: String((exc && exc.message) || exc) };
      continue;
    }
  }
  if (c.consortium !== undefined) {
    try {
      keys = derived[c.name] = await keysFromConsortium(c.consortium);
    } catch (exc) {
      derived[c.name] = { error: String((exc && exc.message) || exc) };
      continue;
    }
  }
  try {
    const options = c.event === undefined ? undefined : { event: c.event };
    results[c.name] = await verifyBundle(c.bundle, keys, options);
  } catch (exc) {
    results[c.name] = { threw: String((exc && exc.stack) || exc) };
  }
}
process.stdout.write(JSON.stringify({ results, keys: derived }));
