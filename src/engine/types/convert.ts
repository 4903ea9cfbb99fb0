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

// 'YYYY-MM-DD', then optional time, fraction and zone.
const TS = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

function parseTimestamp(
  text: string,
  withTime: boolean,
): { y: number; mo: number; d: number; h: number; mi: number; s: number; frac: string; offsetMin: number | null } {
  const m = TS.exec(text.trim());
  if (!m) throw new Reject(withTime ? "not an ISO-8601 date/time ('YYYY-MM-DD HH:MM:SS[.ffffff][Z|±HH:MM]')" : "not an ISO-8601 date ('YYYY-MM-DD')");
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = m[4] ? Number(m[4]) : 0;
  const mi = m[5] ? Number(m[5]) : 0;
  const s = m[6] ? Number(m[6]) : 0;
  const frac = m[7] ? m[7].replace(/0+$/, "") : "";
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = mo === 2 && leap ? 29 : (DAYS[mo - 1] ?? 0);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > dim || h > 23 || mi > 59 || s > 59) throw new Reject("an impossible date or time");
  if (m[7] && m[7].length > 6) throw new Reject("more than 6 fractional second digits (PostgreSQL keeps microseconds)");
  let offsetMin: number | null = null;
  if (m[8]) {
    if (m[8] === "Z" || m[8] === "z") offsetMin = 0;
    else {
      const sign = m[8][0] === "-" ? -1 : 1;
      const digits = m[8].slice(1).replace(":", "");
      offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0));
    }
  }
  return { y, mo, d, h, mi, s, frac, offsetMin };
}

function formatUtc(ms: number, micros: string): string {
  const dt = new Date(ms);
  if (Number.isNaN(dt.getTime())) throw new Reject("an impossible date or time");
  return `${pad(dt.getUTCFullYear(), 4)}-${pad(dt.getUTCMonth() + 1)}-${pad(dt.getUTCDate())} ${pad(dt.getUTCHours())}:${pad(dt.getUTCMinutes())}:${pad(dt.getUTCSeconds())}${micros ? "." + micros : ""}`;
}

function epochToTimestamp(v: number): string {
  if (!Number.isFinite(v)) throw new Reject(`${v} is not a unix time`);
  const whole = Math.floor(v);
  const micros = Math.round((v - whole) * 1e6);
  return formatUtc(whole * 1000, micros ? pad(micros, 6).replace(/0+$/, "") : "");
}

// 1900-01-01 and the last millisecond of 9999: a reading outside is a wrong unit, not a date.
const MIN_MS = -2208988800000;
const MAX_MS = 253402300799999;
// SQLite's julianday() of the unix epoch, in milliseconds (SQLite itself rounds julian days to ms).
const JULIAN_EPOCH_MS = 210866760000000;

/** 20240101 as "2024-01-01 00:00:00": an integer whose digits are a date from 1900 to 9999. */
function yyyymmddToTimestamp(v: number): string {
  const y = Math.floor(v / 10000);
  const mo = Math.floor(v / 100) % 100;
  const d = v % 100;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = mo === 2 && leap ? 29 : (DAYS[mo - 1] ?? 0);
  if (!Number.isInteger(v) || y < 1900 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > dim) {
    throw new Reject(
      `${v} is not a YYYYMMDD date from 1900 to 9999`,
      "Fix the row, or choose another reading with --cast table.column=timestamp:epoch-s|epoch-ms|epoch-us|julian.",
    );
  }
  return `${pad(y, 4)}-${pad(mo)}-${pad(d)} 00:00:00`;
}

/** A number in a date/time column, read in the column's unit (numeric-dates.ts decided it). */
function numberToTimestamp(v: number, unit: NumericDateUnit): string {
  if (!Number.isFinite(v)) throw new Reject(`${v} is not a date`);
  if (unit === "yyyymmdd") return yyyymmddToTimestamp(v);
  let ms: number;
  let micros = "";
  if (unit === "epoch-s") ms = v * 1000;
  else if (unit === "epoch-ms") ms = v;
  else if (unit === "epoch-us") ms = v / 1000;
  else ms = Math.round(v * 86400000) - JULIAN_EPOCH_MS;
  if (!(ms >= MIN_MS && ms <= MAX_MS)) {
    throw new Reject(
      `${v} read as ${NUMERIC_DATE_UNITS[unit]} is ${ms < MIN_MS ? "before 1900" : "after 9999"}`,
      "If the column's numbers are in another unit, choose it with --cast table.column=timestamp:epoch-s|epoch-ms|epoch-us|julian; otherwise fix the row.",
    );
  }
  if (unit === "epoch-s") return epochToTimestamp(v);
  // Whole microseconds, computed in integers where the input is one.
  const us = unit === "epoch-us" && Number.isInteger(v) ? v : Math.round(ms * 1000);
  const seconds = Math.floor(us / 1e6);
  const frac = us - seconds * 1e6;
  if (frac) micros = pad(frac, 6).replace(/0+$/, "");
  return formatUtc(seconds * 1000, micros);
}

