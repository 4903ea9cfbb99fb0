// `npm start`: the whole product on this machine. Starts the embedded
// PostgreSQL 16, makes the sample app database if there is none, selects the
// `local` stack, runs `pulumi preview` and `pulumi up`, and sums up.
//
//   npm start [-- --sqlite path/to/app.db]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename, join, resolve } from "node:path";
import pg from "pg";
import { createSampleAppDb } from "./sample-app-db";
import { start as startPostgres } from "./local-postgres";
import {
  LOCAL_STACK,
  adoptLocalStackSalt,
  localStackArgs,
  localStackConfig,
  localStackTemplate,
  projectRoot as root,
  pulumiBinary,
  pulumiEnv,
} from "./pulumi-env";

const localDir = join(root, ".local");
const say = (m: string) => process.stderr.write(`[start] ${m}\n`);
const env = pulumiEnv();

/** A Pulumi command on the local stack, with its settings as `npm run pulumi -- <args> --stack local` would pass them. */
const onLocalStack = (args: string[]) => [...localStackArgs([...args, "--stack", LOCAL_STACK]), "--non-interactive"];

function pulumi(args: string[], opts: { quiet?: boolean; allowFailure?: boolean; input?: string } = {}): { code: number; stdout: string } {
  const r = spawnSync(pulumiBinary, onLocalStack(args), {
    cwd: root,
    env,
    encoding: "utf8",
    input: opts.input,
    stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", opts.quiet ? "pipe" : "inherit"],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0 && !opts.allowFailure) {
    process.stderr.write(r.stdout ?? "");
    process.stderr.write(r.stderr ?? "");
    throw new Error(`pulumi ${args.join(" ")} failed (exit ${r.status})`);
  }
  return { code: r.status ?? -1, stdout: r.stdout ?? "" };
}

/** Streams a long pulumi command to the terminal as it runs. */
function pulumiLive(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(pulumiBinary, onLocalStack(args), { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] });
    child.on("close", (code) => (code === 0 ? resolvePromise() : reject(new Error(`pulumi ${args[0]} failed (exit ${code}); see above`))));
  });
}

async function ensureDatabase(info: { host: string; port: number; password: string }, name: string): Promise<void> {
  const c = new pg.Client({ host: info.host, port: info.port, user: "postgres", password: info.password, database: "postgres" });
  await c.connect();
  try {
    const exists = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (exists.rowCount === 0) {
      await c.query(`CREATE DATABASE "${name}"`);
      say(`created database ${name}`);
    }
  } finally {
    await c.end();
  }
}

