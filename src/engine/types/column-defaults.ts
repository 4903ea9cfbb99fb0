// A SQLite column default as PostgreSQL's: the ones that mean the same there
// (the current moment, random UUIDs, literals), written for the column's
// PostgreSQL type; anything else is dropped and the plan says so.
import { balanced, sqliteString } from "./expressions";
import { isIntegerKind, isNumberKind, isTextKind, type ColumnCast } from "./column-types";
import { quoteLiteral } from "../identifiers";

const UTC_NOW = "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')";
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
 * dropped, and the plan says so.
 */
export function translateDefault(sqlDefault: string | null, cast: ColumnCast): string | null {
  if (sqlDefault === null) return null;
  let d = sqlDefault.trim();
  while (d.startsWith("(") && d.endsWith(")") && balanced(d, 0) === d.slice(1, -1)) d = d.slice(1, -1).trim();
  const u = d.toUpperCase().replace(/\s+/g, "");
  const k = cast.kind;
  const isText = isTextKind(k);
  const stamp = (pattern: string) => `to_char(${UTC_NOW}, '${pattern}')`;
  if (u === "NULL") return null;

  // The current moment, as the column holds it.
  const nowTimestamp = k === "timestamptz" ? "CURRENT_TIMESTAMP" : k === "timestamp" ? UTC_NOW : undefined;
  if (u === "CURRENT_TIMESTAMP" || /^DATETIME\('NOW'\)$/.test(u)) {
    if (nowTimestamp) return nowTimestamp;
    if (isText) return stamp("YYYY-MM-DD HH24:MI:SS");
    if (k === "date") return `${UTC_NOW}::date`;
    return null;
  }
  if (u === "CURRENT_DATE" || /^DATE\('NOW'\)$/.test(u)) {
    if (k === "date") return `${UTC_NOW}::date`;
    if (nowTimestamp) return `date_trunc('day', ${nowTimestamp})`;
    if (isText) return stamp("YYYY-MM-DD");
    return null;
  }
  if (u === "CURRENT_TIME" || /^TIME\('NOW'\)$/.test(u)) {
    if (k === "time") return `${UTC_NOW}::time(0)`;
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
    if (k === "double" || k === "numeric") return "(extract(epoch FROM CURRENT_TIMESTAMP) / 86400.0 + 2440587.5)";
    if (nowTimestamp) return nowTimestamp; // pgshift reads julian day numbers as timestamps
    return null;
  }
  // 16 random bytes, the usual SQLite stand-in for a UUID; gen_random_uuid() is
  // as unique (122 random bits: 6 bits carry the UUID version).
  const random = /^(LOWER\(HEX\(RANDOMBLOB\(16\)\)\)|HEX\(RANDOMBLOB\(16\)\)|RANDOMBLOB\(16\))$/.exec(u);
  if (random) {
    const hex = "replace(gen_random_uuid()::text, '-', '')";
    if (k === "uuid") return "gen_random_uuid()";
    if (u.startsWith("RANDOMBLOB")) return k === "bytea" ? `decode(${hex}, 'hex')` : null;
    if (isText) return u.startsWith("LOWER") ? hex : `upper(${hex})`;
    return null;
  }
  if (cast.kind === "boolean") {
    if (/^(1|TRUE|'1'|'T'|'TRUE'|'Y'|'YES')$/.test(u)) return "true";
    if (/^(0|FALSE|'0'|'F'|'FALSE'|'N'|'NO')$/.test(u)) return "false";
    return null;
  }
  if (u === "TRUE" || u === "FALSE") return isIntegerKind(k) ? (u === "TRUE" ? "1" : "0") : null;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(d)) {
    if (isTextKind(k) || k === "jsonb" || k === "json") return `'${d}'`;
    return d;
  }
  if (/^'([^']|'')*'$/.test(d)) {
    if (isNumberKind(k) && !/^'\s*[-+]?[\d.]+\s*'$/.test(d)) return null;
    if ((k === "jsonb" || k === "json") && !isJson(sqliteString(d))) return null;
    return quoteLiteral(sqliteString(d));
  }
  if (/^X'([0-9A-F]{2})*'$/.test(u) && k === "bytea") return `'\\x${u.slice(2, -1).toLowerCase()}'::bytea`;
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
