// One table's plan (plan.ts planFrom calls it for each table): its columns
// and their casts, its foreign keys, its indexes and its CHECK constraints,
// each refused or noted the way the person running pgshift can act on.
import type Database from "better-sqlite3";
import { castFor, parseOverride } from "./types/cast-rules";
import { hasDateNumbers, isTextKind, makeCast, type ColumnCast } from "./types/column-types";
import type { SqliteTable } from "./sqlite/catalog";
import { translateDefault } from "./types/column-defaults";
import { UsageError } from "./errors";
import { balanced, parseCreateTable, splitTopLevel, translateExpression, withoutComments, type ExpressionColumn, type Translation } from "./types/expressions";
import { madeUpName, MAX_NAME_BYTES, quoteIdent, quoteSqlite, targetName } from "./identifiers";
import { decideNumericDates } from "./sqlite/numeric-dates";
import type { IdentifierMode, SchemaMode } from "./options";
import { bookkeepingTool } from "./bookkeeping";
import { fkAction } from "./postgres/schema";
import type { TargetColumn } from "./postgres/catalog";
import type { ColumnPlan, ForeignKeyPlan, GeneratedColumnPlan, IndexPlan, TablePlan } from "./plan";

/**
 * A name from the SQLite file as PostgreSQL will hold it, or a refusal naming
 * it: PostgreSQL would silently cut a longer one, so it would not copy exactly
 * (and two long names could become one).
 */
export function fitName(name: string, what: string): string {
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_NAME_BYTES) {
    throw new UsageError(
      `${what} is ${bytes} bytes long in PostgreSQL; PostgreSQL names hold at most ${MAX_NAME_BYTES} bytes. Rename it in SQLite (or migrate without it: --tables).`,
    );
  }
  return name;
}

/** What planning one table needs to know, and the notes it collects for the plan. */
interface TableScope {
  db: Database.Database;
  t: SqliteTable;
  identifiers: IdentifierMode;
  mode: SchemaMode;
  /** the table's name in PostgreSQL */
  target: string;
  /** a SQLite name as PostgreSQL will hold it */
  tn: (name: string) => string;
  /** names already given in the target schema (madeUpName keeps clear of them) */
  taken: Set<string>;
  notes: string[];
  definition: ReturnType<typeof parseCreateTable>;
}

