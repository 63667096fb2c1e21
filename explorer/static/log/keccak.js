// Keccak-256 (the original Keccak padding 0x01, as Ethereum uses it; not NIST SHA3-256's 0x06), which WebCrypto
// does not offer: the block hash and the trie nodes of an evidence bundle's anchor part are hashed with it.
// Keccak-f[1600] on 25 lanes of 64 bits held as BigInt: slow next to native code, and ample for the few
// hundred bytes of a header and a proof's nodes.

const MASK = (1n << 64n) - 1n;
const RATE = 136; // bytes absorbed per permutation: 1600 - 2 × 256 bits

/** The 24 round constants (FIPS 202 §3.2.5), from the LFSR rc(t). */
const ROUND_CONSTANTS = (() => {
  /** @type {bigint[]} */
  const out = [];
  let r = 1;
  for (let round = 0; round < 24; round++) {
    let c = 0n;
    for (let j = 0; j < 7; j++) {
      if (r & 1) c |= 1n << BigInt((1 << j) - 1);
      r = r & 0x80 ? ((r << 1) ^ 0x71) & 0xff : (r << 1) & 0xff;
    }
    out.push(c);
  }
  return out;
})();

/** Rotation offsets of lane x + 5y (FIPS 202 §3.2.2). */
const ROTATIONS = (() => {
  const out = new Array(25).fill(0);
  let x = 1;
  let y = 0;
  for (let t = 0; t < 24; t++) {
    out[x + 5 * y] = (((t + 1) * (t + 2)) / 2) % 64;
    [x, y] = [y, (2 * x + 3 * y) % 5];
  }
  return out;
})();

/** @param {bigint} v @param {number} n */
function rotl(v, n) {
  if (n === 0) return v;
  const b = BigInt(n);
  return ((v << b) | (v >> (64n - b))) & MASK;
}

/** @param {bigint[]} a  the 25 lanes, permuted in place */
function permute(a) {
  /** @type {bigint[]} */
  const c = new Array(5).fill(0n);
  /** @type {bigint[]} */
  const b = new Array(25).fill(0n);
  for (let round = 0; round < 24; round++) {
    for (let x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
    for (let x = 0; x < 5; x++) {
      const d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
      for (let y = 0; y < 25; y += 5) a[x + y] ^= d;
    }
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y], ROTATIONS[x + 5 * y]);
    }
    for (let i = 0; i < 25; i++) {
      const x = i % 5;
      const row = i - x;
      a[i] = b[i] ^ (~b[row + ((x + 1) % 5)] & MASK & b[row + ((x + 2) % 5)]);
    }
    a[0] ^= ROUND_CONSTANTS[round];
  }
}

/** Keccak-256 of bytes: 32 bytes. */
export function keccak256(/** @type {Uint8Array} */ data) {
  const padded = new Uint8Array((Math.floor(data.length / RATE) + 1) * RATE);
  padded.set(data);
  padded[data.length] ^= 0x01;
  padded[padded.length - 1] ^= 0x80;
  /** @type {bigint[]} */
  const state = new Array(25).fill(0n);
  for (let block = 0; block < padded.length; block += RATE) {
    for (let lane = 0; lane < RATE / 8; lane++) {
      let v = 0n;
      for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(padded[block + 8 * lane + k]);
      state[lane] ^= v;
    }
    permute(state);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((state[i >> 3] >> BigInt(8 * (i & 7))) & 0xffn);
  return out;
}
