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
// document's record}. With "held": [{"name", "bytes" (an evidence bundle's file, base64), "pad" (0 or more: the
// file padded with spaces to MAX_BUNDLE_BYTES + pad bytes; absent: as it is), "document" (base64), "job",
// "consortium"}], also "held": {name: {"read": readBundle's answer without the bundle, "bound": bindDisclosure's
// answer for the bundle it read and the document's record, null when it read none}}; and "limits": {"bundle":
// MAX_BUNDLE_BYTES, "disclosure": MAX_DISCLOSURE_BYTES}. With "heldKeys": [{"name", "bytes" (a trust file, base64),
// "pad" (as held's), "bundle" (an evidence bundle's file, base64), "document", "job"}], also "heldKeys": {name:
// {"read": readKeysFile's answer without the file, "missing": keysFromFile's for the bundle's checkpoint (null when
// the file was not taken), "bound": bindDisclosure's answer under the file's keys, null when it read none or they
// are missing}}.

import { readFile } from "node:fs/promises";

const {
  MAX_BUNDLE_BYTES,
  MAX_DISCLOSURE_BYTES,
  bindDisclosure,
  checkDisclosure,
  checkRecord,
  checkSummary,
  jobTag,
  keysFromFile,
  readBundle,
  readKeysFile,
} = await import(
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
const held = {};
for (const c of input.held || []) {
  let bytes = new Uint8Array(Buffer.from(c.bytes, "base64"));
  if (c.pad !== undefined) {
    const padded = new Uint8Array(MAX_BUNDLE_BYTES + c.pad).fill(0x20);
    padded.set(bytes);
    bytes = padded;
  }
  const { bundle, ...read } = readBundle(bytes);
  let bound = null;
  if (bundle) {
    const { recordCheck } = await checkDisclosure(new Uint8Array(Buffer.from(c.document, "base64")), c.job);
    const keys = await keysFromConsortium(c.consortium);
    bound = await bindDisclosure(bundle, keys, recordCheck.record, recordCheck.digest);
  }
  held[c.name] = { read, bound };
}
const heldKeys = {};
for (const c of input.heldKeys || []) {
  let bytes = new Uint8Array(Buffer.from(c.bytes, "base64"));
  if (c.pad !== undefined) {
    const padded = new Uint8Array(MAX_BUNDLE_BYTES + c.pad).fill(0x20);
    padded.set(bytes);
    bytes = padded;
  }
  const { data, ...read } = await readKeysFile(bytes);
  let missing = null;
  let bound = null;
  if (data) {
    const { bundle, size } = readBundle(new Uint8Array(Buffer.from(c.bundle, "base64")));
    const found = await keysFromFile({ data, ...read }, size);
    missing = found.missing;
    if (missing === null) {
      const { recordCheck } = await checkDisclosure(new Uint8Array(Buffer.from(c.document, "base64")), c.job);
      bound = await bindDisclosure(bundle, found.keys, recordCheck.record, recordCheck.digest);
    }
  }
  heldKeys[c.name] = { read, missing, bound };
}
const limits = { bundle: MAX_BUNDLE_BYTES, disclosure: MAX_DISCLOSURE_BYTES };
process.stdout.write(JSON.stringify({ tags, records, summaries, disclosures, bindings, held, heldKeys, limits }));
