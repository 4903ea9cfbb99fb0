// toolchain/images: build.sh makes the six images as OCI layout tarballs
// (cold, then warm with nothing rewritten), importImages loads them into a
// containerd the test starts, and a container runs from each: the pause
// sandbox, the busybox app with sqlite3, the exporter against the database
// image, and PostgreSQL 15 under the official image's entrypoint contract as a
// uid with no passwd entry on a read-only root — plus the backup Job's scripts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { AddressInfo, createServer } from "node:net";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildImage } from "../../../toolchain/images/build";
import { importImages, listImages, readImageManifest, tarballDigest } from "../../../toolchain/images/images";
import { recipes } from "../../../toolchain/images/recipes";
import { readTarMember } from "../../../toolchain/images/tar";
import { startContainerd, TestContainerd } from "../../helpers/containerd";
import { SHIM_DIR, SUPERUSER_SECRET_MOUNT } from "../../../components/defaults";
import { freePort } from "../../helpers/postgres";
import { runProcess } from "../../helpers/process";
import { repoRoot } from "../../helpers/pulumi";

const REFS = [
  "pgshift.local/pause:3.10",
  "pgshift.local/app:busybox",
  "pgshift.local/postgres:15",
  "pgshift.local/postgres-exporter:debian",
  // CloudNativePG's operator (the manager toolchain/cnpg/build.sh built) and the PostgreSQL image its Clusters run
  "pgshift.local/cloudnative-pg:1.28.0",
  "pgshift.local/cnpg-postgres:15",
];
const PSQL = "/usr/lib/postgresql/15/bin/psql";

let work: string;
let imagesDir: string;
let manifestPath: string;
let ctrd: TestContainerd;
let coldSeconds = 0;

async function buildSh(): Promise<{ seconds: number; stderr: string }> {
  const t0 = Date.now();
  const r = await runProcess("bash", [join(repoRoot, "toolchain/images/build.sh")], { env: { ...process.env, PGSHIFT_IMAGES_DIR: imagesDir } });
  return { seconds: (Date.now() - t0) / 1000, stderr: r.stderr };
}

function member(tarball: string, name: string): Buffer {
  const fd = openSync(tarball, "r");
  try {
    const m = readTarMember(fd, name);
    assert.ok(m, `${tarball} has no ${name}`);
    return m;
  } finally {
    closeSync(fd);
  }
}

/** psql on the host against a container's server (execFile: no stdin to race a fast failure). */
function psqlAt(port: number, sql: string, db: string, user: string, password: string): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) =>
    execFile(
      PSQL,
      ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", db, "-c", sql],
      { env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "3" } },
      (err, stdout, stderr) => (err ? reject(new Error(`psql ${db} as ${user}: ${stderr || err.message}`)) : resolve({ stdout })),
    ),
  );
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "pgs-images-"));
  chmodSync(work, 0o755);
  imagesDir = join(work, "images");
  manifestPath = join(imagesDir, "manifest.json");
  coldSeconds = (await buildSh()).seconds;
  ctrd = await startContainerd();
});

