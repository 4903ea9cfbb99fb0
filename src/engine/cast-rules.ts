// Every type decision pgshift makes, in one place. SQLite types values per row,
// not per column, so each rule is two things: the PostgreSQL type a declared
// SQLite type becomes, and how each value that may turn up in such a column is
// written — or refused, with a reason. `pgshift plan` prints CAST_RULES.
//
// Converters return the value as a COPY text field (already escaped), or
// "\\N" for NULL, and throw Reject for a value that cannot be converted.

import { UsageError } from "./errors";

export type CastKind =
  | "smallint"
  | "integer"
  | "bigint"
  | "boolean"
  | "double"
  | "numeric"
  | "text"
  | "varchar"
  | "char"
  | "timestamp"
  | "timestamptz"
  | "date"
  | "time"
  | "jsonb"
  | "bytea"
  | "uuid";

/**
 * How numbers in a date/time column are read: unix epoch seconds, milliseconds
 * (JavaScript's Date.now()), microseconds, or SQLite julian day numbers.
 */
export type NumericDateUnit = "epoch-s" | "epoch-ms" | "epoch-us" | "julian";

export const NUMERIC_DATE_UNITS: Record<NumericDateUnit, string> = {
  "epoch-s": "epoch seconds",
  "epoch-ms": "epoch milliseconds",
  "epoch-us": "epoch microseconds",
  julian: "julian day numbers",
};

export interface ColumnCast {
  kind: CastKind;
  /** timestamp/timestamptz/date: how numeric values are read (decided from the data, or by an override) */
  numbers?: NumericDateUnit;
  /** the PostgreSQL type as written in DDL, e.g. "numeric(18,6)" */
  pgType: string;
  /** varchar/char length, numeric precision */
  length?: number;
  /** which rule chose it, for the plan */
  rule: string;
}

export interface CastRule {
  /** matched against the declared SQLite type, upper-cased */
  match: RegExp;
  sqlite: string;
  postgres: string;
  values: string;
  cast(declared: string): ColumnCast;
}

const simple = (kind: CastKind, pgType: string, rule: string): ColumnCast => ({ kind, pgType, rule });
const lengthOf = (declared: string): number | undefined => {
  const m = /\(\s*(\d+)\s*\)/.exec(declared);
  return m ? Number(m[1]) : undefined;
};

