// components/postgres/entrypoint.sh (the database container's command) and
// postgres.sh (the `postgres` it puts first on the image's PATH), run for
// real: what the image's entrypoint does with POSTGRES_PASSWORD_FILE (read it,
// export POSTGRES_PASSWORD, exec postgres) is played by a small stand-in on
// the image's PATH, and the "server" records the environment it got.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const scripts = join(__dirname, "..", "..", "..", "components", "postgres");

function setup() {
  const root = mkdtempSync(join(tmpdir(), "pgshift-shim-"));
  const shimDir = join(root, "opt-pgshift-bin");
  const realDir = join(root, "usr-local-bin");
  for (const d of [shimDir, realDir]) spawnSync("mkdir", ["-p", d]);
  // As the ConfigMap volume mounts them (items entrypoint.sh → entrypoint, postgres.sh → postgres, mode 0555).
  copyFileSync(join(scripts, "postgres.sh"), join(shimDir, "postgres"));
  copyFileSync(join(scripts, "entrypoint.sh"), join(shimDir, "entrypoint"));
  spawnSync("chmod", ["0555", join(shimDir, "postgres"), join(shimDir, "entrypoint")]);
  writeFileSync(join(realDir, "postgres"), `#!/bin/sh\nenv > "${root}/environ"\necho "$@" > "${root}/args"\n`, { mode: 0o755 });
  writeFileSync(join(root, "password"), "s3cret-superuser-password");
  // What the image's docker-entrypoint.sh does: "-c …" becomes "postgres -c …", file_env, then `exec "$@"`.
  writeFileSync(
    join(realDir, "docker-entrypoint.sh"),
    `#!/bin/sh\ncase "$1" in -*) set -- postgres "$@" ;; esac\nexport POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"\nunset POSTGRES_PASSWORD_FILE\nexec "$@"\n`,
    { mode: 0o755 },
  );
  // The container: the image's PATH (realDir), its command either the image's entrypoint or pgshift's wrapper.
  const run = (command: string) => {
    const r = spawnSync("/bin/sh", [command, "-c", "config_file=/etc/postgresql/conf/postgresql.conf"], {
      env: { PATH: `${realDir}:/usr/bin:/bin`, POSTGRES_PASSWORD_FILE: join(root, "password"), PGPASSWORD: "also-gone" },
      encoding: "utf8",
      timeout: 10_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return { environ: readFileSync(join(root, "environ"), "utf8"), args: readFileSync(join(root, "args"), "utf8").trim() };
  };
  return { shimDir, realDir, run };
}

test("with the image's entrypoint alone the server inherits the superuser password (the finding)", () => {
  const { realDir, run } = setup();
  assert.match(run(join(realDir, "docker-entrypoint.sh")).environ, /^POSTGRES_PASSWORD=s3cret-superuser-password$/m);
});

test("through pgshift's wrapper the real server starts with the same arguments, on the image's PATH, without the password", () => {
  const { shimDir, realDir, run } = setup();
  const { environ, args } = run(join(shimDir, "entrypoint"));
  assert.match(environ, new RegExp(`^PATH=${shimDir}:${realDir}:`, "m"), "the image's PATH, the shim's directory first");
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
