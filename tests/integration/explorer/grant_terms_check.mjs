// Runs explorer/static/grantterms.js under Node on the cases test_grant_terms_js.py writes, and prints the answers.
//
//   node grant_terms_check.mjs CASES_JSON
//
// CASES_JSON is {"cases": [{"name", "doc" (the parsed terms document), "grant" (the grant as the explorer serves
// it)}]}. The output (stdout) is one JSON object {name: checkTerms's answer}.

import { readFile } from "node:fs/promises";

const { checkTerms } = await import(new URL("../../../explorer/static/grantterms.js", import.meta.url).href);
const input = JSON.parse(await readFile(process.argv[2], "utf8"));
const out = {};
for (const c of input.cases) out[c.name] = checkTerms(c.doc, c.grant);
process.stdout.write(JSON.stringify(out));
