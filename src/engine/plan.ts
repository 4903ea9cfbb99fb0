// The plan: for every table, what it becomes in PostgreSQL — name, column types
// (from the cast rules, or from the existing target table), keys, indexes,
// foreign keys, load order — and what is not copied and why. Making a plan
// reads SQLite and, in `existing` mode, the target's catalog; it writes nothing.
import Database from "better-sqlite3";
import { existsSync, readdirSync, statSync } from "node:fs";
import { castFor, formatCastRules, parseOverride } from "./cast-rules";
import { hasDateNumbers, isIntegerKind, isNumberKind, isTextKind, makeCast, type ColumnCast } from "./column-types";
import { readCatalog, type SkippedObject, type SqliteTable } from "./catalog";
import { UsageError } from "./errors";
import { madeUpName, MAX_NAME_BYTES, quoteIdent, quoteLiteral, quoteSqlite, targetName } from "./identifiers";
import { checkNames } from "./name-checks";
import { DEFAULTS, checkOptions, withDefaults, type IdentifierMode, type MigrationSettings, type SchemaMode } from "./options";
import { bookkeepingTool } from "./bookkeeping";
import { fkAction } from "./schema";
import { balanced, parseCreateTable, splitTopLevel, sqliteString, translateExpression, withoutComments, type ExpressionColumn, type Translation } from "./expressions";
import { decideNumericDates } from "./numeric-dates";
import { readTargetTables, type TargetColumn } from "./pg-catalog";

export type { SchemaMode };

/** The settings (options.ts; absent ones take their defaults there), and what a run is given besides. */
export interface MigrationOptions extends Partial<MigrationSettings> {
  /** path of the SQLite database */
  source: string;
  /** PostgreSQL connection string (needed by migrate/verify, and by plan in existing mode) */
  target?: string;
  /** PostgreSQL schema to load into (DEFAULTS.targetSchema) */
  targetSchema?: string;
  /** a source without tables is planned (and migrates nothing) instead of refused: --allow-empty */
  allowEmpty?: boolean;
  /** existing mode without `target`: plan from the cast rules instead of failing (pulumi preview) */
  allowUnknownTarget?: boolean;
}

export interface ColumnPlan {
  source: string;
  target: string;
  declaredType: string;
  cast: ColumnCast;
  targetType: string;
  notNull: boolean;
  /** translated default expression, or null */
  default: string | null;
  identity: boolean;
  /**
   * Planned with numericDates "defer": the reading of this date column's
   * numbers is decided when the copy reads the table (numeric-dates.ts
   * settleNumericDates), its note then going in at `noteAt` of the table's notes.
   */
  numericDatesPending?: { noteAt: number };
}

/**
 * A SQLite generated column (VIRTUAL or STORED) made a PostgreSQL
 * `GENERATED ALWAYS AS (…) STORED` column: not copied (PostgreSQL computes
 * it), compared with SQLite's values by verification.
 */
export interface GeneratedColumnPlan {
  source: string;
  target: string;
  declaredType: string;
  cast: ColumnCast;
  /** the expression, translated for PostgreSQL and cast to the column's type */
  expression: string;
  /** the SQLite expression it came from */
  sqlite: string;
}

export interface ForeignKeyPlan {
  name: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
  onUpdate: string;
  onDelete: string;
}

export interface IndexPlan {
  name: string;
  unique: boolean;
  /**
   * The CREATE INDEX / ADD CONSTRAINT statement around the table's name:
   * `${head} <schema.table> ${tail}` (schema.ts). Both hold only quoted names
   * and translated expressions; the name goes in by concatenation, never by
   * replacing a placeholder (a name holding one, or $', would rewrite the rest).
   */
  sql: { head: string; tail: string };
  kind: "unique constraint" | "index" | "check constraint";
  /** the SQLite index it came from */
  source?: string;
  /**
   * translated from a SQLite expression: if PostgreSQL cannot make sense of it
   * (a type mismatch pgshift could not see), it is left out with a warning
   * instead of failing the table; a row that violates it still fails the table
   */
  translated?: string;
}

