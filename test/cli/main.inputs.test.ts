// The CLI on inputs that are not what the user meant: a --to URL without a
// password, an empty SQLite file (a mistyped path makes one), a directory.
// Each fails at once with exit 2, naming what to do.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { hostileFile } from "../helpers/hostile-sqlite";
import { sqliteFile } from "../helpers/sqlite";

const bin = resolve(__dirname, "..", "..", "bin", "pgshift.js");
let pg: TestPostgres;
before(async () => {
  pg = await startPostgres();
});
after(async () => pg?.stop());

/** The CLI with no password anywhere but where the test puts it: no PGPASSWORD, a HOME without .pgpass. */
const run = (args: string[], env: Record<string, string> = {}) => {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "PGPASSWORD" && k !== "PGPASSFILE"));
  return spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { ...clean, HOME: mkdtempSync(join(tmpdir(), "pgshift-home-")), ...env },
    timeout: 120_000,
  });
};
const small = () => sqliteFile((db) => db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items VALUES (1, 'a')"));

test("a --to URL without a password fails at once, naming where the password goes", async () => {
  const url = await pg.createDatabase();
  const withoutPassword = url.replace(/:[^:@/]+@/, "@");
  assert.notEqual(withoutPassword, url);
  const started = Date.now();
  const r = run(["migrate", "--from", small(), "--to", withoutPassword]);
  const ms = Date.now() - started;
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /asks user "postgres" for a password, and none was given/);
  assert.match(r.stderr, /--to URL \(postgres:\/\/postgres:PASSWORD@127\.0\.0\.1:\d+\//);
  assert.match(r.stderr, /PGPASSWORD/);
  assert.ok(ms < 30_000, `failed after ${ms} ms, not after the server's authentication timeout`);
  // The places it names do supply it.
  assert.equal(run(["migrate", "--from", small(), "--to", withoutPassword], { PGPASSWORD: pg.password }).status, 0);
  const home = mkdtempSync(join(tmpdir(), "pgshift-home-"));
  writeFileSync(join(home, ".pgpass"), `127.0.0.1:${pg.port}:*:postgres:${pg.password}\n`, { mode: 0o600 });
  const viaPgpass = spawnSync(process.execPath, [bin, "verify", "--from", small(), "--to", withoutPassword], {
    encoding: "utf8",
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "PGPASSWORD" && k !== "PGPASSFILE")), HOME: home },
  });
  assert.notEqual(viaPgpass.status, 2, `~/.pgpass supplies it: ${viaPgpass.stderr}`);
});

test("an empty source (0 bytes, or no tables) exits 2 saying it holds no tables, unless --allow-empty", async () => {
  const url = await pg.createDatabase();
  const zero = hostileFile("empty");
  const noTables = sqliteFile((db) => db.pragma("user_version = 7"));
  for (const [file, what] of [
    [zero, /holds no tables \(it is an empty, 0-byte file\)/],
    [noTables, /holds no tables/],
  ] as const) {
    for (const command of ["plan", "migrate", "verify"]) {
      const r = run([command, "--from", file, ...(command === "plan" ? [] : ["--to", url])], { PGPASSWORD: pg.password });
      assert.equal(r.status, 2, `${command}: ${r.stderr}`);
      assert.match(r.stderr, what);
      assert.match(r.stderr, /--allow-empty/);
    }
    const allowed = run(["migrate", "--from", file, "--to", url, "--allow-empty", "--json"]);
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.deepEqual(JSON.parse(allowed.stdout).tables, []);
  }
});

test("a directory as --from says so, and names the database files in it", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-dir-"));
  new Database(join(dir, "app.db")).close();
  const r = run(["plan", "--from", dir]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /is a directory, not a SQLite database file/);
  assert.match(r.stderr, /app\.db/);
  assert.doesNotMatch(r.stderr, /disk I\/O error/);
});
