// Value converters: one SQLite value in, one COPY text field out. These run for
// every value of every row, so they avoid allocation on the common path and
// leave the rare cases (escapes, U+FFFD, big integers) to slower branches.
// Each writes the value the way PostgreSQL prints it back (the jsonb form,
// float8out's layout, no trailing zeros in fractions of a second, lower-case
// UUIDs), so a loaded table reads back byte for byte as it was sent and
// verification can compare digests. Which converter a column gets is
// column-types.ts's to say.
import { JsonTextError, jsonbText, numericText } from "./jsonb-text";

/**
 * How numbers in a date/time column are read: unix epoch seconds, milliseconds
 * (JavaScript's Date.now()), microseconds, or SQLite julian day numbers.
 */
export type NumericDateUnit = "epoch-s" | "epoch-ms" | "epoch-us" | "julian" | "yyyymmdd";

export const NUMERIC_DATE_UNITS: Record<NumericDateUnit, string> = {
  "epoch-s": "epoch seconds",
  "epoch-ms": "epoch milliseconds",
  "epoch-us": "epoch microseconds",
  julian: "julian day numbers",
  yyyymmdd: "YYYYMMDD dates (20240101 is 2024-01-01)",
};

/** Thrown by a converter; the copy loop adds table, key and column. */
export class Reject {
  constructor(
    readonly reason: string,
    readonly hint?: string,
  ) {}
}

/** `trusted`: the text was already checked to be valid UTF-8 (it holds a real U+FFFD). */
export type Converter = (v: unknown, trusted?: boolean) => string;

export const NULL_FIELD = "\\N";
// Backspace, form feed and vertical tab too: COPY TO escapes them, so must we.
const NEEDS_ESCAPE = /[\\\n\r\t\b\f\v]/;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v" };

/** COPY text format escaping. */
export function escapeCopy(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(/[\\\n\r\t\b\f\v]/g, (c) => ESCAPES[c]!) : s;
}

/** A COPY text field back to its value (null for \\N). */
export function unescapeCopy(field: string): string | null {
  if (field === "\\N") return null;
  if (field.indexOf("\\") === -1) return field;
  return field.replace(/\\(.)/g, (_m, c: string) => ({ n: "\n", r: "\r", t: "\t", b: "\b", f: "\f", v: "\v" })[c] ?? c);
}

/** float8out's layout (extra_float_digits = 1): shortest digits, exponent form below 1e-4 and from 1e15. */
export function float8Text(v: number): string {
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const a = Math.abs(v);
  if (a >= 1e-4 && a < 1e15) return String(v);
  let e = v.toExponential();
  if (a >= 2 ** 53 && onRoundingBoundary(v, e)) {
    // JavaScript accepts a shortest decimal lying exactly halfway to the next
    // double; PostgreSQL's Ryu does not and prints more digits.
    const digits = e.replace(/^-|e.*$|\./g, "").length;
    for (let n = digits + 1; n <= 17; n++) {
      const longer = v.toExponential(n - 1);
      if (Number(longer) === v && !onRoundingBoundary(v, longer)) {
        e = longer;
        break;
      }
    }
  }
  const [mantissa, exp] = e.split("e") as [string, string];
  return `${mantissa}e${exp[0] === "-" ? "-" : "+"}${exp.slice(1).padStart(2, "0")}`;
}

/**
 * A REAL in a text column, so that it still reads as one: the shortest digits
 * that give the same double, `.0` on a whole number (2.0 stays "2.0", not the
 * integer's "2"), the sign of −0.0 kept ("-0.0").
 */
export function realText(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  const t = float8Text(v);
  return /[.e]/.test(t) ? t : t + ".0";
}

/** Whether decimal `text` is exactly halfway between integer-valued double `v` and a neighbour. */
function onRoundingBoundary(v: number, text: string): boolean {
  const m = /^(-?)(\d)(?:\.(\d+))?e([-+]\d+)$/.exec(text);
  if (!m) return false;
  const frac = m[3] ?? "";
  const shift = Number(m[4]) - frac.length;
  if (shift < 0) return false;
  const value = BigInt(`${m[1]}${m[2]}${frac}`) * 10n ** BigInt(shift);
  const exact = BigInt(v);
  if (value === exact) return false;
  const neighbour = value > exact ? nextDouble(v, 1) : nextDouble(v, -1);
  return exact + BigInt(neighbour) === 2n * value;
}

