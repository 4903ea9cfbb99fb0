// The writes into the SQLite file: each differing row's values in the form
// the app's column holds them (sqlite/forms.ts), applied in an order foreign
// keys hold in, and sqlite_sequence raised past the ids PostgreSQL handed out.
import type Database from "better-sqlite3";
import type pg from "pg";
import { unescapeCopy, Reject } from "../types/convert";
import { isIntegerKind } from "../types/column-types";
import { quoteSqlite } from "../identifiers";
import { serialSequence } from "../postgres/catalog";
import type { TablePlan } from "../plan";
import { deltaKeyColumn } from "../delta";
import { readColumnForms, type ColumnForms } from "../sqlite/forms";
import { chooseForm, describeFamily, resolveJsonPlain, sqliteValue } from "../sqlite/write-back";
import type { SyncBackProblem } from "./refusal";
import type { SyncBackReport } from "./sync-back";
import type { TableWork } from "./differences";

/** A key as SQLite values: integers as bigints, text as text (keys are integer or text columns: compare.ts keyOrder). */
function keyValues(t: TablePlan, row: string[]): unknown[] {
  return t.sourceKey.map((k) => {
    const i = t.columns.findIndex((c) => c.source === k);
    const v = unescapeCopy(row[i]!);
    return v !== null && isIntegerKind(t.columns[i]!.cast.kind) ? BigInt(v) : v;
  });
}

/** The row's key as a WHERE clause, one bound parameter per key column. */
const keyWhere = (t: TablePlan) => t.sourceKey.map((k) => `${quoteSqlite(k)} = ?`).join(" AND ");

/** The values to write for every differing row, each in its column's form; a value that cannot be written so is a problem. */
export function prepareWrites(db: Database.Database, w: TableWork, problems: SyncBackProblem[], formsUsed: SyncBackReport["forms"]): void {
  const { t } = w;
  const forms = new Map<number, ColumnForms>();
  const formsOf = (i: number) => {
    let f = forms.get(i);
    if (!f) forms.set(i, (f = readColumnForms(db, t, t.columns[i]!)));
    return f;
  };
  const noted = new Set<string>();
  const where = keyWhere(t);
  const oldRow = db
    .prepare(`SELECT ${t.columns.map((c) => quoteSqlite(c.source)).join(", ")} FROM ${quoteSqlite(t.source)} WHERE ${where}`)
    .raw(true)
    .safeIntegers(true);
  const convert = (i: number, field: string, old: unknown, key: Record<string, unknown>): unknown => {
    const c = t.columns[i]!;
    const value = unescapeCopy(field);
    if (value === null) return null;
    const f = formsOf(i);
    const chosen = resolveJsonPlain(f, chooseForm(f, old));
    const form = describeFamily(chosen.family, chosen.fraction);
    if (!noted.has(`${c.source}\u0000${form}`)) {
      noted.add(`${c.source}\u0000${form}`);
      formsUsed.push({
        table: t.source,
        column: c.source,
        form,
        why: chosen.why + (f.families.size > 1 ? ` (the column holds ${f.families.size} forms)` : ""),
      });
    }
    try {
      return sqliteValue(c, chosen, value);
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      problems.push({ table: t.source, key, column: c.source, value, reason: `${err.reason}; the column's values are ${form}` });
      return undefined;
    }
  };
  for (const d of w.diffs) {
    if (d.problem === "missing in PostgreSQL") {
      w.deletes.push({ key: keyValues(t, d.source!), described: d.key });
    } else if (d.problem === "extra in PostgreSQL") {
      w.inserts.push(d.target!.map((field, i) => convert(i, field, undefined, d.key)));
    } else {
      const key = keyValues(t, d.source!);
      const old = oldRow.get(...key) as unknown[] | undefined;
      if (!old) {
        problems.push({ table: t.source, key: d.key, reason: "the row's key does not find it in SQLite (a key stored in another type than its column's?)" });
        continue;
      }
      const columns = d.columns!;
      w.updates.push({ key, columns, values: columns.map((i) => convert(i, d.target![i]!, old[i], d.key)), described: d.key });
    }
  }
}

export interface SequenceBump {
  table: string;
  from: string | null;
  to: string;
}

/**
 * AUTOINCREMENT tables: sqlite_sequence raised to the last id PostgreSQL's
 * sequence handed out, so the app never hands out an id PostgreSQL already
 * used (rows inserted there and deleted again included).
 */
export async function sequenceBumps(client: pg.Client, schema: string, db: Database.Database, tables: TablePlan[]): Promise<SequenceBump[]> {
  const bumps: SequenceBump[] = [];
  for (const t of tables) {
    const key = deltaKeyColumn(t);
    if (!t.autoincrement || !key) continue;
    const seq = await serialSequence(client, schema, t.target, key.target);
    if (!seq) continue;
    // The sequence's name is bound, never pasted: NULL until it has handed out a value.
    const r = (await client.query<{ last: string | null }>("SELECT pg_sequence_last_value($1::regclass)::text AS last", [seq])).rows[0];
    if (!r || r.last === null) continue;
    const current = db.prepare("SELECT CAST(seq AS TEXT) FROM sqlite_sequence WHERE name = ?").pluck().get(t.source) as string | undefined;
    if (current !== undefined && BigInt(current) >= BigInt(r.last)) continue;
    bumps.push({ table: t.source, from: current ?? null, to: r.last });
  }
  return bumps;
}

