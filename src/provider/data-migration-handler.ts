// What the DataMigration resource does at each step of `pulumi up`, over the
// engine. Loaded at run time by the dynamic provider (see data-migration.ts).
import type * as pulumi from "@pulumi/pulumi";
import { existsSync } from "node:fs";
import { dirname, isAbsolute } from "node:path";
import { migrate, type MigrationReport } from "../engine";
import { optionProblems, recopyReasons, settingNames, settingsIn, withDefaults, type MigrationSettings } from "../engine/options";
import { backupSqlite } from "./source-backup";
import { reachDatabase, type TunnelTarget } from "./tunnel";

/**
 * The engine's settings (src/engine/options.ts; SqliteMigration gives every one, state written before a
 * setting existed lacks it and reads as its default), and what only this resource needs.
 */
export interface MigrationInputs extends Partial<MigrationSettings> {
  source: string;
  sourceFingerprint: string;
  targetUrl: string;
  /** port-forward to the database pod (null: targetUrl is reachable as is); never part of the diff */
  tunnel?: TunnelTarget | null;
  cutover: boolean;
  runId: string;
  backupDir: string;
  /** how messages name the settings (options.ts settingNames): "pgshift:migration." from the stack; absent: as these inputs */
  settingsPrefix?: string;
}

export interface TableResult {
  source: string;
  target: string;
  sourceRows: number;
  targetRows: number;
  match: boolean;
  warnings?: string[];
  /** rows copied by this update: all of them for a load, only the changed key ranges' rows for a sync */
  copiedRows?: number;
  /** on a re-copy: loaded, synced (how many ranges and rows) or reloaded whole (and why) */
  action?: string;
  refresh?: string;
}

export interface MigrationOutputs extends MigrationInputs {
  /** per-table rows and verification; never holds a secret */
  report: { ok: boolean; tables: TableResult[] };
  backupFile: string;
  status: string;
  /** fingerprint of the source the PostgreSQL data was last copied from */
  migratedFingerprint: string;
  copiedAt: string;
  /** set at the first cutover and kept: from then on PostgreSQL holds the app's writes */
  everCutover: boolean;
}

/** host:port/database of a connection string: enough to say where, never the password. */
export function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

export async function check(_olds: MigrationInputs, news: MigrationInputs): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (typeof news.source !== "string" || !isAbsolute(news.source)) {
    failures.push({ property: "source", reason: `the SQLite path must be absolute, got "${news.source}"` });
  } else if (!existsSync(news.source)) {
    failures.push({ property: "source", reason: `the SQLite database ${news.source} does not exist` });
  }
  // The engine's own check, so the stack, the CLI and this resource accept the same options.
  for (const p of optionProblems(news, settingNames(news.settingsPrefix ?? ""))) {
    failures.push({ property: p.option, reason: p.message });
  }
  return { inputs: news, failures };
}

/** Why this update has to copy data, or [] when it must not. */
export function copyReasons(olds: MigrationOutputs, news: MigrationInputs): string[] {
  const reasons: string[] = [];
  if ((olds.runId ?? "") !== news.runId) reasons.push(`runId changed to "${news.runId}": copying again as asked`);
  // The cutover update itself: until the switch the app writes to SQLite, so
  // PostgreSQL is brought level with the file first (a refresh), or the rows
  // written since the last copy would be left behind in SQLite. (A second
  // cutover after a rollback is not: PostgreSQL may hold writes the rollback
  // did not copy back, and a refresh would delete them.)
  if (news.cutover && !olds.cutover && !olds.everCutover) {
    if (reasons.length === 0 && olds.migratedFingerprint !== news.sourceFingerprint) {
      reasons.push("cutover: bringing PostgreSQL level with the SQLite file before the app is switched");
    }
    return reasons;
  }
  // Once the app has written to PostgreSQL (cut over, or rolled back since),
  // only an explicit runId may overwrite it with the SQLite data.
  if (news.cutover || olds.everCutover) return reasons;
  if (olds.migratedFingerprint !== news.sourceFingerprint) reasons.push("the SQLite source changed since the last copy");
  // A setting that changes what lands in PostgreSQL (options.ts SETTINGS' recopy); state written before a setting existed reads as its default.
  reasons.push(...recopyReasons(olds, news));
  return reasons;
}

export async function diff(_id: string, olds: MigrationOutputs, news: MigrationInputs): Promise<pulumi.dynamic.DiffResult> {
  const replaces = describeTarget(olds.targetUrl) !== describeTarget(news.targetUrl) || olds.source !== news.source ? ["targetUrl"] : [];
  const changed =
    replaces.length > 0 ||
    copyReasons(olds, news).length > 0 ||
    olds.cutover !== news.cutover ||
    JSON.stringify(withDefaults(olds)) !== JSON.stringify(withDefaults(news)) ||
    olds.backupDir !== news.backupDir ||
    olds.targetUrl !== news.targetUrl;
  // Replacing only moves the copy to a new place; the old data is never deleted.
  return { changes: changed, replaces, deleteBeforeReplace: false };
}

