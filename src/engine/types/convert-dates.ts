// Value converters for dates and times (convert.ts has the rest): SQLite's
// text in ISO layouts, or numbers in the column's unit (numeric-dates.ts
// decides it), out as PostgreSQL prints them back: UTC, no trailing zeros in
// fractions of a second, so verification compares the text as sent.
import { NULL_FIELD, NUMERIC_DATE_UNITS, Reject, type Converter, type NumericDateUnit } from "./convert";

// 'YYYY-MM-DD', then optional time, fraction and zone.
const TS = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const pad = (n: number, w = 2) => String(n).padStart(w, "0");
/** Days in month `mo` (1–12) of year `y`, Gregorian; 0 for a month that does not exist. */
const daysInMonth = (y: number, mo: number) => (mo === 2 && ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0) ? 29 : (DAYS[mo - 1] ?? 0));

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
  const dim = daysInMonth(y, mo);
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
  const dim = daysInMonth(y, mo);
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
  const dim = daysInMonth(y, mo);
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