export interface TablePlan {
  source: string;
  target: string;
  rows: number;
  columns: ColumnPlan[];
  /** generated columns PostgreSQL computes (absent: none) */
  generated?: GeneratedColumnPlan[];
  /** source column names of the key the copy and verify order by; [] = no key */
  sourceKey: string[];
  primaryKey: string[];
  /** the primary key constraint's name (`<table>_pkey`, cut to fit 63 bytes) */
  primaryKeyName?: string;
  /** the key is SQLite's rowid (an INTEGER PRIMARY KEY): never NULL, always an integer */
  keyIsRowid?: boolean;
  withoutRowid: boolean;
  autoincrement: boolean;
  /** highest id SQLite ever handed out, so the new sequence never reuses one */
  sequenceFloor: string | null;
  foreignKeys: ForeignKeyPlan[];
  indexes: IndexPlan[];
  notes: string[];
  /** --schema existing: the migration tool whose bookkeeping this is; its rows in PostgreSQL are kept */
  bookkeeping?: string;
}

export interface MigrationPlan {
  source: string;
  schemaMode: SchemaMode;
  identifiers: IdentifierMode;
  targetSchema: string;
  tables: TablePlan[];
  /** target table names in an order where referenced tables come first */
  loadOrder: string[];
  skipped: SkippedObject[];
  /** --schema existing planned without a connection (pulumi preview): types are the cast rules', not yet the target's */
  targetUnknown?: boolean;
  /** the per-column overrides asked for ({ "table.column": "type" }) */
  casts: Record<string, string>;
}

export function openSource(path: string): Database.Database {
  if (!existsSync(path)) throw new UsageError(`The SQLite database ${path} does not exist. Check the --from path.`);
  if (statSync(path).isDirectory()) {
    const candidates = readdirSync(path).filter((f) => /\.(db|sqlite3?|db3)$/i.test(f));
    throw new UsageError(
      `--from ${path} is a directory, not a SQLite database file. Give the file itself` +
        (candidates.length ? `; this directory holds ${candidates.slice(0, 5).map((f) => `${path.replace(/\/$/, "")}/${f}`).join(", ")}.` : "."),
    );
  }
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
    return db;
  } catch (err) {
    throw new UsageError(`${path} cannot be read as a SQLite database: ${(err as Error).message}`);
  }
}

export async function planMigration(options: MigrationOptions): Promise<MigrationPlan> {
  const db = openSource(options.source);
  try {
    return await planFrom(db, options);
  } finally {
    db.close();
  }
}

export interface PlanHow {
  /**
   * "scan" (the default): every date/time column's numbers are counted now, so
   * the plan shows their reading. "defer": columns without an explicit reading
   * (--cast …:unit) are left pending (ColumnPlan.numericDatesPending), for a
   * refresh to count in the scan it makes anyway (delta.ts).
   */
  numericDates?: "scan" | "defer";
}