/** In order: the first rule whose pattern matches the declared type wins. */
export const CAST_RULES: CastRule[] = [
  {
    match: /^(BOOL|BOOLEAN)$/,
    sqlite: "BOOLEAN, BOOL",
    postgres: "boolean",
    values: "0/1, 't'/'f', 'true'/'false', 'yes'/'no', 'y'/'n', 'on'/'off' (any case); anything else is refused",
    cast: () => simple("boolean", "boolean", "boolean"),
  },
  {
    match: /^(TINYINT|SMALLINT|INT2)\b/,
    sqlite: "TINYINT, SMALLINT, INT2",
    postgres: "smallint",
    values: "integers in range; integral reals (3.0); integer text; anything else is refused",
    cast: () => simple("smallint", "smallint", "small integer"),
  },
  {
    match: /INT/,
    sqlite: "INTEGER, INT, BIGINT, MEDIUMINT, INT8 (any type containing INT)",
    postgres: "bigint (SQLite integers are 64-bit); identity for INTEGER PRIMARY KEY",
    values: "integers; integral reals (3.0); integer text; anything else is refused",
    cast: () => simple("bigint", "bigint", "integer"),
  },
  {
    match: /^(DATETIME|TIMESTAMP)$/,
    sqlite: "DATETIME, TIMESTAMP",
    postgres: "timestamp (without time zone, like the app's naive datetimes)",
    values:
      "ISO-8601 text 'YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]' (up to 6 fractional digits); a Z or ±HH:MM offset is converted to UTC; numbers: epoch s/ms/µs or julian days, decided per column from the data (see below); impossible dates are refused",
    cast: () => simple("timestamp", "timestamp", "datetime"),
  },
  {
    match: /^(TIMESTAMPTZ|TIMESTAMP WITH TIME ZONE|DATETIMETZ)$/,
    sqlite: "TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE",
    postgres: "timestamptz",
    values: "as DATETIME; text without an offset is taken as UTC",
    cast: () => simple("timestamptz", "timestamptz", "timestamp with time zone"),
  },
  {
    match: /^DATE$/,
    sqlite: "DATE",
    postgres: "date",
    values: "'YYYY-MM-DD' text; numbers as for DATETIME, at midnight UTC (a time of day is refused); impossible dates are refused",
    cast: () => simple("date", "date", "date"),
  },
  {
    match: /^TIME$/,
    sqlite: "TIME",
    postgres: "time",
    values: "'HH:MM[:SS[.ffffff]]' text",
    cast: () => simple("time", "time", "time"),
  },
  {
    match: /^JSONB?$/,
    sqlite: "JSON, JSONB",
    postgres: "jsonb",
    values:
      "JSON text (kept as written); numbers SQLite stored natively become JSON numbers; text that is not valid JSON, \\u0000 and lone surrogates are refused (override with cast 'text' to keep it as text)",
    cast: () => simple("jsonb", "jsonb", "json"),
  },
  {
    match: /^(NUMERIC|DECIMAL)\s*\(\s*\d+\s*(,\s*\d+\s*)?\)$/,
    sqlite: "NUMERIC(p,s), DECIMAL(p,s)",
    postgres: "numeric(p,s)",
    values: "numbers and numeric text; PostgreSQL rounds to scale s; NaN/Infinity and non-numeric text are refused",
    cast: (d) => {
      const m = /\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/.exec(d);
      const p = Number(m?.[1]);
      const s = m?.[2] !== undefined ? Number(m[2]) : 0;
      return { kind: "numeric", pgType: `numeric(${p},${s})`, length: p, rule: "numeric(p,s)" };
    },
  },
  {
    match: /^(NUMERIC|DECIMAL)$/,
    sqlite: "NUMERIC, DECIMAL",
    postgres: "numeric",
    values: "numbers and numeric text; non-numeric text is refused",
    cast: () => simple("numeric", "numeric", "numeric"),
  },
  {
    match: /REAL|FLOA|DOUB/,
    sqlite: "REAL, FLOAT, DOUBLE (any type containing REAL, FLOA, DOUB)",
    postgres: "double precision",
    values: "numbers (±Infinity kept); 'NaN'/'Infinity' text kept; other numeric text parsed; anything else is refused",
    cast: () => simple("double", "double precision", "real"),
  },
  {
    match: /^UUID$/,
    sqlite: "UUID",
    postgres: "uuid",
    values: "UUID text (any case, with or without dashes); 16-byte blobs",
    cast: () => simple("uuid", "uuid", "uuid"),
  },
  {
    match: /^(N?VARCHAR|VARYING CHARACTER|NATIVE CHARACTER|CHARACTER VARYING)\s*\(\s*\d+\s*\)$/,
    sqlite: "VARCHAR(n), NVARCHAR(n)",
    postgres: "varchar(n)",
    values: "text up to n characters (longer is refused: override with cast 'text' to widen); numbers as decimal text",
    cast: (d) => {
      const n = lengthOf(d) as number;
      return { kind: "varchar", pgType: `varchar(${n})`, length: n, rule: "varchar(n)" };
    },
  },
  {
    match: /^(N?CHAR|CHARACTER|NCHAR)\s*\(\s*\d+\s*\)$/,
    sqlite: "CHAR(n), CHARACTER(n)",
    postgres: "varchar(n) (SQLite does not pad; char(n) would)",
    values: "as VARCHAR(n)",
    cast: (d) => {
      const n = lengthOf(d) as number;
      return { kind: "varchar", pgType: `varchar(${n})`, length: n, rule: "char(n)" };
    },
  },
  {
    match: /CHAR|CLOB|TEXT/,
    sqlite: "TEXT, CLOB, other CHAR types",
    postgres: "text",
    values: "text (NUL bytes and invalid UTF-8 are refused); numbers as decimal text; blobs that are valid UTF-8",
    cast: () => simple("text", "text", "text"),
  },
  {
    match: /BLOB/,
    sqlite: "BLOB",
    postgres: "bytea",
    values: "bytes as stored; text is stored as its UTF-8 bytes",
    cast: () => simple("bytea", "bytea", "blob"),
  },
  {
    match: /^$/,
    sqlite: "(no declared type)",
    postgres: "text",
    values: "as TEXT; override the column's cast when it holds numbers or blobs",
    cast: () => simple("text", "text", "untyped"),
  },
  {
    match: /.*/,
    sqlite: "anything else (SQLite NUMERIC affinity)",
    postgres: "numeric",
    values: "as NUMERIC",
    cast: () => simple("numeric", "numeric", "numeric affinity"),
  },
];

