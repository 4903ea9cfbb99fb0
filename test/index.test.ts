// The whole program under the real Pulumi engine (local backend, embedded
// PostgreSQL 16, manifests rendered to a directory): preview touches nothing,
// up creates roles with exactly the right privileges and copies the data,
// re-runs are exactly-once, cutover flips the app's DATABASE_URL, and no
// password ever appears in state or output.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import Database from "better-sqlite3";
import pg from "pg";
import { startPostgres, type TestPostgres } from "./helpers/postgres";
import { pulumiWorkspace, repoRoot, withConfigFile, type PulumiWorkspace } from "./helpers/pulumi";
import { createSampleAppDb } from "../scripts/sample-app-db";
import { moveEncryptionSalt } from "../scripts/stack-file";

let pgs: TestPostgres;
let ws: PulumiWorkspace;
let work: string;
let source: string;
let configFile: string;
const db = "piyasa_db";

const stack = "itest";
// The stack is named on every command: the selected stack lives in PULUMI_HOME, which other runs share.
const withStack = (args: string[]) => (args[0] === "stack" && args[1] !== "output" ? args : [...args, "--stack", stack]);
let logs = "";
const run = async (args: string[], allowFailure = false) => {
  const r = await ws.run(withStack(withConfigFile(args, configFile)), { allowFailure });
  if (args[0] !== "stack") logs += r.stdout + r.stderr;
  return r;
};
const set = (path: string, value: string, secret = false) => run(["config", "set", ...(secret ? ["--secret"] : ["--path"]), path, value]);

async function asRole(role: string, password: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ host: "127.0.0.1", port: pgs.port, user: role, password, database: db });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

/** The app's Secret as rendered into the manifests directory. */
function appSecret(): string {
  const yaml = readdirSync(join(work, "manifests"), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => readFileSync(join(work, "manifests", f), "utf8"))
    .find((y) => /kind: Secret/.test(y) && /name: piyasa-secrets/.test(y));
  assert.ok(yaml, "the app's Secret was rendered");
  return yaml;
}

/** What the app's Secret points it at: a rendered Secret holds no values (components/rendered-secrets.ts), the stack says. */
const appBackend = async () => JSON.parse((await run(["stack", "output", "--json"])).stdout).appBackend as string;

before(async () => {
  pgs = await startPostgres();
  await pgs.query(`CREATE DATABASE ${db}`);
  work = mkdtempSync(join(tmpdir(), "pgshift-stack-"));
  source = join(work, "app.db");
  createSampleAppDb(source, { messages: 500 });
  configFile = join(work, "Pulumi.itest.yaml");
  ws = pulumiWorkspace(repoRoot);
  await ws.run(["stack", "init", stack, "--secrets-provider", "passphrase"]);
  moveEncryptionSalt(join(repoRoot, "Pulumi.itest.yaml"), configFile, readFileSync(join(repoRoot, "Pulumi.local.yaml"), "utf8"), undefined);
  await set("pgshift:renderDir", join(work, "manifests"));
  await set("pgshift:connection.port", String(pgs.port));
  await set("pgshift:migration.source", source);
  await set("pgshift:adminPassword", pgs.password, true);
});

after(async () => {
  await ws?.run(["stack", "rm", "--yes", "--force", stack], { allowFailure: true });
  await pgs?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (ws) rmSync(ws.backendDir, { recursive: true, force: true });
});

test("preview shows the plan and changes nothing", async () => {
  const preview = await run(["preview", "--diff"]);
  const text = preview.stdout + preview.stderr;
  assert.match(text, /Migration plan for/);
  assert.match(text, /messages → messages: 500 rows/);
  assert.match(text, /Load order: /);
  assert.match(text, /pgshift:index:DatabaseRoles/);
  const roles = await pgs.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'piyasa%'");
  assert.deepEqual(roles, [], "no role was created");
  const tables = await pgs.query("SELECT tablename FROM pg_tables WHERE schemaname IN ('public', 'pgshift')", [], db);
  assert.deepEqual(tables, [], "no table was created");
  assert.equal(existsSync(join(work, "manifests")), false, "no manifest was written");
  assert.equal(readdirSync(work).filter((f) => f.includes(".backup.")).length, 0, "no backup was taken");
});