export function planTable(
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
  let targetCols: Map<string, TargetColumn> | null = null;
  if (existing) {
    const cols = existing.get(target);
    if (!cols)
      throw new UsageError(
        `--schema existing: table "${target}" does not exist in PostgreSQL. Run the app's migrations first (e.g. alembic upgrade head), or use --schema create.`,
      );
    targetCols = new Map(cols.map((c) => [c.name, c]));
  }
  const scope: TableScope = { db, t, identifiers, mode, target, tn, taken, notes: [], definition: parseCreateTable(t.createSql) };
  const notes = scope.notes;
  // Names are made up in this order (columns' length checks, foreign keys, indexes, CHECKs, the key): plans stay as they were.
  const { columns, exprColumns, lengthChecks, generated } = planColumns(scope, overrides, targetCols, deferDates);
  const fks: ForeignKeyPlan[] = t.foreignKeys.map((fk) => ({
    name: madeUpName(`${target}_${fk.columns.map(tn).join("_")}`, "_fkey", taken),
    columns: fk.columns.map(tn),
    refTable: targetName(fk.refTable, identifiers),
    refColumns: fk.refColumns.map(tn),
    onUpdate: fkAction(fk.onUpdate, t.name),
    onDelete: fkAction(fk.onDelete, t.name),
  }));
  const indexes = planIndexes(scope, exprColumns, columns);
  if (mode === "create") indexes.push(...lengthChecks, ...planChecks(scope, exprColumns));
  const sourceKey = t.primaryKey;
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
 * Each column's PostgreSQL type (a --cast, the existing table's, or the cast
 * rules'), default and key role; a generated column as one PostgreSQL computes
 * (or, in existing mode, left to the app's table); a NOCASE varchar's length as
 * a CHECK (citext has none).
 */
function planColumns(
  s: TableScope,
  overrides: Record<string, string>,
  targetCols: Map<string, TargetColumn> | null,
  deferDates: boolean,
): { columns: ColumnPlan[]; exprColumns: ExpressionColumn[]; lengthChecks: IndexPlan[]; generated: GeneratedColumnPlan[] } {
  const { db, t, mode, target, tn, taken, notes, definition } = s;
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
      if (!tc)
        throw new UsageError(`--schema existing: column "${c.name}" of table "${t.name}" has no column "${tn(c.name)}" in PostgreSQL table "${target}".`);
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
        lengthChecks.push({
          name,
          unique: false,
          kind: "check constraint",
          sql: { head: "ALTER TABLE", tail: `ADD CONSTRAINT ${quoteIdent(name)} CHECK (char_length(${quoteIdent(tn(c.name))}) <= ${cast.length})` },
        });
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
    if (c.defaultSql !== null && def === null && mode === "create")
      notes.push(`default of "${c.name}" (${c.defaultSql}) has no PostgreSQL meaning and is not kept`);
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
    planGenerated(
      t.name,
      c.name,
      c.declaredType,
      definition.columns.get(c.name) ?? "",
      exprColumns,
      fitName(tn(c.name), `Column name ${JSON.stringify(c.name)} of table ${JSON.stringify(t.name)}`),
    ),
  );
  return { columns, exprColumns, lengthChecks, generated };
}

/** The table's indexes and UNIQUE constraints; one whose WHERE or keys PostgreSQL cannot mean the same way is left out, with a note. */
function planIndexes(s: TableScope, exprColumns: ExpressionColumn[], columns: ColumnPlan[]): IndexPlan[] {
  const { t, identifiers, target, tn, taken, notes } = s;
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
    if (ix.origin === "u" && !unnamedUnique)
      notes.push(`UNIQUE (${ix.columns.map((c) => `${c.name} COLLATE NOCASE`).join(", ")}) becomes a unique index on lower(…)`);
    if (unnamedUnique) {
      const name = madeUpName(`${target}_${ix.columns.map((c) => tn(c.name ?? "")).join("_")}`, "_key", taken);
      indexes.push({
        name,
        unique: true,
        kind: "unique constraint",
        sql: { head: "ALTER TABLE", tail: `ADD CONSTRAINT ${quoteIdent(name)} UNIQUE (${cols})` },
      });
    } else {
      const name =
        ix.origin === "u"
          ? madeUpName(`${target}_${ix.columns.map((c) => tn(c.name ?? "")).join("_")}`, "_key", taken)
          : fitName(targetName(ix.name, identifiers), `Index name ${JSON.stringify(ix.name)} of table ${JSON.stringify(t.name)}`);
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
  return indexes;
}

/** The table's CHECK constraints (create mode); one PostgreSQL cannot mean the same way is left out, with a note. */
function planChecks(s: TableScope, exprColumns: ExpressionColumn[]): IndexPlan[] {
  const { t, identifiers, target, tn, taken, notes, definition } = s;
  const checks: IndexPlan[] = [];
  definition.checks.forEach((check, i) => {
    const x = translateExpression(check.expression, exprColumns);
    if (!x.ok) {
      notes.push(`CHECK (${check.expression}) is not created: it ${x.reason}`);
      return;
    }
    const name = check.name
      ? fitName(targetName(check.name, identifiers), `CHECK constraint name ${JSON.stringify(check.name)} of table ${JSON.stringify(t.name)}`)
      : madeUpName(`${target}_${check.column ? tn(check.column) : "row"}`, `_check${i + 1}`, taken);
    checks.push({
      name,
      unique: false,
      kind: "check constraint",
      sql: { head: "ALTER TABLE", tail: `ADD CONSTRAINT ${quoteIdent(name)} CHECK (${x.sql})` },
      translated: `CHECK (${check.expression})`,
    });
  });
  return checks;
}

/**
 * A generated column as PostgreSQL's `GENERATED ALWAYS AS (…) STORED`, when
 * its expression means the same there (the translator of CHECK constraints);
 * otherwise refused before anything is written, with the ways out.
 */
function planGenerated(
  table: string,
  column: string,
  declaredType: string,
  definition: string,
  exprColumns: ExpressionColumn[],
  target: string,
): GeneratedColumnPlan {
  const as = /\bAS\s*\(/i.exec(definition);
  const sqlite = as ? balanced(definition, as.index + as[0].length - 1)?.trim() : undefined;
  const cast = castFor(declaredType);
  const x =
    sqlite === undefined ? ({ ok: false, reason: "could not be read from the CREATE TABLE statement" } as const) : translateExpression(sqlite, exprColumns);
  if (!x.ok) {
    throw new UsageError(
      `Table "${table}", generated column "${column}": its expression (${sqlite ?? definition}) ${x.reason}, so PostgreSQL cannot compute it the same way. ` +
        `Copy SQLite's computed values into a plain column with --cast ${table}.${column}=${cast.pgType === "citext" ? "text" : cast.pgType.replace(/\(.*$/, "")}, ` +
        `or leave the table out with --tables.`,
    );
  }
  return { source: column, target, declaredType, cast, expression: `CAST((${x.sql}) AS ${cast.pgType})`, sqlite: sqlite! };
}

/**
 * The keys of an index over expressions, from its CREATE INDEX statement:
 * each translated, `COLLATE NOCASE` on a column that is not citext becoming
 * lower(…), ASC/DESC kept.
 */
function indexKeys(createIndexSql: string, exprColumns: ExpressionColumn[], columns: ColumnPlan[]): Translation {
  const sql = withoutComments(createIndexSql);
  // ON outside quoted names (an index may be named "x ON y ("): skip the names before it.
  const on =
    /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:(?:"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s(."`[]+)\s*\.\s*)?(?:"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s(."`[]+)\s+ON\s+(?:"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s(]+)\s*\(/i.exec(
      sql,
    );
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
  return {
    ok: true,
    sql: keys
      .map((k) => (/^("(?:[^"]|"")*"|\w+\(.*\))( (ASC|DESC))?$/.test(k) ? k : `(${k.replace(/ (ASC|DESC)$/, "")})${/ (ASC|DESC)$/.exec(k)?.[0] ?? ""}`))
      .join(", "),
  };
}
