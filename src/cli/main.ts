// pgshift plan | migrate | verify. Exit codes: 0 success, 1 verification found
// differences, 2 bad input, usage or connection. With --json, stdout carries
// only the report; progress and errors go to stderr.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { resolve } from "node:path";
import {
  DEFAULTS,
  EXIT_BAD_INPUT,
  IDENTIFIER_MODES,
  JOBS,
  SCHEMA_MODES,
  optionProblems,
  EXIT_MISMATCH,
  EXIT_OK,
  PgshiftError,
  exitCodeFor,
  formatPlan,
  migrate,
  planMigration,
  verifyMigration,
  planSyncBack,
  syncBack,
  type MigrationReport,
  type SyncBackReport,
} from "../engine";
import { settingsIn, type MigrationSettings } from "../engine/options";
import { createProgress } from "./progress";

/** A comma-separated list of table names as given on the command line (--tables, --exclude-tables). */
const nameList = (s: string | undefined) =>
  s
    ? s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean)
    : undefined;

const SCHEMA = SCHEMA_MODES.join("|");
const IDENTIFIERS = IDENTIFIER_MODES.join("|");
const USAGE = `Usage:
  pgshift plan    --from app.db [--to postgres://…] [--schema ${SCHEMA}] [--tables a,b] [--json]
  pgshift migrate --from app.db --to postgres://…  [--schema ${SCHEMA}] [--tables a,b] [--exclude-tables c,d]
                  [--identifiers ${IDENTIFIERS}] [--jobs N] [--cast table.column=type …]
                  [--refresh] [--overwrite] [--no-verify] [--json]
  pgshift verify  --from app.db --to postgres://…  [--schema ${SCHEMA}] [--tables a,b] [--exclude-tables c,d]
                  [--identifiers ${IDENTIFIERS}] [--cast table.column=type …] [--json]
  pgshift sync-back --from postgres://… --to app.db [--tables a,b] [--backup-dir DIR] [--dry-run] [--json]

  --schema     default ${DEFAULTS.schema} for migrate and plan; --identifiers default ${DEFAULTS.identifiers}
  --jobs       tables copied at the same time, ${JOBS.min} to ${JOBS.max} (default ${DEFAULTS.jobs})
  --exclude-tables  tables left out (after --tables picks), e.g. a cache or sessions table
  --cast       table.column=type, e.g. settings.value=text or events.at=timestamp:epoch-ms
  verify uses the identifiers mode and casts the migration recorded in pgshift.loads unless given

  --refresh    bring tables pgshift loaded earlier from an older version of the SQLite file level:
               tables with an integer key re-copy only the key ranges that changed, others reload whole
  --overwrite  replace target tables pgshift did not load (drop/recreate, or truncate with --schema existing)
  --allow-empty  a SQLite database without tables is not refused (exit 2 otherwise: usually a wrong --from path)
  sync-back    a rollback's copy: the rows inserted, updated or deleted in PostgreSQL since the cutover, written
               back into the SQLite file in the forms its columns hold, after a backup beside it (or in --backup-dir);
               --dry-run writes them to a copy, reads them back and says what would change
Exit codes: 0 success, 1 verification found differences, 2 bad input, usage or connection.`;

/** Wrong flags: one line on stderr (the usage text only for --help), exit code 2. */
class UsageProblem extends PgshiftError {}
const seeHelp = " Run `pgshift --help` for usage.";

/**
 * The settings given as flags (src/engine/options.ts); the engine gives the
 * others their defaults, or for verify what the migration recorded.
 */
interface Parsed extends Partial<MigrationSettings> {
  command: string;
  from: string;
  to?: string;
  refresh: boolean;
  overwrite: boolean;
  verify: boolean;
  json: boolean;
  allowEmpty: boolean;
  /** sync-back */
  dryRun: boolean;
  backupDir?: string;
}

/** The flags, or one line naming the one that is wrong. */
function flags<T extends ParseArgsConfig["options"]>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageProblem(`${(err as Error).message.split("\n")[0]}.${seeHelp}`);
  }
}

