// The data side of the cutover steps (cutover-steps.ts) over the engine: the
// final delta sync SQLite → PostgreSQL (what `migrate --refresh` does), and the
// copy back PostgreSQL → SQLite (src/engine/sync-back/) for a rollback.
import { rmSync } from "node:fs";
import { migrate, planSyncBack, syncBack, verifyMigration } from "../engine";
import { withDefaults, type MigrationSettings } from "../engine/options";
import type { DataSide, SyncResult } from "./cutover-steps";
import { reachDatabase, type TunnelTarget } from "./tunnel";

/**
 * The engine's settings (src/engine/options.ts) as the stack gave them (a
 * Partial: state written before a setting existed lacks it; withDefaults fills
 * it in), and where the data is.
 */
export interface DataSettings extends Partial<MigrationSettings> {
  /** the SQLite file the app uses (for pod: sources, the local copy the snapshots are written to) */
  sqlitePath: string;
  targetUrl: string;
  tunnel?: TunnelTarget | null;
  backupDir: string;
}

async function withDatabase<T>(s: DataSettings, f: (url: string) => Promise<T>): Promise<T> {
  const reach = await reachDatabase(s.targetUrl, s.tunnel);
  try {
    return await f(reach.url);
  } finally {
    await reach.close();
  }
}

/**
 * A SQLite file that lives elsewhere (a pod: source's, in the app's volume),
 * of which `sqlitePath` is the local copy: the data steps bring it over before
 * they read it, and a sync-back puts its result back.
 */
export interface RemoteFile {
  /** brings the file as it is now to `sqlitePath` (read before a rollback plans, or counts what it leaves behind) */
  refresh(): Promise<void>;
  /**
   * Once the writers are stopped: brings the file over, runs `copyBack` on the
   * local copy and, when that verified, puts the result in place of the file
   * (the original kept as `backupFile`); else leaves the file as it was.
   */
  writeBack<T extends { ok: boolean }>(copyBack: () => Promise<T>): Promise<{ result: T; backupFile?: string }>;
}

export function engineData(s: DataSettings, takeSnapshot: () => Promise<string>, remote?: RemoteFile): DataSide {
  const tables = s.tables?.length ? s.tables : undefined;
  const differingRows = async () => {
    await remote?.refresh();
    // Exactly what a sync-back would write, when it could; else what verification sees.
    try {
      const plan = await withDatabase(s, (url) => planSyncBack({ from: url, to: s.sqlitePath, tables }));
      const changed = plan.tables.filter((t) => t.inserted + t.updated + t.deleted > 0);
      return { rows: plan.rowsChanged, atLeast: false, tables: changed.map((t) => t.source) };
    } catch {
      // A value that cannot go back: count the differences instead.
    }
    const report = await withDatabase(s, (url) => verifyMigration({ ...withDefaults(s), source: s.sqlitePath, target: url }));
    const bad = report.tables.filter((t) => !t.match);
    // verify lists at most a few differing rows per table; the row counts bound the rest from below.
    const rows = bad.reduce((n, t) => n + Math.max(t.differences.length, Math.abs(t.targetRows - t.sourceRows)), 0);
    return { rows, atLeast: bad.some((t) => t.differences.length >= 5), tables: bad.map((t) => t.source) };
  };
  const copyBack = async (): Promise<SyncResult> => {
    const r = await withDatabase(s, (url) => syncBack({ from: url, to: s.sqlitePath, tables, backupDir: s.backupDir || undefined }));
    return {
      ok: r.ok,
      rowsChanged: r.rowsChanged,
      ...(r.backupFile ? { backupFile: r.backupFile } : {}),
      tables: r.tables.map((t) => ({ source: t.source, target: t.target, changed: t.inserted + t.updated + t.deleted, match: t.match })),
    };
  };
  return {
    finalSnapshot: takeSnapshot,
    async syncForward(snapshot: string): Promise<SyncResult> {
      const report = await withDatabase(s, (url) => migrate({ ...withDefaults(s), source: snapshot, target: url, refresh: true }));
      const t = report.tables.map((r) => ({ source: r.source, target: r.target, changed: r.copiedRows ?? 0, match: r.match }));
      return { ok: report.ok, rowsChanged: t.reduce((n, x) => n + x.changed, 0), tables: t };
    },
    async planBack(): Promise<void> {
      // Against the file as it is now: the local copy may be older, or (another operator's machine) absent.
      await remote?.refresh();
      await withDatabase(s, (url) => planSyncBack({ from: url, to: s.sqlitePath, tables, backupDir: s.backupDir || undefined }));
    },
    async syncBack(): Promise<SyncResult> {
      if (!remote) return copyBack();
      const { result, backupFile } = await remote.writeBack(copyBack);
      // The engine's backup of the local copy is not the one that matters (the file before stays beside the
      // original, backupFile): removed, or every rollback would leave a copy of the database on this machine.
      const { backupFile: local, ...rest } = result;
      if (local) rmSync(local, { force: true });
      return { ...rest, ...(backupFile ? { backupFile } : {}) };
    },
    differingRows,
  };
}
