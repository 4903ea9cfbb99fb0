// SQLite names become PostgreSQL names. `downcase` (the default) gives the name
// the app's unquoted SQL resolves to in PostgreSQL; `preserve` keeps it exact.
// Either way every name is always quoted, so spaces, quotes and reserved words
// (order, user) survive.
//
// The rule (docs/engine.md, "Names and values never become SQL"): a name or
// value from the SQLite file or a setting reaches SQL only through quoteIdent /
// quoteLiteral / qualified here, or as a bound parameter. Never through
// String.prototype.replace with a string replacement: JavaScript expands $', $`,
// $& and $$ in it, so a table named $' pasted the rest of the statement into
// its own quoted name and turned a column's name into SQL. A template is filled
// by fillTemplate only, which quotes the names itself.

import { UsageError } from "./errors";
import type { IdentifierMode } from "./options";

export type { IdentifierMode };

/** PostgreSQL's limit on a name, in bytes (NAMEDATALEN - 1); longer names are silently cut. */
export const MAX_NAME_BYTES = 63;

export function targetName(name: string, mode: IdentifierMode): string {
  return mode === "downcase" ? foldCase(name) : name;
}

/**
 * PostgreSQL's folding of an unquoted name in a UTF-8 database: A–Z only
 * (downcase_identifier), so the app's unquoted SQL finds the table.
 * JavaScript's toLowerCase would fold ÇAĞRI to çağri, which PostgreSQL
 * never looks for (it looks for ÇaĞri).
 */
export function foldCase(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** Names PostgreSQL gives every table's own columns: a column of the same name cannot be created. */
export const SYSTEM_COLUMNS = new Set(["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"]);

export function quoteIdent(name: string): string {
  // NUL cannot be sent to PostgreSQL at all; everything else is safe between double quotes.
  if (name.includes("\0")) throw new UsageError(`The name ${JSON.stringify(name)} holds a NUL character, which PostgreSQL names cannot hold.`);
  return '"' + name.replace(/"/g, '""') + '"';
}

/**
 * A string literal that means the same whatever standard_conforming_strings
 * says (as pg's escapeLiteral): with a backslash, an E'' string with the
 * backslashes doubled.
 */
export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new UsageError(`The value ${JSON.stringify(value)} holds a NUL character, which PostgreSQL text cannot hold.`);
  const quoted = "'" + value.replace(/'/g, "''") + "'";
  return value.includes("\\") ? `E${quoted.replace(/\\/g, "\\\\")}` : quoted;
}

export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** SQLite quoting for the read side ("a""b"). */
export const quoteSqlite = quoteIdent;

/**
 * A SQL file's %NAME% placeholders, each replaced by the quoted name in one
 * pass: a name holding "%TABLE%" or "$'" is never read again as a placeholder
 * or a replacement pattern. A placeholder without a name is an error;
 * placeholders go in SQL only (not in `--` comments, which are dropped).
 */
export function fillTemplate(template: string, names: Record<string, string>): string {
  // Whole-line comments go first: a name holding a newline would end one and continue as SQL.
  return template.replace(/^[ \t]*--.*$/gm, "").replace(/%([A-Z_]+)%/g, (_m, key: string) => {
    const name = names[key];
    if (name === undefined) throw new Error(`internal error: the SQL template's %${key}% has no name`);
    return quoteIdent(name);
  });
}

/**
 * A name pgshift makes up (`<table>_pkey`) cut to PostgreSQL's 63 bytes at a
 * character boundary, as PostgreSQL would cut it: never half a character.
 */
export function clipName(name: string, bytes = MAX_NAME_BYTES): string {
  if (Buffer.byteLength(name) <= bytes) return name;
  let out = "";
  for (const ch of name) {
    if (Buffer.byteLength(out + ch) > bytes) break;
    out += ch;
  }
  return out;
}

/**
 * A name pgshift makes up: `base` cut so that `suffix` (_pkey, _fkey…) always
 * fits in 63 bytes, and numbered as PostgreSQL numbers its own (`…_key1`) when
 * the cut makes it equal to a name already `taken` (which it then joins).
 */
export function madeUpName(base: string, suffix: string, taken: Set<string>): string {
  const fit = (s: string) => clipName(base, MAX_NAME_BYTES - Buffer.byteLength(s)) + s;
  let name = fit(suffix);
  for (let n = 1; taken.has(name); n++) name = fit(`${suffix}${n}`);
  taken.add(name);
  return name;
}
