// The entry of explorer/static/vendor/sm-crypto.js, the one third-party module the explorer serves: SM3 (GB/T 32905)
// and SM2 signature verification (GB/T 32918.2) from the npm package sm-crypto-v2, with the @noble packages it is
// built on. Bundled by build.mjs beside this file (`npm run build:vendor`); explorer/static/vendor/sm-crypto.d.ts
// types what it exports. explorer/static/log/smcrypto.js is the only module that imports the bundle.

import { sm2, sm3 } from "sm-crypto-v2";

export { sm3 };
export const { doVerifySignature } = sm2;
