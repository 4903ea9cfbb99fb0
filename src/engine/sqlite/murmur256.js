"use strict";
// native/fingerprint.c in JavaScript, for PGSHIFT_NATIVE=off: the same
// "murmur256:" fingerprint from the same bytes, so a file's fingerprint never
// depends on which path took it. Four lanes of MurmurHash3's 64-bit mixing
// (native/mix.h) over 32-byte blocks, a zero-padded tail, each file closed by
// its length, the lanes finished with fmix. Plain JavaScript: the fingerprint
// worker (fingerprint.ts) requires it without a TypeScript loader.
//
// JavaScript has no 64-bit integer arithmetic short of BigInt (~50x slower), so
// each 64-bit word is a pair of unsigned 32-bit halves: `hi` and `lo`.
const { readSync } = require("node:fs");

const CHUNK = 1 << 20; // as fingerprint.c: a multiple of 32

// The product of two 64-bit words modulo 2^64, left in rh:rl.
let rh = 0;
let rl = 0;
function mul(ah, al, bh, bl) {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const p00 = a0 * b0;
  const mid = (p00 >>> 16) + a1 * b0; // < 2^32
  const mid2 = (mid & 0xffff) + a0 * b1; // < 2^32
  rl = (((mid2 & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  // The high half: al*bl's carry out, plus the cross terms' low halves (the rest falls off the top).
  rh = ((mid >>> 16) + (mid2 >>> 16) + a1 * b1 + Math.imul(al, bh) + Math.imul(ah, bl)) >>> 0;
}

// MurmurHash3's constants (mix.h), as halves.
const C1H = 0x87c37b91;
const C1L = 0x114253d5;
const C2H = 0x4cf5ad43;
const C2L = 0x2745937f;
const F1H = 0xff51afd7;
const F1L = 0xed558ccd;
const F2H = 0xc4ceb9fe;
const F2L = 0x1a85ec53;

/** lanes (8 halves: hi, lo per lane); mix_word(lane[j], k) for k = kh:kl. */
function mixWord(lanes, j, kh, kl) {
  mul(kh, kl, C1H, C1L);
  // rotl 31
  const th = ((rh << 31) | (rl >>> 1)) >>> 0;
  const tl = ((rl << 31) | (rh >>> 1)) >>> 0;
  mul(th, tl, C2H, C2L);
  const hh = (lanes[2 * j] ^ rh) >>> 0;
  const hl = (lanes[2 * j + 1] ^ rl) >>> 0;
  // rotl 27, * 5, + 0x52dce729
  const xh = ((hh << 27) | (hl >>> 5)) >>> 0;
  const xl = ((hl << 27) | (hh >>> 5)) >>> 0;
  mul(xh, xl, 0, 5);
  const lo = rl + 0x52dce729;
  lanes[2 * j + 1] = lo >>> 0;
  lanes[2 * j] = (rh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

function fmix(h, l) {
  l = (l ^ (h >>> 1)) >>> 0; // k ^= k >> 33
  mul(h, l, F1H, F1L);
  h = rh;
  l = (rl ^ (rh >>> 1)) >>> 0;
  mul(h, l, F2H, F2L);
  h = rh;
  l = (rl ^ (rh >>> 1)) >>> 0;
  return h.toString(16).padStart(8, "0") + l.toString(16).padStart(8, "0");
}

/** The fingerprint of the files open on these descriptors, read from offset 0: what pgshift_fingerprint(fd, ...) returns, "murmur256:" included. */
function murmur256(fds) {
  const lanes = new Uint32Array([0x9e3779b9, 0x7f4a7c15, 0xc2b2ae3d, 0x27d4eb4f, 0x165667b1, 0x9e3779f9, 0x27d4eb2f, 0x165667c5]);
  const memory = new ArrayBuffer(CHUNK);
  const bytes = Buffer.from(memory);
  const words = new Uint32Array(memory); // little-endian, as the C's memcpy on the machines pgshift runs on
  fds.forEach((fd, f) => {
    let length = 0;
    for (;;) {
      let n = 0;
      for (let got; n < CHUNK && (got = readSync(fd, bytes, n, CHUNK - n, length + n)) > 0;) n += got;
      const whole = n & ~31;
      for (let i = 0; i < whole; i += 32) {
        const w = i >>> 2;
        for (let j = 0; j < 4; j++) mixWord(lanes, j, words[w + 2 * j + 1], words[w + 2 * j]);
      }
      if (whole < n) {
        bytes.fill(0, n, whole + 32);
        const w = whole >>> 2;
        for (let j = 0; j < 4; j++) mixWord(lanes, j, words[w + 2 * j + 1], (words[w + 2 * j] ^ 0xa5) >>> 0);
      }
      length += n;
      if (n < CHUNK) break;
    }
    // Each file's length closes it: length ^ (f << 56) ^ j.
    const lh = Math.floor(length / 0x100000000);
    const ll = length >>> 0;
    for (let j = 0; j < 4; j++) mixWord(lanes, j, (lh ^ (f << 24)) >>> 0, (ll ^ j) >>> 0);
  });
  let hex = "";
  for (let j = 0; j < 4; j++) {
    const n = (j + 1) & 3;
    // lane[j] ^ rotl(lane[j + 1], 17)
    const h = (lanes[2 * j] ^ ((lanes[2 * n] << 17) | (lanes[2 * n + 1] >>> 15))) >>> 0;
    const l = (lanes[2 * j + 1] ^ ((lanes[2 * n + 1] << 17) | (lanes[2 * n] >>> 15))) >>> 0;
    hex += fmix(h, l);
  }
  return "murmur256:" + hex;
}

module.exports = { murmur256 };
