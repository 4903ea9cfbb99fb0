// The seed's flow: the app's own Alembic migrations create the schema in
// PostgreSQL (and stamp alembic_version), then pgshift loads the SQLite data
// into those tables with --schema existing, keeping the stamp, and the app's
// role uses the tables. A real Alembic (Debian's python3-alembic) against a
// real PostgreSQL 16 and a real SQLite file the app itself made.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { runProcess } from "../helpers/process";
import { sqliteFile } from "../helpers/sqlite";
import { formatPlan, migrate, planMigration, verifyMigration, TargetConflictError } from "../../src/engine";
import { grantStatements } from "../helpers/roles";

const appDir = resolve(__dirname, "..", "fixtures", "alembic-app");
// Debian's interpreter, which has python3-alembic, -sqlalchemy and -psycopg2.
const python = "/usr/bin/python3";

let pg: TestPostgres;
before(async () => (pg = await startPostgres()));
after(async () => pg?.stop());

const app = (args: string[], databaseUrl: string) =>
  runProcess(python, args, { cwd: appDir, env: { ...process.env, DATABASE_URL: databaseUrl }, label: "python3" });

/** The app's SQLite database as the app makes it: Alembic to `revision`, then the app's own inserts. */
async function appSqlite(revision = "head", messages = 200): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), "pgshift-alembic-")), "app.db");
  await app(["-m", "alembic", "upgrade", revision], `sqlite:///${file}`);
  await app(["app.py", "seed", String(messages)], `sqlite:///${file}`);
  return file;
}

/** A database with the stack's owner and app roles and grants; returns both roles' URLs. */
async function stackDatabase(): Promise<{ owner: string; app: string; db: string }> {
  const url = await pg.createDatabase();
  const db = url.split("/").pop()!;
  const suffix = db.replace(/\W/g, "_");
  const [owner, appRole] = [`owner_${suffix}`, `app_${suffix}`];
  await pg.query(`CREATE ROLE ${owner} LOGIN PASSWORD 'owner-pw'; CREATE ROLE ${appRole} LOGIN PASSWORD 'app-pw'`);
  for (const sql of grantStatements({ database: db, schema: "public", owner, app: appRole, connectOnly: [] })) await pg.query(sql, [], db);
  const at = (role: string, pw: string) => `postgresql://${role}:${pw}@127.0.0.1:${pg.port}/${db}`;
  return { owner: at(owner, "owner-pw"), app: at(appRole, "app-pw"), db };
}