export async function planFrom(db: Database.Database, options: MigrationOptions, how: PlanHow = {}): Promise<MigrationPlan> {
  // Options can come from anywhere (the CLI, the stack, a program calling the engine): a bad one is a usage error.
  checkOptions(options);
  const settings = withDefaults(options);
  const { schema: mode, identifiers } = settings;
  const targetSchema = options.targetSchema ?? DEFAULTS.targetSchema;
  const catalog = readCatalog(db);
  if (catalog.tables.length === 0 && !options.allowEmpty) {
    // SQLite makes an empty database of any path it opens for writing: a mistyped path in the app's config leaves one.
    let size: number | undefined;
    try {
      size = statSync(options.source).size;
    } catch {
      size = undefined;
    }
    throw new UsageError(
      `${options.source} holds no tables${size === 0 ? " (it is an empty, 0-byte file)" : catalog.skipped.length ? ` (only ${catalog.skipped.map((s) => `${s.kind} ${s.name}`).join(", ")}, which are not copied)` : ""}, so there is nothing to migrate. ` +
        "Check the --from path (the app's real database may be elsewhere); pass --allow-empty if an empty database is what you mean to migrate.",
    );
  }
  let tables = catalog.tables;
  if (settings.tables.length > 0) {
    const known = new Map(tables.map((t) => [t.name, t]));
    for (const name of settings.tables) {
      if (!known.has(name)) throw new UsageError(`--tables names "${name}", which is not a table in ${options.source}. Tables: ${[...known.keys()].join(", ")}`);
    }
    tables = settings.tables.map((n) => known.get(n)!);
  }
  const seen = new Map<string, string>();
  for (const t of tables) {
    const target = targetName(t.name, identifiers);
    const other = seen.get(target);
    if (other) throw new UsageError(`Tables "${other}" and "${t.name}" would both become "${target}" in PostgreSQL. Use --identifiers preserve.`);
    fitName(target, `Table name ${JSON.stringify(t.name)}`);
    seen.set(target, t.name);
  }
  const overrides = settings.casts;
  for (const key of Object.keys(overrides)) {
    const [tbl, col] = splitColumnRef(key);
    const t = tables.find((x) => x.name === tbl);
    if (!t || !t.columns.some((c) => c.name === col)) throw new UsageError(`--cast names "${key}", which is not a column being migrated (use table.column).`);
  }

  // Without a target (pulumi preview, before the app's migrations ran) an
  // existing-mode plan shows the cast rules' types; the copy reads the target's.
  const targetUnknown = mode === "existing" && !options.target && options.allowUnknownTarget === true;
  const existing = mode === "existing" && !targetUnknown ? await readTargetTables(requireTarget(options), targetSchema) : null;
  const skipped = [...catalog.skipped];
  if (existing) {
    // Another tool's bookkeeping the target's migrations did not create is not the app's data.
    tables = tables.filter((t) => {
      const tool = bookkeepingTool(t.name);
      if (!tool || existing.has(targetName(t.name, identifiers))) return true;
      skipped.push({ name: t.name, kind: "bookkeeping table", reason: `${tool}'s migration bookkeeping; the app's migrations did not create it in PostgreSQL, so it is not copied` });
      return false;
    });
  }
  // Names pgshift makes up (keys, constraints) never equal one the schema will already hold.
  const taken = new Set([...tables.map((t) => targetName(t.name, identifiers)), ...tables.flatMap((t) => t.indexes.filter((ix) => ix.origin === "c").map((ix) => targetName(ix.name, identifiers)))]);
  const plans = tables.map((t) => planTable(db, t, identifiers, overrides, existing, mode, how.numericDates === "defer", taken));
  checkNames(plans, identifiers, mode === "create");
  return {
    source: options.source,
    schemaMode: mode,
    identifiers,
    targetSchema,
    tables: plans,
    loadOrder: loadOrder(plans),
    skipped,
    ...(targetUnknown ? { targetUnknown } : {}),
    casts: overrides,
  };
}

/**
 * A name from the SQLite file as PostgreSQL will hold it, or a refusal naming
 * it: PostgreSQL would silently cut a longer one, so it would not copy exactly
 * (and two long names could become one).
 */
function fitName(name: string, what: string): string {
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_NAME_BYTES) {
    throw new UsageError(`${what} is ${bytes} bytes long in PostgreSQL; PostgreSQL names hold at most ${MAX_NAME_BYTES} bytes. Rename it in SQLite (or migrate without it: --tables).`);
  }
  return name;
}

function requireTarget(options: MigrationOptions): string {
  if (!options.target) throw new UsageError("--schema existing needs --to: the plan reads the existing tables' column types.");
  return options.target;
}

function splitColumnRef(ref: string): [string, string] {
  const i = ref.lastIndexOf(".");
  if (i <= 0) throw new UsageError(`--cast "${ref}" must be table.column=type`);
  return [ref.slice(0, i), ref.slice(i + 1)];
}