after(async () => {
  await ctrd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("build.sh", () => {
  test("writes one OCI layout tarball per image, every blob named by its sha256", () => {
    const manifest = readImageManifest(manifestPath);
    assert.deepEqual(Object.keys(manifest).sort(), [...REFS].sort());
    for (const ref of REFS) {
      const tarball = manifest[ref]!;
      assert.deepEqual(JSON.parse(member(tarball, "oci-layout").toString()), { imageLayoutVersion: "1.0.0" });
      const index = JSON.parse(member(tarball, "index.json").toString()) as { manifests: { digest: string; annotations: Record<string, string> }[] };
      assert.equal(index.manifests.length, 1);
      assert.equal(index.manifests[0]!.annotations["io.containerd.image.name"], ref);
      const blob = (digest: string) => {
        const b = member(tarball, `blobs/sha256/${digest.slice(7)}`);
        assert.equal(sha(b), digest, `${ref}: blob ${digest} does not hash to its name`);
        return b;
      };
      const m = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] };
      const config = JSON.parse(blob(m.config.digest).toString()) as { os: string; architecture: string; rootfs: { diff_ids: string[] } };
      assert.equal(m.layers.length, 1);
      blob(m.layers[0]!.digest);
      assert.deepEqual(config.rootfs.diff_ids, [m.layers[0]!.digest]);
      assert.equal(`${config.os}/${config.architecture}`, "linux/amd64");
      console.log(`# ${ref}: ${(statSync(tarball).size / 1048576).toFixed(1)} MiB`);
    }
    console.log(`# cold build.sh: ${coldSeconds.toFixed(1)}s`);
  });

  test("a second run rewrites nothing", async () => {
    const manifest = readImageManifest(manifestPath);
    const before = Object.fromEntries(REFS.map((r) => [r, statSync(manifest[r]!).mtimeMs]));
    const warm = await buildSh();
    console.log(`# warm build.sh: ${warm.seconds.toFixed(1)}s`);
    assert.equal((warm.stderr.match(/: up to date in/g) ?? []).length, REFS.length, warm.stderr);
    assert.doesNotMatch(warm.stderr, /: built in/);
    const after = readImageManifest(manifestPath);
    assert.deepEqual(after, manifest);
    for (const r of REFS) assert.equal(statSync(after[r]!).mtimeMs, before[r], `${r} was rewritten`);
  });

  test("the tarball is named by content: the same inputs give the same bytes, a changed input another tarball", () => {
    const manifest = readImageManifest(manifestPath);
    const recipe = recipes.find((r) => r.ref === "pgshift.local/app:busybox")!;
    const ctx = { repoRoot, toolsDir: join(imagesDir, "work") };
    const elsewhere = join(work, "again");
    mkdirSync(elsewhere);
    const again = buildImage(recipe, ctx, elsewhere);
    assert.equal(again.built, true);
    assert.ok(readFileSync(again.path).equals(readFileSync(manifest[recipe.ref]!)), "a rebuild of the same inputs differs");
    const changed = buildImage({ ...recipe, config: { ...recipe.config, Env: [...recipe.config.Env, "CHANGED=1"] } }, ctx, elsewhere);
    assert.notEqual(changed.manifestDigest, again.manifestDigest);
    assert.notEqual(changed.path, again.path);
  });

  test("a warm run assembles nothing; a changed file under toolchain/images, or a missing tarball, makes it look again", () => {
    const fakeRoot = join(work, "repo");
    cpSync(join(repoRoot, "toolchain/images"), join(fakeRoot, "toolchain/images"), { recursive: true });
    const recipe = recipes.find((r) => r.ref === "pgshift.local/app:busybox")!;
    const ctx = { repoRoot: fakeRoot, toolsDir: join(imagesDir, "work") };
    const out = join(work, "keyed");
    mkdirSync(out);
    const first = buildImage(recipe, ctx, out);
    assert.deepEqual([first.checked, first.built], ["content", true]);
    const second = buildImage(recipe, ctx, out);
    assert.deepEqual([second.checked, second.built, second.manifestDigest], ["inputs", false, first.manifestDigest]);
    appendFileSync(join(fakeRoot, "toolchain/images/postgres/docker-entrypoint.sh"), "\n# changed\n");
    const third = buildImage(recipe, ctx, out);
    // The app image holds no entrypoint: assembled again, same digest, tarball kept.
    assert.deepEqual([third.checked, third.built, third.manifestDigest], ["content", false, first.manifestDigest]);
    rmSync(first.path);
    const fourth = buildImage(recipe, ctx, out);
    assert.deepEqual([fourth.checked, fourth.built, fourth.path], ["content", true, first.path]);
  });
});

