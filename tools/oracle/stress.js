// Generated stress texts for the tokenizer oracle: many scripts, whitespace runs, digits, emoji,
// contractions, literal special-token strings, empty and one-character strings, long runs, and
// random mixes of all of those (a fixed seed, so every run checks the same texts).
'use strict';

const SCRIPTS = [
  'The quick brown fox jumps over the lazy dog.', 'Größenwahn über Äpfel, Öl und Straße',
  'Ça a été très élégant, n’est-ce pas ? œuvre', 'Съешь же ещё этих мягких французских булок',
  'Ταχίστη αλώπηξ βαφής ψημένη γη', 'עברית: שלום עולם', 'العربية: مرحبا بالعالم ١٢٣',
  'हिन्दी: नमस्ते दुनिया', 'ภาษาไทย สวัสดีชาวโลก', '한국어 안녕하세요 세계', '日本語のテキスト、カタカナ、ひらがな。',
  '中文：你好，世界！数字１２３', 'Tiếng Việt: Xin chào thế giới', 'Türkçe: İstanbul ışık', 'ქართული ენა',
  'Հայերեն լեզու', 'ᚠᛇᚻ runes', 'ꦧꦱꦗꦮ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝟙𝟚𝟛', 'e\u0301 a\u0308 o\u0323\u0302 (combining)',
  'ﬁ ﬂ ﬃ ligatures', 'Ⅻ ⅻ ① ⑳ ½ ¾ ²³', '\u00a0nbsp\u00a0 \u2009thin\u200b zero-width\u200d joiner\ufeff',
  'nel\u0085ls\u2028ps\u2029ideo\u3000mvs\u180eend', 'tab\tvt\u000bff\u000ccr\rlf\n', 'ascii controls \u0001\u0002\u001f\u007f',
  'NFC: A\u030a \u212b d\u0307\u0323 \u1100\u1161\u11a8 \uac00\u11a8 \u0b47\u0b3e e\u0301\u0301 \u00e9\u0327',
];
const EMOJI = ['🙂', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷🇯🇵', '❤️', '🤖', '✈️', '🧑🏿‍🚀', '#️⃣', '😀😃😄😁'];
const WS = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n ', '\t \t', '\u00a0', '\u3000', '\n\n\n\n', '    \n'];
const DIGITS = ['0', '7', '42', '123', '1234', '12345', '1234567890', '3.14159', '1,000,000', '2024-01-31',
  '٣٤٥', '१२३', '१२३४५', '0x1F', '1e-9', '007'];
const WORDS = ["don't", "I'M", "we'LL", "it's", "they're", "you've", "she'd", "O'Neil", "rock'n'roll", "'s", "'t",
  'hello', 'Hello', 'HELLO', 'world', 'naïve', 'café', 'résumé', 'coöperate', 'übermäßig', 'ﬁnal', 'the', 'a', 'I',
  'http://example.com/a?b=c&d=e', 'user@example.org', '#hashtag', '@mention', '<html><body>x</body></html>',
  '```code```', '{"json": [1, 2]}', 'snake_case_name', 'CamelCaseName', '--flag=value', '$100.00', '50%', '—', '…',
  '“quoted”', '‘single’', '«guillemets»', '¿Qué?', '¡Hola!'];

function mulberry32(seed) {
  return function () {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// code points of one block, skipping surrogates (not representable in UTF-8)
function randomChar(rnd) {
  const blocks = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff],
    [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f], [0x2190, 0x22ff], [0x3040, 0x30ff],
    [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xff00, 0xffef], [0x1f300, 0x1faff], [0x1d400, 0x1d7ff], [0x0300, 0x036f]];
  const [a, b] = blocks[Math.floor(rnd() * blocks.length)];
  return String.fromCodePoint(a + Math.floor(rnd() * (b - a + 1)));
}

function texts(specials) {
  const out = ['', ' ', 'a', 'Z', '\n', '\t', '\r', '0', "'", '.', 'é', '中', '🙂', '\u00a0', '\u3000', '\u0085', '\u180e',
    '\u200b', '\ufeff', '▁', 'Ġ', '<', '>', '|'];
  for (const g of [SCRIPTS, EMOJI, WS, DIGITS, WORDS]) out.push(...g);
  out.push(SCRIPTS.join(' '), SCRIPTS.join('\n'), WORDS.join(' '), EMOJI.join(''), DIGITS.join(' '), WS.join('x'));
  const sp = specials.slice(0, 12);
  for (const s of sp) {
    out.push(s, ` ${s} `, `a${s}b`, `${s}${s}`, `${s}Hello world`, `Hello${s}`, `\n${s}\n`, s.slice(0, -1), s.slice(1),
      ` ${s.slice(0, -1)}`, `x ${s}  y`);
  }
  if (sp.length > 1) out.push(sp.join(''), sp.join(' '), sp.join('\n'));
  out.push(' '.repeat(5000), 'a'.repeat(10000), '\n'.repeat(3000), '1'.repeat(1000), '\t \n'.repeat(500),
    'ab'.repeat(3000), ' a'.repeat(2000), '🙂'.repeat(500), '中文'.repeat(1000), "'s".repeat(700), '.'.repeat(2000));
  const rnd = mulberry32(20240531);
  const pools = [SCRIPTS, EMOJI, WS, DIGITS, WORDS, sp.length ? sp : WORDS];
  for (let i = 0; i < 400; i++) {
    let s = '';
    const parts = Math.floor(rnd() * 24);
    for (let k = 0; k < parts; k++) {
      const r = rnd();
      if (r < 0.3) s += randomChar(rnd);
      else {
        const pool = pools[Math.floor(rnd() * pools.length)];
        const item = pool[Math.floor(rnd() * pool.length)];
        s += rnd() < 0.5 ? item : item.slice(0, Math.floor(rnd() * (item.length + 1)));
      }
    }
    out.push(s.replace(/[\ud800-\udfff]/g, (c, o, all) => (isLone(all, o) ? '?' : c)));
  }
  let big = '';
  for (let i = 0; i < 3000; i++) big += randomChar(rnd) + (rnd() < 0.2 ? ' ' : '');
  out.push(big);
  return out;
}

// a surrogate half left alone by slicing (not UTF-8 encodable)
function isLone(s, i) {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c < 0xdc00) return !(i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) < 0xe000);
  return !(i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) < 0xdc00);
}

module.exports = { texts };
