// PostgreSQL's values written back into a SQLite column in the form its values
// take (forms.ts reads those forms): which form a value goes back in, and the
// value in it, exactly or refused (Reject) with the reason.
import type { ColumnPlan } from "../plan";
import { NUMERIC_DATE_UNITS, Reject } from "../types/convert";
import { normalizeDecimal } from "../types/column-types";
import { BOOL_PAIRS, defaultFamily, familyOf, fractionPolicy, type ColumnForms, type Family, type FractionPolicy } from "./forms";

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
