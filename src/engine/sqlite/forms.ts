// The forms a SQLite column's values take, and PostgreSQL values written back in
// them (sync-back.ts). SQLite keeps whatever the app wrote: a DATETIME column
// may hold '2024-01-02 03:04:05.123456', '2024-01-02T03:04:05Z' or 1704164645;
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
import { NUMERIC_DATE_UNITS, Reject, type NumericDateUnit } from "../types/convert";
import { normalizeDecimal } from "../types/column-types";
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

const BOOL_PAIRS: [string, string][] = [
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

/** Default fractions: Python's str(datetime) and isoformat(), six digits unless zero. */
const DEFAULT_FRACTION: FractionPolicy = { type: "fixed", digits: 6, omitWhenZero: true };

/** A family in words, for the plan and for refusals. */
export function describeFamily(f: Family, fraction?: FractionPolicy): string {
  switch (f.type) {
    case "storage":
      return `${f.storage} values`;
    case "bool-int":
      return "integers 1/0";
    case "bool-text": {
      const [t, fl] = BOOL_PAIRS[f.pair]!.map((w) => styled(w, f.style));
      return `text '${t}'/'${fl}'`;
    }
    case "time-text": {
      const layout = `${f.date ? "YYYY-MM-DD" : ""}${f.sep}${f.time === "hms" ? "HH:MM:SS" : f.time === "hm" ? "HH:MM" : ""}`;
      const frac =
        !fraction || f.time !== "hms"
          ? ""
          : fraction.type === "none"
            ? ""
            : fraction.type === "fixed"
              ? `.${"f".repeat(fraction.digits)}${fraction.omitWhenZero ? " (none when zero)" : ""}`
              : fraction.type === "trimmed"
                ? "[.f…] (no trailing zeros)"
                : `.f… (lengths ${fraction.lengths.join(", ")})`;
      return `text '${layout}${f.zone}'${frac}`;
    }
    case "time-number":
      return `${f.storage === "integer" ? "integer" : "real"} ${NUMERIC_DATE_UNITS[f.unit]}`;
    case "uuid-text":
      return `text UUIDs (${f.upper ? "upper" : "lower"} case${f.dashes ? ", dashes" : ", no dashes"}${f.braces ? ", braces" : ""})`;
    case "uuid-blob":
      return "16-byte blobs";
    case "json-number":
      return "JSON numbers stored as SQLite numbers";
    case "json-text":
      return `JSON text${f.style === "compact" ? " without spaces" : f.style === "spaced" ? " with spaces after , and :" : ""}`;
  }
}

function styled(word: string, style: "lower" | "upper" | "title"): string {
  return style === "upper" ? word.toUpperCase() : style === "title" ? word.charAt(0).toUpperCase() + word.slice(1) : word;
}

/** How a value is written back: which family, and its fractions; `why` for the plan. */
export interface ChosenForm {
  family: Family;
  fraction: FractionPolicy;
  why: "its old value" | "the column's only form" | "the column's latest value" | "the column has no values: default" | "the column's type affinity";
}

/** Which form a value goes back in: an updated row's old value's family, else the column's single or latest family, else the default. */
export function chooseForm(forms: ColumnForms, oldRaw: unknown): ChosenForm {
  const pick = (key: string, why: ChosenForm["why"]): ChosenForm => {
    const stats = forms.families.get(key)!;
    return { family: stats.family, fraction: fractionPolicy(stats), why };
  };
  const old = oldRaw === undefined ? undefined : familyOf(forms.column, oldRaw);
  if (old && forms.families.has(old.key) && forms.families.size > 1) return pick(old.key, "its old value");
  if (forms.families.size === 1) return pick([...forms.families.keys()][0]!, forms.byAffinity ? "the column's type affinity" : "the column's only form");
  if (forms.latest) return pick(forms.latest, "the column's latest value");
  return { family: defaultFamily(forms.column), fraction: DEFAULT_FRACTION, why: "the column has no values: default" };
}

// --- PostgreSQL's value (COPY text, unescaped) → the SQLite value in a form.

/** A date and time of day from PostgreSQL's output (session TimeZone UTC, DateStyle ISO). */
interface PgMoment {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  /** microseconds */
  us: number;
}

function parsePgMoment(kind: string, v: string): PgMoment {
  if (/infinity/i.test(v)) throw new Reject(`${v} has no SQLite form`);
  if (v.endsWith(" BC")) throw new Reject("a date before the year 1 has no form SQLite's date functions read");
  const frac = (s: string | undefined) => (s ? Number(s.padEnd(6, "0")) : 0);
  if (kind === "time") {
    const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(v);
    if (!m) throw new Reject(`PostgreSQL printed ${JSON.stringify(v)}, not a time pgshift reads`);
    return { y: 1970, mo: 1, d: 1, h: Number(m[1]), mi: Number(m[2]), s: Number(m[3]), us: frac(m[4]) };
  }
  const m = /^(\d{4,})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?(\+00)?$/.exec(v);
  if (!m) throw new Reject(`PostgreSQL printed ${JSON.stringify(v)}, not a date/time pgshift reads (is the session's TimeZone UTC?)`);
  if (m[1]!.length > 4) throw new Reject("a year past 9999 has no 'YYYY-MM-DD' form");
  return { y: Number(m[1]), mo: Number(m[2]), d: Number(m[3]), h: Number(m[4] ?? 0), mi: Number(m[5] ?? 0), s: Number(m[6] ?? 0), us: frac(m[7]) };
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Microseconds since the unix epoch, exactly. */
function epochMicros(t: PgMoment): bigint {
  const ms = Date.UTC(t.y, t.mo - 1, t.d, t.h, t.mi, t.s);
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not.
  const date = new Date(ms);
  if (t.y < 100) date.setUTCFullYear(t.y);
  return BigInt(date.getTime()) * 1000n + BigInt(t.us);
}

const JULIAN_EPOCH_MS = 210866760000000n;

function timeText(f: Extract<Family, { type: "time-text" }>, fraction: FractionPolicy, kind: string, t: PgMoment): string {
  let m = t;
  const offset = /^\s*([+-])(\d{2}):?(\d{2})?$/.exec(f.zone);
  if (offset && kind !== "time") {
    const minutes = (offset[1] === "-" ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3] ?? 0));
    if (minutes !== 0) {
      // The instant as the wall clock at the column's offset reads it.
      const shifted = new Date(Date.UTC(t.y, t.mo - 1, t.d, t.h, t.mi, t.s) + minutes * 60_000);
      m = {
        y: shifted.getUTCFullYear(),
        mo: shifted.getUTCMonth() + 1,
        d: shifted.getUTCDate(),
        h: shifted.getUTCHours(),
        mi: shifted.getUTCMinutes(),
        s: shifted.getUTCSeconds(),
        us: t.us,
      };
    }
  }
  if (!f.time && (m.h || m.mi || m.s || m.us)) throw new Reject("it has a time of day, and the column's values are dates without one");
  if (f.time === "hm" && (m.s || m.us)) throw new Reject("it has seconds, and the column's values are written to the minute ('HH:MM')");
  let frac = "";
  if (m.us) {
    const six = pad(m.us, 6);
    if (fraction.type === "none") throw new Reject(`it has fractions of a second (.${six.replace(/0+$/, "")}), and none of the column's values has any`);
    if (fraction.type === "unknown")
      throw new Reject(
        `it has fractions of a second, and the column's values have fractions of several lengths (${fraction.lengths.join(", ")} digits) with trailing zeros: pgshift cannot tell how many digits the app writes`,
      );
    if (fraction.type === "trimmed") frac = "." + six.replace(/0+$/, "");
    else {
      if (/[1-9]/.test(six.slice(fraction.digits)))
        throw new Reject(
          `it has fractions of a second to ${six.replace(/0+$/, "").length} digits (.${six.replace(/0+$/, "")}), and the column's values have ${fraction.digits}`,
        );
      frac = "." + six.padEnd(fraction.digits, "0").slice(0, fraction.digits);
    }
  } else if (fraction.type === "fixed" && !fraction.omitWhenZero && f.time === "hms") frac = "." + "0".repeat(fraction.digits);
  const date = f.date ? `${pad(m.y, 4)}-${pad(m.mo)}-${pad(m.d)}` : "";
  const time = f.time ? `${f.sep}${pad(m.h)}:${pad(m.mi)}${f.time === "hms" ? `:${pad(m.s)}${frac}` : ""}` : "";
  return date + time + (kind === "time" ? "" : f.zone);
}

