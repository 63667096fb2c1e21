// Runs explorer/static/openings.js under Node on the documents and grants test_grant_terms_js.py writes, and prints
// what a page would send and show.
//
//   node openings_check.mjs INPUT_JSON
//
// INPUT_JSON is {"person": GET /me's answer for the tab, "docs": [terms documents, opened in this order],
// "grants": [grants as the explorer serves them]}.
// The output (stdout) is one JSON object: {"refused": how many documents were not held, "header": the
// `consortium-grant-opening` header's value (null when none is held), "held": {grant id: heldTerms(grant)}}.

import { readFile } from "node:fs/promises";

const { holdDocument, openingsHeader, heldTerms, shareAs, forgetDocuments } = await import(
  new URL("../../../explorer/static/openings.js", import.meta.url).href
);
const input = JSON.parse(await readFile(process.argv[2], "utf8"));
shareAs(input.person);
let refused = 0;
for (const doc of input.docs) if (holdDocument(doc) === null) refused += 1;
const header = openingsHeader();
const held = {};
for (const g of input.grants) held[g.grant_id] = heldTerms(g);
forgetDocuments(); // leaves the tabs' channel, so that Node exits
process.stdout.write(JSON.stringify({ refused, header: header ? header["consortium-grant-opening"] : null, held }));
