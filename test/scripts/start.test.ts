// The README's first command on a fresh clone: `npm start` installs what it
// needs, starts PostgreSQL 16, makes the sample database, previews and applies
// the local stack, and sums up; a second run changes nothing.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { repoRoot } from "../helpers/pulumi";
import { createSampleAppDb } from "../../scripts/sample-app-db";

const clone = join(mkdtempSync(join(tmpdir(), "pgshift-clone-")), "pgshift");
execFileSync("git", ["clone", "-q", repoRoot, clone]);

after(() => {
  spawnSync("npm", ["run", "stop"], { cwd: clone, stdio: "ignore" });
  rmSync(join(clone, ".."), { recursive: true, force: true });
});

function cloneEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // Only the clone's own toolchain and state may be used.
  for (const k of ["PULUMI_HOME", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"]) delete env[k];
  // The clone is not beside ../shared: point setup at the postgresql plugin's source as .ci/run does.
  env.PGSHIFT_POSTGRESQL_PLUGIN_SRC ??= join(repoRoot, "..", "shared", "vendor", "pulumi-postgresql-3.18.0-src.tar.gz");
  return env;
}

function npmStart(args: string[] = []): { status: number | null; stdout: string; stderr: string } {
  return spawnSync("npm", ["start", ...(args.length ? ["--", ...args] : [])], { cwd: clone, env: cloneEnv(), encoding: "utf8", maxBuffer: 64 << 20 });
}

test("npm start on a fresh clone runs the whole local job; a second run is a no-op", async () => {
  const first = npmStart();
  assert.equal(first.status, 0, first.stderr.slice(-4000) + first.stdout.slice(-4000));
  const out = first.stdout;
  assert.match(out, /Copied 7 tables, \d+ rows — verification passed: every row matches\./);
  assert.match(out, /Kubernetes manifests: .*out\/manifests/);
  assert.match(out, /psql -h 127\.0\.0\.1 -p \d+ -U piyasa_app piyasa_db/);
  assert.match(out, /pulumi -- up --stack dev/);
  assert.match(out, /stack history/);
  // Pulumi's compact preview, not a page of property diffs per resource (what --diff prints).
  assert.doesNotMatch(out, /\[urn=urn:pulumi:/);
  for (const phase of ["phase 1/5", "phase 2/5", "phase 3/5", "phase 4/5", "phase 5/5"]) assert.ok(first.stderr.includes(phase), phase);
  assert.ok(
    readdirSync(join(clone, "out", "manifests"), { recursive: true })
      .map(String)
      .some((f) => f.includes("statefulset")),
  );
  assert.equal(execFileSync("git", ["status", "--porcelain"], { cwd: clone, encoding: "utf8" }).trim(), "", "the clone's tracked files are untouched");

  // The data in PostgreSQL equals the sample database, table by table.
  const port = Number(readFileSync(join(clone, ".local", "postgres", "port"), "utf8"));
  const password = readFileSync(join(clone, ".local", "postgres", "superuser-password"), "utf8").trim();
  const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password, database: "piyasa_db" });
  await client.connect();
  const src = new Database(join(clone, ".local", "app.db"), { readonly: true });
  try {
    for (const t of ["bots", "chats", "messages", "settings", "bot_stances", "bot_holdings", "api_users"]) {
      const n = (src.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
      const r = await client.query(`SELECT count(*)::int AS n FROM public.${t}`);
      assert.equal(r.rows[0].n, n, t);
    }
  } finally {
    src.close();
    await client.end();
  }

  const second = npmStart();
  assert.equal(second.status, 0, second.stderr.slice(-3000));
  assert.match(second.stdout, /Nothing changed: PostgreSQL was already level with the SQLite database/);
  assert.ok(existsSync(join(clone, ".pulumi-state", "passphrase")));

  // Then one's own database: it just works, next to the sample's data.
  const mine = join(clone, "..", "my.db");
  createSampleAppDb(mine, { messages: 42 });
  const own = npmStart(["--sqlite", mine]);
  assert.equal(own.status, 0, own.stderr.slice(-4000) + own.stdout.slice(-2000));
  const dbName = /-U piyasa_app (\S+)$/m.exec(own.stdout)?.[1];
  assert.ok(dbName && dbName !== "piyasa_db" && dbName.startsWith("my_"), `a database of its own: ${dbName}`);
  const check = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password, database: dbName });
  await check.connect();
  try {
    assert.equal((await check.query("SELECT count(*)::int AS n FROM public.messages")).rows[0].n, 42);
  } finally {
    await check.end();
  }

  // `yes | npm run clean` is a yes.
  const clean = spawnSync("sh", ["-c", "yes | npm run -s clean"], { cwd: clone, env: cloneEnv(), encoding: "utf8" });
  assert.equal(clean.status, 0, clean.stdout + clean.stderr);
  assert.equal(existsSync(join(clone, ".local")), false);
});
