// A stack brought up by the code before @pulumi/postgresql (roles and grants
// as pgshift's own dynamic resources) moves to the postgresql resources in one
// update: the roles are taken over (import), the old resources leave the state
// without touching a role, and the app role reads and writes throughout.
// The old code is this repository's last commit that had them; the new one is
// HEAD, checked out over it in the same directory, as `git pull` would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { appLoop } from "../helpers/roles";
import { pulumiWorkspace, repoRoot, type PulumiWorkspace } from "../helpers/pulumi";

const git = (args: string[], cwd = repoRoot) => execFileSync("git", args, { cwd, encoding: "utf8" }).trim();
const newCommit = git(["rev-parse", "HEAD"]);
// The commit that retired the dynamic role resource; the one before it still had it.
const retiredIn = git(["rev-list", "-1", "HEAD", "--", "src/provider/postgres-role.ts"]);
const oldCommit = git(["rev-parse", `${retiredIn}^`]);

const work = mkdtempSync(join(tmpdir(), "pgshift-roles-upgrade-"));
const clone = join(work, "pgshift");
const stack = `upgrade${process.pid}`;
const db = "piyasa_db";
const roles = ["owner", "app", "monitor", "backup"] as const;
const names = { owner: "piyasa_user", app: "piyasa_app", monitor: "piyasa_monitor", backup: "piyasa_backup" };
const passwords = Object.fromEntries(roles.map((r) => [r, "p" + randomBytes(24).toString("base64url")])) as Record<(typeof roles)[number], string>;
let pgs: TestPostgres;
let ws: PulumiWorkspace;

const connect = async (role: (typeof roles)[number]) => {
  const c = new pg.Client({ host: "127.0.0.1", port: pgs.port, user: names[role], password: passwords[role], database: db });
  c.on("error", () => {});
  await c.connect();
  return c;
};

const typesInState = async () =>
  (
    JSON.parse((await ws.run(["stack", "export", "--stack", stack])).stdout) as { deployment: { resources: { type: string; urn: string }[] } }
  ).deployment.resources.map((r) => `${r.type} ${r.urn.split("::").pop()}`);

before(async () => {
  assert.notEqual(oldCommit, newCommit);
  git(["clone", "-q", "--no-checkout", repoRoot, clone], work);
  git(["checkout", "-q", oldCommit], clone);
  symlinkSync(join(repoRoot, "node_modules"), join(clone, "node_modules"));
  pgs = await startPostgres();
  await pgs.query(`CREATE DATABASE ${db}`);
  ws = pulumiWorkspace(join(clone, "test", "fixtures", "roles"));
  await ws.run(["stack", "init", stack, "--secrets-provider", "passphrase"]);
  await ws.run(["config", "set", "database", db, "--stack", stack]);
  await ws.run(["config", "set", "--secret", "adminUrl", pgs.url(db), "--stack", stack]);
  for (const r of roles) await ws.run(["config", "set", "--secret", `${r}Password`, passwords[r], "--stack", stack]);
});
after(async () => {
  await ws?.run(["stack", "rm", "--yes", "--force", stack], { allowFailure: true });
  if (ws) rmSync(ws.backendDir, { recursive: true, force: true });
  await pgs?.stop();
  rmSync(work, { recursive: true, force: true });
});

test("an update from the previous code's state takes the roles over; the app reads and writes throughout", async () => {
  const old = await ws.run(["up", "--yes", "--skip-preview", "--stack", stack], { allowFailure: true });
  assert.equal(old.code, 0, old.stdout + old.stderr);
  assert.ok((await typesInState()).includes("pulumi-nodejs:dynamic:Resource roles-app"), "the old code made the app role a dynamic resource");
  const owner = await connect("owner");
  await owner.query("CREATE TABLE public.messages (id serial PRIMARY KEY, body text)");
  await owner.end();

  const app = await connect("app");
  // A new login every tenth round as well: the role keeps LOGIN and its password.
  const loop = appLoop(app, "public.messages", async () => (await connect("app")).end());
  let result = { rounds: 0, failures: ["not stopped"] };
  try {
    git(["checkout", "-q", newCommit], clone);
    const upgraded = await ws.run(["up", "--yes", "--skip-preview", "--stack", stack], { allowFailure: true });
    assert.equal(upgraded.code, 0, upgraded.stdout + upgraded.stderr);
    assert.match(upgraded.stdout, /4 imported|imported/);
  } finally {
    result = await loop.stop();
    await app.end();
  }
  assert.deepEqual(result.failures, [], "the app's statements all succeeded through the update");
  assert.ok(result.rounds > 20, `the loop ran (${result.rounds} rounds)`);

  const types = await typesInState();
  for (const r of roles) assert.ok(types.includes(`postgresql:index/role:Role roles-${r}`), types.join("\n"));
  assert.deepEqual(
    types.filter((t) => t.startsWith("pulumi-nodejs:dynamic:Resource")),
    ["pulumi-nodejs:dynamic:Resource roles-admin-session"],
    "the old role and grant resources left the state",
  );
  const login = await pgs.query<{ rolname: string; rolcanlogin: boolean }>("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'piyasa%' ORDER BY 1");
  assert.deepEqual(
    login.map((r) => r.rolcanlogin),
    [true, true, true, true],
    JSON.stringify(login),
  );
  for (const r of roles) await (await connect(r)).end();

  const again = await ws.run(["up", "--yes", "--skip-preview", "--expect-no-changes", "--stack", stack], { allowFailure: true });
  assert.equal(again.code, 0, again.stdout + again.stderr);
});