test("up: roles with exactly the seed's privileges, data copied and verified, manifests rendered", async () => {
  await run(["up", "--yes", "--skip-preview"]);
  const outputs = JSON.parse((await run(["stack", "output", "--json", "--show-secrets"])).stdout) as Record<string, unknown>;
  const report = outputs.migrationReport as { ok: boolean; tables: { source: string; targetRows: number; match: boolean }[] };
  assert.equal(report.ok, true);
  const src = new Database(source, { readonly: true });
  for (const t of report.tables) {
    const n = (src.prepare(`SELECT count(*) AS n FROM "${t.source}"`).get() as { n: number }).n;
    const [row] = await pgs.query<{ n: string }>(`SELECT count(*) AS n FROM public."${t.source}"`, [], db);
    assert.equal(Number(row!.n), n, t.source);
  }
  src.close();
  assert.ok(
    readdirSync(work).some((f) => /^app\.db\.backup\.\d{8}_\d{6}$/.test(f)),
    "SQLite backed up first, named like the seed's",
  );

  const appPassword = outputs.appPassword as string;
  // The app role can read and write every table, including one the owner creates later.
  await asRole(
    "piyasa_app",
    appPassword,
    "INSERT INTO settings (key, value) VALUES ('new_key', '1'); UPDATE settings SET value = '2' WHERE key = 'new_key'; SELECT count(*) FROM messages; DELETE FROM settings WHERE key = 'new_key'",
  );
  await asRole("piyasa_app", appPassword, "INSERT INTO bots (name) VALUES ('sequence works')");
  await pgs.query("SET ROLE piyasa_user; CREATE TABLE public.later_table (id bigserial PRIMARY KEY, note text); RESET ROLE;", [], db);
  await asRole(
    "piyasa_app",
    appPassword,
    "INSERT INTO later_table (note) VALUES ('x'); SELECT * FROM later_table; UPDATE later_table SET note = 'y'; DELETE FROM later_table",
  );
  // …and nothing else.
  for (const sql of [
    "CREATE TABLE evil (id int)",
    "DROP TABLE settings",
    "ALTER TABLE settings ADD COLUMN x int",
    "TRUNCATE settings",
    "SELECT * FROM pgshift.loads",
  ]) {
    await assert.rejects(asRole("piyasa_app", appPassword, sql), /permission denied|must be owner/, sql);
  }
  const [pub] = await pgs.query<{ can: boolean }>("SELECT has_database_privilege('public', 'piyasa_db', 'CONNECT') AS can");
  assert.equal(pub!.can, false, "PUBLIC cannot connect");
  const monitor = await pgs.query<{ rolname: string }>(
    "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE m.member = 'piyasa_monitor'::regrole",
  );
  assert.deepEqual(
    monitor.map((r) => r.rolname),
    ["pg_monitor"],
  );

  const manifests = readdirSync(join(work, "manifests"), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".yaml"));
  const all = manifests.map((f) => readFileSync(join(work, "manifests", f), "utf8")).join("\n---\n");
  for (const kind of ["StatefulSet", "NetworkPolicy", "CronJob", "Deployment", "PodDisruptionBudget", "ConfigMap"])
    assert.match(all, new RegExp(`kind: ${kind}`), kind);
  assert.equal(await appBackend(), "sqlite", "before cutover the app still uses SQLite");
  // Rendered with the names of its keys, not the URLs (after cutover they hold the app's password).
  assert.match(appSecret(), /pgshift\.io\/keys-not-rendered: DATABASE_URL,DATABASE_URL_ASYNC/);
  assert.doesNotMatch(appSecret(), /^(data|stringData):/m);
});