export function parse(argv: string[]): Parsed {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") throw new UsageProblem(USAGE);
  if (!["plan", "migrate", "verify", "sync-back"].includes(command))
    throw new UsageProblem(`Unknown command "${command}"; use plan, migrate, verify or sync-back.${seeHelp}`);
  if (command === "sync-back") return parseSyncBack(rest);
  const values = flags(rest, {
    from: { type: "string" },
    to: { type: "string" },
    schema: { type: "string" },
    tables: { type: "string" },
    "exclude-tables": { type: "string" },
    identifiers: { type: "string" },
    jobs: { type: "string" },
    cast: { type: "string", multiple: true },
    refresh: { type: "boolean", default: false },
    overwrite: { type: "boolean", default: false },
    "no-verify": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    "allow-empty": { type: "boolean", default: false },
  });
  if (!values.from) throw new UsageProblem(`--from <sqlite file> is required.${seeHelp}`);
  if (command !== "plan" && !values.to) throw new UsageProblem(`--to <postgres URL> is required for ${command}.${seeHelp}`);
  const casts: Record<string, string> = {};
  for (const c of values.cast ?? []) {
    const i = c.indexOf("=");
    const column = c.slice(0, i);
    if (i <= 0 || column.lastIndexOf(".") <= 0) throw new UsageProblem(`--cast "${c}" must look like table.column=type (e.g. settings.value=text).`);
    casts[column] = c.slice(i + 1);
  }
  // --jobs many: the engine's check names the text as given.
  const jobs = values.jobs !== undefined && /^\s*\d+\s*$/.test(values.jobs) ? Number(values.jobs) : values.jobs;
  const [problem] = optionProblems({ schema: values.schema, identifiers: values.identifiers, jobs, casts });
  if (problem) throw new UsageProblem(`${problem.message}.`);
  return {
    command,
    from: resolve(values.from),
    to: values.to,
    schema: values.schema as Parsed["schema"],
    tables: nameList(values.tables),
    identifiers: values.identifiers as Parsed["identifiers"],
    excludeTables: nameList(values["exclude-tables"]),
    jobs: jobs as number | undefined,
    ...(values.cast ? { casts } : {}),
    refresh: values.refresh!,
    overwrite: values.overwrite!,
    verify: !values["no-verify"],
    json: values.json!,
    dryRun: false,
    allowEmpty: values["allow-empty"]!,
  };
}

