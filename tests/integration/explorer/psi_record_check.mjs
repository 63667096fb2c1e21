// Runs explorer/static/psi.js under Node on the cases test_psi_record_js.py writes, and prints the answers.
//
//   node psi_record_check.mjs CASES_JSON
//
// CASES_JSON is {"tags": [[grant id, job id], ...], "records": [{"name", "bytes" (base64), "job": {"tag",
// "record_sha256"}}]}. The output (stdout) is one JSON object {"tags": [jobTag of each pair], "records": {name:
// checkRecord's answer without the record, plus "result_count" when it read a record}}. With "summaries": [{"name",
// "job"}], also "summaries": {name: checkSummary's answer}; with "disclosures": [{"name", "bytes", "job"}], also
// "disclosures": {name: checkDisclosure's answer (with the check of its proof), its record check without the record};
// with "bindings": [{"name", "bytes" (a disclosure document), "job", "bundle", "consortium" (consortium.json,
// parsed: the keys, by verify.js's keysFromConsortium)}], also "bindings": {name: bindDisclosure's answer for the
// document's record}.

import { readFile } from "node:fs/promises";

const { bindDisclosure, checkDisclosure, checkRecord, checkSummary, jobTag } = await import(
  new URL("../../../explorer/static/psi.js", import.meta.url).href
);
const { keysFromConsortium } = await import(new URL("../../../explorer/static/verify.js", import.meta.url).href);
const input = JSON.parse(await readFile(process.argv[2], "utf8"));
const tags = [];
for (const [grantId, jobId] of input.tags) tags.push(await jobTag(grantId, jobId));
const records = {};
for (const c of input.records) {
  const { record, ...rest } = await checkRecord(new Uint8Array(Buffer.from(c.bytes, "base64")), c.job);
  records[c.name] = { ...rest, result_count: record ? record.result.count : null };
}
const summaries = {};
for (const c of input.summaries || []) summaries[c.name] = checkSummary(c.job);
const disclosures = {};
for (const c of input.disclosures || []) {
  const { recordCheck, ...rest } = await checkDisclosure(new Uint8Array(Buffer.from(c.bytes, "base64")), c.job);
  disclosures[c.name] = { ...rest, recordCheck: recordCheck && { ...recordCheck, record: undefined } };
}
const bindings = {};
for (const c of input.bindings || []) {
  const { recordCheck } = await checkDisclosure(new Uint8Array(Buffer.from(c.bytes, "base64")), c.job);
  const keys = await keysFromConsortium(c.consortium);
  bindings[c.name] = await bindDisclosure(c.bundle, keys, recordCheck.record, recordCheck.digest);
}
process.stdout.write(JSON.stringify({ tags, records, summaries, disclosures, bindings }));