async function copy(inputs: MigrationInputs, refresh: boolean, why: string[], everCutover: boolean): Promise<MigrationOutputs> {
  const backupFile = await backupSqlite(inputs.source, inputs.backupDir || dirname(inputs.source));
  // The tunnel is open for the copy and its verification only, and closed on failure too.
  const reach = await reachDatabase(inputs.targetUrl, inputs.tunnel);
  let report: MigrationReport;
  try {
    report = await migrate({
      ...settingsIn(inputs),
      optionNames: settingNames(inputs.settingsPrefix ?? ""),
      source: inputs.source,
      target: reach.url,
      refresh,
    });
  } finally {
    await reach.close();
  }
  const tables: TableResult[] = report.tables.map((t) => ({
    source: t.source,
    target: t.target,
    sourceRows: t.sourceRows,
    targetRows: t.targetRows,
    match: t.match,
    ...(t.warnings ? { warnings: t.warnings } : {}),
    copiedRows: t.copiedRows ?? 0,
    action: t.action,
    ...(t.refresh ? { refresh: t.refresh } : {}),
  }));
  if (!report.ok) {
    const bad = tables.filter((t) => !t.match).map((t) => `${t.source} (source ${t.sourceRows} rows, target ${t.targetRows})`);
    throw new Error(
      `Verification found differences after copying to ${describeTarget(inputs.targetUrl)}: ${bad.join(", ")}.\n` +
        `Run \`pgshift verify --from ${inputs.source} --to <url>\` for the differing rows. The SQLite backup is ${backupFile}.`,
    );
  }
  const rows = tables.reduce((n, t) => n + t.targetRows, 0);
  const copied = tables.reduce((n, t) => n + (t.copiedRows ?? 0), 0);
  // A re-copy before cutover syncs: say how little it had to copy.
  if (refresh && tables.some((t) => t.action === "synced"))
    why.push(`${copied} rows re-copied (${tables.map((t) => `${t.source}: ${t.copiedRows}`).join(", ")})`);
  // Loaded and verified, but worth knowing (a sequence with no value left, a CHECK left out, a migration stamp that differs).
  const warnings = tables.flatMap((t) => (t.warnings ?? []).map((w) => `${t.source}: ${w}`));
  if (warnings.length) why.push(`${warnings.length} warning${warnings.length > 1 ? "s" : ""}: ${warnings.join(" | ")}`);
  return {
    ...inputs,
    report: { ok: true, tables },
    backupFile,
    status: `copied and verified ${tables.length} tables, ${rows} rows${why.length ? ` (${why.join("; ")})` : ""}`,
    migratedFingerprint: inputs.sourceFingerprint,
    copiedAt: new Date().toISOString(),
    everCutover: everCutover || inputs.cutover,
  };
}

export async function create(inputs: MigrationInputs): Promise<pulumi.dynamic.CreateResult> {
  // A create after a failed earlier attempt finds that attempt's committed
  // tables in PostgreSQL; the engine verifies and keeps those, loads the rest.
  const outs = await copy(inputs, false, [], false);
  return { id: describeTarget(inputs.targetUrl), outs };
}

export async function update(_id: string, olds: MigrationOutputs, news: MigrationInputs): Promise<pulumi.dynamic.UpdateResult> {
  const why = copyReasons(olds, news);
  // A new runId after cutover is an explicit order to overwrite; it also starts a new era.
  if (why.length > 0) return { outs: await copy(news, true, why, olds.runId === news.runId && !!olds.everCutover) };
  const everCutover = !!olds.everCutover || news.cutover;
  const sourceMoved = everCutover && olds.migratedFingerprint !== news.sourceFingerprint;
  return {
    outs: {
      ...olds,
      ...news,
      migratedFingerprint: olds.migratedFingerprint,
      everCutover,
      // The switch itself, with its final sync or its copy back, is the Cutover resource's (cutoverStatus).
      status:
        sourceMoved && news.cutover
          ? "after cutover: the SQLite file changed since this resource's last copy and was NOT copied by it, since the app writes to PostgreSQL (the cutover's final sync is in cutoverStatus; set runId to overwrite PostgreSQL with the file)"
          : news.cutover
            ? "cutover: the app uses PostgreSQL; nothing copied here (the final sync is in cutoverStatus)"
            : everCutover
              ? "rolled back to SQLite: nothing copied from SQLite (the rollback's copy of PostgreSQL's writes is in cutoverStatus; set runId to copy SQLite over PostgreSQL)"
              : olds.status,
    },
  };
}