test("a second up changes nothing", async () => {
  await run(["preview", "--expect-no-changes"]);
  await run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
});

test("a changed source is copied exactly once; a failure mid-copy fails the update and the next one completes", async () => {
  const w = new Database(source);
  w.prepare("INSERT INTO messages (bot_id, chat_id, text) VALUES (1, 1, 'yeni bir mesaj')").run();
  w.prepare("INSERT INTO messages (bot_id, chat_id, text, created_at) VALUES (1, 1, 'bozuk tarih', '2025-02-30 25:00:00')").run();
  w.close();
  const failed = await run(["up", "--yes", "--skip-preview"], true);
  assert.notEqual(failed.code, 0);
  assert.match(failed.stdout + failed.stderr, /table "messages", row id=\d+, column "created_at": an impossible date/);
  const [before] = await pgs.query<{ n: string }>("SELECT count(*) AS n FROM public.messages", [], db);
  assert.equal(Number(before!.n), 500, "the failed update left the old data untouched");
  const fix = new Database(source);
  fix.prepare("UPDATE messages SET created_at = '2025-02-28 23:00:00' WHERE text = 'bozuk tarih'").run();
  fix.close();
  await run(["up", "--yes", "--skip-preview"]);
  const [afterRows] = await pgs.query<{ n: string; d: string }>("SELECT count(*) AS n, count(DISTINCT id) AS d FROM public.messages", [], db);
  assert.equal(Number(afterRows!.n), 502);
  assert.equal(Number(afterRows!.d), 502);
  // The re-copy before cutover synced: only the two new messages were copied (their key ranges compared row by row).
  const outputs = JSON.parse((await run(["stack", "output", "--json", "--show-secrets"])).stdout) as Record<string, unknown>;
  const messages = (outputs.migrationReport as { tables: { source: string; action: string; copiedRows: number }[] }).tables.find(
    (t) => t.source === "messages",
  )!;
  assert.equal(messages.action, "synced");
  assert.ok(messages.copiedRows >= 2 && messages.copiedRows < 100, `re-copied ${messages.copiedRows} of 502 messages`);
  await run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
});

