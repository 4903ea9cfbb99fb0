// Every kind of column pgshift writes, in one table: its PostgreSQL type, the
// converter that writes SQLite values into it (convert.ts, convert-dates.ts),
// the canonical form verification compares values in, whether keys of it can be
// merged in order (and whether they are integers: delta sync, sequences), what
// it holds (numbers, text, dates as numbers), the name `--cast` takes for it,
// its token in the C copy, and what SQLite defaults mean in it. The cast rules
// (cast-rules.ts) and the target's existing column types (postgres/catalog.ts)
// each point at a kind here; no other file tests a kind by name for these
// facts. Adding a type (docs/engine.md "Adding a column type"):
//   1. its entry in TYPES below, and its converter in convert.ts (dates and
//      times: convert-dates.ts);
//   2. a cast rule in cast-rules.ts if SQLite declarations should map to it;
//   3. its row in docs/engine.md's type table, and its samples in
//      test/engine/types/column-types.test.ts (checked against PostgreSQL 16);
//   4. what SQLite defaults mean in it, if more than numbers and text: its
//      `defaults` (DefaultFacts), with a case in test/engine/types/expressions.test.ts;
//   5. to write it in C as well: `nativeToken`, its text and binary forms in
//      sqlite/native/copy-text.c, its values in test/engine/sqlite/copy-text.test.ts.
import {
  booleanConverter,
  byteaConverter,
  doubleConverter,
  integerConverter,
  jsonConverter,
  jsonTextConverter,
  numericConverter,
  textConverter,
  unescapeCopy,
  uuidConverter,
  type Converter,
  type NumericDateUnit,
} from "./convert";
import { dateConverter, timeConverter, timestampConverter } from "./convert-dates";

/** What a column becomes: a kind of COLUMN_TYPES, with its size and how it was chosen. */
export interface ColumnCast {
  kind: CastKind;
  /** timestamp/timestamptz/date: how numeric values are read (decided from the data, or by an override) */
  numbers?: NumericDateUnit;
  /** the PostgreSQL type as written in DDL, e.g. "numeric(18,6)" */
  pgType: string;
  /** varchar length, numeric precision */
  length?: number;
  /** numeric(p,s): the scale s, parsed once where the type is read */
  scale?: number;
  /** which rule chose it, for the plan */
  rule: string;
}

export interface ColumnType {
  /** the PostgreSQL type in DDL for a cast of this kind with this size */
  ddl(size: Size): string;
  /** whether a PostgreSQL type (format_type's output, lower case) is this kind: `--schema existing` */
  isPgType(t: string): boolean;
  /** the name `--cast table.column=…` takes for this kind */
  castName: string;
  converter(cast: ColumnCast): Converter;
  /**
   * The form verification compares in: the value as sent and as PostgreSQL
   * printed it back (unescaped, not null) are the same value exactly when
   * their canonical forms are equal. Absent: the text itself.
   */
  canonical?(value: string, cast: ColumnCast): string;
  /** keys of this kind can be merged in order: by their bytes (ORDER BY … COLLATE "C") or as integers */
  order?: "bytes" | "integer";
  /** 64-bit-safe integers: read beyond 2^53 as text, may own a sequence */
  integer?: true;
  /** holds numbers (integers included): numeric defaults translate into it */
  number?: true;
  /** holds text: COLLATE NOCASE becomes citext, text defaults translate into it */
  text?: true;
  /** numbers in it are dates in some unit (numeric-dates.ts decides which) */
  dateNumbers?: true;
  /** the C copy's token for it (sqlite/native/copy-text.c's spec); absent: its values are converted in JavaScript */
  nativeToken?: string;
  /** what SQLite defaults mean in it beyond numbers and text (column-defaults.ts); absent: none of those */
  defaults?: DefaultFacts;
}

/** The SQLite defaults a kind takes besides numeric and text literals (column-defaults.ts translates them). */
export interface DefaultFacts {
  /** the current moment as a value of this kind (SQLite's 'now' is UTC), and which part of it the kind keeps */
  now?: { sql: string; keeps: "date and time" | "date" | "time" };
  /** randomblob(16), SQLite's stand-in for a UUID, as a value of this kind; `blobOnly`: not its hex() text */
  random16?: { sql: string; blobOnly?: true };
  /** literals that must read as this kind to be kept: JSON text, boolean words, X'…' blobs */
  literal?: "json" | "boolean" | "bytes";
}

/** The current moment in UTC without a zone: SQLite's 'now'. */
export const UTC_NOW = "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')";

export interface Size {
  /** varchar(n); numeric(p,s)'s p */
  length?: number;
  /** numeric(p,s)'s s */
  scale?: number;
}

const fixed = (name: string) => () => name;