const f64 = new Float64Array(1);
const u64 = new BigInt64Array(f64.buffer);
function nextDouble(v: number, direction: 1 | -1): number {
  f64[0] = v;
  u64[0] = u64[0]! + (v > 0 === direction > 0 ? 1n : -1n);
  return f64[0]!;
}

const INT_TEXT = /^\s*[-+]?\d+\s*$/;
const NUM_TEXT = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/** Integers between lo and hi (the range of PostgreSQL's `kind`). */
export function integerConverter(kind: string, lo: bigint, hi: bigint): Converter {
  const loN = Number(lo);
  const hiN = Number(hi);
  return (v) => {
    if (v === null) return NULL_FIELD;
    if (typeof v === "number") {
      if (Number.isInteger(v)) {
        if (Number.isSafeInteger(v) ? v < loN || v > hiN : BigInt(v) < lo || BigInt(v) > hi) {
          // A REAL beyond 2^53 printed with all its digits (2^63 is 9223372036854775808, not …776000).
          throw new Reject(`${Number.isSafeInteger(v) ? v : `the REAL ${BigInt(v)}`} is out of range for ${kind}`);
        }
        return Number.isSafeInteger(v) ? String(v) : BigInt(v).toString();
      }
      throw new Reject(`${v} is not a whole number`, "Override the column's cast to numeric or double precision to keep fractions.");
    }
    if (typeof v === "bigint") {
      if (v < lo || v > hi) throw new Reject(`${v} is out of range for ${kind}`);
      return v.toString();
    }
    if (typeof v === "string") {
      if (INT_TEXT.test(v)) {
        const b = BigInt(v.trim());
        if (b < lo || b > hi) throw new Reject(`${v} is out of range for ${kind}`);
        return b.toString();
      }
      throw new Reject("text in an integer column", "Fix the row in SQLite, or override the column's cast to text.");
    }
    throw new Reject("a blob in an integer column");
  };
}

const TRUE_WORDS = new Set(["t", "true", "yes", "y", "on", "1"]);
const FALSE_WORDS = new Set(["f", "false", "no", "n", "off", "0"]);

export const booleanConverter: Converter = (v) => {
  if (v === null) return NULL_FIELD;
  if (v === 1 || v === 1n) return "t";
  if (v === 0 || v === 0n) return "f";
  if (typeof v === "string") {
    const w = v.trim().toLowerCase();
    if (TRUE_WORDS.has(w)) return "t";
    if (FALSE_WORDS.has(w)) return "f";
  }
  throw new Reject("not a boolean (expected 0/1, t/f, true/false, yes/no)");
};

export const doubleConverter: Converter = (v) => {
  if (v === null) return NULL_FIELD;
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "NaN";
    return v === Infinity ? "Infinity" : v === -Infinity ? "-Infinity" : float8Text(v);
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") {
    const t = v.trim();
    if (NUM_TEXT.test(t)) return t;
    if (/^[-+]?(nan|inf|infinity)$/i.test(t)) return /nan/i.test(t) ? "NaN" : t.startsWith("-") ? "-Infinity" : "Infinity";
    throw new Reject("text that is not a number in a REAL column", "Override the column's cast to text to keep it.");
  }
  throw new Reject("a blob in a REAL column");
};

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$/;

export function numericConverter(scale: number | undefined): Converter {
  // numeric(p,s) prints s fraction digits; padding here (never rounding: that is
  // PostgreSQL's to do, on the exact text) makes the value read back as sent.
  const padded = (literal: string) => {
    const t = JSON_NUMBER.test(literal) ? numericText(literal) : literal;
    if (scale === undefined) return t;
    const point = t.indexOf(".");
    const have = point < 0 ? 0 : t.length - point - 1;
    if (have >= scale) return t;
    return (point < 0 ? t + (scale > 0 ? "." : "") : t) + "0".repeat(scale - have);
  };
  return (v) => {
    if (v === null) return NULL_FIELD;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new Reject(`${v} cannot be stored in numeric`, "Override the column's cast to double precision.");
      return padded(String(v));
    }
    if (typeof v === "bigint") return padded(v.toString());
    if (typeof v === "string" && NUM_TEXT.test(v)) return padded(v.trim());
    throw new Reject("not a number in a NUMERIC column", "Override the column's cast to text to keep it.");
  };
}

function checkText(s: string, trusted = false): void {
  if (s.indexOf("\u0000") !== -1) {
    throw new Reject("text contains a NUL byte, which PostgreSQL text cannot hold", "Override the column's cast to bytea to keep the bytes.");
  }
  if (!trusted && s.indexOf("\uFFFD") !== -1) throw new InvalidUtf8Suspect();
}

