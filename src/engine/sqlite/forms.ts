// The forms a SQLite column's values take, read from the file; write-back.ts
// writes PostgreSQL's values back in them (sync-back/). SQLite keeps whatever
// the app wrote: a DATETIME column may hold '2024-01-02 03:04:05.123456', '2024-01-02T03:04:05Z' or 1704164645;
// a BOOLEAN 0/1 or 'true'/'false'; a JSON column '{"a":1}' or '{"a": 1}'. A row
// copied back from PostgreSQL must be written the way the app wrote the rest,
// or the app reads back something it never wrote (Python's datetime parser
// rejects a 'T' it did not write; a string compared with 'true' is not 1).
//
// The forms are read from the SQLite file itself, which still holds every row
// as the app wrote it: at a rollback it is the file PostgreSQL was loaded from.
// Each value falls in one family (storage class, and for text its layout); a
// family also learns how many fractional digits its timestamps carry. When a
// column holds several families, a row that is updated keeps its own old
// value's family, and a new row takes the family of the column's latest value
// (highest rowid, or key in a WITHOUT ROWID table): what the app writes now.
// A column with no values at all gets the kind's default form (defaultFamily).
import type Database from "better-sqlite3";
import type { ColumnPlan, TablePlan } from "../plan";
import type { NumericDateUnit } from "../types/convert";
import { quoteSqlite } from "../identifiers";

/** How a family writes fractions of a second: never, always N digits, N digits unless zero, or without trailing zeros. */
export type FractionPolicy =
  { type: "none" } | { type: "fixed"; digits: number; omitWhenZero: boolean } | { type: "trimmed" } | { type: "unknown"; lengths: number[] };

export type Family =
  | { type: "storage"; storage: "integer" | "real" | "text" | "blob" }
  | { type: "bool-int" }
  | { type: "bool-text"; pair: number; style: "lower" | "upper" | "title" }
  | { type: "time-text"; date: boolean; sep: "" | " " | "T"; time: "" | "hm" | "hms"; zone: string }
  | { type: "time-number"; unit: NumericDateUnit; storage: "integer" | "real" }
  | { type: "uuid-text"; braces: boolean; dashes: boolean; upper: boolean }
  | { type: "uuid-blob" }
  | { type: "json-number" }
  | { type: "json-text"; style: "compact" | "spaced" | "plain" };

interface FamilyStats {
  family: Family;
  lengths: Set<number>;
  trailingZero: boolean;
}

export interface ColumnForms {
  column: ColumnPlan;
  families: Map<string, FamilyStats>;
  /** family key of the column's latest value */
  latest?: string;
  /** the family is the column's affinity's (familyByAffinity): its values were not read */
  byAffinity?: true;
}

export const BOOL_PAIRS: [string, string][] = [
  ["true", "false"],
  ["t", "f"],
  ["yes", "no"],
  ["y", "n"],
  ["on", "off"],
  ["1", "0"],
];

const TIME_TEXT = /^(?:(\d{4})-(\d{2})-(\d{2}))?(?:([ T])?(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(\s*(?:Z|z|[+-]\d{2}(?::?\d{2})?))?$/;

const storageOf = (v: unknown): "integer" | "real" | "text" | "blob" =>
  typeof v === "bigint"
    ? "integer"
    : typeof v === "number"
      ? Number.isInteger(v) && !Object.is(v, -0)
        ? "integer"
        : "real"
      : typeof v === "string"
        ? "text"
        : "blob";

/** The family of one raw SQLite value (read with safeIntegers), with its fraction's length; undefined for NULL. */
export function familyOf(c: ColumnPlan, raw: unknown): { key: string; family: Family; fraction: number; trailingZero: boolean } | undefined {
  if (raw === null || raw === undefined) return undefined;
  const plain = (family: Family) => ({ key: keyOf(family), family, fraction: 0, trailingZero: false });
  const kind = c.cast.kind;
  const storage = storageOf(raw);
  switch (kind) {
    case "boolean": {
      if (typeof raw === "string") {
        const w = raw.trim();
        const lower = w.toLowerCase();
        const pair = BOOL_PAIRS.findIndex((p) => p.includes(lower));
        if (pair >= 0 && w === raw) {
          const style = w === lower ? "lower" : w === w.toUpperCase() ? "upper" : "title";
          return plain({ type: "bool-text", pair, style });
        }
        return plain({ type: "storage", storage });
      }
      return plain(storage === "integer" ? { type: "bool-int" } : { type: "storage", storage });
    }
    case "timestamp":
    case "timestamptz":
    case "date":
    case "time": {
      if (storage === "integer" || storage === "real") return plain({ type: "time-number", unit: c.cast.numbers ?? "epoch-s", storage });
      if (typeof raw !== "string") return plain({ type: "storage", storage });
      const m = TIME_TEXT.exec(raw);
      const date = m?.[1] !== undefined;
      const time = m?.[5] !== undefined;
      if (!m || (!date && !time) || (date && time && !m[4]) || (!date && m[4])) return plain({ type: "storage", storage });
      const family: Family = {
        type: "time-text",
        date,
        sep: (m[4] ?? "") as "" | " " | "T",
        time: time ? (m[7] !== undefined ? "hms" : "hm") : "",
        zone: m[9] ?? "",
      };
      return { key: keyOf(family), family, fraction: m[8]?.length ?? 0, trailingZero: m[8]?.endsWith("0") ?? false };
    }
    case "uuid": {
      if (Buffer.isBuffer(raw) && raw.length === 16) return plain({ type: "uuid-blob" });
      if (typeof raw === "string" && /^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$/.test(raw)) {
        return plain({ type: "uuid-text", braces: raw.startsWith("{"), dashes: raw.includes("-"), upper: /[A-F]/.test(raw) && !/[a-f]/.test(raw) });
      }
      return plain({ type: "storage", storage });
    }
    case "jsonb": {
      if (storage === "integer" || storage === "real") return plain({ type: "json-number" });
      if (typeof raw !== "string") return plain({ type: "storage", storage });
      return plain({ type: "json-text", style: jsonStyle(raw) });
    }
    default:
      return plain({ type: "storage", storage });
  }
}

function keyOf(f: Family): string {
  return JSON.stringify(f);
}

/** Whether JSON text has separators, and spaces after them (PostgreSQL's and Python's form) or none (JavaScript's). */
function jsonStyle(text: string): "compact" | "spaced" | "plain" {
  let inString = false;
  let sawSeparator = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "," || ch === ":") {
      sawSeparator = true;
      if (text[i + 1] === " ") return "spaced";
    }
  }
  return sawSeparator ? "compact" : "plain";
}