const digit = (s: string, i: number) => s.charCodeAt(i) - 48;
const two = (s: string, i: number) => digit(s, i) * 10 + digit(s, i + 1);
const isDigits = (s: string, from: number, to: number) => {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) < 48 || s.charCodeAt(i) > 57) return false;
  return true;
};

/**
 * The layout nearly every SQLite app writes, 'YYYY-MM-DD HH:MM:SS[.ffffff]'
 * with no zone, checked without a regular expression or an object per value
 * (a million rows make that matter). Undefined: anything else, for the full parser.
 */
function canonicalTimestamp(s: string): string | undefined {
  const n = s.length;
  if (n < 19 || n === 20 || n > 26) return undefined;
  if (s[4] !== "-" || s[7] !== "-" || s[10] !== " " || s[13] !== ":" || s[16] !== ":") return undefined;
  if (!isDigits(s, 0, 4) || !isDigits(s, 5, 7) || !isDigits(s, 8, 10) || !isDigits(s, 11, 13) || !isDigits(s, 14, 16) || !isDigits(s, 17, 19)) return undefined;
  if (n > 19 && (s[19] !== "." || !isDigits(s, 20, n))) return undefined;
  const y = digit(s, 0) * 1000 + digit(s, 1) * 100 + two(s, 2);
  const mo = two(s, 5);
  const d = two(s, 8);
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = mo === 2 && leap ? 29 : (DAYS[mo - 1] ?? 0);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > dim || two(s, 11) > 23 || two(s, 14) > 59 || two(s, 17) > 59) return undefined;
  if (n === 19 || s.charCodeAt(n - 1) !== 48) return s;
  // PostgreSQL prints a fraction of a second without trailing zeros.
  let end = n;
  while (s.charCodeAt(end - 1) === 48) end--;
  return s.slice(0, s[end - 1] === "." ? end - 1 : end);
}

export function timestampConverter(withZone: boolean, unit: NumericDateUnit): Converter {
  return (v) => {
    if (v === null) return NULL_FIELD;
    if (typeof v === "number") return numberToTimestamp(v, unit) + (withZone ? "+00" : "");
    if (typeof v === "bigint") return numberToTimestamp(Number(v), unit) + (withZone ? "+00" : "");
    if (typeof v !== "string") throw new Reject("a blob in a date/time column");
    const canonical = canonicalTimestamp(v);
    if (canonical !== undefined) return withZone ? canonical + "+00" : canonical;
    const t = parseTimestamp(v, true);
    if (t.offsetMin === null || t.offsetMin === 0) {
      // The common case: no conversion, only validation and a canonical layout.
      return `${pad(t.y, 4)}-${pad(t.mo)}-${pad(t.d)} ${pad(t.h)}:${pad(t.mi)}:${pad(t.s)}${t.frac ? "." + t.frac : ""}${withZone ? "+00" : ""}`;
    }
    const ms = Date.UTC(t.y, t.mo - 1, t.d, t.h, t.mi, t.s) - t.offsetMin * 60_000;
    return formatUtc(ms, t.frac) + (withZone ? "+00" : "");
  };
}

export const dateConverter =
  (unit: NumericDateUnit): Converter =>
  (v) => {
    if (v === null) return NULL_FIELD;
    if (typeof v === "number" || typeof v === "bigint") {
      const ts = numberToTimestamp(Number(v), unit);
      if (ts.length > 10 && !ts.endsWith(" 00:00:00"))
        throw new Reject(
          `${v} read as ${NUMERIC_DATE_UNITS[unit]} is ${ts} UTC, with a time of day, in a date column`,
          "Override the column's cast to timestamp to keep it.",
        );
      return ts.slice(0, 10);
    }
    if (typeof v !== "string") throw new Reject("not a date");
    const t = parseTimestamp(v, false);
    if (t.h || t.mi || t.s || t.frac) throw new Reject("a date column holds a time of day", "Override the column's cast to timestamp to keep it.");
    return `${pad(t.y, 4)}-${pad(t.mo)}-${pad(t.d)}`;
  };

export const timeConverter: Converter = (v) => {
  if (v === null) return NULL_FIELD;
  if (typeof v !== "string") throw new Reject("not a time of day");
  const m = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/.exec(v.trim());
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3] ?? 0) > 59) throw new Reject("not a time of day ('HH:MM[:SS[.ffffff]]')");
  const frac = (m[4] ?? "").replace(/0+$/, "");
  return `${m[1]}:${m[2]}:${m[3] ?? "00"}${frac ? "." + frac : ""}`;
};

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
