// `npm run pulumi -- <any command> --stack local` acts on the settings `npm start`
// used (.local/Pulumi.local.yaml), not on the committed Pulumi.local.yaml; and the
// manifests the local stack renders into out/ hold no password. On a clone, so the
// developer's own local stack is never touched.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../helpers/pulumi";

const clone = join(mkdtempSync(join(tmpdir(), "pgshift-clone-")), "pgshift");
execFileSync("git", ["clone", "-q", repoRoot, clone]);
// The same dependencies, C extensions and built toolchain: what is tested is the scripts, not the install.
symlinkSync(join(repoRoot, "node_modules"), join(clone, "node_modules"));
symlinkSync(join(repoRoot, ".toolchain"), join(clone, ".toolchain"));
symlinkSync(join(repoRoot, "build"), join(clone, "build"));

after(() => {
  spawnSync("node", ["--import", "tsx", "scripts/local-postgres.ts", "stop"], { cwd: clone, stdio: "ignore" });
  rmSync(join(clone, ".."), { recursive: true, force: true });
});

// Only the clone's own state and passphrase may be used.
const env = { ...process.env };
for (const k of ["PULUMI_HOME", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"]) delete env[k];

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: clone, env, encoding: "utf8", maxBuffer: 64 << 20 });
/** What `npm run pulumi -- <args>` runs. */
const pulumi = (...args: string[]) => run("bash", ["scripts/pulumi.sh", ...args]);
const ok = (r: ReturnType<typeof run>) => {
  assert.equal(r.status, 0, (r.stderr ?? "").slice(-4000) + (r.stdout ?? "").slice(-4000));
  return r.stdout;
};
const gitStatus = () => execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: clone, encoding: "utf8" }).trim();

function renderedFiles(): string[] {
  const dir = join(clone, "out");
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => join(dir, f));
}

test("after npm start, `npm run pulumi` on the local stack uses the same settings: no changes, same port, template untouched", () => {
  ok(run("node", ["--import", "tsx", "scripts/start.ts"]));
  const port = readFileSync(join(clone, ".local", "postgres", "port"), "utf8").trim();

  // The failure: with the committed file, this preview replaced the superuser Secret and pointed at port 5432.
  ok(pulumi("preview", "--stack", "local", "--expect-no-changes"));
  assert.equal(ok(pulumi("config", "get", "--path", "pgshift:connection.port", "--stack", "local")).trim(), port);
  // npm start selected the stack: a command naming none acts on it the same way.
  assert.equal(ok(pulumi("config", "get", "--path", "pgshift:connection.port")).trim(), port);
  assert.equal(gitStatus(), "", "the committed files are untouched");

  // No rendered file holds a password, as text or as Kubernetes' base64.
  const superuser = readFileSync(join(clone, ".local", "postgres", "superuser-password"), "utf8").trim();
  const app = ok(pulumi("stack", "output", "--show-secrets", "appPassword", "--stack", "local")).trim();
  assert.ok(superuser.length >= 16 && app.length >= 16);
  const files = renderedFiles();
  assert.ok(
    files.some((f) => /v1-secret-/.test(f)),
    "the Secrets are rendered",
  );
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    for (const pw of [superuser, app]) {
      assert.ok(!text.includes(pw) && !text.includes(Buffer.from(pw).toString("base64")), `${f} holds a password`);
    }
    if (/^kind: Secret$/m.test(text)) assert.doesNotMatch(text, /^(data|stringData):/m, `${f}: a Secret rendered with its values`);
  }
});

test("stack rm and stack init of the local stack leave the committed Pulumi.local.yaml as it is", () => {
  ok(pulumi("stack", "rm", "local", "--yes", "--force"));
  assert.equal(gitStatus(), "", "the committed files are untouched");
  assert.equal(existsSync(join(clone, ".local", "Pulumi.local.yaml")), false, "the removed stack's settings went with it");
  ok(pulumi("stack", "init", "local", "--secrets-provider", "passphrase"));
  assert.equal(gitStatus(), "", "the committed files are untouched");
  assert.match(readFileSync(join(clone, ".local", "Pulumi.local.yaml"), "utf8"), /^encryptionsalt: /m);
});
