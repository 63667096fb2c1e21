// The entry of explorer/static/vendor/sm-crypto.js, the one third-party module the explorer serves: SM3 (GB/T 32905)
// and SM2 signature verification (GB/T 32918.2) from the npm package sm-crypto-v2, and from the @noble packages it
// is built on the point arithmetic the disclosure check of the job page needs for the VRF proofs of the intl suite
// (explorer/static/vrf.js): the edwards25519 group with SHA-512. Bundled by build.mjs beside this file
// (`npm run build:vendor`); explorer/static/vendor/sm-crypto.d.ts types what it exports. explorer/static/log/smcrypto.js and
// explorer/static/vrf.js are the only modules that import the bundle.

import { ed25519 } from "@noble/curves/ed25519";
import { sha512 } from "@noble/hashes/sha2";
import { sm2, sm3 } from "sm-crypto-v2";

export { sm3, sha512 };
export const { doVerifySignature } = sm2;

/** The points of edwards25519 (RFC 8032; noble's ``ed25519.Point``). */
export const Ed25519Point = ed25519.Point;