function planTable(
  db: Database.Database,
  t: SqliteTable,
  identifiers: IdentifierMode,
  overrides: Record<string, string>,
  existing: Map<string, TargetColumn[]> | null,
  mode: SchemaMode,
  deferDates: boolean,
  taken: Set<string>,
): TablePlan {
  const target = targetName(t.name, identifiers);
  const tn = (c: string) => targetName(c, identifiers);
  const rows = Number((db.prepare(`SELECT count(*) AS n FROM ${quoteSqlite(t.name)}`).get() as { n: number }).n);
  const notes: string[] = [];
  let targetCols: Map<string, TargetColumn> | null = null;
  if (existing) {
    const cols = existing.get(target);
    if (!cols) throw new UsageError(`--schema existing: table "${target}" does not exist in PostgreSQL. Run the app's migrations first (e.g. alembic upgrade head), or use --schema create.`);
    targetCols = new Map(cols.map((c) => [c.name, c]));
  }
  const definition = parseCreateTable(t.createSql);
  const columns: ColumnPlan[] = [];
  const lengthChecks: IndexPlan[] = [];
  const generatedCols: typeof t.columns = [];
  for (const c of t.columns) {
    const override = overrides[`${t.name}.${c.name}`];
    if (c.generated && !override) {
      if (mode === "existing") notes.push(`column "${c.name}" is generated in SQLite: not copied, the app's PostgreSQL table computes it or leaves it out`);
      else generatedCols.push(c);
      continue;
    }
    fitName(tn(c.name), `Column name ${JSON.stringify(c.name)} of table ${JSON.stringify(t.name)}`);
    if (c.generated) notes.push(`column "${c.name}" is generated in SQLite; --cast makes it a plain column holding SQLite's computed values`);
    let cast: ColumnCast;
    if (override) {
      try {
        cast = parseOverride(override);
      } catch (err) {
        throw new UsageError(`--cast "${t.name}.${c.name}=${override}": ${(err as Error).message}`);
      }
      // In existing mode a reading for numbers (timestamp:epoch-ms) applies to the app's own date column as it is.
      const tc = targetCols?.get(tn(c.name));
      if (cast.numbers && tc && hasDateNumbers(tc.cast.kind)) cast = { ...tc.cast, numbers: cast.numbers };
    } else if (targetCols) {
      const tc = targetCols.get(tn(c.name));
      if (!tc) throw new UsageError(`--schema existing: column "${c.name}" of table "${t.name}" has no column "${tn(c.name)}" in PostgreSQL table "${target}".`);
      cast = tc.cast;
    } else if (t.strict && /^\s*ANY\s*$/i.test(c.declaredType)) {
      // ANY in a STRICT table has no affinity: values of every kind, as written (an untyped column's rule).
      cast = { ...castFor(""), rule: "any (STRICT table)" };
    } else cast = castFor(c.declaredType);
    if (mode === "create" && !override && isTextKind(cast.kind) && /\bCOLLATE\s+NOCASE\b/i.test(definition.columns.get(c.name) ?? "")) {
      // citext keeps what NOCASE gives the app: = , UNIQUE, ORDER BY and LIKE ignore case.
      notes.push(
        `${c.name}: COLLATE NOCASE → citext: comparisons, uniqueness, ORDER BY and LIKE stay case-insensitive ` +
          "(citext folds all of Unicode; SQLite's NOCASE only folds A–Z)",
      );
      if (cast.kind === "varchar") {
        const name = madeUpName(`${target}_${tn(c.name)}`, "_length", taken);
        lengthChecks.push({ name, unique: false, kind: "check constraint", sql: { head: "ALTER TABLE", tail: `ADD CONSTRAINT ${quoteIdent(name)} CHECK (char_length(${quoteIdent(tn(c.name))}) <= ${cast.length})` } });
      }
      cast = { ...makeCast("text", "collate nocase"), pgType: "citext" };
    }
    const deferred = deferDates && hasDateNumbers(cast.kind) && !cast.numbers;
    const noteAt = notes.length;
    if (!deferred) {
      const decided = decideNumericDates(db, t.name, c.name, cast, t.primaryKey);
      cast = decided.cast;
      if (decided.note) notes.push(decided.note);
    }
    const identity = mode === "create" && t.rowidAlias === c.name;
    if (identity && cast.kind !== "bigint" && cast.kind !== "integer") cast = castFor("INTEGER");
    const def = mode === "existing" ? null : translateDefault(c.defaultSql, cast);
    if (c.defaultSql !== null && def === null && mode === "create") notes.push(`default of "${c.name}" (${c.defaultSql}) has no PostgreSQL meaning and is not kept`);
    columns.push({
      source: c.name,
      target: tn(c.name),
      declaredType: c.declaredType,
      cast,
      targetType: cast.pgType,
      notNull: c.notNull || t.primaryKey.includes(c.name),
      default: def,
      identity,
      ...(deferred && hasDateNumbers(cast.kind) ? { numericDatesPending: { noteAt } } : {}),
    });
  }
  const exprColumns = columns.map((c) => ({ source: c.source, target: c.target, kind: c.cast.kind, ...(c.cast.pgType === "citext" ? { nocase: true } : {}) }));
  const generated = generatedCols.map((c) =>
    planGenerated(t.name, c.name, c.declaredType, definition.columns.get(c.name) ?? "", exprColumns, fitName(tn(c.name), `Column name ${JSON.stringify(c.name)} of table ${JSON.stringify(t.name)}`)),
  );

  const fks: ForeignKeyPlan[] = t.foreignKeys.map((fk) => ({
    name: madeUpName(`${target}_${fk.columns.map(tn).join("_")}`, "_fkey", taken),
    columns: fk.columns.map(tn),
    refTable: targetName(fk.refTable, identifiers),
    refColumns: fk.refColumns.map(tn),
    onUpdate: fkAction(fk.onUpdate, t.name),
    onDelete: fkAction(fk.onDelete, t.name),
  }));
  const indexes: IndexPlan[] = [];
  for (const ix of t.indexes) {
    if (ix.origin === "pk") continue;
    let where = "";
    if (ix.where) {
      const w = translateExpression(ix.where, exprColumns);
      if (!w.ok) {
        // Without its WHERE a unique index would refuse rows the app may write; a plain one is only slower.
        notes.push(`index "${ix.name}" is not created: its WHERE (${ix.where}) ${w.reason}`);
        continue;
      }
      where = ` WHERE ${w.sql}`;
    }
    let cols: string;
    if (ix.hasExpressions) {
      const keys = indexKeys(ix.sql ?? "", exprColumns, columns);
      if (!keys.ok) {
        notes.push(`index "${ix.name}" is not created: ${keys.reason}`);
        continue;
      }
      cols = keys.sql;
    } else {
      // A NOCASE key on a column that is not citext keeps its meaning as lower(column).
      cols = ix.columns
        .map((c) => {
          const col = columns.find((x) => x.source === c.name);
          const q = quoteIdent(tn(c.name ?? ""));
          return `${c.collation === "NOCASE" && col?.cast.pgType !== "citext" ? `lower(${q})` : q}${c.descending ? " DESC" : ""}`;
        })
        .join(", ");
    }
    const unnamedUnique = ix.origin === "u" && !cols.includes("lower(");
    if (ix.origin === "u" && !unnamedUnique) notes.push(`UNIQUE (${ix.columns.map((c) => `${c.name} COLLATE NOCASE`).join(", ")}) becomes a unique index on lower(…)`);
    if (unnamedUnique) {
      const name = madeUpName(`${target}_${ix.columns.map((c) => tn(c.name ?? "")).join("_")}`, "_key", taken);
      indexes.push({ name, unique: true, kind: "unique constraint", sql: { head: "ALTER TABLE", tail: `ADD CONSTRAINT ${quoteIdent(name)} UNIQUE (${cols})` } });
    } else {
      const name = ix.origin === "u" ? madeUpName(`${target}_${ix.columns.map((c) => tn(c.name ?? "")).join("_")}`, "_key", taken) : fitName(targetName(ix.name, identifiers), `Index name ${JSON.stringify(ix.name)} of table ${JSON.stringify(t.name)}`);
      indexes.push({
        name,
        source: ix.name,
        unique: ix.unique,
        kind: "index",
        sql: { head: `CREATE ${ix.unique ? "UNIQUE " : ""}INDEX ${quoteIdent(name)} ON`, tail: `(${cols})${where}` },
        ...(where || ix.hasExpressions || cols.includes("lower(") ? { translated: ix.sql ?? `UNIQUE (${ix.columns.map((c) => c.name).join(", ")})` } : {}),
      });
    }
  }
  if (mode === "create") {
    indexes.push(...lengthChecks);
    definition.checks.forEach((check, i) => {
      const x = translateExpression(check.expression, exprColumns);
      if (!x.ok) {
        notes.push(`CHECK (${check.expression}) is not created: it ${x.reason}`);
        return;
      }
      const name = check.name ? fitName(targetName(check.name, identifiers), `CHECK constraint name ${JSON.stringify(check.name)} of table ${JSON.stringify(t.name)}`) : madeUpName(`${target}_${check.column ? tn(check.column) : "row"}`, `_check${i + 1}`, taken);
      indexes.push({ name, unique: false, kind: "check constraint", sql: { head: "ALTER TABLE", tail: `ADD CONSTRAINT ${quoteIdent(name)} CHECK (${x.sql})` }, translated: `CHECK (${check.expression})` });
    });
  }
  const sourceKey = t.primaryKey.length > 0 ? t.primaryKey : t.withoutRowid ? [] : [];
  const tool = mode === "existing" ? bookkeepingTool(t.name) : undefined;
  if (tool) notes.push(`${tool}'s migration bookkeeping: rows its migrations wrote in PostgreSQL are kept and compared with SQLite's, never overwritten`);
  if (sourceKey.length === 0) notes.push("no primary key: verified by a multiset digest of all rows");
  return {
    source: t.name,
    target,
    rows,
    columns,
    ...(generated.length ? { generated } : {}),
    sourceKey,
    ...(t.rowidAlias !== null && sourceKey.length === 1 && sourceKey[0] === t.rowidAlias ? { keyIsRowid: true } : {}),
    primaryKey: t.primaryKey.map(tn),
    withoutRowid: t.withoutRowid,
    autoincrement: t.autoincrement,
    sequenceFloor: t.sequence,
    ...(t.primaryKey.length > 0 ? { primaryKeyName: madeUpName(target, "_pkey", taken) } : {}),
    foreignKeys: fks,
    indexes,
    notes,
    ...(tool ? { bookkeeping: tool } : {}),
  };
}