const trimFraction = (s: string) => s.replace(/(\.\d*?)0+(?=$|[+-]|Z)/, "$1").replace(/\.(?=$|[+-]|Z)/, "");
/** 'HH:MM' reads as 'HH:MM:00'; fractions of a second without trailing zeros. */
const canonicalTime = (v: string) => trimFraction(v.replace(/^(\d{2}:\d{2})$/, "$1:00"));

const INT_RANGE = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
} as const;
const INT_TOKEN = { smallint: "s", integer: "i", bigint: "l" } as const;

function integerType(name: keyof typeof INT_RANGE): ColumnType {
  const [lo, hi] = INT_RANGE[name];
  return {
    ddl: fixed(name),
    isPgType: (t) => t === name,
    castName: name,
    converter: () => integerConverter(name, lo, hi),
    order: "integer",
    integer: true,
    number: true,
    nativeToken: INT_TOKEN[name],
  };
}

function timestampType(withZone: boolean): ColumnType {
  const name = withZone ? "timestamptz" : "timestamp";
  return {
    ddl: fixed(name),
    isPgType: (t) => t.startsWith("timestamp") && t.includes("with time zone") === withZone,
    castName: name,
    converter: (c) => timestampConverter(withZone, c.numbers ?? "epoch-s"),
    canonical: canonicalTime,
    dateNumbers: true,
    nativeToken: withZone ? "Z" : "T",
    defaults: { now: { sql: withZone ? "CURRENT_TIMESTAMP" : UTC_NOW, keeps: "date and time" } },
  };
}

// In the order `--cast` lists them.
const TYPES = {
  text: {
    nativeToken: "t",
    ddl: fixed("text"),
    // text, enums, domains and anything else take PostgreSQL's own text input: the fallback (pgKind).
    isPgType: (t) => t === "text",
    castName: "text",
    converter: () => textConverter(),
    order: "bytes",
    text: true,
  },
  varchar: {
    nativeToken: "v",
    ddl: (s) => `varchar(${s.length})`,
    isPgType: (t) => t.startsWith("character varying") || t.startsWith("character(") || t === "character",
    castName: "varchar",
    converter: (c) => textConverter(c.length),
    order: "bytes",
    text: true,
  },
  bigint: integerType("bigint"),
  integer: integerType("integer"),
  smallint: integerType("smallint"),
  boolean: {
    nativeToken: "b",
    ddl: fixed("boolean"),
    isPgType: (t) => t === "boolean",
    castName: "boolean",
    converter: () => booleanConverter,
    defaults: { literal: "boolean" },
  },
  double: {
    nativeToken: "d",
    ddl: fixed("double precision"),
    isPgType: (t) => t === "double precision" || t === "real",
    castName: "double precision",
    converter: () => doubleConverter,
    canonical: (v) => String(Number(v)),
    number: true,
  },
  numeric: {
    ddl: (s) => (s.length === undefined ? "numeric" : `numeric(${s.length},${s.scale ?? 0})`),
    isPgType: (t) => t.startsWith("numeric"),
    castName: "numeric",
    converter: (c) => numericConverter(c.scale),
    // numeric(p,s): PostgreSQL rounds what was sent to s digits, half away from zero.
    canonical: (v, c) => (c.scale === undefined ? normalizeDecimal(v) : roundDecimal(normalizeDecimal(v), c.scale)),
    number: true,
  },
  timestamp: timestampType(false),
  timestamptz: timestampType(true),
  date: {
    nativeToken: "D",
    ddl: fixed("date"),
    isPgType: (t) => t === "date",
    castName: "date",
    converter: (c) => dateConverter(c.numbers ?? "epoch-s"),
    canonical: canonicalTime,
    dateNumbers: true,
    defaults: { now: { sql: `${UTC_NOW}::date`, keeps: "date" } },
  },
  time: {
    nativeToken: "H",
    ddl: fixed("time"),
    isPgType: (t) => t.startsWith("time") && !t.startsWith("timestamp"),
    castName: "time",
    converter: () => timeConverter,
    canonical: canonicalTime,
    defaults: { now: { sql: `${UTC_NOW}::time(0)`, keeps: "time" } },
  },
  json: {
    ddl: fixed("json"),
    // json keeps its text as written: compared as text.
    isPgType: (t) => t === "json",
    castName: "json",
    converter: () => jsonTextConverter,
    defaults: { literal: "json" },
  },
  jsonb: {
    nativeToken: "j",
    ddl: fixed("jsonb"),
    isPgType: (t) => t === "jsonb",
    castName: "jsonb",
    converter: () => jsonConverter,
    defaults: { literal: "json" },
    // jsonb prints keys in its own order; object key order is not part of the value.
    canonical: (v) => {
      try {
        return JSON.stringify(sortedKeys(JSON.parse(v)));
      } catch {
        return v;
      }
    },
  },
  bytea: {
    nativeToken: "x",
    ddl: fixed("bytea"),
    isPgType: (t) => t === "bytea",
    castName: "bytea",
    converter: () => byteaConverter,
    defaults: { random16: { sql: "decode(replace(gen_random_uuid()::text, '-', ''), 'hex')", blobOnly: true }, literal: "bytes" },
  },
  uuid: {
    nativeToken: "U",
    ddl: fixed("uuid"),
    isPgType: (t) => t === "uuid",
    castName: "uuid",
    converter: () => uuidConverter,
    // gen_random_uuid() is as unique as 16 random bytes (122 random bits: 6 carry the UUID version).
    defaults: { random16: { sql: "gen_random_uuid()" } },
    canonical: (v) => v.replace(/[{}-]/g, "").toLowerCase(),
  },
} satisfies Record<string, ColumnType>;