/**
 * The writes, in an order foreign keys hold in: rows updated first, then
 * deleted from referencing tables before referenced ones, then inserted into
 * referenced tables first. A write refused for a UNIQUE constraint is tried
 * again once the others are done (two rows swapping a unique value); any other
 * refusal (CHECK, NOT NULL) is a problem naming the row.
 */
export function apply(db: Database.Database, work: TableWork[], sequences: SequenceBump[], problems: SyncBackProblem[]): void {
  const violationsBefore = foreignKeyViolations(db, work);
  type Step = { table: string; key: Record<string, unknown>; run: () => void };
  const steps: Step[] = [];
  // One statement per set of columns updated, prepared once.
  const statements = new Map<string, Database.Statement>();
  const prepared = (sql: string) => {
    let stmt = statements.get(sql);
    if (!stmt) statements.set(sql, (stmt = db.prepare(sql)));
    return stmt;
  };
  for (const w of work) {
    const { t } = w;
    const where = keyWhere(t);
    for (const u of w.updates) {
      const sql = `UPDATE ${quoteSqlite(t.source)} SET ${u.columns.map((i) => `${quoteSqlite(t.columns[i]!.source)} = ?`).join(", ")} WHERE ${where}`;
      steps.push({ table: t.source, key: u.described, run: () => void prepared(sql).run(...u.values, ...u.key) });
    }
  }
  for (const w of [...work].reverse()) {
    const del = w.deletes.length ? db.prepare(`DELETE FROM ${quoteSqlite(w.t.source)} WHERE ${keyWhere(w.t)}`) : undefined;
    for (const d of w.deletes) steps.push({ table: w.t.source, key: d.described, run: () => void del!.run(...d.key) });
  }
  for (const w of work) {
    const { t } = w;
    const ins = w.inserts.length
      ? db.prepare(
          `INSERT INTO ${quoteSqlite(t.source)} (${t.columns.map((c) => quoteSqlite(c.source)).join(", ")}) VALUES (${t.columns.map(() => "?").join(", ")})`,
        )
      : undefined;
    for (const values of w.inserts) {
      const key = Object.fromEntries(t.sourceKey.map((k) => [k, values[t.columns.findIndex((c) => c.source === k)]]));
      steps.push({ table: t.source, key, run: () => void ins!.run(...values) });
    }
  }
  let pending = steps;
  for (;;) {
    const retry: Step[] = [];
    const failed: { step: Step; err: Error & { code?: string } }[] = [];
    for (const step of pending) {
      try {
        step.run();
      } catch (err) {
        const e = err as Error & { code?: string };
        if (!String(e.code).startsWith("SQLITE_CONSTRAINT")) throw err;
        if (e.code === "SQLITE_CONSTRAINT_UNIQUE" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY") retry.push(step);
        failed.push({ step, err: e });
      }
    }
    for (const f of failed.filter((x) => !retry.includes(x.step))) problems.push(constraintProblem(f.step.table, f.step.key, f.err));
    if (retry.length === 0) break;
    if (retry.length === pending.length || problems.length) {
      for (const f of failed.filter((x) => retry.includes(x.step))) problems.push(constraintProblem(f.step.table, f.step.key, f.err));
      break;
    }
    pending = retry;
  }
  if (problems.length) return;
  for (const s of sequences) {
    const n = db.prepare("UPDATE sqlite_sequence SET seq = CAST(? AS INTEGER) WHERE name = ?").run(s.to, s.table).changes;
    if (n === 0) db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES (?, CAST(? AS INTEGER))").run(s.table, s.to);
  }
  for (const v of foreignKeyViolations(db, work)) {
    if (violationsBefore.has(v)) continue;
    const [table, rowid, parent] = v.split("\u0000");
    problems.push({ table: table!, key: { rowid }, reason: `after writing, this row refers to a row of "${parent}" that SQLite does not have (foreign key)` });
  }
}

function constraintProblem(table: string, key: Record<string, unknown>, err: Error): SyncBackProblem {
  const notNull = /NOT NULL constraint failed: [^.]+\.(.+)$/.exec(err.message);
  return {
    table,
    key,
    ...(notNull ? { column: notNull[1]! } : {}),
    reason: `SQLite refuses the row: ${err.message}${/CHECK/.test(err.message) ? " (the SQLite table's CHECK constraint, which PostgreSQL did not enforce)" : ""}`,
  };
}

/**
 * SQLite's foreign key violations where a write can make one: in the tables
 * written, and in the tables referring to them. As "table\0rowid\0parent".
 */
function foreignKeyViolations(db: Database.Database, work: TableWork[]): Set<string> {
  const out = new Set<string>();
  const written = new Set(work.filter((w) => w.diffs.length).map((w) => w.t.source.toLowerCase()));
  if (written.size === 0) return out;
  const tables = db
    .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL%'")
    .pluck()
    .all() as string[];
  const refersTo = db.prepare(`SELECT "table" FROM pragma_foreign_key_list(?)`).pluck();
  const check = db.prepare("SELECT * FROM pragma_foreign_key_check(?)");
  for (const table of tables) {
    const relevant = written.has(table.toLowerCase()) || (refersTo.all(table) as string[]).some((parent) => written.has(parent.toLowerCase()));
    if (!relevant) continue;
    for (const row of check.all(table) as { table: string; rowid: number | null; parent: string }[])
      out.add(`${row.table}\u0000${row.rowid}\u0000${row.parent}`);
  }
  return out;
}
