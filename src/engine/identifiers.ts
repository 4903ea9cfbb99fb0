// SQLite names become PostgreSQL names. `downcase` (the default) gives the name
// the app's unquoted SQL resolves to in PostgreSQL; `preserve` keeps it exact.
// Either way every name is always quoted, so spaces, quotes and reserved words
// (order, user) survive.

import type { IdentifierMode } from "./options";

export type { IdentifierMode };

export function targetName(name: string, mode: IdentifierMode): string {
  return mode === "downcase" ? name.toLowerCase() : name;
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

export function quoteLiteral(value: string): string {
  return "'" + value.replace(/'/g, "''") + "'";
}

export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** SQLite quoting for the read side ("a""b"). */
export const quoteSqlite = quoteIdent;