/** sync-back copies the other way: --from is PostgreSQL, --to the SQLite file. */
function parseSyncBack(rest: string[]): Parsed {
  const values = flags(rest, {
    from: { type: "string" },
    to: { type: "string" },
    tables: { type: "string" },
    "backup-dir": { type: "string" },
    "dry-run": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  });
  if (!values.from || !/^postgres(ql)?:\/\//.test(values.from))
    throw new UsageProblem(`sync-back copies from PostgreSQL: --from <postgres URL> is required.${seeHelp}`);
  if (!values.to) throw new UsageProblem(`sync-back writes into a SQLite file: --to <sqlite file> is required.${seeHelp}`);
  return {
    command: "sync-back",
    from: values.from,
    to: resolve(values.to),
    tables: nameList(values.tables),
    refresh: false,
    overwrite: false,
    verify: true,
    json: values.json!,
    dryRun: values["dry-run"]!,
    allowEmpty: false,
    ...(values["backup-dir"] ? { backupDir: resolve(values["backup-dir"]) } : {}),
  };
}

function printSyncBack(r: SyncBackReport, dryRun: boolean, out: NodeJS.WriteStream): void {
  const w = Math.max(...r.tables.map((t) => t.source.length), 5);
  for (const t of r.tables) {
    out.write(
      `  ${t.match ? "ok  " : "DIFF"} ${t.target.padEnd(w)} → ${t.source}: ${t.inserted} inserted, ${t.updated} updated, ${t.deleted} deleted; ${t.targetRows} rows in PostgreSQL, ${t.sourceRows} in SQLite\n`,
    );
  }
  for (const f of r.forms) out.write(`         ${f.table}.${f.column}: written as ${f.form} (${f.why})\n`);
  for (const s of r.sequences) out.write(`         ${s.table}: sqlite_sequence ${s.from ?? "(none)"} → ${s.to} (PostgreSQL's sequence)\n`);
  for (const s of r.skipped) out.write(`  skip ${s.table}: ${s.reason}\n`);
  if (r.backupFile) out.write(`Backup of the SQLite file before writing: ${r.backupFile}\n`);
  out.write(
    dryRun
      ? `Dry run: ${r.rowsChanged} rows would change in SQLite (written to a copy, read back and compared, then discarded); nothing was written.\n`
      : `Synced back and verified: ${r.rowsChanged} rows changed, ${r.tables.length} tables equal on both sides in ${(r.durationMs / 1000).toFixed(1)}s.\n`,
  );
}

function jsonReport(r: MigrationReport) {
  return {
    ok: r.ok,
    source: r.source,
    target: r.target,
    schemaMode: r.schemaMode,
    verified: r.verified,
    tables: r.tables.map((t) => ({
      source: t.source,
      target: t.target,
      sourceRows: t.sourceRows,
      targetRows: t.targetRows,
      match: t.match,
      action: t.action,
      differences: t.differences,
      ...(t.verifiedBy ? { verifiedBy: t.verifiedBy } : {}),
      ...(t.warnings ? { warnings: t.warnings } : {}),
      ...(t.copiedRows !== undefined ? { copiedRows: t.copiedRows } : {}),
      ...(t.refresh ? { refresh: t.refresh } : {}),
    })),
    skipped: r.skipped,
    durationMs: r.durationMs,
    ...(r.snapshot ? { snapshot: r.snapshot } : {}),
    ...(r.verifyMs !== undefined ? { verifyMs: r.verifyMs } : {}),
    ...(r.steps ? { steps: r.steps } : {}),
  };
}

function printReport(r: MigrationReport, out: NodeJS.WriteStream): void {
  const w = Math.max(...r.tables.map((t) => t.source.length), 5);
  for (const t of r.tables) {
    out.write(
      `  ${t.match ? "ok  " : "DIFF"} ${t.source.padEnd(w)} → ${t.target}: ${t.sourceRows} rows in SQLite, ${t.targetRows} in PostgreSQL (${t.action})\n`,
    );
    if (t.refresh) out.write(`         ${t.refresh}\n`);
    for (const w of t.warnings ?? []) out.write(`         warning: ${w}\n`);
    for (const d of t.differences) {
      const key = Object.entries(d.key)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");
      out.write(
        `         ${d.problem}${key ? ` at ${key}` : ""}${d.columns ? ": " + d.columns.map((c) => `${c.column} ${c.source} ≠ ${c.target}`).join("; ") : ""}\n`,
      );
    }
  }
  for (const s of r.skipped) out.write(`  skip ${s.kind} ${s.name}: ${s.reason}\n`);
  if (r.snapshot)
    out.write(`Snapshot of ${r.source} taken at ${r.snapshot.takenAt} (${r.snapshot.ms} ms, ${r.snapshot.method}); every table was read from that moment.\n`);
  const rows = r.tables.reduce((n, t) => n + t.targetRows, 0);
  out.write(
    r.ok
      ? `${r.verified ? "Verified" : "Copied (not verified)"}: ${r.tables.length} tables, ${rows} rows in ${(r.durationMs / 1000).toFixed(1)}s` +
          `${r.verifyMs !== undefined ? ` (verification ${(r.verifyMs / 1000).toFixed(1)}s)` : ""}.\n`
      : `Verification found differences. Nothing was deleted; fix the source or target and run pgshift verify again.\n`,
  );
  if (r.steps?.length) out.write(`Time by step: ${r.steps.map((s) => `${s.step} ${(s.ms / 1000).toFixed(2)}s`).join(", ")}.\n`);
}

export async function main(argv: string[], stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Promise<number> {
  let args: Parsed;
  try {
    args = parse(argv);
  } catch (err) {
    if ((err as Error).message === USAGE && ["--help", "-h", "help"].includes(argv[0] ?? "")) {
      stdout.write(`${USAGE}\n`);
      return EXIT_OK;
    }
    stderr.write((err as Error).message === USAGE ? `${USAGE}\n` : `pgshift: ${(err as Error).message}\n`);
    return EXIT_BAD_INPUT;
  }
  const common = { ...settingsIn(args), source: args.from, target: args.to, allowEmpty: args.allowEmpty };
  const progress = createProgress(stderr);
  try {
    if (args.command === "sync-back") {
      const options = {
        from: args.from,
        to: args.to!,
        ...(args.tables ? { tables: args.tables } : {}),
        ...(args.backupDir ? { backupDir: args.backupDir } : {}),
        onProgress: (line: string) => stderr.write(`${line}\n`),
      };
      const report = args.dryRun ? await planSyncBack(options) : await syncBack(options);
      if (args.json) stdout.write(JSON.stringify({ ...report, dryRun: args.dryRun }, null, 2) + "\n");
      else printSyncBack(report, args.dryRun, stdout);
      return report.ok ? EXIT_OK : EXIT_MISMATCH;
    }
    if (args.command === "plan") {
      const plan = await planMigration(common);
      if (args.json) stdout.write(JSON.stringify(plan, null, 2) + "\n");
      else stdout.write(formatPlan(plan) + "\n");
      return EXIT_OK;
    }
    const report =
      args.command === "migrate"
        ? await migrate({
            ...common,
            target: args.to!,
            refresh: args.refresh,
            overwrite: args.overwrite,
            verify: args.verify,
            onProgress: (e) => progress.update(e),
          })
        : await verifyMigration({ ...common, target: args.to!, onProgress: (e) => progress.update(e) });
    progress.stop();
    if (args.json) stdout.write(JSON.stringify(jsonReport(report), null, 2) + "\n");
    else printReport(report, args.json ? stderr : stdout);
    return report.ok ? EXIT_OK : EXIT_MISMATCH;
  } catch (err) {
    progress.stop();
    const code = exitCodeFor(err);
    // A bug's stack trace helps whoever fixes it, not whoever runs the command.
    const message =
      err instanceof PgshiftError
        ? err.message
        : `Unexpected error: ${(err as Error).message ?? String(err)}` +
          (process.env.PGSHIFT_DEBUG ? `\n${(err as Error).stack}` : " (run again with PGSHIFT_DEBUG=1 for the stack trace, and report it)");
    if (args.json) stdout.write(JSON.stringify({ ok: false, error: message, exitCode: code }, null, 2) + "\n");
    stderr.write(`pgshift ${args.command} failed: ${message}\n`);
    return code;
  }
}
