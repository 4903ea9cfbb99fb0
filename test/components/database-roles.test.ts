// DatabaseRoles under the real Pulumi engine (test/fixtures/roles), against a
// PostgreSQL 16 that logs every statement, error statement and bind
// parameter. Between two `pulumi up`s the owner role plants the trojan
// catalog view (issue 16's finding 1); the second up rotates passwords, which
// runs every role update as the superuser. The owner stays an ordinary role,
// the new passwords work, and neither the server log nor Pulumi's output
// holds a password.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { rmSync } from "node:fs";
import pg from "pg";
import { logCaughtUp, startPostgres, type TestPostgres } from "../helpers/postgres";
import { pulumiWorkspace, repoRoot, type PulumiWorkspace } from "../helpers/pulumi";

const program = join(repoRoot, "test", "fixtures", "roles");
const stack = `roles${process.pid}`;
const db = "piyasa_db";
const roles = ["owner", "app", "monitor", "backup"] as const;
const names = { owner: "piyasa_user", app: "piyasa_app", monitor: "piyasa_monitor", backup: "piyasa_backup" };
let pgs: TestPostgres;
let ws: PulumiWorkspace;
let serverLog = "";
let pulumiOutput = "";
const everyPassword: string[] = [];

const newPasswords = () => Object.fromEntries(roles.map((r) => [r, "p" + randomBytes(24).toString("base64url")])) as Record<(typeof roles)[number], string>;

async function up(passwords: Record<string, string>): Promise<{ code: number; output: string }> {
  for (const r of roles) {
    everyPassword.push(passwords[r]!);
    await ws.run(["config", "set", "--secret", `${r}Password`, passwords[r]!, "--stack", stack]);
  }
  const run = await ws.run(["up", "--yes", "--skip-preview", "--stack", stack], { allowFailure: true });
  pulumiOutput += run.stdout + run.stderr;
  return { code: run.code, output: run.stdout + run.stderr };
}

async function as(user: string, password: string, sql: string[]): Promise<void> {
  const c = new pg.Client({ host: "127.0.0.1", port: pgs.port, user, password, database: db });
  await c.connect();
  try {
    for (const s of sql) await c.query(s);
  } finally {
    await c.end();
  }
}

const isSuper = async () => (await pgs.query<{ s: boolean }>("SELECT rolsuper AS s FROM pg_roles WHERE rolname = 'piyasa_user'"))[0]!.s;

before(async () => {
  pgs = await startPostgres({
    onLog: (m) => (serverLog += m + "\n"),
    flags: ["-c", "log_statement=all", "-c", "log_min_error_statement=debug5", "-c", "log_min_duration_statement=0", "-c", "log_parameter_max_length=-1", "-c", "log_parameter_max_length_on_error=-1"],
  });
  await pgs.query(`CREATE DATABASE ${db}`);
  ws = pulumiWorkspace(program);
  await ws.run(["stack", "init", stack, "--secrets-provider", "passphrase"]);
  await ws.run(["config", "set", "database", db, "--stack", stack]);
  // As index.ts wires it: the superuser's URL names the application database.
  await ws.run(["config", "set", "--secret", "adminUrl", pgs.url(db), "--stack", stack]);
});
after(async () => {
  await ws?.run(["stack", "rm", "--yes", "--force", stack], { allowFailure: true });
  if (ws) rmSync(ws.backendDir, { recursive: true, force: true });
  await pgs?.stop();
});

test("the owner's trojan view does not make it superuser when the next up rotates every password", async () => {
  const first = newPasswords();
  const created = await up(first);
  assert.equal(created.code, 0, created.output);
  await as(names.owner, first.owner, [
    `ALTER DATABASE ${db} SET search_path = public, pg_catalog`,
    `CREATE FUNCTION public.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
       BEGIN EXECUTE 'ALTER ROLE piyasa_user SUPERUSER'; RETURN true; EXCEPTION WHEN insufficient_privilege THEN RETURN true; END $$`,
    "CREATE VIEW public.pg_roles AS SELECT * FROM pg_catalog.pg_roles WHERE public.escalate()",
    "CREATE VIEW public.pg_auth_members AS SELECT * FROM pg_catalog.pg_auth_members WHERE public.escalate()",
  ]);
  assert.equal(await isSuper(), false);

  const second = newPasswords();
  const rotated = await up(second);
  assert.equal(await isSuper(), false, "the owner did not become superuser");
  assert.equal(rotated.code, 0, rotated.output);
  for (const r of roles) {
    await as(names[r], second[r], ["SELECT 1"]);
    await assert.rejects(as(names[r], first[r], ["SELECT 1"]), /password authentication failed/, `${r}'s old password no longer works`);
  }

  // The trap was armed: a superuser session that trusts the database's search_path springs it.
  const naive = new pg.Client({ connectionString: pgs.url(db) });
  await naive.connect();
  await naive.query("SELECT count(*) FROM pg_roles");
  await naive.end();
  assert.equal(await isSuper(), true, "the trojan escalates a naive superuser session");
  await pgs.query("ALTER ROLE piyasa_user NOSUPERUSER");
});

test("no password reaches the server log or Pulumi's output", async () => {
  await logCaughtUp(pgs, () => serverLog);
  assert.ok(/statement: ALTER DATABASE piyasa_db SET search_path/.test(serverLog), "the server logs statements (a leak would show)");
  assert.equal(everyPassword.length, 8);
  for (const p of everyPassword) {
    assert.ok(!serverLog.includes(p), "a password is in the server log");
    assert.ok(!pulumiOutput.includes(p), "a password is in Pulumi's output");
  }
  assert.ok(!/SCRAM-SHA-256\$/.test(serverLog), "no verifier in the server log");
});