/** Overrides name one of these (`--cast "table.column=text"`). */
export const OVERRIDE_TYPES: Record<string, (n?: number) => ColumnCast> = {
  text: () => simple("text", "text", "override"),
  varchar: (n) => (n ? { kind: "varchar", pgType: `varchar(${n})`, length: n, rule: "override" } : simple("text", "text", "override")),
  bigint: () => simple("bigint", "bigint", "override"),
  integer: () => simple("integer", "integer", "override"),
  smallint: () => simple("smallint", "smallint", "override"),
  boolean: () => simple("boolean", "boolean", "override"),
  "double precision": () => simple("double", "double precision", "override"),
  numeric: () => simple("numeric", "numeric", "override"),
  timestamp: () => simple("timestamp", "timestamp", "override"),
  timestamptz: () => simple("timestamptz", "timestamptz", "override"),
  date: () => simple("date", "date", "override"),
  time: () => simple("time", "time", "override"),
  jsonb: () => simple("jsonb", "jsonb", "override"),
  bytea: () => simple("bytea", "bytea", "override"),
  uuid: () => simple("uuid", "uuid", "override"),
};

export function castFor(declaredType: string): ColumnCast {
  const d = declaredType.trim().toUpperCase().replace(/\s+/g, " ");
  for (const rule of CAST_RULES) if (rule.match.test(d)) return rule.cast(d);
  throw new Error("unreachable: the last cast rule matches everything");
}

const DATE_KINDS = new Set<CastKind>(["timestamp", "timestamptz", "date"]);

/** `type`, `varchar(n)`, or a date type with how its numbers read: `timestamp:epoch-ms`. */
export function parseOverride(spec: string): ColumnCast {
  const [typePart, unit, ...extra] = spec.split(":");
  const m = /^\s*([a-z ]+?)\s*(?:\(\s*(\d+)\s*\))?\s*$/i.exec(typePart!);
  const make = m ? OVERRIDE_TYPES[m[1]!.toLowerCase()] : undefined;
  if (!m || !make || extra.length > 0) {
    throw new CastSpecError(
      `unknown cast "${spec}"; use one of: ${Object.keys(OVERRIDE_TYPES).join(", ")} (varchar(n) too; ` +
        `timestamp, timestamptz and date also as type:${Object.keys(NUMERIC_DATE_UNITS).join("|")})`,
    );
  }
  const cast = make(m[2] ? Number(m[2]) : undefined);
  if (unit === undefined) return cast;
  const u = unit.trim().toLowerCase() as NumericDateUnit;
  if (!DATE_KINDS.has(cast.kind) || !(u in NUMERIC_DATE_UNITS)) {
    throw new CastSpecError(`unknown cast "${spec}": only timestamp, timestamptz and date take a reading for numbers, one of ${Object.keys(NUMERIC_DATE_UNITS).join(", ")}`);
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