/** Text with every digit replaced by 0: values of one layout share it ('0000-00-00 00:00:00.000000'). */
const digitShape = (col: string) => {
  let e = col;
  for (let d = 1; d <= 9; d++) e = `replace(${e}, '${d}', '0')`;
  return e;
};

/**
 * What sets a column's values apart into families, as SQL expressions: their
 * distinct values are found in one scan in SQLite's C (where classifying each
 * value in JavaScript took seconds a column at a million rows), and one value
 * of each is classified (familyOf) for all the values that share it.
 */
function groupingSql(c: ColumnPlan, col: string): string[] {
  const text = (e: string) => `CASE WHEN typeof(${col}) = 'text' THEN ${e} END`;
  const type = `typeof(${col})`;
  switch (c.cast.kind) {
    case "timestamp":
    case "timestamptz":
    case "date":
    case "time":
      return [type, text(digitShape(col))];
    case "boolean":
      return [type, text(col)];
    case "uuid":
      return [
        type,
        text(`length(${col})`),
        text(`substr(${col}, 1, 1)`),
        text(`instr(${col}, '-') > 0`),
        text(`${col} GLOB '*[a-f]*'`),
        text(`${col} GLOB '*[A-F]*'`),
      ];
    case "jsonb":
      // SQLite's json() writes JSON without whitespace: text equal to it is compact. No , or : at all tells nothing.
      return [type, text(`CASE WHEN ${col} NOT GLOB '*[,:]*' THEN 'plain' WHEN json_valid(${col}) AND ${col} = json(${col}) THEN 'compact' ELSE 'spaced' END`)];
    default:
      return [type];
  }
}

/** SQLite's type affinity of a declared type (the rules of "Determination Of Column Affinity"). */
export function affinityOf(declaredType: string): "integer" | "text" | "blob" | "real" | "numeric" {
  const t = declaredType.toUpperCase();
  if (t.includes("INT")) return "integer";
  if (t.includes("CHAR") || t.includes("CLOB") || t.includes("TEXT")) return "text";
  if (t.includes("BLOB") || t.trim() === "") return "blob";
  if (t.includes("REAL") || t.includes("FLOA") || t.includes("DOUB")) return "real";
  return "numeric";
}

/**
 * The family a column's affinity alone decides, with no need to read its
 * values: whatever the app bound, SQLite stored an integer, real or numeric
 * text as a number in a number column, and any number as text in a text
 * column; and so it stores what sync-back binds. (BLOBs keep their class
 * everywhere; a column of blobs and text in a typeless column is read.)
 */
function familyByAffinity(c: ColumnPlan): Family | undefined {
  const affinity = affinityOf(c.declaredType);
  const numeric = affinity === "integer" || affinity === "real" || affinity === "numeric";
  switch (c.cast.kind) {
    case "bigint":
    case "integer":
    case "smallint":
      return numeric ? { type: "storage", storage: "integer" } : undefined;
    case "double":
    case "numeric":
      return numeric ? { type: "storage", storage: "real" } : undefined;
    case "text":
    case "varchar":
      return affinity === "text" ? { type: "storage", storage: "text" } : undefined;
    default:
      return undefined;
  }
}

/** Values of a column read for its forms: the latest this many (every one in a smaller table). */
export const FORMS_WINDOW = 100_000;