/** A database name for a SQLite file of the user's: its name plus a hash of its path (two app.db files stay apart). */
function databaseFor(source: string): string {
  const base =
    basename(source)
      .replace(/\.[^.]*$/, "")
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, "_")
      .replace(/^[^a-z_]+/, "")
      .slice(0, 40) || "app";
  return `${base}_${createHash("sha256").update(resolve(source)).digest("hex").slice(0, 8)}`;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf("--sqlite");
  const userDb = i >= 0 ? process.argv[i + 1] : undefined;
  mkdirSync(localDir, { recursive: true });

  say("phase 1/5: PostgreSQL 16 (embedded)");
  const info = await startPostgres((m) => say(m.replace(/^\[local\] /, "")));

  say("phase 2/5: the SQLite database");
  let source: string;
  if (userDb) {
    source = resolve(userDb);
    if (!existsSync(source)) throw new Error(`--sqlite ${userDb}: no such file`);
    say(`using ${source}`);
  } else {
    source = join(localDir, "app.db");
    if (!existsSync(source)) {
      const { tables } = createSampleAppDb(source);
      say(
        `created sample app database ${source}: ${Object.entries(tables)
          .map(([t, n]) => `${t} ${n}`)
          .join(", ")}`,
      );
    } else say(`using ${source}`);
  }

  // One database per SQLite file: trying your own database after the sample
  // run loads it next to the sample's data instead of colliding with it.
  const database = userDb ? databaseFor(source) : "piyasa_db";
  await ensureDatabase(info, database);
  if (userDb) say(`its tables go to database ${database} (the sample's stay in piyasa_db)`);

  say("phase 3/5: the local stack");
  // The committed Pulumi.local.yaml stays as it is; this machine's port,
  // password and source go into a copy under .local/ (scripts/pulumi-env.ts).
  const template = readFileSync(localStackTemplate, "utf8");
  if (pulumi(["stack", "select"], { quiet: true, allowFailure: true }).code !== 0) {
    pulumi(["stack", "init", "--secrets-provider", "passphrase"], { quiet: true });
    adoptLocalStackSalt(template);
    say(`created stack local (state in ${env.PULUMI_BACKEND_URL})`);
  }
  if (!existsSync(localStackConfig)) writeFileSync(localStackConfig, template);
  const set = (args: string[], input?: string) => pulumi(["config", "set", ...args], { quiet: true, input });
  const current = readFileSync(localStackConfig, "utf8");
  set(["--path", "pgshift:connection.via", "direct"]);
  set(["--path", "pgshift:connection.host", info.host]);
  set(["--path", "pgshift:connection.port", String(info.port)]);
  set(["--path", "pgshift:migration.source", source]);
  set(["--path", "pgshift:database.name", database]);
  // On stdin, not the command line: `ps` shows arguments to everyone.
  if (!current.includes("pgshift:adminPassword")) set(["--secret", "pgshift:adminPassword"], info.password);

  say("phase 4/5: pulumi preview");
  // Pulumi's compact preview (the resource tree and the migration plan), not every property.
  const preview = pulumi(["preview"], { quiet: false });
  process.stdout.write(preview.stdout);
  const noChanges = !/\d+ to (create|update|replace|delete)/.test(preview.stdout);

  say("phase 5/5: pulumi up");
  await pulumiLive(["up", "--yes", "--skip-preview"]);

  const out = JSON.parse(pulumi(["stack", "output", "--json"], { quiet: true }).stdout) as {
    migrationReport?: { ok: boolean; tables: { source: string; target: string; sourceRows: number; targetRows: number; match: boolean }[] };
    migrationStatus?: string;
    sqliteBackup?: string;
    manifestsDir?: string;
    appRole: string;
  };
  const report = out.migrationReport;
  const lines: string[] = ["", "pgshift: done."];
  if (noChanges) lines.push("Nothing changed: PostgreSQL was already level with the SQLite database, and every manifest was up to date.");
  if (report) {
    const rows = report.tables.reduce((n, t) => n + t.targetRows, 0);
    lines.push(`Copied ${report.tables.length} tables, ${rows} rows — verification ${report.ok ? "passed: every row matches" : "FOUND DIFFERENCES"}.`);
    for (const t of report.tables) lines.push(`  ${t.match ? "ok  " : "DIFF"} ${t.source.padEnd(14)} ${String(t.targetRows).padStart(7)} rows`);
    if (out.migrationStatus) lines.push(`Status: ${out.migrationStatus}`);
    if (out.sqliteBackup) lines.push(`SQLite backup taken before the copy: ${out.sqliteBackup}`);
  }
  lines.push(`Kubernetes manifests: ${join(root, out.manifestsDir ?? "out/manifests")}`);
  lines.push(
    `Connect as the app role: PGPASSWORD="$(npm run -s pulumi -- stack output --show-secrets appPassword)" psql -h ${info.host} -p ${info.port} -U ${out.appRole} ${database}`,
  );
  lines.push("Next: point the dev stack at a cluster and run `npm run pulumi -- preview --stack dev`, then `npm run pulumi -- up --stack dev`;");
  lines.push("      `npm run pulumi -- stack history` lists every update (to find the last good one when rolling back).");
  lines.push("Stop the local PostgreSQL with `npm run stop`; remove local state and data with `npm run clean`.");
  process.stdout.write(lines.join("\n") + "\n");
}

main().catch((err: Error) => {
  process.stderr.write(`[start] ${err.message}\n`);
  process.exit(1);
});