test("alembic upgrade head, then migrate --schema existing: the stamp is kept, the data loads, the app's role uses it", async () => {
  const source = await appSqlite();
  const target = await stackDatabase();
  await app(["-m", "alembic", "upgrade", "head"], target.owner);

  const plan = formatPlan(await planMigration({ source, target: target.owner, schema: "existing" }));
  assert.match(plan, /alembic_version → alembic_version[\s\S]*! Alembic's migration bookkeeping: rows its migrations wrote in PostgreSQL are kept/);

  const report = await migrate({ source, target: target.owner, schema: "existing" });
  assert.equal(report.ok, true, JSON.stringify(report.tables));
  const stamp = report.tables.find((t) => t.source === "alembic_version")!;
  assert.equal(stamp.action, "bookkeeping", "kept without --overwrite");
  assert.equal(stamp.warnings, undefined, "SQLite and PostgreSQL are at the same revision");
  const loaded = report.tables.filter((t) => t.source !== "alembic_version");
  assert.deepEqual(loaded.map((t) => [t.source, t.action, t.match]).sort(), [
    ["bots", "loaded", true],
    ["chats", "loaded", true],
    ["messages", "loaded", true],
    ["settings", "loaded", true],
  ]);
  const [v] = await pg.query<{ version_num: string }>("SELECT version_num FROM alembic_version", [], target.db);
  assert.equal(v!.version_num, "a2f3c0de0002");
  const types = await pg.query<{ column_name: string; data_type: string }>(
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'messages' AND column_name IN ('id', 'msg_metadata') ORDER BY 1",
    [],
    target.db,
  );
  assert.deepEqual(types, [
    { column_name: "id", data_type: "bigint" },
    { column_name: "msg_metadata", data_type: "json" },
  ]);

  const plainVerify = await verifyMigration({ source, target: target.owner });
  assert.equal(plainVerify.ok, true, JSON.stringify(plainVerify.tables));

  // The app, as its own role, after the move: JSON settings read back as values, a new message gets the next id.
  const used = JSON.parse((await app(["app.py", "use"], target.app)).stdout);
  assert.deepEqual(used.settings, { typing_delay_factor: 0.35, message_length_profile: "medium", topic_weights: { faiz: 0.3, altın: 0.7 } });
  assert.equal(used.new_id, 201, "the sequence continues after the copied ids");
  assert.deepEqual(used.metadata, { moved: true });
  assert.equal(used.messages, 201);

  // Run again: everything pgshift loaded is kept, the stamp still untouched.
  const again = await migrate({ source, target: target.owner, schema: "existing" });
  assert.deepEqual(again.tables.map((t) => t.action).sort(), ["bookkeeping", "kept", "kept", "kept", "kept"]);
  const after = await verifyMigration({ source, target: target.owner });
  assert.deepEqual(
    after.tables.find((t) => t.source === "messages")!.differences,
    [{ key: { id: "201" }, problem: "extra in PostgreSQL" }],
    "verify sees the app's new row",
  );
});

test("SQLite at an older revision than PostgreSQL: the stamp is kept and the difference reported", async () => {
  const source = await appSqlite("a1f3c0de0001", 10);
  const target = await stackDatabase();
  await app(["-m", "alembic", "upgrade", "head"], target.owner);
  const report = await migrate({ source, target: target.owner, schema: "existing" });
  assert.equal(report.ok, true);
  const stamp = report.tables.find((t) => t.source === "alembic_version")!;
  assert.equal(stamp.action, "bookkeeping");
  assert.match(
    (stamp.warnings ?? []).join(""),
    /Alembic's bookkeeping in PostgreSQL differs from SQLite's \(version_num=a1f3c0de0001 only in SQLite; version_num=a2f3c0de0002 only in PostgreSQL\)/,
  );
  const [v] = await pg.query<{ version_num: string }>("SELECT version_num FROM alembic_version", [], target.db);
  assert.equal(v!.version_num, "a2f3c0de0002", "PostgreSQL's stamp stays");
});

test("other tools' bookkeeping is recognised; one the target's migrations did not create is skipped, not an error; the app's own tables still refuse to be overwritten", async () => {
  const source = sqliteFile((db) =>
    db.exec(`CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied DATETIME);
             INSERT INTO django_migrations VALUES (1, 'core', '0001_initial', '2025-01-01 10:00:00');
             CREATE TABLE knex_migrations (id INTEGER PRIMARY KEY, name TEXT, batch INTEGER, migration_time DATETIME);
             INSERT INTO knex_migrations VALUES (1, '001_init.js', 1, '2025-01-01 10:00:00');
             CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'hello');`),
  );
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  await pg.query(
    `CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz);
                  INSERT INTO django_migrations (app, name, applied) VALUES ('core', '0001_initial', '2025-01-01 10:00:00+00'), ('core', '0002_more', now());
                  CREATE TABLE notes (id bigserial PRIMARY KEY, body text);`,
    [],
    db,
  );
  const plan = await planMigration({ source, target: url, schema: "existing" });
  assert.deepEqual(
    plan.skipped.map((s) => [s.name, s.kind]),
    [["knex_migrations", "bookkeeping table"]],
  );
  const r = await migrate({ source, target: url, schema: "existing" });
  assert.equal(r.ok, true);
  assert.equal(r.tables.find((t) => t.source === "django_migrations")!.action, "bookkeeping");
  assert.match(r.tables.find((t) => t.source === "django_migrations")!.warnings!.join(""), /Django's bookkeeping .*id=2 only in PostgreSQL/);
  const rows = await pg.query("SELECT name FROM django_migrations ORDER BY id", [], db);
  assert.deepEqual(
    rows.map((x) => x.name),
    ["0001_initial", "0002_more"],
  );

  // The bookkeeping exception is only for bookkeeping: an app table with rows still needs --overwrite.
  const url2 = await pg.createDatabase();
  await pg.query("CREATE TABLE notes (id bigserial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('mine')", [], url2.split("/").pop());
  await assert.rejects(migrate({ source, target: url2, schema: "existing", tables: ["notes"] }), TargetConflictError);
});
