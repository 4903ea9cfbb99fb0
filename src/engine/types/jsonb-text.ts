// JSON text in the exact form PostgreSQL prints a jsonb value: keys sorted
// (shorter first, then bytewise) a duplicate key refused (jsonb would keep only the last), ", " and
// ": " between items, strings re-escaped the way jsonb_out does, numbers as
// numeric_out prints them. Writing this form makes a jsonb column read back
// byte for byte as it was written, which is what lets verification compare
// digests instead of re-reading the source (verify.ts). One pass, no
// JSON.parse: a number's digits must survive as written (1.50 stays 1.50).

/** Invalid JSON, or JSON that PostgreSQL's jsonb refuses; `at` is the character offset. */
export class JsonTextError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(`${message} at character ${at + 1}`);
  }
}

const WS = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;

// The parser's state lives at module level: closures created per call would
// cost more than the parsing itself at millions of values (tsx names each one).
let src = "";
let i = 0;
let depth = 0;

/**
 * Deeper documents are refused (naming the row) rather than parsed: the parser
 * recurses, and 100,000 levels would overflow the stack with no row named.
 * No app writes JSON this deep; PostgreSQL's own parser stops near here too.
 */
export const MAX_JSON_DEPTH = 2000;

/** Returns the jsonb text form of `text`, or throws JsonTextError. */
export function jsonbText(text: string): string {
  src = text;
  i = 0;
  depth = 0;
  const result = value();
  skip();
  if (i < src.length) fail("unexpected text after the JSON value");
  return result;
}

function fail(what: string): never {
  throw new JsonTextError(i >= src.length ? "unexpected end of JSON" : what, i);
}

function skip(): void {
  while (i < src.length && WS(src.charCodeAt(i))) i++;
}

/** src[i] is the opening quote; returns the decoded string. */
function string(): string {
  i++;
  let out = "";
  let start = i;
  for (;;) {
    if (i >= src.length) fail("unterminated string");
    const c = src.charCodeAt(i);
    if (c === 0x22) {
      out += src.slice(start, i);
      i++;
      return out;
    }
    if (c < 0x20) fail("a control character must be escaped in a JSON string");
    if (c !== 0x5c) {
      i++;
      continue;
    }
    out += src.slice(start, i);
    const e = src[i + 1];
    i += 2;
    switch (e) {
      case '"':
        out += '"';
        break;
      case "\\":
        out += "\\";
        break;
      case "/":
        out += "/";
        break;
      case "b":
        out += "\b";
        break;
      case "f":
        out += "\f";
        break;
      case "n":
        out += "\n";
        break;
      case "r":
        out += "\r";
        break;
      case "t":
        out += "\t";
        break;
      case "u": {
        const cp = hex4(i);
        i += 4;
        if (cp === 0) fail("\\u0000 cannot be stored in jsonb");
        if (cp >= 0xdc00 && cp <= 0xdfff) fail("a lone surrogate \\u escape (a low surrogate with no high one before it)");
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (src[i] !== "\\" || src[i + 1] !== "u") fail("a lone surrogate \\u escape (a high surrogate with no low one after it)");
          const lo = hex4(i + 2);
          if (lo < 0xdc00 || lo > 0xdfff) fail("a lone surrogate \\u escape (a high surrogate with no low one after it)");
          i += 6;
          out += String.fromCharCode(cp, lo);
        } else out += String.fromCharCode(cp);
        break;
      }
      default:
        i -= 2;
        fail("an invalid escape in a JSON string");
    }
    start = i;
  }
}

function hex4(at: number): number {
  const h = src.slice(at, at + 4);
  if (!/^[0-9a-fA-F]{4}$/.test(h)) {
    i = at;
    fail("\\u must be followed by four hex digits");
  }
  return parseInt(h, 16);
}

