// The plan: for every table, what it becomes in PostgreSQL — name, column types
// (from the cast rules, or from the existing target table), keys, indexes,
// foreign keys, load order — and what is not copied and why. Making a plan
// reads SQLite and, in `existing` mode, the target's catalog; it writes nothing.
import Database from "better-sqlite3";
import { existsSync, readdirSync, statSync } from "node:fs";
import { formatCastRules } from "./types/cast-rules";
import type { ColumnCast } from "./types/column-types";
import { readCatalog, type SkippedObject } from "./sqlite/catalog";
import { UsageError } from "./errors";
import { quoteIdent, targetName } from "./identifiers";
import { checkNames } from "./name-checks";
import { DEFAULTS, FLAG_NAMES, checkOptions, withDefaults, type IdentifierMode, type MigrationSettings, type OptionNames, type SchemaMode } from "./options";
import { bookkeepingTool } from "./bookkeeping";
import { readTargetTables } from "./postgres/catalog";
import { fitName, planTable } from "./plan-table";

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
  /**
   * How the person spelled each setting, for messages: the CLI's flags unless said (FLAG_NAMES); the stack's keys
   * (settingNames(STACK_PREFIX): pgshift:migration.excludeTables) when the settings came from the stack.
   */
  optionNames?: OptionNames;
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
        (candidates.length
          ? `; this directory holds ${candidates
              .slice(0, 5)
              .map((f) => `${path.replace(/\/$/, "")}/${f}`)
              .join(", ")}.`
          : "."),
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
  const names = options.optionNames ?? FLAG_NAMES;
  checkOptions(options, names);
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
      if (!known.has(name))
        throw new UsageError(`${names.tables} names "${name}", which is not a table in ${options.source}. Tables: ${[...known.keys()].join(", ")}`);
    }
    tables = settings.tables.map((n) => known.get(n)!);
  }
  for (const name of settings.excludeTables) {
    if (!catalog.tables.some((t) => t.name === name)) {
      throw new UsageError(
        `${names.excludeTables} names "${name}", which is not a table in ${options.source}. Tables: ${catalog.tables.map((t) => t.name).join(", ")}`,
      );
    }
  }
  tables = tables.filter((t) => !settings.excludeTables.includes(t.name));
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
    if (!t || !t.columns.some((c) => c.name === col))
      throw new UsageError(`${names.casts} names "${key}", which is not a column being migrated (use table.column).`);
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
      skipped.push({
        name: t.name,
        kind: "bookkeeping table",
        reason: `${tool}'s migration bookkeeping; the app's migrations did not create it in PostgreSQL, so it is not copied`,
      });
      return false;
    });
  }
  // Names pgshift makes up (keys, constraints) never equal one the schema will already hold.
  const taken = new Set([
    ...tables.map((t) => targetName(t.name, identifiers)),
    ...tables.flatMap((t) => t.indexes.filter((ix) => ix.origin === "c").map((ix) => targetName(ix.name, identifiers))),
  ]);
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

function requireTarget(options: MigrationOptions): string {
  if (!options.target) throw new UsageError("--schema existing needs --to: the plan reads the existing tables' column types.");
  return options.target;
}

function splitColumnRef(ref: string): [string, string] {
  const i = ref.lastIndexOf(".");
  if (i <= 0) throw new UsageError(`--cast "${ref}" must be table.column=type`);
  return [ref.slice(0, i), ref.slice(i + 1)];
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
  out.push(
    `Schema: ${plan.schemaMode === "create" ? "create tables" : "load into existing tables"} in "${plan.targetSchema}", identifiers ${plan.identifiers}`,
  );
  out.push(`Load order: ${plan.loadOrder.join(" → ") || "(no tables)"}`);
  if (plan.targetUnknown)
    out.push("Column types below follow the cast rules; the copy converts to the types of the tables the app's migrations create (read when it runs).");
  out.push("");
  for (const t of plan.tables) {
    out.push(
      `${t.source} → ${t.target}: ${t.rows} rows${t.primaryKey.length ? `, primary key (${t.primaryKey.join(", ")})` : ", no primary key"}${t.withoutRowid ? ", WITHOUT ROWID" : ""}`,
    );
    const w = Math.max(...t.columns.map((c) => c.source.length), 4);
    for (const c of t.columns) {
      const extras = [c.notNull ? "NOT NULL" : "", c.identity ? "identity" : "", c.default ? `DEFAULT ${c.default}` : ""].filter(Boolean).join(" ");
      out.push(
        `    ${c.source.padEnd(w)}  ${(c.declaredType || "(none)").padEnd(14)} → ${c.target === c.source ? "" : `"${c.target}" `}${c.targetType}${extras ? "  " + extras : ""}  [${c.cast.rule}]`,
      );
    }
    for (const g of t.generated ?? [])
      out.push(
        `    ${g.source.padEnd(w)}  ${(g.declaredType || "(none)").padEnd(14)} → ${g.target === g.source ? "" : `"${g.target}" `}${g.cast.pgType} GENERATED ALWAYS AS (${g.expression}) STORED  [generated: ${g.sqlite}]`,
      );
    if (plan.schemaMode === "create") {
      for (const ix of t.indexes)
        out.push(
          `    + ${ix.kind} ${ix.name}${ix.translated ? `: ${(ix.kind === "index" ? `ON ${quoteIdent(t.target)} ${ix.sql.tail}` : ix.sql.tail.slice(ix.sql.tail.indexOf(" CHECK (") + 1)).slice(0, 160)}` : ""}`,
        );
      for (const fk of t.foreignKeys)
        out.push(`    + foreign key (${fk.columns.join(", ")}) → ${fk.refTable} ON DELETE ${fk.onDelete} ON UPDATE ${fk.onUpdate}`);
      if (t.autoincrement || t.columns.some((c) => c.identity))
        out.push(`    + identity sequence set past the highest key${t.sequenceFloor ? ` (SQLite handed out up to ${t.sequenceFloor})` : ""}`);
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
