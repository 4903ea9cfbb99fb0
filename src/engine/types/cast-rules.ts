// Which PostgreSQL column type each declared SQLite type becomes. SQLite types
// values per row, not per column, so each rule is two things: the kind of
// column (column-types.ts: PostgreSQL type, converter, canonical form) a
// declared SQLite type becomes, and what the values that may turn up in such a
// column become — or why they are refused. `pgshift plan` prints CAST_RULES.

import { COLUMN_TYPES, hasDateNumbers, makeCast, type CastKind, type ColumnCast, type Size } from "./column-types";
import { NUMERIC_DATE_UNITS, type NumericDateUnit } from "./convert";
import { UsageError } from "../errors";

export interface CastRule {
  /** matched against the declared SQLite type, upper-cased */
  match: RegExp;
  sqlite: string;
  postgres: string;
  values: string;
  /** what the column becomes */
  kind: CastKind;
  /** the rule's name in the plan */
  rule: string;
  /** the size the declared type gives (varchar(n), numeric(p,s)) */
  size?(declared: string): Size;
}

const lengthOf = (declared: string): Size => ({ length: Number(/\(\s*(\d+)\s*\)/.exec(declared)![1]) });

/** In order: the first rule whose pattern matches the declared type wins. */
export const CAST_RULES: CastRule[] = [
  {
    match: /^(BOOL|BOOLEAN)$/,
    sqlite: "BOOLEAN, BOOL",
    postgres: "boolean",
    values: "0/1, 't'/'f', 'true'/'false', 'yes'/'no', 'y'/'n', 'on'/'off' (any case); anything else is refused",
    kind: "boolean",
    rule: "boolean",
  },
  {
    match: /^(TINYINT|SMALLINT|INT2)\b/,
    sqlite: "TINYINT, SMALLINT, INT2",
    postgres: "smallint",
    values: "integers in range; integral reals (3.0); integer text; anything else is refused",
    kind: "smallint",
    rule: "small integer",
  },
  {
    match: /INT/,
    sqlite: "INTEGER, INT, BIGINT, MEDIUMINT, INT8 (any type containing INT)",
    postgres: "bigint (SQLite integers are 64-bit); identity for INTEGER PRIMARY KEY",
    values: "integers; integral reals (3.0); integer text; anything else is refused",
    kind: "bigint",
    rule: "integer",
  },
  {
    match: /^(DATETIME|TIMESTAMP)$/,
    sqlite: "DATETIME, TIMESTAMP",
    postgres: "timestamp (without time zone, like the app's naive datetimes)",
    values:
      "ISO-8601 text 'YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]' (up to 6 fractional digits); a Z or ±HH:MM offset is converted to UTC; numbers: epoch s/ms/µs or julian days, decided per column from the data (see below); integers that are also YYYYMMDD dates (20240101) are refused unless --cast chooses :yyyymmdd or :epoch-s; impossible dates are refused",
    kind: "timestamp",
    rule: "datetime",
  },
  {
    match: /^(TIMESTAMPTZ|TIMESTAMP WITH TIME ZONE|DATETIMETZ)$/,
    sqlite: "TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE",
    postgres: "timestamptz",
    values: "as DATETIME; text without an offset is taken as UTC",
    kind: "timestamptz",
    rule: "timestamp with time zone",
  },
  {
    match: /^DATE$/,
    sqlite: "DATE",
    postgres: "date",
    values: "'YYYY-MM-DD' text; numbers as for DATETIME, at midnight UTC (a time of day is refused); impossible dates are refused",
    kind: "date",
    rule: "date",
  },
  {
    match: /^TIME$/,
    sqlite: "TIME",
    postgres: "time",
    values: "'HH:MM[:SS[.ffffff]]' text",
    kind: "time",
    rule: "time",
  },
  {
    match: /^JSONB?$/,
    sqlite: "JSON, JSONB",
    postgres: "jsonb",
    values:
      "JSON text (kept as written); numbers SQLite stored natively become JSON numbers; text that is not valid JSON, \\u0000, lone surrogates and objects with a duplicate key are refused (cast 'json' keeps duplicate keys as written, cast 'text' keeps anything as text)",
    kind: "jsonb",
    rule: "json",
  },
  {
    match: /^(NUMERIC|DECIMAL)\s*\(\s*\d+\s*(,\s*\d+\s*)?\)$/,
    sqlite: "NUMERIC(p,s), DECIMAL(p,s)",
    postgres: "numeric(p,s)",
    values: "numbers and numeric text; PostgreSQL rounds to scale s; NaN/Infinity and non-numeric text are refused",
    kind: "numeric",
    rule: "numeric(p,s)",
    size: (d) => {
      const m = /\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/.exec(d)!;
      return { length: Number(m[1]), scale: Number(m[2] ?? 0) };
    },
  },
  {
    match: /^(NUMERIC|DECIMAL)$/,
    sqlite: "NUMERIC, DECIMAL",
    postgres: "numeric",
    values: "numbers and numeric text; non-numeric text is refused",
    kind: "numeric",
    rule: "numeric",
  },
  {
    match: /REAL|FLOA|DOUB/,
    sqlite: "REAL, FLOAT, DOUBLE (any type containing REAL, FLOA, DOUB)",
    postgres: "double precision",
    values: "numbers (±Infinity kept); 'NaN'/'Infinity' text kept; other numeric text parsed; anything else is refused",
    kind: "double",
    rule: "real",
  },
  {
    match: /^UUID$/,
    sqlite: "UUID",
    postgres: "uuid",
    values: "UUID text (any case, with or without dashes); 16-byte blobs",
    kind: "uuid",
    rule: "uuid",
  },
  {
    match: /^(N?VARCHAR|VARYING CHARACTER|NATIVE CHARACTER|CHARACTER VARYING)\s*\(\s*\d+\s*\)$/,
    sqlite: "VARCHAR(n), NVARCHAR(n)",
    postgres: "varchar(n)",
    values: "text up to n characters (longer is refused: override with cast 'text' to widen); numbers as decimal text",
    kind: "varchar",
    rule: "varchar(n)",
    size: lengthOf,
  },
  {
    match: /^(N?CHAR|CHARACTER|NCHAR)\s*\(\s*\d+\s*\)$/,
    sqlite: "CHAR(n), CHARACTER(n)",
    postgres: "varchar(n) (SQLite does not pad; char(n) would)",
    values: "as VARCHAR(n)",
    kind: "varchar",
    rule: "char(n)",
    size: lengthOf,
  },
  {
    match: /CHAR|CLOB|TEXT/,
    sqlite: "TEXT, CLOB, other CHAR types",
    postgres: "text",
    values: "text (NUL bytes and invalid UTF-8 are refused); numbers as decimal text; blobs that are valid UTF-8",
    kind: "text",
    rule: "text",
  },
  {
    match: /BLOB/,
    sqlite: "BLOB",
    postgres: "bytea",
    values: "bytes as stored; text is stored as its UTF-8 bytes; numbers are refused (cast text, numeric or double precision keeps them)",
    kind: "bytea",
    rule: "blob",
  },
  {
    match: /^$/,
    sqlite: "(no declared type)",
    postgres: "text",
    values: "as TEXT; a REAL keeps its REAL-ness as text (2.0 → '2.0', −0.0 → '-0.0'); override the column's cast when it holds numbers or blobs",
    kind: "text",
    rule: "untyped",
  },
  {
    match: /.*/,
    sqlite: "anything else (SQLite NUMERIC affinity)",
    postgres: "numeric",
    values: "as NUMERIC",
    kind: "numeric",
    rule: "numeric affinity",
  },
];