/**
 * A generated column as PostgreSQL's `GENERATED ALWAYS AS (…) STORED`, when
 * its expression means the same there (the translator of CHECK constraints);
 * otherwise refused before anything is written, with the ways out.
 */
function planGenerated(table: string, column: string, declaredType: string, definition: string, exprColumns: ExpressionColumn[], target: string): GeneratedColumnPlan {
  const as = /\bAS\s*\(/i.exec(definition);
  const sqlite = as ? balanced(definition, as.index + as[0].length - 1)?.trim() : undefined;
  const cast = castFor(declaredType);
  const x = sqlite === undefined ? ({ ok: false, reason: "could not be read from the CREATE TABLE statement" } as const) : translateExpression(sqlite, exprColumns);
  if (!x.ok) {
    throw new UsageError(
      `Table "${table}", generated column "${column}": its expression (${sqlite ?? definition}) ${x.reason}, so PostgreSQL cannot compute it the same way. ` +
        `Copy SQLite's computed values into a plain column with --cast ${table}.${column}=${cast.pgType === "citext" ? "text" : cast.pgType.replace(/\(.*$/, "")}, ` +
        `or leave the table out with --tables.`,
    );
  }
  return { source: column, target, declaredType, cast, expression: `CAST((${x.sql}) AS ${cast.pgType})`, sqlite: sqlite! };
}

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
    } else if (/[A-Za-z]/.test(ch)) out += `"${ch}"`; // letters are pattern codes in to_char unless quoted
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

