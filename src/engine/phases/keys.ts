// Phase 3, keys: inside each table's load transaction, after its COPY — the
// primary key, unique constraints, indexes and CHECKs (--schema create), then
// every sequence set past the copied keys. A key the data violates rolls the
// table back; a translated index PostgreSQL cannot make sense of is left out
// with a warning.
import type pg from "pg";
import { isIntegerKind } from "../types/column-types";
import { LoadError } from "../errors";
import type { LoadContext } from "../load-context";
import { serialSequence } from "../postgres/catalog";
import type { TablePlan } from "../plan";
import { afterLoadSql, resetSequenceSql, type DdlStatement } from "../postgres/schema";

/** Adds the table's keys and sets its sequences; returns what the app's owner should know. */
export async function addKeys(ctx: LoadContext, client: pg.Client, t: TablePlan, rows: number): Promise<string[]> {
  const warnings: string[] = [];
  if (ctx.plan.schemaMode === "create") {
    ctx.progress(t.target, "indexes", rows, t.rows);
    for (const ddl of afterLoadSql(ctx.plan.targetSchema, t)) await runDdl(client, t, ddl, warnings);
  }
  warnings.push(...(await resetSequences(ctx, client, t)));
  return warnings;
}

// SQLSTATE class 42: PostgreSQL could not make sense of the statement (a type
// mismatch in a translated expression), as opposed to data that violates it.
const NOT_UNDERSTOOD = /^42/;

async function runDdl(client: pg.Client, t: TablePlan, ddl: DdlStatement, warnings: string[]): Promise<void> {
  const { sql, translated } = ddl;
  if (translated) await client.query("SAVEPOINT translated");
  try {
    await client.query(sql);
    if (translated) await client.query("RELEASE SAVEPOINT translated");
  } catch (err) {
    const e = err as Error & { detail?: string; code?: string };
    if (translated && NOT_UNDERSTOOD.test(e.code ?? "")) {
      await client.query("ROLLBACK TO SAVEPOINT translated");
      warnings.push(`${translated} was not created: PostgreSQL did not accept the translation (${e.message}); recreate it by hand if the app relies on it`);
      return;
    }
    if (translated && e.code === "23514") {
      throw new LoadError(
        t.source,
        `The translated ${translated} of "${t.target}" refuses rows SQLite holds: ${e.message}${e.detail ? ` (${e.detail})` : ""}\n  statement: ${sql}\n` +
          "  The table's load was rolled back. SQLite skips CHECKs with PRAGMA ignore_check_constraints; fix the rows, and run again.",
        err,
      );
    }
    if (e.code === "42P07" || e.code === "42710") {
      // A name already taken: the plan refuses the clashes it can see (name-checks.ts); this is one it could not (an object the app made).
      throw new LoadError(
        t.source,
        `Creating a key or index on "${t.target}" failed: ${e.message}\n  statement: ${sql}\n` +
          "  The table's load was rolled back. The name is already taken in the schema (PostgreSQL keeps the first 63 bytes of a name, and tables, indexes and keys share one namespace): " +
          "drop or rename the other object, or rename the index in a copy of the SQLite file, and run again.",
        err,
      );
    }
    throw new LoadError(
      t.source,
      `Creating a key or index on "${t.target}" failed: ${e.message}${e.detail ? ` (${e.detail})` : ""}\n  statement: ${sql}\n` +
        "  The table's load was rolled back. SQLite does not always enforce what it declares (e.g. duplicate values in a UNIQUE column with NULLs or mixed types); fix the data and run again.",
      err,
    );
  }
}

/** Sets each sequence past the copied keys; returns what the app should know (a sequence that has no value left). */
export async function resetSequences(ctx: LoadContext, client: pg.Client, t: TablePlan): Promise<string[]> {
  const { plan } = ctx;
  const schema = plan.targetSchema;
  const candidates = plan.schemaMode === "create" ? t.columns.filter((c) => c.identity) : t.columns.filter((c) => isIntegerKind(c.cast.kind));
  const warnings: string[] = [];
  for (const c of candidates) {
    const seq = await serialSequence(client, schema, t.target, c.target);
    if (!seq) continue;
    const { want, top } = (await client.query<{ want: string; top: string }>(resetSequenceSql(schema, t, c.target))).rows[0]!;
    if (BigInt(want) >= BigInt(top)) {
      warnings.push(
        `column "${c.target}": the highest key (${want}) is the largest value sequence ${seq} can hand out (${top}); ` +
          "an INSERT that leaves the id to PostgreSQL will fail — insert with explicit ids, or renumber the keys",
      );
    }
  }
  return warnings;
}