function timeNumber(f: Extract<Family, { type: "time-number" }>, t: PgMoment): number | bigint {
  const us = epochMicros(t);
  const whole = (per: bigint, what: string): bigint => {
    if (us % per !== 0n) throw new Reject(`it is not a whole number of ${what}, and the column's values are integer ${what}`);
    return us / per;
  };
  switch (f.unit) {
    case "epoch-s":
      return f.storage === "integer" ? whole(1_000_000n, "seconds") : Number(us) / 1e6;
    case "epoch-ms":
      return f.storage === "integer" ? whole(1000n, "milliseconds") : Number(us) / 1000;
    case "epoch-us":
      return f.storage === "integer" ? us : Number(us);
    case "julian": {
      if (us % 1000n !== 0n) throw new Reject("it has microseconds, and julian day numbers keep milliseconds");
      const days = Number(us / 1000n + JULIAN_EPOCH_MS) / 86_400_000;
      if (f.storage === "integer" && !Number.isInteger(days)) throw new Reject("it is not a whole julian day, and the column's values are integer julian days");
      return days;
    }
    case "yyyymmdd": {
      // --cast …:yyyymmdd: the day as the digits the app wrote (20240101), at midnight only.
      if (t.h || t.mi || t.s || t.us) throw new Reject("it has a time of day, and the column's values are YYYYMMDD dates");
      const day = t.y * 10000 + t.mo * 100 + t.d;
      return f.storage === "integer" ? BigInt(day) : day;
    }
  }
}