/**
 * better-sqlite3 turns invalid UTF-8 into U+FFFD silently. A value holding
 * U+FFFD is re-read as bytes by the copy loop to tell a real U+FFFD from
 * broken text.
 */
export class InvalidUtf8Suspect {}

const utf8 = new TextDecoder("utf-8", { fatal: true });
export function decodeUtf8Strict(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Reject("text is not valid UTF-8", "Override the column's cast to bytea to keep the bytes.");
  }
}

export function textConverter(maxLength?: number): Converter {
  return (v, trusted) => {
    if (v === null) return NULL_FIELD;
    let s: string;
    if (typeof v === "string") s = v;
    else if (typeof v === "number" || typeof v === "bigint") s = String(v);
    else if (Buffer.isBuffer(v)) s = decodeUtf8Strict(v);
    else throw new Reject(`unexpected value of type ${typeof v}`);
    // One scan for the common case, text with nothing to refuse, re-read or escape.
    const plain = !TEXT_ATTENTION.test(s);
    if (!plain) checkText(s, trusted);
    if (maxLength !== undefined && s.length > maxLength && [...s].length > maxLength) {
      throw new Reject(`text is ${[...s].length} characters, longer than varchar(${maxLength})`, "Override the column's cast to text to widen it.");
    }
    return plain ? s : escapeCopy(s);
  };
}

/** What checkText refuses or questions (NUL, U+FFFD) and what escapeCopy escapes. */
// eslint-disable-next-line no-control-regex
const TEXT_ATTENTION = /[\u0000\uFFFD\\\n\r\t\b\f\v]/;

/**
 * PostgreSQL json: the text exactly as written (duplicate keys, spacing and
 * key order kept), checked to be JSON; numbers SQLite stored natively as their digits.
 */
export const jsonTextConverter: Converter = (v, trusted) => {
  if (v === null) return NULL_FIELD;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Reject(`${v} is not a JSON number`);
    return String(v);
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v !== "string") throw new Reject("a blob in a JSON column");
  checkText(v, trusted);
  try {
    JSON.parse(v);
  } catch (e) {
    throw new Reject(`not valid JSON (${(e as Error).message})`, "Fix the row, or override the column's cast to text to keep it as text.");
  }
  return escapeCopy(v);
};

export const jsonConverter: Converter = (v, trusted) => {
  if (v === null) return NULL_FIELD;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Reject(`${v} is not a JSON number`);
    return numericText(String(v));
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v !== "string") throw new Reject("a blob in a JSON column");
  checkText(v, trusted);
  let text: string;
  try {
    text = jsonbText(v);
  } catch (e) {
    // A stack overflow is the document's depth, not pgshift's failure: name its row like any refusal.
    if (e instanceof RangeError)
      throw new Reject("JSON nested too deeply to convert", "Fix the row, or override the column's cast to text to keep it as text.");
    if (!(e instanceof JsonTextError)) throw e;
    throw new Reject(`not valid JSON for jsonb (${e.message})`, "Fix the row, or override the column's cast to text to keep it as text.");
  }
  return escapeCopy(text);
};

// Text in a BLOB column is its UTF-8 bytes (the stated rule: the bytes the
// app wrote); a number has no bytes of its own, and the digits of its text
// would pass for data the app never wrote, so it is refused.
export const byteaConverter: Converter = (v) => {
  if (v === null) return NULL_FIELD;
  if (Buffer.isBuffer(v)) return "\\\\x" + v.toString("hex");
  if (typeof v === "string") return "\\\\x" + Buffer.from(v, "utf8").toString("hex");
  throw new Reject(
    `a number (${typeof v === "number" ? float8Text(v) : String(v)}) in a BLOB column, which holds bytes`,
    "Fix the row (store its bytes), or override the column's cast to text, numeric or double precision if the column holds numbers.",
  );
};

const UUID_TEXT = /^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$/;
/** 32 lower-case hex digits in uuid_out's 8-4-4-4-12 layout. */
const uuidLayout = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
export const uuidConverter: Converter = (v) => {
  if (v === null) return NULL_FIELD;
  if (typeof v === "string" && UUID_TEXT.test(v.trim())) return uuidLayout(v.trim().replace(/[{}-]/g, "").toLowerCase());
  if (Buffer.isBuffer(v) && v.length === 16) return uuidLayout(v.toString("hex"));
  throw new Reject("not a UUID");
};
