// Phase 5, verify: every row of every table, several tables at a time, each on
// its own connection and snapshot reader. A table copied in this run is first
// checked against the digest of what was sent, read back as soon as its load
// commits (proveEarly), while ANALYZE, the other tables and the foreign keys
// go on; SQLite is read again only if that does not prove it. A migration tool's bookkeeping table (--schema
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
  // Tables whose proof started as their load committed (proveEarly) are awaited; the rest start here, all at once
  // (their parts share the `jobs` connections).
  const proofs = tables.map((t) => {
    const copied = sent.get(t.target);
    return { t, copied, proof: ctx.proofs?.get(t.target) ?? (copied && !copied.sync ? proveByDigest(ctx, t, copied) : undefined) };
  });
  for (const { t, proof } of proofs) if (proof && !ctx.proofs?.has(t.target)) ctx.progress(t.target, "verify", 0, t.rows);
  // Every proof settles before any failure is thrown: none may still read the snapshot once the caller disposes of it.
  const settled = await Promise.allSettled(proofs.map(({ proof }) => proof));
  for (const [i, { t, copied }] of proofs.entries()) {
    const s = settled[i]!;
    if (s.status === "rejected") throw s.reason;
    if (s.value) {
      results.set(t.target, digestMatch(t, copied!.rows));
      ctx.progress(t.target, "done", t.rows, t.rows);
    }
  }
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
 * Starts proving a table by the digest of what its copy sent as soon as its
 * load has committed, so that reading it back overlaps what the run still
 * does: ANALYZE, the other tables' loads, the foreign keys (none of which
 * conflicts with reading). verifyTables awaits the proof; a run that fails
 * before that still waits for it (settleProofs) before the snapshot goes.
 */
export function proveEarly(ctx: LoadContext, t: TablePlan): void {
  const copied = ctx.sent.get(t.target);
  if (!ctx.proofs || !copied || copied.sync) return;
  ctx.progress(t.target, "verify", 0, t.rows);
  const proof = proveByDigest(ctx, t, copied);
  proof.catch(() => {}); // awaited by verifyTables
  ctx.proofs.set(t.target, proof);
}

/** Waits for every proof started early, whatever became of it (the run is failing, or done with them). */
export async function settleProofs(ctx: LoadContext | undefined): Promise<void> {
  await Promise.allSettled(ctx?.proofs?.values() ?? []);
}

/**
 * Whether the table copied in this run is proven by its digest: the count
 * proves what was sent is every row of the snapshot, the digest of each part
 * read back that PostgreSQL holds what was sent. False: not proven, the
 * caller compares row by row. At most `jobs` parts of all tables are read at
 * once, each on its own connection.
 */
async function proveByDigest(ctx: LoadContext, t: TablePlan, copied: CopyResult): Promise<boolean> {
  const counter = ctx.snapshot.open();
  try {
    const snapshotRows = Number((counter.prepare(`SELECT count(*) AS n FROM ${quoteSqlite(t.source)}`).get() as { n: number }).n);
    if (copied.rows !== snapshotRows) return false;
  } finally {
    counter.close();
  }
  ctx.readBack ??= slots(ctx.jobs);
  let proven = true;
  await Promise.all(
    copied.parts.map((_, i) =>
      ctx.readBack!(async () => {
        if (!proven) return; // another part already failed: the table is compared row by row anyway
        const client = await session(ctx.url);
        try {
          if (!(await verifyPart(client, ctx.plan.targetSchema, t, copied, i))) proven = false;
        } finally {
          await client.end();
        }
      }),
    ),
  );
  return proven;
}

/** Runs at most `n` of the functions given at once, in the order given. */
function slots(n: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await work();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
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