function value(): string {
  skip();
  const c = src.charCodeAt(i);
  if (c === 0x7b || c === 0x5b) {
    if (++depth > MAX_JSON_DEPTH) throw new JsonTextError(`arrays and objects are nested more than ${MAX_JSON_DEPTH} levels deep`, i);
    const nested = c === 0x7b ? object() : array();
    depth--;
    return nested;
  }
  if (c === 0x22) return quote(string());
  if (src.startsWith("true", i)) return ((i += 4), "true");
  if (src.startsWith("false", i)) return ((i += 5), "false");
  if (src.startsWith("null", i)) return ((i += 4), "null");
  NUMBER.lastIndex = i;
  const m = NUMBER.exec(src);
  if (!m) return fail("expected a JSON value");
  i += m[0].length;
  return numericText(m[0]);
}

function object(): string {
  i++;
  const keys: string[] = [];
  const values: string[] = [];
  skip();
  if (src.charCodeAt(i) === 0x7d) return (i++, "{}");
  for (;;) {
    skip();
    if (src.charCodeAt(i) !== 0x22) fail("expected a string key");
    keys.push(string());
    skip();
    if (src.charCodeAt(i) !== 0x3a) fail('expected ":"');
    i++;
    values.push(value());
    skip();
    const c = src.charCodeAt(i);
    i++;
    if (c === 0x7d) break;
    if (c !== 0x2c) {
      i--;
      fail('expected "," or "}"');
    }
  }
  return "{" + sortedPairs(keys, values) + "}";
}

function array(): string {
  i++;
  skip();
  if (src.charCodeAt(i) === 0x5d) return (i++, "[]");
  let out = "[";
  for (;;) {
    out += value();
    skip();
    const c = src.charCodeAt(i);
    i++;
    if (c === 0x5d) return out + "]";
    if (c !== 0x2c) {
      i--;
      fail('expected "," or "]"');
    }
    out += ", ";
  }
}

/**
 * jsonb orders keys by UTF-8 length, then bytes. It would keep only the last
 * value of a duplicate key, silently: such an object is refused instead (the
 * column can be cast to json, which keeps the text as written).
 */
function sortedPairs(keys: string[], values: string[]): string {
  const n = keys.length;
  if (n === 1) return quote(keys[0]!) + ": " + values[0];
  if (n === 2 && isAscii(keys[0]!) && isAscii(keys[1]!)) {
    const [a, b] = keys as [string, string];
    if (a === b) throw duplicateKey(a);
    const first = a.length - b.length || (a < b ? -1 : 1);
    return first < 0 ? quote(a) + ": " + values[0] + ", " + quote(b) + ": " + values[1] : quote(b) + ": " + values[1] + ", " + quote(a) + ": " + values[0];
  }
  // Rows of one column mostly share their objects' keys, in the same order:
  // the sorted order and the quoted keys are worked out once per key list.
  // A small cache, by key count and the first and last keys' lengths, is
  // checked first, key by key: cheaper than building a signature to look up.
  const slot = (n * 31 + keys[0]!.length * 7 + keys[n - 1]!.length) & (LAST.length - 1);
  let known = LAST[slot];
  if (!known || !sameKeys(known.keys, keys)) {
    let sig = "";
    for (let k = 0; k < n; k++) sig += keys[k]!.length + ":" + keys[k]!;
    known = ORDERS.get(sig);
    if (!known) {
      const order = keyOrder(keys);
      known = { keys, order, quoted: order.map((k) => quote(keys[k]!) + ": ") };
      if (ORDERS.size >= MAX_ORDERS) ORDERS.clear();
      ORDERS.set(sig, known);
    }
    LAST[slot] = known;
  }
  let out = known.quoted[0]! + values[known.order[0]!];
  for (let j = 1; j < known.order.length; j++) out += ", " + known.quoted[j]! + values[known.order[j]!];
  return out;
}

