// Runs the explorer's SM2/SM3 modules (explorer/static/log/smcrypto.js, smnote.js, proof.js) under Node on the
// checks test_verify_js_suites.py writes, and prints the answers.
//
//   node sm_js_check.mjs CHECKS_JSON
//
// CHECKS_JSON is {"sm3": [hex], "verify": [{point, signature, message, signer_id?}], "vkeys": [vkey],
// "inclusion": [{leaf, index, size, proof, tree}]} (bytes in hex, tree "SHA-256" or "SM3"). The output (stdout) is
// {"sm3": [hex digest], "verify": [true | false | {"error"}], "vkeys": [{name, kind, key_id, point} | {"error"}],
//  "inclusion": [hex root | {"error"}]}: a CheckError is an answer ({"error": message}); anything else it throws
// fails the run.

import { readFile } from "node:fs/promises";

const base = new URL("../../../explorer/static/log/", import.meta.url);
const { fromHex, toHex } = await import(new URL("bytes.js", base).href);
const { CheckError } = await import(new URL("errors.js", base).href);
const { SHA256, SM3 } = await import(new URL("hashing.js", base).href);
const { rootFromInclusion } = await import(new URL("proof.js", base).href);
const { importSm2, sm3, verifySm2 } = await import(new URL("smcrypto.js", base).href);
const { decodeSm2Vkey } = await import(new URL("smnote.js", base).href);

const input = JSON.parse(await readFile(process.argv[2], "utf8"));

/** @param {() => Promise<unknown>} run */
async function answer(run) {
  try {
    return await run();
  } catch (exc) {
    if (exc instanceof CheckError) return { error: exc.message };
    throw exc;
  }
}

const out = { sm3: [], verify: [], vkeys: [], inclusion: [] };
for (const hex of input.sm3 ?? []) out.sm3.push(toHex(await sm3(fromHex(hex))));
for (const v of input.verify ?? []) {
  out.verify.push(
    await answer(async () => {
      const key = importSm2(fromHex(v.point), "the test key");
      return verifySm2(key, fromHex(v.signature), fromHex(v.message), v.signer_id);
    }),
  );
}
for (const vkey of input.vkeys ?? []) {
  out.vkeys.push(
    await answer(async () => {
      const k = await decodeSm2Vkey(vkey, "the test vkey");
      return { name: k.name, kind: k.kind, key_id: toHex(k.keyId), point: toHex(k.key.point) };
    }),
  );
}
for (const p of input.inclusion ?? []) {
  const tree = { "SHA-256": SHA256, SM3 }[p.tree];
  out.inclusion.push(
    await answer(async () =>
      toHex(await rootFromInclusion(fromHex(p.leaf), BigInt(p.index), BigInt(p.size), p.proof.map(fromHex), tree)),
    ),
  );
}
process.stdout.write(JSON.stringify(out));