export type CastKind = keyof typeof TYPES;
export const COLUMN_TYPES: Record<CastKind, ColumnType> = TYPES;

/** A cast of `kind` with `size`, its DDL type written from them. */
export function makeCast(kind: CastKind, rule: string, size: Size = {}): ColumnCast {
  return {
    kind,
    pgType: COLUMN_TYPES[kind].ddl(size),
    rule,
    ...(size.length !== undefined ? { length: size.length } : {}),
    ...(size.scale !== undefined ? { scale: size.scale } : {}),
  };
}

/** The kind an existing PostgreSQL column type (format_type's output) is filled as; text for anything unknown. */
export function castForPgType(dataType: string, rule: string): ColumnCast {
  const t = dataType.toLowerCase();
  const kind = (Object.keys(COLUMN_TYPES) as CastKind[]).find((k) => COLUMN_TYPES[k].isPgType(t)) ?? "text";
  const size = /\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/.exec(t);
  return {
    kind,
    pgType: t,
    rule,
    ...(size ? { length: Number(size[1]) } : {}),
    ...(kind === "numeric" && size ? { scale: Number(size[2] ?? 0) } : {}),
  };
}

export function converterFor(cast: ColumnCast): Converter {
  return COLUMN_TYPES[cast.kind].converter(cast);
}

/** A COPY text field (escaped, or \N) in its canonical form; NULL as a form no value has. */
export type Canonical = (field: string) => string;

export function canonicalFor(cast: ColumnCast): Canonical {
  const canonical = COLUMN_TYPES[cast.kind].canonical;
  return (field) => {
    const v = unescapeCopy(field);
    if (v === null) return "\u0000NULL";
    return canonical ? canonical(v, cast) : v;
  };
}

export const isIntegerKind = (k: CastKind): boolean => COLUMN_TYPES[k].integer === true;
export const isNumberKind = (k: CastKind): boolean => COLUMN_TYPES[k].number === true;
export const isTextKind = (k: CastKind): boolean => COLUMN_TYPES[k].text === true;
export const hasDateNumbers = (k: CastKind): boolean => COLUMN_TYPES[k].dateNumbers === true;

function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortedKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** A decimal literal (exponent allowed) as plain digits: no exponent, no leading or trailing zeros, no "-0". */
export function normalizeDecimal(s: string): string {
  const m = /^\s*([-+]?)(\d*)\.?(\d*)(?:[eE]([-+]?\d+))?\s*$/.exec(s);
  if (!m) return s;
  const exp = Number(m[4] ?? 0);
  let digits = (m[2] ?? "") + (m[3] ?? "");
  let point = (m[2] ?? "").length + exp;
  while (point > digits.length) digits += "0";
  while (point < 0) {
    digits = "0" + digits;
    point++;
  }
  const int = digits.slice(0, point).replace(/^0+(?=\d)/, "") || "0";
  const frac = digits.slice(point).replace(/0+$/, "");
  const sign = m[1] === "-" && /[1-9]/.test(int + frac) ? "-" : "";
  return sign + int + (frac ? "." + frac : "");
}

/** A normalized decimal rounded to `scale` fraction digits, half away from zero (numeric's rounding), normalized again. */
export function roundDecimal(normalized: string, scale: number): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(normalized);
  if (!m) return normalized;
  const frac = m[3] ?? "";
  if (frac.length <= scale) return normalized;
  const kept = BigInt(m[2] + frac.slice(0, scale)) + (frac.charCodeAt(scale) >= 53 ? 1n : 0n); // "5" and up round away from zero
  const digits = kept.toString().padStart(scale + 1, "0");
  const int = digits.slice(0, digits.length - scale);
  return normalizeDecimal(`${m[1]}${int}${scale > 0 ? "." + digits.slice(-scale) : ""}`);
}
