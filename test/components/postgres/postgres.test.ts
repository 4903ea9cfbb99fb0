// components/postgres/postgres.sh, the `postgres` first on the database
// container's PATH, run for real: what the image's entrypoint does with
// POSTGRES_PASSWORD_FILE (read it, export POSTGRES_PASSWORD, exec postgres) is
// played by a small stand-in, and the "server" records the environment it got.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const shim = join(__dirname, "..", "..", "..", "components", "postgres", "postgres.sh");

function setup() {
  const root = mkdtempSync(join(tmpdir(), "pgshift-shim-"));
  const shimDir = join(root, "opt-pgshift-bin");
  const realDir = join(root, "usr-local-bin");
  for (const d of [shimDir, realDir]) spawnSync("mkdir", ["-p", d]);
  copyFileSync(shim, join(shimDir, "postgres"));
  spawnSync("chmod", ["0555", join(shimDir, "postgres")]);
  writeFileSync(join(realDir, "postgres"), `#!/bin/sh\nenv > "${root}/environ"\necho "$@" > "${root}/args"\n`, { mode: 0o755 });
  writeFileSync(join(root, "password"), "s3cret-superuser-password");
  // What docker-entrypoint.sh does: file_env, then `exec "$@"`.
  writeFileSync(join(root, "entrypoint.sh"), `#!/bin/sh\nexport POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"\nunset POSTGRES_PASSWORD_FILE\nexec "$@"\n`, { mode: 0o755 });
  const run = (path: string) => {
    const r = spawnSync("sh", [join(root, "entrypoint.sh"), "postgres", "-c", "config_file=/etc/postgresql/conf/postgresql.conf"], {
      env: { PATH: `${path}:/usr/bin:/bin`, POSTGRES_PASSWORD_FILE: join(root, "password"), PGPASSWORD: "also-gone" },
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    return { environ: readFileSync(join(root, "environ"), "utf8"), args: readFileSync(join(root, "args"), "utf8").trim() };
  };
  return { shimDir, realDir, run };
}

test("without the shim the server inherits the superuser password from the entrypoint (the finding)", () => {
  const { realDir, run } = setup();
  assert.match(run(realDir).environ, /^POSTGRES_PASSWORD=s3cret-superuser-password$/m);
});

test("with the shim first on PATH the real server starts with the same arguments and without the password", () => {
  const { shimDir, realDir, run } = setup();
  const { environ, args } = run(`${shimDir}:${realDir}`);
  assert.doesNotMatch(environ, /s3cret-superuser-password|POSTGRES_PASSWORD|also-gone/);
  assert.equal(args, "-c config_file=/etc/postgresql/conf/postgresql.conf");
});

test("the shim fails clearly, never loops, when no other postgres is on PATH", () => {
  const { shimDir } = setup();
  const r = spawnSync("/bin/sh", [join(shimDir, "postgres")], { env: { PATH: `${shimDir}:/nonexistent` }, encoding: "utf8", timeout: 10_000 });
  assert.equal(r.status, 127, r.stderr);
  assert.match(r.stderr, /no postgres binary on PATH/);
  // Its own directory again under another spelling: caught instead of exec'ing itself forever.
  const again = spawnSync("/bin/sh", [join(shimDir, "postgres")], { env: { PATH: `${shimDir}:${shimDir}/.` }, encoding: "utf8", timeout: 10_000 });
  assert.equal(again.status, 127, again.stderr);
  assert.match(again.stderr, /called itself/);
});