/** A column's latest values (FORMS_WINDOW), classified: one scan for their distinct layouts, then the latest value (highest rowid, or key without a rowid). */
export function readColumnForms(db: Database.Database, t: TablePlan, c: ColumnPlan): ColumnForms {
  const fixed = familyByAffinity(c);
  if (fixed) return { column: c, families: new Map([[keyOf(fixed), { family: fixed, lengths: new Set([0]), trailingZero: false }]]), byAffinity: true };
  const col = quoteSqlite(c.source);
  const order = t.withoutRowid ? t.sourceKey.map((k) => `${quoteSqlite(k)} DESC`).join(", ") : "rowid DESC";
  // The column's latest values (the whole column in a smaller table): how the app writes it now, read
  // backwards along the table's b-tree. All of a million rows cost seconds a column (a DISTINCT of each
  // value's layout), for forms the latest rows show as well; an updated row's own old value is read apart.
  const from = `(SELECT ${col} FROM ${quoteSqlite(t.source)} WHERE ${col} IS NOT NULL${order ? ` ORDER BY ${order}` : ""} LIMIT ${FORMS_WINDOW})`;
  // DISTINCT keeps only the few distinct keys in its temporary b-tree; GROUP BY would sort every row (and its
  // sample value) first. Each key's first row is then its sample.
  const exprs = groupingSql(c, col);
  const keys = db
    .prepare(`SELECT DISTINCT ${exprs.join(", ")} FROM ${from} WHERE ${col} IS NOT NULL`)
    .raw(true)
    .safeIntegers(true)
    .all() as unknown[][];
  const sampleOf = db
    .prepare(`SELECT ${col} FROM ${from} WHERE ${col} IS NOT NULL AND ${exprs.map((e) => `(${e}) IS ?`).join(" AND ")} LIMIT 1`)
    .pluck()
    .safeIntegers(true);
  const groups = keys.map((key) => ({ sample: sampleOf.get(...key) as unknown }));
  const forms: ColumnForms = { column: c, families: new Map() };
  const fractions = new Map<FamilyStats, string[]>();
  for (const g of groups) {
    const f = familyOf(c, g.sample)!;
    let stats = forms.families.get(f.key);
    if (!stats) forms.families.set(f.key, (stats = { family: f.family, lengths: new Set(), trailingZero: false }));
    stats.lengths.add(f.fraction);
    if (f.fraction > 0 && typeof g.sample === "string") fractions.set(stats, [...(fractions.get(stats) ?? []), g.sample]);
  }
  // Trailing zeros tell "no trailing zeros" from "unknown" only in a family whose fractions have several lengths:
  // one more scan each for those (rare). Every value of a group has its sample's layout, so the fraction's last
  // digit sits where the sample's does.
  for (const [stats, samples] of fractions) {
    if ([...stats.lengths].filter((n) => n > 0).length < 2) continue;
    const zero = db
      .prepare(`SELECT EXISTS (SELECT 1 FROM ${from} WHERE typeof(${col}) = 'text' AND ${digitShape(col)} = ? AND substr(${col}, ?, 1) = '0')`)
      .pluck();
    stats.trailingZero = samples.some((sample) => zero.get(shapeOf(sample), sample.indexOf(".") + (TIME_TEXT.exec(sample)?.[8]?.length ?? 0) + 1));
  }
  if (order) {
    const latest = db
      .prepare(`SELECT ${col} FROM ${quoteSqlite(t.source)} WHERE ${col} IS NOT NULL ORDER BY ${order} LIMIT 1`)
      .pluck()
      .safeIntegers(true)
      .get();
    if (latest !== undefined) forms.latest = familyOf(c, latest)!.key;
  }
  return forms;
}

const shapeOf = (s: string) => s.replace(/[1-9]/g, "0");

/** The fraction policy a family's values show (see FractionPolicy). */
export function fractionPolicy(stats: FamilyStats): FractionPolicy {
  const nonzero = [...stats.lengths].filter((n) => n > 0).sort((a, b) => a - b);
  if (nonzero.length === 0) return { type: "none" };
  if (nonzero.length === 1) return { type: "fixed", digits: nonzero[0]!, omitWhenZero: stats.lengths.has(0) };
  if (!stats.trailingZero) return { type: "trimmed" };
  return { type: "unknown", lengths: [...stats.lengths].sort((a, b) => a - b) };
}

/** The form a column with no values is written in: what SQLite's own functions and Python's sqlite3 write. */
export function defaultFamily(c: ColumnPlan): Family {
  switch (c.cast.kind) {
    case "boolean":
      return { type: "bool-int" };
    case "timestamp":
    case "timestamptz":
      return { type: "time-text", date: true, sep: " ", time: "hms", zone: "" };
    case "date":
      return { type: "time-text", date: true, sep: "", time: "", zone: "" };
    case "time":
      return { type: "time-text", date: false, sep: "", time: "hms", zone: "" };
    case "uuid":
      return { type: "uuid-text", braces: false, dashes: true, upper: false };
    case "jsonb":
      return { type: "json-text", style: "spaced" };
    case "bytea":
      return { type: "storage", storage: "blob" };
    case "double":
      return { type: "storage", storage: "real" };
    case "bigint":
    case "integer":
    case "smallint":
      return { type: "storage", storage: "integer" };
    default:
      return { type: "storage", storage: "text" };
  }
}
