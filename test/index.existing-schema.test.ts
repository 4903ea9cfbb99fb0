// The seed's flow through the whole program under the real Pulumi engine:
// `migration.schema: existing` with a schemaCommand that runs the app's own
// Alembic migrations as the owner role, then the copy into those tables.
// Preview plans from SQLite alone (the tables do not exist yet) and touches
// nothing; up creates the roles, runs Alembic, copies and verifies, keeps
// alembic_version, and the app's role uses the tables.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres, type TestPostgres } from "./helpers/postgres";
import { pulumiWorkspace, repoRoot, withConfigFile, type PulumiWorkspace } from "./helpers/pulumi";
import { runProcess } from "./helpers/process";
import { moveEncryptionSalt } from "../scripts/stack-file";

const appDir = join(repoRoot, "test", "fixtures", "alembic-app");
const python = "/usr/bin/python3"; // Debian's, with python3-alembic, -sqlalchemy and -psycopg2
const db = "piyasa_db";
const stack = "itest-existing";

let pgs: TestPostgres;
let ws: PulumiWorkspace;
let work: string;
let source: string;
let configFile: string;

// The stack is named on every command: the selected stack lives in PULUMI_HOME, which other runs share.
const withStack = (args: string[]) => (args[0] === "stack" && args[1] !== "output" ? args : [...args, "--stack", stack]);
const run = (args: string[], allowFailure = false) => ws.run(withStack(withConfigFile(args, configFile)), { allowFailure });
const set = (path: string, value: string, secret = false) => run(["config", "set", ...(secret ? ["--secret"] : ["--path"]), path, value]);
const appRun = (args: string[], url: string) => runProcess(python, args, { cwd: appDir, env: { ...process.env, DATABASE_URL: url }, label: "python3" });

before(async () => {
  pgs = await startPostgres();
  await pgs.query(`CREATE DATABASE ${db}`);
  work = mkdtempSync(join(tmpdir(), "pgshift-stack-existing-"));
  source = join(work, "app.db");
  // The app's SQLite database, made by the app: Alembic, then its own inserts.
  await appRun(["-m", "alembic", "upgrade", "head"], `sqlite:///${source}`);
  await appRun(["app.py", "seed", "300"], `sqlite:///${source}`);
  configFile = join(work, `Pulumi.${stack}.yaml`);
  ws = pulumiWorkspace(repoRoot);
  await ws.run(["stack", "init", stack, "--secrets-provider", "passphrase"]);
  moveEncryptionSalt(join(repoRoot, `Pulumi.${stack}.yaml`), configFile, readFileSync(join(repoRoot, "Pulumi.local.yaml"), "utf8"), undefined);
  await set("pgshift:renderDir", join(work, "manifests"));
  await set("pgshift:connection.port", String(pgs.port));
  await set("pgshift:migration.source", source);
  await set("pgshift:migration.schema", "existing");
  await set("pgshift:migration.schemaCommand", `cd ${appDir} && ${python} -m alembic upgrade head`);
  await set(`pgshift:migration.casts["settings.value"]`, "jsonb");
  await set("pgshift:adminPassword", pgs.password, true);
});

after(async () => {
  await ws?.run(["stack", "rm", "--yes", "--force", stack], { allowFailure: true });
  await pgs?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (ws) rmSync(ws.backendDir, { recursive: true, force: true });
});

test("preview with schema existing plans from SQLite alone and touches nothing", async () => {
  const preview = await run(["preview", "--diff"]);
  const text = preview.stdout + preview.stderr;
  assert.match(text, /Migration plan for/);
  assert.match(text, /Schema: load into existing tables/);
  assert.match(text, /Column types below follow the cast rules; the copy converts to the types of the tables the app's migrations create/);
  assert.match(text, /messages → messages: 300 rows/);
  assert.match(text, /value +JSON +→ jsonb .*\[override\]/, "migration.casts reached the plan");
  assert.match(text, /alembic_version[\s\S]*Alembic's migration bookkeeping/);
  const tables = await pgs.query("SELECT tablename FROM pg_tables WHERE schemaname IN ('public', 'pgshift')", [], db);
  assert.deepEqual(tables, [], "no table was created: neither Alembic nor the copy ran");
});

test("up runs Alembic as the owner, copies into its tables keeping alembic_version, and the app's role uses them", async () => {
  await run(["up", "--yes", "--skip-preview"]);
  const outputs = JSON.parse((await run(["stack", "output", "--json", "--show-secrets"])).stdout) as Record<string, unknown>;
  const report = outputs.migrationReport as { ok: boolean; tables: { source: string; targetRows: number; match: boolean }[] };
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.deepEqual(report.tables.map((t) => [t.source, t.targetRows]).sort(), [
    ["alembic_version", 1],
    ["bots", 3],
    ["chats", 1],
    ["messages", 300],
    ["settings", 3],
  ]);
  const [v] = await pgs.query<{ version_num: string; owner: string }>(
    "SELECT version_num, (SELECT tableowner FROM pg_tables WHERE tablename = 'messages') AS owner FROM public.alembic_version",
    [],
    db,
  );
  assert.deepEqual(v, { version_num: "a2f3c0de0002", owner: "piyasa_user" });
  const appUrl = `postgresql://piyasa_app:${encodeURIComponent(outputs.appPassword as string)}@127.0.0.1:${pgs.port}/${db}`;
  const used = JSON.parse((await appRun(["app.py", "use"], appUrl)).stdout);
  assert.equal(used.new_id, 301);
  assert.deepEqual(used.settings.topic_weights, { faiz: 0.3, altın: 0.7 });
  await run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
});
