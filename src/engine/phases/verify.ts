// Phase 5, verify: every row of every table, several tables at a time, each on
// its own connection and snapshot reader. A table copied in this run is first
// checked against the digest of what was sent; SQLite is read again only if
// that does not prove it. A migration tool's bookkeeping table (--schema
// existing) is compared too, but a difference there is a warning.
import { quoteSqlite } from "../identifiers";
import { verifyByRanges } from "../delta-sync";
import type { LoadContext, TableReport } from "../load-context";
import { pool, session } from "../postgres/connection";
import { settleNumericDates } from "../sqlite/numeric-dates";
import { forgetRanges } from "../postgres/catalog";
import type { TablePlan } from "../plan";
import { tableReader } from "../sqlite/source";
import type { CopyResult } from "../postgres/copy";
import { digestMatch, generatedColumnsPlan, mergeVerifications, verifyPart, verifyTable, type RowDifference, type TableVerification } from "../compare";

export async function verifyTables(ctx: LoadContext, tables: TablePlan[]): Promise<Map<string, TableVerification>> {
  const { plan, snapshot, sent } = ctx;
  const results = new Map<string, TableVerification>();
  // The digest proves PostgreSQL holds what was sent; the count proves what was sent is every row of the snapshot.
  const byDigest = new Map<string, CopyResult>();
  const counter = snapshot.open();
  try {
    for (const t of tables) {
      const copied = sent.get(t.target);
      if (!copied || copied.sync) continue;
      const snapshotRows = Number((counter.prepare(`SELECT count(*) AS n FROM ${quoteSqlite(t.source)}`).get() as { n: number }).n);
      if (copied.rows === snapshotRows) byDigest.set(t.target, copied);
    }
  } finally {
    counter.close();
  }
  // Every part of every table copied in this run, read back over `jobs` connections at once.
  const parts = tables.flatMap((t) => (byDigest.get(t.target)?.parts ?? []).map((_, i) => ({ t, i })));
  const unproven = new Set<string>();
  const pending = new Map(tables.map((t) => [t.target, byDigest.get(t.target)?.parts.length ?? 0]));
  await pool(parts, ctx.jobs, async ({ t, i }) => {
    if (unproven.has(t.target)) return;
    if (i === 0) ctx.progress(t.target, "verify", 0, t.rows);
    const client = await session(ctx.url);
    try {
      if (!(await verifyPart(client, plan.targetSchema, t, byDigest.get(t.target)!, i))) unproven.add(t.target);
    } finally {
      await client.end();
    }
    const left = pending.get(t.target)! - 1;
    pending.set(t.target, left);
    if (left === 0 && !unproven.has(t.target)) {
      results.set(t.target, digestMatch(t, byDigest.get(t.target)!.rows));
      ctx.progress(t.target, "done", t.rows, t.rows);
    }
  });
  // The rest row by row against SQLite (a synced table: its re-copied ranges against SQLite's digests of the snapshot).
  await pool(
    tables.filter((t) => !results.has(t.target)),
    ctx.jobs,
    async (t) => {
      const db = snapshot.open();
      const client = await session(ctx.url);
      try {
        ctx.progress(t.target, "verify", 0, t.rows);
        const copied = sent.get(t.target);
        const proven = copied?.sync ? await verifyByRanges(client, plan.targetSchema, t, copied.sync) : undefined;
        if (!proven) settleNumericDates(db, t); // a no-op once the load decided them
        results.set(t.target, proven ?? (await verifyTable(client, plan.targetSchema, t, tableReader(db, t))));
        ctx.progress(t.target, "done", t.rows, t.rows);
      } finally {
        db.close();
        await client.end();
      }
    },
  );
  await pool(
    tables.filter((t) => generatedColumnsPlan(t)),
    ctx.jobs,
    async (t) => {
      const g = generatedColumnsPlan(t)!;
      const db = snapshot.open();
      const client = await session(ctx.url);
      try {
        const v = await verifyTable(client, plan.targetSchema, g, tableReader(db, g));
        results.set(t.target, mergeVerifications(results.get(t.target)!, v));
      } finally {
        db.close();
        await client.end();
      }
    },
  );
  return results;
}

/**
 * A migration tool's bookkeeping table in --schema existing: PostgreSQL's rows
 * stay; how they differ from SQLite's (the app's migrations in PostgreSQL at
 * another revision than the SQLite data was written under) is a warning.
 */
export async function compareBookkeeping(ctx: LoadContext, t: TablePlan): Promise<TableReport> {
  const db = ctx.snapshot.open();
  const client = await session(ctx.url);
  try {
    settleNumericDates(db, t);
    const v = await verifyTable(client, ctx.plan.targetSchema, t, tableReader(db, t));
    const show = (d: RowDifference) =>
      `${
        Object.entries(d.key)
          .map(([k, x]) => `${k}=${x}`)
          .join(", ") || "a row"
      } ${d.problem === "missing in PostgreSQL" ? "only in SQLite" : d.problem === "extra in PostgreSQL" ? "only in PostgreSQL" : "differs"}`;
    const warnings = v.match
      ? []
      : [
          `${t.bookkeeping}'s bookkeeping in PostgreSQL differs from SQLite's (${v.differences.map(show).join("; ")}): ` +
            "PostgreSQL's rows were kept. The app's migrations in PostgreSQL are at another revision than the SQLite data; check that the schema matches the data.",
        ];
    return {
      source: t.source,
      target: t.target,
      sourceRows: v.sourceRows,
      targetRows: v.targetRows,
      match: true,
      action: "bookkeeping",
      differences: [],
      ...(warnings.length ? { warnings } : {}),
    };
  } finally {
    db.close();
    await client.end().catch(() => {});
  }
}

/** Phase 5 of `migrate`: the report's row for every table, in load order. */
export async function verify(ctx: LoadContext, enabled: boolean): Promise<TableReport[]> {
  const { ordered, actions, sent } = ctx;
  const compared = new Map<string, TableReport>();
  for (const t of ordered.filter((t) => actions.get(t.target) === "bookkeeping")) compared.set(t.target, await compareBookkeeping(ctx, t));
  const toVerify = ordered.filter((t) => actions.get(t.target) !== "bookkeeping");
  const verifications = enabled ? await verifyTables(ctx, toVerify) : new Map<string, TableVerification>();
  // What delta sync recorded of a table that differs is not to be trusted: the next refresh compares full contents.
  for (const [target, v] of verifications) if (!v.match) await forgetRanges(ctx.admin, ctx.plan.targetSchema, target);
  return ordered.map((t) => {
    if (compared.has(t.target)) return compared.get(t.target)!;
    const v = verifications.get(t.target);
    const loaded = sent.get(t.target);
    const action = loaded?.sync ? "synced" : actions.get(t.target)!;
    const warnings = loaded?.warnings ?? [];
    return {
      source: t.source,
      target: t.target,
      sourceRows: v?.sourceRows ?? t.rows,
      targetRows: v?.targetRows ?? t.rows,
      match: v ? v.match : true,
      action: action === "load" ? "loaded" : action,
      differences: v?.differences ?? [],
      ...(v ? { verifiedBy: v.method } : {}),
      ...(warnings.length ? { warnings } : {}),
      copiedRows: loaded?.rows ?? 0,
      ...(loaded?.refresh ? { refresh: loaded.refresh } : {}),
    };
  });
}