/** PostgreSQL's jsonb text without the spaces it puts after , and : (outside strings). */
function compactJson(text: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === "\\") out += text[++i] ?? "";
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
      out += ch;
    } else if (ch !== " ") out += ch;
  }
  return out;
}

const INTEGER_TEXT = /^-?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A decimal as the SQLite number it equals exactly: an integer within 64 bits, or a double; undefined when neither holds it. */
function exactNumber(text: string): number | bigint | undefined {
  if (INTEGER_TEXT.test(text)) {
    const b = BigInt(text);
    if (b >= INT64_MIN && b <= INT64_MAX) return b;
  }
  const n = Number(text);
  if (!Number.isFinite(n)) return undefined;
  return normalizeDecimal(String(n)) === normalizeDecimal(text) ? n : undefined;
}

/**
 * PostgreSQL's value of a column (unescaped COPY text; null for NULL) as the
 * SQLite value to bind, in the chosen form. Throws Reject when the form cannot
 * hold it exactly.
 */
export function sqliteValue(c: ColumnPlan, form: ChosenForm, v: string | null): unknown {
  if (v === null) return null;
  const { family } = form;
  const kind = c.cast.kind;
  switch (kind) {
    case "bigint":
    case "integer":
    case "smallint":
      return family.type === "storage" && family.storage === "text" ? v : BigInt(v);
    case "double": {
      if (v === "NaN") throw new Reject("NaN: SQLite stores a NaN as NULL");
      const n = v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : Number(v);
      return family.type === "storage" && family.storage === "text" ? v : n;
    }
    case "numeric": {
      if (v === "NaN" || /infinity/i.test(v)) throw new Reject(`${v}: SQLite has no such number`);
      if (family.type === "storage" && (family.storage === "text" || family.storage === "blob")) return v;
      const n = exactNumber(v);
      if (n === undefined) throw new Reject(`${v} has more digits than a SQLite number (64-bit integer or double) holds, and the column's values are numbers`);
      return n;
    }
    case "boolean": {
      const b = v === "t";
      if (family.type === "bool-text") return styled(BOOL_PAIRS[family.pair]![b ? 0 : 1]!, family.style);
      if (family.type === "storage" && family.storage === "text") return b ? "true" : "false";
      return b ? 1n : 0n;
    }
    case "timestamp":
    case "timestamptz":
    case "date":
    case "time": {
      const moment = parsePgMoment(kind, v);
      if (family.type === "time-number") {
        if (kind === "time") throw new Reject("a time of day has no number form");
        return timeNumber(family, moment);
      }
      if (family.type === "time-text") return timeText(family, form.fraction, kind, moment);
      return timeText(defaultFamily(c) as Extract<Family, { type: "time-text" }>, DEFAULT_FRACTION, kind, moment);
    }
    case "uuid": {
      if (family.type === "uuid-blob") return Buffer.from(v.replace(/-/g, ""), "hex");
      const f = family.type === "uuid-text" ? family : { braces: false, dashes: true, upper: false };
      let s = f.dashes ? v : v.replace(/-/g, "");
      if (f.upper) s = s.toUpperCase();
      return f.braces ? `{${s}}` : s;
    }
    case "jsonb": {
      if (family.type === "json-number" && /^-?\d/.test(v)) {
        const n = exactNumber(v);
        if (n !== undefined) return n;
      }
      return family.type === "json-text" && family.style === "compact" ? compactJson(v) : v;
    }
    case "bytea": {
      const bytes = Buffer.from(v.slice(2), "hex");
      if (family.type === "storage" && family.storage === "text") {
        const text = bytes.toString("utf8");
        if (Buffer.from(text, "utf8").equals(bytes)) return text;
      }
      return bytes;
    }
    default:
      // text, varchar, citext: the text itself (a column of blobs gets the text's bytes back)
      return family.type === "storage" && family.storage === "blob" ? Buffer.from(v, "utf8") : v;
  }
}

/** The json-text family a "plain" value (no separators) resolves to: the column's other text style (the latest value's if it has both), else PostgreSQL's. */
export function resolveJsonPlain(forms: ColumnForms, chosen: ChosenForm): ChosenForm {
  if (chosen.family.type !== "json-text" || chosen.family.style !== "plain") return chosen;
  const styles = new Set([...forms.families.values()].map((s) => (s.family.type === "json-text" ? s.family.style : undefined)));
  const latest = forms.latest ? forms.families.get(forms.latest)?.family : undefined;
  const style =
    styles.has("compact") && styles.has("spaced")
      ? latest?.type === "json-text" && latest.style !== "plain"
        ? latest.style
        : "spaced"
      : styles.has("compact")
        ? "compact"
        : "spaced";
  return { ...chosen, family: { type: "json-text", style } };
}