interface KeyList {
  keys: string[];
  order: number[];
  quoted: string[];
}
const ORDERS = new Map<string, KeyList>();
const MAX_ORDERS = 4096;
/** key lists met last, by a cheap hash of their shape (a power of two slots) */
const LAST: (KeyList | undefined)[] = new Array(64).fill(undefined);

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < b.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

const duplicateKey = (key: string) => new JsonTextError(`the object has the key ${quote(key).slice(0, 60)} twice; jsonb would keep only the last value`, 0);

/** Indexes of `keys` in jsonb's order; a duplicate key is refused. */
function keyOrder(keys: string[]): number[] {
  const n = keys.length;
  const idx = Array.from({ length: n }, (_, k) => k);
  const ascii = keys.every(isAscii);
  const bytes = ascii ? undefined : keys.map((k) => Buffer.from(k, "utf8"));
  idx.sort((a, b) => {
    const ka = keys[a]!;
    const kb = keys[b]!;
    let d: number;
    if (bytes) d = bytes[a]!.length - bytes[b]!.length || Buffer.compare(bytes[a]!, bytes[b]!);
    else d = ka.length - kb.length || (ka < kb ? -1 : ka > kb ? 1 : 0);
    return d || b - a; // equal keys: the later one first, so it is the one kept
  });
  const order: number[] = [];
  let prev: string | undefined;
  for (const k of idx) {
    if (prev !== undefined && keys[k] === prev) throw duplicateKey(prev);
    prev = keys[k];
    order.push(k);
  }
  return order;
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;
const isAscii = (k: string) => !NON_ASCII.test(k);

// jsonb_out's escape_json: these six by name, other control characters as \u00xx.
// eslint-disable-next-line no-control-regex
const NEEDS_JSON_ESCAPE = /["\\\u0000-\u001f]/;
// eslint-disable-next-line no-control-regex
const JSON_ESCAPES = /["\\\u0000-\u001f]/g;
const NAMED: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t" };
function quote(s: string): string {
  if (!NEEDS_JSON_ESCAPE.test(s)) return '"' + s + '"';
  return '"' + s.replace(JSON_ESCAPES, (c) => NAMED[c] ?? "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) + '"';
}

/** numeric_out of numeric_in(literal): the exponent applied, the scale kept, no negative zero. */
export function numericText(literal: string): string {
  const e = literal.search(/[eE]/);
  let neg = literal.charCodeAt(0) === 0x2d;
  // Without an exponent numeric_out prints the literal as written, but for a negative zero.
  if (e < 0) return neg && !/[1-9]/.test(literal) ? literal.slice(1) : literal;
  const mantissa = (e < 0 ? literal : literal.slice(0, e)).slice(neg ? 1 : 0);
  const point = mantissa.indexOf(".");
  let int = point < 0 ? mantissa : mantissa.slice(0, point);
  let frac = point < 0 ? "" : mantissa.slice(point + 1);
  if (e >= 0) {
    const exp = Number(literal.slice(e + 1));
    // numeric's own limits are near here; beyond them PostgreSQL refuses the value anyway.
    if (Math.abs(exp) > 100_000) throw new JsonTextError(`the number ${literal.slice(0, 40)} is out of range for jsonb`, 0);
    const digits = int + frac;
    let p = int.length + exp; // where the point goes in `digits`
    const scale = Math.max(0, frac.length - exp);
    if (p <= 0) {
      int = "0";
      frac = "0".repeat(-p) + digits;
      p = 0;
    } else if (p >= digits.length) {
      int = digits + "0".repeat(p - digits.length);
      frac = "";
    } else {
      int = digits.slice(0, p);
      frac = digits.slice(p);
    }
    frac = frac.slice(0, scale).padEnd(scale, "0");
    int = int.replace(/^0+(?=\d)/, "");
  }
  if (neg && !/[1-9]/.test(int) && !/[1-9]/.test(frac)) neg = false;
  return (neg ? "-" : "") + int + (frac ? "." + frac : "");
}