/** The names `--cast` takes: one per kind of column (column-types.ts). */
export const OVERRIDE_TYPES: Record<string, CastKind> = Object.fromEntries((Object.keys(COLUMN_TYPES) as CastKind[]).map((k) => [COLUMN_TYPES[k].castName, k]));

export function castFor(declaredType: string): ColumnCast {
  const d = declaredType.trim().toUpperCase().replace(/\s+/g, " ");
  for (const rule of CAST_RULES) if (rule.match.test(d)) return makeCast(rule.kind, rule.rule, rule.size?.(d));
  throw new Error("unreachable: the last cast rule matches everything");
}

/** `type`, `varchar(n)`, or a date type with how its numbers read: `timestamp:epoch-ms`. */
export function parseOverride(spec: string): ColumnCast {
  const [typePart, unit, ...extra] = spec.split(":");
  const m = /^\s*([a-z ]+?)\s*(?:\(\s*(\d+)\s*\))?\s*$/i.exec(typePart!);
  const named = m ? OVERRIDE_TYPES[m[1]!.toLowerCase()] : undefined;
  if (!m || !named || extra.length > 0) {
    throw new CastSpecError(
      `unknown cast "${spec}"; use one of: ${Object.keys(OVERRIDE_TYPES).join(", ")} (varchar(n) too; ` +
        `timestamp, timestamptz and date also as type:${Object.keys(NUMERIC_DATE_UNITS).join("|")})`,
    );
  }
  const n = m[2] ? Number(m[2]) : undefined;
  // varchar without a length is text; the length only means something to varchar.
  const cast = named === "varchar" ? (n ? makeCast("varchar", "override", { length: n }) : makeCast("text", "override")) : makeCast(named, "override");
  if (unit === undefined) return cast;
  const u = unit.trim().toLowerCase() as NumericDateUnit;
  if (!hasDateNumbers(cast.kind) || !(u in NUMERIC_DATE_UNITS)) {
    throw new CastSpecError(
      `unknown cast "${spec}": only timestamp, timestamptz and date take a reading for numbers, one of ${Object.keys(NUMERIC_DATE_UNITS).join(", ")}`,
    );
  }
  return { ...cast, numbers: u };
}

/** A --cast (or migration.casts) value that names no type pgshift knows: a usage error, exit code 2. */
export class CastSpecError extends UsageError {}

export function formatCastRules(): string {
  const rows = CAST_RULES.map((r) => [r.sqlite, r.postgres, r.values]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length), 12);
  const w1 = Math.max(...rows.map((r) => r[1]!.length), 10);
  const line = (a: string, b: string, c: string) => `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`;
  return [line("SQLite type", "PostgreSQL", "values"), ...rows.map((r) => line(r[0]!, r[1]!, r[2]!))].join("\n");
}