describe("importImages", () => {
  test("imports each image once, at the digest its tarball names", () => {
    const first = importImages(ctrd.address, ctrd.namespace, { manifestPath });
    assert.deepEqual(
      first.map((i) => [i.ref, i.imported]),
      REFS.map((r) => [r, true]),
    );
    const present = listImages(ctrd.address, ctrd.namespace);
    const manifest = readImageManifest(manifestPath);
    for (const ref of REFS) assert.equal(present.get(ref), tarballDigest(ref, manifest[ref]!));
    const second = importImages(ctrd.address, ctrd.namespace, { manifestPath });
    assert.deepEqual(
      second.map((i) => i.imported),
      REFS.map(() => false),
    );
  });

  test("a ref the manifest lacks is an error naming it", () => {
    assert.throws(
      () => importImages(ctrd.address, ctrd.namespace, { manifestPath, refs: ["pgshift.local/nope:1"] }),
      /pgshift\.local\/nope:1: not in .*manifest\.json/,
    );
  });
});

describe("containers", () => {
  before(() => importImages(ctrd.address, ctrd.namespace, { manifestPath }));

  test("pause runs until SIGTERM and then exits 0", async () => {
    const c = await ctrd.start("pgshift.local/pause:3.10", "pause-1", ["--read-only"]);
    await new Promise((r) => setTimeout(r, 500));
    const ls = await ctrd.ctr(["tasks", "ls"]);
    assert.match(ls.stdout, /^pause-1\s+\d+\s+RUNNING/m);
    await ctrd.ctr(["tasks", "kill", "-s", "SIGTERM", "pause-1"]);
    let status = "";
    for (let i = 0; i < 50 && !/STOPPED/.test(status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await ctrd.ctr(["tasks", "ls"])).stdout;
    }
    assert.match(status, /^pause-1\s+\d+\s+STOPPED/m, "pause ignored SIGTERM");
    await c.stop();
  });

  test("the app image has a shell, env, wget, nc (with -z) and the sqlite3 CLI", async () => {
    const listener = createServer((c) => c.end());
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    const open = (listener.address() as AddressInfo).port;
    const closed = await freePort();
    const script = [
      "set -e",
      "env | grep -q '^PATH='",
      "sqlite3 /tmp/app.db 'CREATE TABLE t(a); INSERT INTO t VALUES (1),(2);'",
      "sqlite3 /tmp/app.db '.backup /tmp/snap.db'",
      "echo rows=$(sqlite3 /tmp/snap.db 'SELECT count(*) FROM t')",
      "wget --help 2>&1 | grep -q 'Usage: wget'",
      `nc -z -w 5 127.0.0.1 ${open} && echo port-open`,
      `nc -z -w 5 127.0.0.1 ${closed} || echo port-closed`,
      // busybox alone on PATH=/bin (test/kube/pod-sqlite.test.ts relies on it for an image without sqlite3)
      "PATH=/bin; command -v sqlite3 && exit 1",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "pwd",
    ].join("\n");
    const r = await ctrd.run("pgshift.local/app:busybox", "app-1", ["--net-host"], ["sh", "-c", script]).finally(() => listener.close());
    assert.match(r.stdout, /rows=2/);
    assert.match(r.stdout, /^port-open$/m);
    assert.match(r.stdout, /^port-closed$/m);
    assert.match(r.stdout, /^\/app$/m);
  });

  test("the exporter image reports its version", async () => {
    const r = await ctrd.run("pgshift.local/postgres-exporter:debian", "exporter-version", ["--read-only"], ["/bin/postgres_exporter", "--version"]);
    assert.match(r.stdout + r.stderr, /postgres_exporter, version 0\.11\.1/);
  });

  test("the CloudNativePG operator image runs its manager as uid 10001, and its bootstrap copies the manager out", async () => {
    const version = await ctrd.run("pgshift.local/cloudnative-pg:1.28.0", "cnpg-version", ["--read-only"], ["/manager", "version"]);
    assert.match(version.stdout + version.stderr, /Version:1\.28\.0/);
    // What each PostgreSQL pod's bootstrap-controller init container runs: the manager copies itself into the
    // shared volume, as the image's user. (The image has no shell, like upstream's.)
    const controller = join(work, "controller");
    mkdirSync(controller);
    chmodSync(controller, 0o777);
    const mount = ["--mount", `type=bind,src=${controller},dst=/controller,options=rbind:rw`];
    await ctrd.run("pgshift.local/cloudnative-pg:1.28.0", "cnpg-bootstrap", ["--read-only", ...mount], ["/manager", "bootstrap", "/controller/manager"]);
    const copied = statSync(join(controller, "manager"));
    assert.equal(`${copied.uid}:${copied.gid}`, "10001:10001");
    assert.ok(copied.mode & 0o100, "the copy is executable");
    assert.ok(
      readFileSync(join(controller, "manager")).equals(readFileSync(join(repoRoot, ".toolchain/bin/cnpg-manager"))),
      "the copy is the manager toolchain/cnpg/build.sh built",
    );
  });

  test("the CloudNativePG PostgreSQL image: postgres is uid 26, and what the instance manager calls is on PATH", async () => {
    const tools = ["initdb", "pg_ctl", "postgres", "pg_basebackup", "pg_rewind", "pg_controldata", "pg_isready", "psql", "pg_dump", "pg_restore"];
    const script = ["set -e", "id -un", "id -u", ...tools.map((t) => `command -v ${t}`), "postgres --version", "pg_controldata --version"].join("\n");
    const r = await ctrd.run("pgshift.local/cnpg-postgres:15", "cnpg-pg", ["--read-only"], ["/bin/sh", "-c", script]);
    const lines = r.stdout.trim().split("\n");
    assert.deepEqual(lines.slice(0, 2), ["postgres", "26"]);
    assert.deepEqual(
      lines.slice(2, 2 + tools.length),
      tools.map((t) => `/usr/local/bin/${t}`),
    );
    assert.match(r.stdout, /postgres \(PostgreSQL\) 15\./);
    assert.match(r.stdout, /pg_controldata \(PostgreSQL\) 15\./);
  });
});