test("cutover brings PostgreSQL level and points DATABASE_URL at it; rolling back restores SQLite; history shows it", async () => {
  // The app keeps writing to SQLite between the last up and the cutover up.
  const app = new Database(source);
  const insert = app.prepare("INSERT INTO messages (bot_id, chat_id, text) VALUES (1, 1, ?)");
  for (let i = 0; i < 25; i++) insert.run(`before the cutover up ${i}`);
  app.close();
  await set("pgshift:cutover", "true");
  const cut = await run(["up", "--yes", "--skip-preview"]);
  assert.doesNotMatch(cut.stdout + cut.stderr, /NOT copied/);
  const [level] = await pgs.query<{ n: string }>("SELECT count(*) AS n FROM public.messages WHERE text LIKE 'before the cutover up %'", [], db);
  assert.equal(Number(level!.n), 25, "the 25 rows written before the cutover up are in PostgreSQL");
  assert.equal(await appBackend(), "postgresql");
  // After cutover the app owns the data: a changed SQLite file is not copied.
  const w = new Database(source);
  w.prepare("INSERT INTO messages (bot_id, chat_id, text) VALUES (1, 1, 'after cutover')").run();
  w.close();
  const up = await run(["up", "--yes", "--skip-preview"]);
  assert.match(up.stdout + up.stderr, /changed after cutover\. It was NOT copied/);
  const [n] = await pgs.query<{ n: string }>("SELECT count(*) AS n FROM public.messages", [], db);
  assert.equal(Number(n!.n), 527);
  // The app writes to PostgreSQL now.
  const outputs = JSON.parse((await run(["stack", "output", "--json", "--show-secrets"])).stdout) as Record<string, unknown>;
  await asRole(
    "piyasa_app",
    outputs.appPassword as string,
    "INSERT INTO messages (bot_id, chat_id, text) VALUES (1, 1, 'written on PostgreSQL'); UPDATE messages SET text = 'edited on PostgreSQL' WHERE text = 'before the cutover up 0'",
  );

  // A SQLite file written to while cut over cannot take PostgreSQL's rows back without losing that write: the
  // rollback refuses before anything is switched.
  await set("pgshift:cutover", "false");
  const refused = await run(["up", "--yes", "--skip-preview"], true);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stdout + refused.stderr, /changed after pgshift last brought PostgreSQL level with the file/);
  assert.equal(await appBackend(), "postgresql", "still on PostgreSQL");
  const undo = new Database(source);
  undo.prepare("DELETE FROM messages WHERE text = 'after cutover'").run();
  undo.close();
  // The rollback copies PostgreSQL's writes back into the SQLite file (backed up first): both sides equal.
  const back = await run(["up", "--yes", "--skip-preview"]);
  assert.equal(await appBackend(), "sqlite");
  const [kept] = await pgs.query<{ n: string }>("SELECT count(*) AS n FROM public.messages", [], db);
  assert.equal(Number(kept!.n), 528, "a rollback does not overwrite what the app wrote to PostgreSQL");
  const lite = new Database(source, { readonly: true });
  const texts = (lite.prepare("SELECT text FROM messages ORDER BY id").all() as { text: string }[]).map((r) => r.text);
  lite.close();
  assert.ok(texts.includes("written on PostgreSQL") && texts.includes("edited on PostgreSQL"), "PostgreSQL's insert and update are in SQLite");
  assert.equal(texts.length, 528);
  const status = JSON.parse((await run(["stack", "output", "--json"])).stdout).cutoverStatus as string;
  assert.match(status, /^rolled back to SQLite: copied \d+ rows back to SQLite \(.*messages: [1-9]\d*.*\), verified; SQLite backed up to /, back.stdout);
  // Copying SQLite again after a rollback takes an explicit new runId; the two sides are already equal.
  await set("pgshift:migration.runId", "after-rollback-1");
  await run(["up", "--yes", "--skip-preview"]);
  const [recopied] = await pgs.query<{ n: string }>("SELECT count(*) AS n FROM public.messages", [], db);
  assert.equal(Number(recopied!.n), 528);
  const history = JSON.parse((await run(["stack", "history", "--json"])).stdout) as { kind: string; result: string }[];
  assert.ok(history.filter((h) => h.kind === "update").length >= 6, JSON.stringify(history.map((h) => h.kind)));
});

test("no password in state or output; destroy leaves the data", async () => {
  const outputs = JSON.parse((await run(["stack", "output", "--json", "--show-secrets"])).stdout) as Record<string, string>;
  // …nor the digest the role provider keeps to notice a changed password (a plaintext-equivalent for a guessed password).
  const digest = (p: string) => createHash("sha256").update(p).digest("hex");
  const secretsToFind = [pgs.password, outputs.appPassword!, digest(outputs.appPassword!)];
  assert.ok(logs.length > 1000, "the log of every preview and up was kept");
  const exported = (await run(["stack", "export"])).stdout;
  const plainOut = (await run(["stack", "output", "--json"])).stdout;
  const stateFiles = readdirSync(ws.backendDir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".json"));
  const state = stateFiles.map((f) => readFileSync(join(ws.backendDir, f), "utf8")).join("\n");
  for (const s of secretsToFind) {
    assert.ok(s && s.length >= 12, "the test knows the password it looks for");
    assert.ok(!exported.includes(s), "password in exported state");
    assert.ok(!plainOut.includes(s), "password in stack output");
    assert.ok(!state.includes(s), "password in the state files");
    assert.ok(!logs.includes(s), "password in the output of preview/up");
  }
  await run(["destroy", "--yes", "--skip-preview"]);
  const [n] = await pgs.query<{ n: string }>("SELECT count(*) AS n FROM public.messages", [], db);
  assert.equal(Number(n!.n), 528, "destroy never drops data");
});