/**
 * The keys of an index over expressions, from its CREATE INDEX statement:
 * each translated, `COLLATE NOCASE` on a column that is not citext becoming
 * lower(…), ASC/DESC kept.
 */
function indexKeys(createIndexSql: string, exprColumns: ExpressionColumn[], columns: ColumnPlan[]): Translation {
  const sql = withoutComments(createIndexSql);
  // ON outside quoted names (an index may be named "x ON y ("): skip the names before it.
  const on = /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:(?:"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s(."`[]+)\s*\.\s*)?(?:"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s(."`[]+)\s+ON\s+(?:"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s(]+)\s*\(/i.exec(sql);
  const list = on ? balanced(sql, on.index + on[0].length - 1) : undefined;
  if (!list) return { ok: false, reason: "its CREATE INDEX statement could not be read" };
  const keys: string[] = [];
  for (const item of splitTopLevel(list)) {
    const m = /^([\s\S]*?)(\s+COLLATE\s+(\w+))?(\s+(ASC|DESC))?\s*$/i.exec(item)!;
    const x = translateExpression(m[1]!, exprColumns);
    if (!x.ok) return { ok: false, reason: `its key ${m[1]} ${x.reason}` };
    let key = x.sql;
    const collation = m[3]?.toUpperCase();
    if (collation === "NOCASE") {
      const col = columns.find((c) => quoteIdent(c.target) === key);
      if (!col || col.cast.pgType !== "citext") key = `lower(${key})`;
    } else if (collation && collation !== "BINARY") return { ok: false, reason: `its key ${item} uses COLLATE ${m[3]}` };
    keys.push(key + (m[5] ? ` ${m[5].toUpperCase()}` : ""));
  }
  // PostgreSQL wants parentheses around an expression that is not a plain column or function call.
  return { ok: true, sql: keys.map((k) => (/^("(?:[^"]|"")*"|\w+\(.*\))( (ASC|DESC))?$/.test(k) ? k : `(${k.replace(/ (ASC|DESC)$/, "")})${/ (ASC|DESC)$/.exec(k)?.[0] ?? ""}`)).join(", ") };
}

/** Referenced tables first; self-references and cycles do not block (FKs are added after the data). */
export function loadOrder(tables: TablePlan[]): string[] {
  const names = new Set(tables.map((t) => t.target));
  const deps = new Map(tables.map((t) => [t.target, new Set(t.foreignKeys.map((f) => f.refTable).filter((r) => r !== t.target && names.has(r)))]));
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (n: string) => {
    if (state.get(n)) return;
    state.set(n, "visiting");
    for (const d of deps.get(n) ?? []) if (state.get(d) !== "visiting") visit(d);
    state.set(n, "done");
    order.push(n);
  };
  for (const t of tables) visit(t.target);
  return order;
}

export function formatPlan(plan: MigrationPlan): string {
  const out: string[] = [];
  out.push(`Source: ${plan.source}`);
  out.push(`Schema: ${plan.schemaMode === "create" ? "create tables" : "load into existing tables"} in "${plan.targetSchema}", identifiers ${plan.identifiers}`);
  out.push(`Load order: ${plan.loadOrder.join(" → ") || "(no tables)"}`);
  if (plan.targetUnknown) out.push("Column types below follow the cast rules; the copy converts to the types of the tables the app's migrations create (read when it runs).");
  out.push("");
  for (const t of plan.tables) {
    out.push(`${t.source} → ${t.target}: ${t.rows} rows${t.primaryKey.length ? `, primary key (${t.primaryKey.join(", ")})` : ", no primary key"}${t.withoutRowid ? ", WITHOUT ROWID" : ""}`);
    const w = Math.max(...t.columns.map((c) => c.source.length), 4);
    for (const c of t.columns) {
      const extras = [c.notNull ? "NOT NULL" : "", c.identity ? "identity" : "", c.default ? `DEFAULT ${c.default}` : ""].filter(Boolean).join(" ");
      out.push(`    ${c.source.padEnd(w)}  ${(c.declaredType || "(none)").padEnd(14)} → ${c.target === c.source ? "" : `"${c.target}" `}${c.targetType}${extras ? "  " + extras : ""}  [${c.cast.rule}]`);
    }
    for (const g of t.generated ?? []) out.push(`    ${g.source.padEnd(w)}  ${(g.declaredType || "(none)").padEnd(14)} → ${g.target === g.source ? "" : `"${g.target}" `}${g.cast.pgType} GENERATED ALWAYS AS (${g.expression}) STORED  [generated: ${g.sqlite}]`);
    if (plan.schemaMode === "create") {
      for (const ix of t.indexes) out.push(`    + ${ix.kind} ${ix.name}${ix.translated ? `: ${(ix.kind === "index" ? `ON ${quoteIdent(t.target)} ${ix.sql.tail}` : ix.sql.tail.slice(ix.sql.tail.indexOf(" CHECK (") + 1)).slice(0, 160)}` : ""}`);
      for (const fk of t.foreignKeys) out.push(`    + foreign key (${fk.columns.join(", ")}) → ${fk.refTable} ON DELETE ${fk.onDelete} ON UPDATE ${fk.onUpdate}`);
      if (t.autoincrement || t.columns.some((c) => c.identity)) out.push(`    + identity sequence set past the highest key${t.sequenceFloor ? ` (SQLite handed out up to ${t.sequenceFloor})` : ""}`);
    }
    for (const n of t.notes) out.push(`    ! ${n}`);
  }
  if (plan.skipped.length) {
    out.push("");
    out.push("Not copied:");
    for (const s of plan.skipped) out.push(`    ${s.kind} ${s.name}: ${s.reason}`);
  }
  out.push("");
  out.push("Cast rules (override per column with --cast table.column=type):");
  out.push(formatCastRules());
  return out.join("\n");
}
