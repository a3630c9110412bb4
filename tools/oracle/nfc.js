// The reference side of depthfuse's NFC test: Hugging Face tokenizers' NFC normalizer applied to
// every code point (alone, between 'a' and U+0301, before U+0323 U+0307) and to random sequences
// of starters, combining marks and Hangul jamo.
//   node nfc.js OUT   OUT: per case u32 length + UTF-8 input, u32 length + UTF-8 NFC, little-endian
'use strict';
const fs = require('fs');
const { nfcNormalizer } = require('tokenizers');

function mulberry32(seed) {
  return function () {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const nfc = nfcNormalizer();
const parts = [];
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
function add(s) {
  const a = Buffer.from(s, 'utf8'), b = Buffer.from(nfc.normalizeString(s), 'utf8');
  parts.push(u32(a.length), a, u32(b.length), b);
}
// '|' never composes and is a starter, so it keeps the variants of many code points apart
for (let base = 0; base < 0x110000; base += 256) {
  let s = '';
  for (let c = base; c < base + 256; c++) {
    if (c >= 0xd800 && c < 0xe000) continue;
    const ch = String.fromCodePoint(c);
    s += `${ch}|a${ch}\u0301|${ch}\u0323\u0307|`;
  }
  add(s);
}
const pool = [];
for (const [a, b] of [[0x300, 0x36f], [0x591, 0x5c7], [0x610, 0x61a], [0x64b, 0x65f], [0x93c, 0x94d], [0xe31, 0xe3a],
  [0x1100, 0x1112], [0x1161, 0x1175], [0x11a8, 0x11c2], [0x1dc0, 0x1dff], [0x20d0, 0x20f0], [0x3099, 0x309a]])
  for (let c = a; c <= b; c++) pool.push(String.fromCodePoint(c));
pool.push(...'aeiouAEIOUnNcCsSzZ\u00e9\u00c5\u1e69\uac00\uac01\u0b47\u0b3e\u0d46\u0d3e\u1025\u102e\u3046\u304b'.split(''));
const rnd = mulberry32(7);
for (let i = 0; i < 20000; i++) {
  let s = '';
  for (let k = 1 + Math.floor(rnd() * 8); k > 0; k--) s += pool[Math.floor(rnd() * pool.length)];
  add(s);
}
fs.writeFileSync(process.argv[2], Buffer.concat(parts));
