// A SQLite column default as PostgreSQL's: the ones that mean the same there
// (the current moment, random UUIDs, literals), written for the column's
// PostgreSQL type; anything else is dropped and the plan says so. The per-kind
// facts (how a kind writes "now", random bytes, which literals it takes) live in
// COLUMN_TYPES; this file reads SQLite's side and asks them.
import { balanced, sqliteString } from "./expressions";
import { COLUMN_TYPES, UTC_NOW, isIntegerKind, isNumberKind, isTextKind, type ColumnCast } from "./column-types";
import { quoteLiteral } from "../identifiers";

// strftime() conversions → to_char() patterns (SQLite's %f is seconds with milliseconds).
const STRFTIME: Record<string, string> = { Y: "YYYY", m: "MM", d: "DD", H: "HH24", M: "MI", S: "SS", f: "SS.MS", j: "DDD", "%": "%" };

/** A strftime() format as a to_char() pattern; undefined for conversions with no equivalent. */
function toCharPattern(format: string): string | undefined {
  let out = "";
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if (ch === "%") {
      const p = STRFTIME[format[++i] ?? ""];
      if (!p) return undefined;
      out += p;
    } else if (/[A-Za-z]/.test(ch))
      out += `"${ch}"`; // letters are pattern codes in to_char unless quoted
    else if (ch === "'" || ch === '"' || ch === "\\") return undefined;
    else out += ch;
  }
  return out;
}

/**
 * SQLite defaults that mean the same in PostgreSQL, written for the column's
 * PostgreSQL type (SQLite's 'now' is UTC; so are these); anything else is
 * dropped, and the plan says so. What each kind takes is COLUMN_TYPES' to say
 * (its `defaults`, and whether it holds integers, numbers or text).
 */
export function translateDefault(sqlDefault: string | null, cast: ColumnCast): string | null {
  if (sqlDefault === null) return null;
  let d = sqlDefault.trim();
  while (d.startsWith("(") && d.endsWith(")") && balanced(d, 0) === d.slice(1, -1)) d = d.slice(1, -1).trim();
  const u = d.toUpperCase().replace(/\s+/g, "");
  const k = cast.kind;
  const facts = COLUMN_TYPES[k].defaults ?? {};
  const isText = isTextKind(k);
  const stamp = (pattern: string) => `to_char(${UTC_NOW}, '${pattern}')`;
  if (u === "NULL") return null;

  // The current moment, as the column holds it.
  const now = facts.now;
  const nowTimestamp = now?.keeps === "date and time" ? now.sql : undefined;
  if (u === "CURRENT_TIMESTAMP" || /^DATETIME\('NOW'\)$/.test(u)) {
    if (now && now.keeps !== "time") return now.sql;
    if (isText) return stamp("YYYY-MM-DD HH24:MI:SS");
    return null;
  }
  if (u === "CURRENT_DATE" || /^DATE\('NOW'\)$/.test(u)) {
    if (now?.keeps === "date") return now.sql;
    if (nowTimestamp) return `date_trunc('day', ${nowTimestamp})`;
    if (isText) return stamp("YYYY-MM-DD");
    return null;
  }
  if (u === "CURRENT_TIME" || /^TIME\('NOW'\)$/.test(u)) {
    if (now?.keeps === "time") return now.sql;
    if (isText) return stamp("HH24:MI:SS");
    return null;
  }
  // CAST(strftime('%s','now') AS INTEGER): how hand-written schemas make strftime's text an integer
  if (/^STRFTIME\('%S','NOW'\)$/.test(u) || /^CAST\(STRFTIME\('%S','NOW'\)ASINT(EGER)?\)$/.test(u) || /^UNIXEPOCH\(('NOW')?\)$/.test(u)) {
    const epoch = "floor(extract(epoch FROM CURRENT_TIMESTAMP))::bigint";
    if (isNumberKind(k)) return epoch;
    if (isText) return `(${epoch})::text`;
    if (nowTimestamp) return `date_trunc('second', ${nowTimestamp})`; // pgshift reads the numbers as epoch seconds
    return null;
  }
  const strftime = /^strftime\s*\(\s*'((?:[^']|'')*)'\s*,\s*'now'\s*\)$/i.exec(d);
  if (strftime) {
    const format = strftime[1]!;
    if (nowTimestamp && /%Y/.test(format) && /%H/.test(format)) return nowTimestamp;
    const pattern = toCharPattern(format);
    if (isText && pattern) return stamp(pattern);
    return null;
  }
  if (/^JULIANDAY\('NOW'\)$/.test(u)) {
    // A julian day number has a fraction: numbers that keep one (double, numeric) take it.
    if (isNumberKind(k) && !isIntegerKind(k)) return "(extract(epoch FROM CURRENT_TIMESTAMP) / 86400.0 + 2440587.5)";
    if (nowTimestamp) return nowTimestamp; // pgshift reads julian day numbers as timestamps
    return null;
  }
  // 16 random bytes, the usual SQLite stand-in for a UUID.
  const random = /^(LOWER\(HEX\(RANDOMBLOB\(16\)\)\)|HEX\(RANDOMBLOB\(16\)\)|RANDOMBLOB\(16\))$/.exec(u);
  if (random) {
    const blob = u.startsWith("RANDOMBLOB");
    if (facts.random16 && (blob || !facts.random16.blobOnly)) return facts.random16.sql;
    const hex = "replace(gen_random_uuid()::text, '-', '')";
    if (isText && !blob) return u.startsWith("LOWER") ? hex : `upper(${hex})`;
    return null;
  }
  if (facts.literal === "boolean") {
    if (/^(1|TRUE|'1'|'T'|'TRUE'|'Y'|'YES')$/.test(u)) return "true";
    if (/^(0|FALSE|'0'|'F'|'FALSE'|'N'|'NO')$/.test(u)) return "false";
    return null;
  }
  if (u === "TRUE" || u === "FALSE") return isIntegerKind(k) ? (u === "TRUE" ? "1" : "0") : null;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(d)) {
    if (isText || facts.literal === "json") return `'${d}'`;
    return d;
  }
  if (/^'([^']|'')*'$/.test(d)) {
    if (isNumberKind(k) && !/^'\s*[-+]?[\d.]+\s*'$/.test(d)) return null;
    if (facts.literal === "json" && !isJson(sqliteString(d))) return null;
    return quoteLiteral(sqliteString(d));
  }
  if (/^X'([0-9A-F]{2})*'$/.test(u) && facts.literal === "bytes") return `'\\x${u.slice(2, -1).toLowerCase()}'::bytea`;
  return null;
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