describe("the postgres image", () => {
  let port: number;
  let data: string;
  let sock: string;
  let initdb: string;
  let secrets: string;
  let shim: string;
  let server: { log: () => string; stop: (signal?: string) => Promise<void> };
  const password = "pa ss'word$1";
  const psql = (sql: string, db = "appdb", user = "postgres", pw = password) => psqlAt(port, sql, db, user, pw);
  const waitReady = async (c: { log: () => string }) => {
    for (let i = 0; i < 300; i++) {
      const r = await psql("SELECT 1").catch(() => undefined);
      if (r?.stdout.trim() === "1") return;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`the server did not accept connections within 60s:\n${c.log()}`);
  };
  // runAsUser 4242 with no passwd entry, as a pod would; the root filesystem is read-only.
  const runArgs = (id: string) => [
    "--read-only",
    "--net-host",
    "--mount",
    `type=bind,src=${data},dst=/var/lib/postgresql/data,options=rbind:rw`,
    "--mount",
    `type=bind,src=${sock},dst=/var/run/postgresql,options=rbind:rw`,
    "--mount",
    `type=bind,src=${initdb},dst=/docker-entrypoint-initdb.d,options=rbind:ro`,
    // The StatefulSet's environment: the password as a mounted file; components/postgres/{entrypoint,postgres}.sh
    // mounted where the container's command (the wrapper) puts them first on the image's own PATH.
    "--mount",
    `type=bind,src=${secrets},dst=${SUPERUSER_SECRET_MOUNT},options=rbind:ro`,
    "--mount",
    `type=bind,src=${shim},dst=${SHIM_DIR},options=rbind:ro`,
    "--env",
    "POSTGRES_DB=appdb",
    "--env",
    `POSTGRES_PASSWORD_FILE=${SUPERUSER_SECRET_MOUNT}/password`,
    "--env",
    "PGDATA=/var/lib/postgresql/data/pgdata",
    "--env",
    "POSTGRES_INITDB_ARGS=--auth-host=scram-sha-256 --auth-local=scram-sha-256",
    "--label",
    `test=${id}`,
  ];
  const serverCommand = () => ["setuid", "4242:4242", `${SHIM_DIR}/entrypoint`, "postgres", "-p", String(port), "-c", "listen_addresses=127.0.0.1"];

  before(async () => {
    importImages(ctrd.address, ctrd.namespace, { manifestPath });
    port = await freePort();
    data = join(work, "data");
    sock = join(work, "sock");
    initdb = join(work, "initdb.d");
    secrets = join(work, "secrets");
    shim = join(work, "shim");
    for (const d of [data, sock, initdb, secrets, shim]) mkdirSync(d);
    chownSync(data, 4242, 4242);
    chmodSync(sock, 0o1777);
    writeFileSync(join(secrets, "password"), password);
    writeFileSync(join(shim, "postgres"), readFileSync(join(repoRoot, "components/postgres/postgres.sh")), { mode: 0o555 });
    writeFileSync(join(shim, "entrypoint"), readFileSync(join(repoRoot, "components/postgres/entrypoint.sh")), { mode: 0o555 });
    writeFileSync(
      join(initdb, "01-schema.sql"),
      "CREATE TABLE items (id int PRIMARY KEY, name text);\nINSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 250) g;\n",
    );
    // Not executable: sourced, so it sees the entrypoint's functions and variables.
    writeFileSync(
      join(initdb, "02-monitor.sh"),
      `process_sql --dbname "$POSTGRES_DB" -c "CREATE ROLE monitor LOGIN PASSWORD 'mon' IN ROLE pg_monitor; CREATE TABLE init_marker AS SELECT '$POSTGRES_USER'::text AS who"\n`,
      { mode: 0o644 },
    );
    writeFileSync(join(initdb, "03-ignored.txt"), "not a script\n");
    server = await ctrd.start("pgshift.local/postgres:15", "pg-1", runArgs("pg-1"), serverCommand());
    await waitReady(server);
  });

  test("initializes PGDATA as a uid with no passwd entry on a read-only root, and serves the configured database", async () => {
    const who = await psql(
      "SELECT current_user || ' ' || current_database() || ' ' || current_setting('data_directory') || ' ' || current_setting('password_encryption')",
    );
    assert.equal(who.stdout.trim(), "postgres appdb /var/lib/postgresql/data/pgdata scram-sha-256");
    const st = statSync(join(data, "pgdata", "PG_VERSION"));
    assert.equal(`${st.uid}:${st.gid}`, "4242:4242");
    assert.equal(statSync(join(data, "pgdata")).mode & 0o777, 0o700);
    assert.match(server.log(), /PostgreSQL init process complete; ready for start up/);
    // postgres.sh, put first on the image's PATH by the wrapper, took the server's place and dropped the password from its environment.
    const env = await ctrd.ctr([
      "tasks",
      "exec",
      "--exec-id",
      "environ",
      "pg-1",
      "setuid",
      "4242:4242",
      "sh",
      "-c",
      "tr '\\0' '\\n' < /proc/$(head -1 /var/lib/postgresql/data/pgdata/postmaster.pid)/environ",
    ]);
    assert.match(env.stdout, /^PGDATA=/m);
    assert.doesNotMatch(env.stdout, /POSTGRES_PASSWORD|PGPASSWORD/);
    const wrong = await psql("SELECT 1", "appdb", "postgres", "wrong").catch((e: Error) => e.message);
    assert.match(String(wrong), /password authentication failed/);
  });

  test("runs /docker-entrypoint-initdb.d: *.sql and sourced *.sh in order, other files ignored", async () => {
    assert.equal((await psql("SELECT count(*) FROM items")).stdout.trim(), "250");
    assert.equal((await psql("SELECT who FROM init_marker")).stdout.trim(), "postgres");
    assert.equal((await psql("SELECT 1", "appdb", "monitor", "mon")).stdout.trim(), "1");
    assert.match(server.log(), /ignoring \/docker-entrypoint-initdb\.d\/03-ignored\.txt/);
  });

  test("the manifests' probe command works inside the container", async () => {
    // The StatefulSet sets POSTGRES_USER from the superuser Secret.
    const probe = `POSTGRES_USER=postgres; pg_isready -U "$POSTGRES_USER" -d appdb -h 127.0.0.1 -p ${port}`;
    const r = await ctrd.ctr(["tasks", "exec", "--exec-id", "probe", "pg-1", "setuid", "4242:4242", "sh", "-c", probe]);
    assert.match(r.stdout, /accepting connections/);
  });

  test("the exporter image reports pg_up 1 as the monitor role", async () => {
    const metricsPort = await freePort();
    const exporter = await ctrd.start(
      "pgshift.local/postgres-exporter:debian",
      "exporter-1",
      ["--read-only", "--net-host", "--env", `DATA_SOURCE_NAME=postgresql://monitor:mon@127.0.0.1:${port}/appdb?sslmode=disable`],
      ["/bin/postgres_exporter", `--web.listen-address=127.0.0.1:${metricsPort}`],
    );
    try {
      let body = "";
      for (let i = 0; i < 50 && !/^pg_up 1$/m.test(body); i++) {
        await new Promise((r) => setTimeout(r, 200));
        body = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
          .then((r) => r.text())
          .catch(() => "");
      }
      assert.match(body, /^pg_up 1$/m, exporter.log());
      assert.match(body, /^pg_stat_database_numbackends\{/m);
      // The Deployment's readiness and liveness probes GET /.
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/`)).status, 200);
      // Runs as nobody, as the upstream image does.
      const ps = await ctrd.ctr(["tasks", "ps", "exporter-1"]);
      assert.ok(ps.stdout.trim().split("\n").length >= 2);
    } finally {
      await exporter.stop();
    }
  });

  test("the backup Job's scripts run in it: backup.sh writes a dump restore.sh restores with equal row counts", async () => {
    const backups = join(work, "backups");
    mkdirSync(backups);
    chownSync(backups, 999, 999);
    await psql("CREATE DATABASE scratch");
    const common = [
      "--read-only",
      "--net-host",
      "--mount",
      `type=bind,src=${backups},dst=/backups,options=rbind:rw`,
      "--mount",
      `type=bind,src=${join(repoRoot, "components/backup")},dst=/scripts,options=rbind:ro`,
      "--env",
      "PGHOST=127.0.0.1",
      "--env",
      `PGPORT=${port}`,
      "--env",
      "PGUSER=postgres",
      "--env",
      `PGPASSWORD=${password}`,
      "--env",
      "BACKUP_DIR=/backups",
    ];
    const b = await ctrd.run(
      "pgshift.local/postgres:15",
      "backup-1",
      [...common, "--env", "PGDATABASE=appdb"],
      ["setuid", "999:999", "/bin/sh", "/scripts/backup.sh"],
    );
    assert.match(b.stdout, /\[backup\] .*wrote \/backups\/\S+\.dump/);
    const r = await ctrd.run(
      "pgshift.local/postgres:15",
      "restore-1",
      [...common, "--env", "PGDATABASE=scratch"],
      ["setuid", "999:999", "/bin/sh", "/scripts/restore.sh", "latest"],
    );
    assert.match(r.stdout, /\[restore\] done/);
    assert.equal((await psql("SELECT count(*) FROM items", "scratch")).stdout.trim(), "250");
  });

  test("a restart finds the database and skips initialization", async () => {
    await server.stop("SIGINT");
    server = await ctrd.start("pgshift.local/postgres:15", "pg-2", runArgs("pg-2"), serverCommand());
    await waitReady(server);
    assert.match(server.log(), /appears to contain a database; skipping initialization/);
    assert.equal((await psql("SELECT count(*) FROM items")).stdout.trim(), "250");
    await server.stop("SIGINT");
  });

  test("an uninitialized database without a password stops with a message saying what to set", async () => {
    const empty = join(work, "empty");
    mkdirSync(empty);
    chownSync(empty, 4242, 4242);
    const r = await ctrd.run(
      "pgshift.local/postgres:15",
      "nopw-1",
      [
        "--read-only",
        "--mount",
        `type=bind,src=${empty},dst=/var/lib/postgresql/data,options=rbind:rw`,
        "--mount",
        `type=bind,src=${sock},dst=/var/run/postgresql,options=rbind:rw`,
      ],
      ["setuid", "4242:4242", "/usr/local/bin/docker-entrypoint.sh", "postgres"],
      { allowFailure: true },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr + r.stdout, /no superuser password is set\. Set POSTGRES_PASSWORD \(or POSTGRES_PASSWORD_FILE\)/);
  });

  test("a password given both as POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE, or as an unreadable file, is refused by name", async () => {
    const both = await ctrd.run(
      "pgshift.local/postgres:15",
      "bothpw-1",
      [
        "--read-only",
        "--mount",
        `type=bind,src=${secrets},dst=${SUPERUSER_SECRET_MOUNT},options=rbind:ro`,
        "--env",
        "POSTGRES_PASSWORD=x",
        "--env",
        `POSTGRES_PASSWORD_FILE=${SUPERUSER_SECRET_MOUNT}/password`,
      ],
      ["setuid", "4242:4242", "/usr/local/bin/docker-entrypoint.sh", "postgres"],
      { allowFailure: true },
    );
    assert.equal(both.code, 1);
    assert.match(both.stderr + both.stdout, /both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set; set one/);
    const missing = await ctrd.run(
      "pgshift.local/postgres:15",
      "nofile-1",
      ["--read-only", "--env", "POSTGRES_PASSWORD_FILE=/run/secrets/nope"],
      ["setuid", "4242:4242", "/usr/local/bin/docker-entrypoint.sh", "postgres"],
      { allowFailure: true },
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr + missing.stdout, /POSTGRES_PASSWORD_FILE names \/run\/secrets\/nope, which cannot be read/);
  });

  // ctr replaces the image's entrypoint with the command it is given (Kubernetes' `args` would keep it), so it is spelled out.
  test("started as root it steps down to postgres (999) and owns PGDATA", async () => {
    const rootData = join(work, "rootdata");
    mkdirSync(rootData);
    const rootPort = await freePort();
    const c = await ctrd.start(
      "pgshift.local/postgres:15",
      "pg-root",
      ["--net-host", "--mount", `type=bind,src=${rootData},dst=/var/lib/postgresql/data,options=rbind:rw`, "--env", "POSTGRES_PASSWORD=rootpw"],
      ["/usr/local/bin/docker-entrypoint.sh", "postgres", "-p", String(rootPort), "-c", "listen_addresses=127.0.0.1"],
    );
    try {
      let ok = "";
      for (let i = 0; i < 150 && ok !== "postgres"; i++) {
        await new Promise((r) => setTimeout(r, 200));
        ok = await psqlAt(rootPort, "SELECT current_user", "postgres", "postgres", "rootpw").then(
          (r) => r.stdout.trim(),
          () => "",
        );
      }
      assert.equal(ok, "postgres", c.log());
      const st = statSync(join(rootData, "PG_VERSION"));
      assert.equal(`${st.uid}:${st.gid}`, "999:999");
    } finally {
      await c.stop("SIGINT");
    }
  });
});
