// backup.sh and restore.sh run for real with Debian's PostgreSQL 15 (server
// and tools of one version): a dump counts only once it restores in full and
// its checksum is stored; flipped bytes and truncation are caught (where
// `pg_restore --list` alone passes them); calendar retention over a month of
// runs on a fake clock (BACKUP_TIME), twice a day, with failed days; large
// objects either come along or fail the job; rotation after a database rename,
// among stray and hostile file names and with the clock set back; restore.sh
// refusing a changed dump beside another dump's checksum, or without one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDebianPostgres, type DebianPostgres } from "../../helpers/debian-postgres";

const scripts = join(__dirname, "..", "..", "..", "components", "backup");

let server: DebianPostgres;
let realDump: string;
before(async () => {
  server = await startDebianPostgres();
  server.psql("postgres", "CREATE DATABASE shop");
  server.psql(
    "shop",
    `CREATE TABLE orders (id bigserial PRIMARY KEY, note text, amount numeric(10,2), at timestamptz DEFAULT now());
    INSERT INTO orders (note, amount) SELECT 'sipariş ' || g || ' 🚀 ' || md5(g::text), g * 1.5 FROM generate_series(1, 20000) g;`,
  );
  realDump = join(mkdtempSync(join(tmpdir(), "pgshift-realdump-")), "shop.dump");
  const r = spawnSync(join(server.bin, "pg_dump"), ["--format=custom", "--compress=6", `--file=${realDump}`, "shop"], {
    env: { ...process.env, ...server.env },
  });
  assert.equal(r.status, 0, String(r.stderr));
});
after(async () => server?.stop());

function run(script: string, env: NodeJS.ProcessEnv, args: string[] = []) {
  const r = spawnSync("sh", [join(scripts, script), ...args], { env: { ...process.env, ...server.env, ...env }, encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** A directory with a pg_dump that runs `body` (sh) with $f set to the --file argument. */
function fakePgDump(body: string): string {
  const bin = mkdtempSync(join(tmpdir(), "pgshift-fakebin-"));
  writeFileSync(join(bin, "pg_dump"), `#!/bin/sh\nfor a in "$@"; do case "$a" in --file=*) f="\${a#--file=}";; esac; done\n${body}\n`, { mode: 0o755 });
  return `${bin}:${server.bin}:${process.env.PATH}`;
}

const dumpsIn = (dir: string) => (existsSync(join(dir, "dumps")) ? readdirSync(join(dir, "dumps")).sort() : []);
const leftovers = (dir: string) => dumpsIn(dir).filter((f) => f.includes("partial"));
const pgRestoreList = (file: string) => spawnSync(join(server.bin, "pg_restore"), ["--list", file], { encoding: "utf8" }).status;

test("backup.sh: a dump that restores in full, with its checksum; restore.sh brings the data back exactly", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  const r = run("backup.sh", { PGDATABASE: "shop", BACKUP_DIR: dir, BACKUP_TIME: "2025-11-30T02:00:00Z" });
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(dumpsIn(dir), ["shop_20251130T020000Z.dump", "shop_20251130T020000Z.dump.sha256"]);
  assert.equal(readlinkSync(join(dir, "latest.dump")), "dumps/shop_20251130T020000Z.dump");
  const sum = spawnSync("sha256sum", ["-c", "shop_20251130T020000Z.dump.sha256"], { cwd: join(dir, "dumps"), encoding: "utf8" });
  assert.equal(sum.status, 0, sum.stdout + sum.stderr);
  assert.equal(statSync(join(dir, "dumps", "shop_20251130T020000Z.dump")).mode & 0o077, 0, "only the job's user reads dumps");

  server.psql("postgres", "CREATE DATABASE shop_restored");
  const rr = run("restore.sh", { PGDATABASE: "shop_restored", BACKUP_DIR: dir }, ["latest"]);
  assert.equal(rr.status, 0, rr.out);
  const digest = (db: string) => server.psql(db, "SELECT count(*) || ':' || md5(string_agg(id || note || amount || at, ',' ORDER BY id)) FROM orders").trim();
  assert.equal(digest("shop_restored"), digest("shop"));
});

for (const [what, corrupt] of [
  [
    "a flipped byte in the table data",
    `size=$(wc -c <"$f"); pos=$((size * 3 / 4)); b=$(dd if="$f" bs=1 skip=$pos count=1 2>/dev/null | od -An -tu1 | tr -d ' '); printf "$(printf '\\\\%03o' $(( (b + 1) % 256 )))" | dd of="$f" bs=1 seek=$pos count=1 conv=notrunc 2>/dev/null`,
  ],
  ["a truncated file", `head -c $(( $(wc -c <"$f") / 2 )) "$f" >"$f.cut" && mv "$f.cut" "$f"`],
] as const) {
  test(`${what}: pg_restore --list passes it, backup.sh rejects it, keeps nothing, fails`, () => {
    const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
    const evidence = join(dir, "evidence.dump");
    const path = fakePgDump(`cp "${realDump}" "$f" && ${corrupt} && cp "$f" "${evidence}"`);
    const r = run("backup.sh", { PGDATABASE: "shop", BACKUP_DIR: dir, PATH: path, BACKUP_TIME: "2025-11-30T02:00:00Z" });
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /does not restore/);
    assert.notEqual(readFileSync(evidence).compare(readFileSync(realDump)), 0, "the dump was damaged");
    assert.equal(pgRestoreList(evidence), 0, "the old check (pg_restore --list) accepts this dump");
    assert.deepEqual(dumpsIn(dir), [], "nothing kept, no .partial left");
    assert.equal(existsSync(join(dir, "latest.dump")), false);
    // No checksum beside it: refused outright; told to go ahead unverified, pg_restore's full read still catches it.
    const rr = run("restore.sh", { PGDATABASE: "shop" }, [evidence]);
    assert.equal(rr.status, 2, rr.out);
    const ru = run("restore.sh", { PGDATABASE: "shop" }, ["--unverified", evidence]);
    assert.equal(ru.status, 1, ru.out);
    assert.match(ru.out, /does not restore/);
  });
}

test("a month of runs twice a day, with failed days: the first good dump of each of the newest days, ISO weeks and months", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  // The real dump copied in (fast), checked for real; FAIL makes pg_dump fail.
  const path = fakePgDump(`[ -z "$FAIL" ] || { echo "pg_dump: error: connection to server failed" >&2; exit 1; }\ncp "${realDump}" "$f"`);
  const failing = new Set(["2025-12-02T02:00:00Z", "2025-12-02T14:00:00Z", "2025-12-04T14:00:00Z"]);
  for (let day = new Date("2025-11-01T00:00:00Z"); day <= new Date("2025-12-05T00:00:00Z"); day = new Date(day.getTime() + 86400000)) {
    for (const hour of ["02", "14"]) {
      const at = `${day.toISOString().slice(0, 10)}T${hour}:00:00Z`;
      const r = run("backup.sh", {
        PGDATABASE: "shop",
        BACKUP_DIR: dir,
        PATH: path,
        BACKUP_TIME: at,
        KEEP_DAILY: "7",
        KEEP_WEEKLY: "4",
        KEEP_MONTHLY: "3",
        FAIL: failing.has(at) ? "1" : "",
      });
      assert.equal(r.status, failing.has(at) ? 1 : 0, `${at}: ${r.out}`);
      assert.deepEqual(leftovers(dir), [], `${at}: no partial files`);
    }
  }
  const kept = dumpsIn(dir)
    .filter((f) => f.endsWith(".dump"))
    .map((f) => f.slice(5, 18));
  assert.deepEqual(kept, [
    "20251101T0200", // monthly: November
    "20251110T0200", // weekly: 2025-W46
    "20251117T0200", // weekly: W47
    "20251124T0200", // weekly: W48
    "20251128T0200", // daily
    "20251129T0200",
    "20251130T0200",
    "20251201T0200", // daily, weekly W49, monthly December
    "20251203T0200", // daily (Dec 2 failed: the seven days reach back one more)
    "20251204T0200",
    "20251205T0200",
    "20251205T1400", // the newest
  ]);
  for (const f of dumpsIn(dir).filter((x) => x.endsWith(".dump"))) assert.ok(dumpsIn(dir).includes(f + ".sha256"), f);
  assert.equal(readlinkSync(join(dir, "latest.dump")), "dumps/shop_20251205T140000Z.dump");
});

test("ISO weeks across the new year: 2025-12-29 … 2026-01-04 is one week (2026-W01)", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  const path = fakePgDump(`cp "${realDump}" "$f"`);
  for (const d of ["2025-12-27", "2025-12-28", "2025-12-29", "2025-12-31", "2026-01-01", "2026-01-04", "2026-01-05", "2026-01-06"]) {
    const r = run("backup.sh", {
      PGDATABASE: "shop",
      BACKUP_DIR: dir,
      PATH: path,
      BACKUP_TIME: `${d}T02:00:00Z`,
      KEEP_DAILY: "1",
      KEEP_WEEKLY: "3",
      KEEP_MONTHLY: "0",
    });
    assert.equal(r.status, 0, r.out);
  }
  const kept = dumpsIn(dir)
    .filter((f) => f.endsWith(".dump"))
    .map((f) => f.slice(5, 13));
  assert.deepEqual(kept, ["20251227", "20251229", "20260105", "20260106"]);
});

test("a stored dump that changed on disk fails the next run and is quarantined; a killed run's .partial is removed", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  const path = fakePgDump(`cp "${realDump}" "$f"`);
  const env = { PGDATABASE: "shop", BACKUP_DIR: dir, PATH: path };
  assert.equal(run("backup.sh", { ...env, BACKUP_TIME: "2025-11-01T02:00:00Z" }).status, 0);
  const first = join(dir, "dumps", "shop_20251101T020000Z.dump");
  const bytes = readFileSync(first);
  bytes[100] = bytes[100]! ^ 0xff;
  writeFileSync(first, bytes);
  writeFileSync(join(dir, "dumps", ".shop_20251101T140000Z.dump.partial"), "left by a killed run");
  const r = run("backup.sh", { ...env, BACKUP_TIME: "2025-11-02T02:00:00Z" });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /shop_20251101T020000Z\.dump does not match its checksum/);
  assert.match(r.out, /removed .*\.shop_20251101T140000Z\.dump\.partial/);
  assert.deepEqual(readdirSync(join(dir, "quarantine")).sort(), ["shop_20251101T020000Z.dump", "shop_20251101T020000Z.dump.sha256"]);
  assert.deepEqual(dumpsIn(dir), ["shop_20251102T020000Z.dump", "shop_20251102T020000Z.dump.sha256"], "the new dump is kept");
  // restore.sh refuses a dump that does not match its checksum.
  copyFileSync(join(dir, "quarantine", "shop_20251101T020000Z.dump"), join(dir, "q.dump"));
  copyFileSync(join(dir, "quarantine", "shop_20251101T020000Z.dump.sha256"), join(dir, "q.dump.sha256"));
  writeFileSync(join(dir, "q.dump.sha256"), readFileSync(join(dir, "q.dump.sha256"), "utf8").replace("shop_20251101T020000Z.dump", "q.dump"));
  const rr = run("restore.sh", { PGDATABASE: "shop" }, [join(dir, "q.dump")]);
  assert.equal(rr.status, 1, rr.out);
  assert.match(rr.out, /does not match its stored checksum/);
});

test("a database that does not accept connections is waited for, bounded, then the run fails naming it (1), nothing written", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  const r = run("backup.sh", { PGDATABASE: "shop", BACKUP_DIR: dir, PGPORT: "1", BACKUP_CONNECT_ATTEMPTS: "2" });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /did not accept connections after 2 tries \(2 s apart\); nothing was changed/);
  assert.deepEqual(dumpsIn(dir), []);
});

test("failures exit non-zero: pg_dump failing (1), bad settings (2)", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  const r = run("backup.sh", { PGDATABASE: "no_such_db", BACKUP_DIR: dir });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /pg_dump failed; no dump was kept/);
  assert.deepEqual(dumpsIn(dir), []);
  assert.equal(run("backup.sh", { PGDATABASE: "", BACKUP_DIR: dir }).status, 2);
  assert.equal(run("backup.sh", { PGDATABASE: "shop", BACKUP_DIR: dir, KEEP_WEEKLY: "four" }).status, 2);
  assert.equal(run("backup.sh", { PGDATABASE: "shop", BACKUP_DIR: dir, BACKUP_TIME: "yesterday" }).status, 2);
  assert.equal(run("backup.sh", { PGDATABASE: "shop", BACKUP_DIR: dir, BACKUP_TIME: "2025-02-29T02:00:00Z" }).status, 2, "not a real day");
  assert.equal(run("backup.sh", { PGDATABASE: "dbname=shop host=elsewhere", BACKUP_DIR: dir }).status, 2, "a connection string, not a name");
  assert.equal(run("backup.sh", { PGDATABASE: "../shop", BACKUP_DIR: dir }).status, 2);
  assert.equal(run("restore.sh", { PGDATABASE: "shop" }).status, 2);
});

test("large objects: the backup role (pg_read_all_data) cannot read them, so the job fails saying how; with SELECT granted they are backed up", () => {
  server.psql("postgres", "CREATE DATABASE files");
  server.psql("postgres", "CREATE ROLE backup_role LOGIN; GRANT pg_read_all_data TO backup_role");
  const oid = server.psql("files", "SELECT lo_from_bytea(0, convert_to('the contents of a large object', 'UTF8'))").trim();
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  const env = { PGDATABASE: "files", PGUSER: "backup_role", BACKUP_DIR: dir };
  const r = run("backup.sh", { ...env, BACKUP_TIME: "2025-11-01T02:00:00Z" });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /large object/);
  assert.match(r.out, /GRANT SELECT ON LARGE OBJECT/);
  assert.deepEqual(dumpsIn(dir), []);

  server.psql("files", `GRANT SELECT ON LARGE OBJECT ${oid} TO backup_role`);
  const ok = run("backup.sh", { ...env, BACKUP_TIME: "2025-11-01T03:00:00Z" });
  assert.equal(ok.status, 0, ok.out);
  server.psql("postgres", "CREATE DATABASE files_restored");
  assert.equal(run("restore.sh", { PGDATABASE: "files_restored", BACKUP_DIR: dir }, ["latest"]).status, 0);
  assert.equal(server.psql("files_restored", `SELECT convert_from(lo_get(${oid}), 'UTF8')`).trim(), "the contents of a large object");
});

// Issue 25: rotation sorted whole file names and took the last as the newest.
// After a database rename it deleted the dumps it had just written and
// pointed latest.dump at a deleted file (exit 0); stray names (a copy, a name
// holding a newline) were counted and cost the month's keeper and dumps inside
// the seven days. Now only <database>_<timestamp>.dump (with its checksum) is
// considered, keyed on the timestamp, and the dump just written always stays.

/** Runs backup.sh once a day (02:00) from `from` for `days` days; every run must succeed. */
function daily(dir: string, database: string, from: string, days: number, extra: NodeJS.ProcessEnv = {}) {
  const path = fakePgDump(`cp "${realDump}" "$f"`);
  for (let i = 0; i < days; i++) {
    const at = new Date(new Date(`${from}T02:00:00Z`).getTime() + i * 86400000).toISOString().replace(/\.\d+Z$/, "Z");
    const r = run("backup.sh", {
      PGDATABASE: database,
      BACKUP_DIR: dir,
      PATH: path,
      BACKUP_TIME: at,
      KEEP_DAILY: "7",
      KEEP_WEEKLY: "4",
      KEEP_MONTHLY: "3",
      ...extra,
    });
    assert.equal(r.status, 0, `${database} ${at}: ${r.out}`);
    assertLatestVerified(dir, `${database}_${at.replace(/[-:]/g, "")}.dump`);
  }
}

/** latest.dump names this dump, which exists and matches its stored checksum. */
function assertLatestVerified(dir: string, name: string) {
  assert.equal(readlinkSync(join(dir, "latest.dump")), `dumps/${name}`);
  const file = join(dir, "dumps", name);
  assert.ok(existsSync(file), `latest.dump names ${name}, which exists`);
  const stored = readFileSync(`${file}.sha256`, "utf8").split(" ")[0];
  assert.equal(createHash("sha256").update(readFileSync(file)).digest("hex"), stored, `${name} matches its checksum`);
}

const ownDumps = (dir: string, database: string) =>
  dumpsIn(dir)
    .filter((f) => new RegExp(`^${database}_\\d{8}T\\d{6}Z\\.dump$`).test(f))
    .map((f) => f.slice(database.length + 1, database.length + 9));

/** Every file under dumps/ with its bytes, to show that some were never touched. */
const snapshot = (dir: string, names: string[]) => Object.fromEntries(names.map((n) => [n, readFileSync(join(dir, "dumps", n)).toString("base64")]));

test("after a database rename: the old database's dumps are left alone, the new one's rotate on their own, latest is the dump just written", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  daily(dir, "piyasa_db", "2025-11-01", 20);
  const before = dumpsIn(dir);
  const old = snapshot(dir, before);
  // Renamed: "app_db" sorts before "piyasa_db", which made the old code take a piyasa_db dump for the newest.
  daily(dir, "app_db", "2025-11-21", 12);
  assert.deepEqual(snapshot(dir, before), old, "piyasa_db's dumps and checksums untouched");
  assert.deepEqual(ownDumps(dir, "app_db"), ["20251121", "20251124", "20251126", "20251127", "20251128", "20251129", "20251130", "20251201", "20251202"]);
  // And back: each database's rotation sees only its own.
  const appFiles = dumpsIn(dir).filter((f) => f.startsWith("app_db_"));
  const app = snapshot(dir, appFiles);
  daily(dir, "piyasa_db", "2025-12-03", 1);
  assert.deepEqual(snapshot(dir, appFiles), app, "app_db's dumps untouched");
});

test("stray and hostile names in dumps/ are never touched and never counted", () => {
  const clean = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  const dirty = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  mkdirSync(join(dirty, "dumps"));
  const real = readFileSync(realDump);
  const sum = createHash("sha256").update(real).digest("hex");
  // Each stray is a real dump with a checksum file that matches it, so a check of the name's shape is all that tells them apart.
  const strays = [
    "my copy of shop_20251101T020000Z.dump",
    "shop_20251201T010000Z.dump.bak",
    "shop_20251203T010000Z (1).dump",
    "x\nshop_20251129T010000Z.dump",
    "shop_20251130T010000Z.dump\nshop_20251128T010000Z.dump",
    " shop_20251202T010000Z.dump",
    "shop_20251202T010000Z.dump ",
    "shop_old_20251202T010000Z.dump",
    "shopx_20251202T010000Z.dump",
    "shop_2025120lT010000Z.dump",
    "shop_20251302T010000Z.dump", // month 13: the shape, not a time
    "-rf shop_20251204T010000Z.dump",
    "shop_*.dump",
    "shop_20251204T010000Z.dump.sha256.dump",
  ];
  for (const name of strays) {
    writeFileSync(join(dirty, "dumps", name), real);
    writeFileSync(join(dirty, "dumps", `${name}.sha256`), `${sum}  ${name}\n`);
  }
  // A directory and a symlink with a dump's exact name are not dumps either.
  mkdirSync(join(dirty, "dumps", "shop_20251202T030000Z.dump"));
  symlinkSync(realDump, join(dirty, "dumps", "shop_20251203T030000Z.dump"));
  writeFileSync(join(dirty, "dumps", "shop_20251203T030000Z.dump.sha256"), `${sum}  shop_20251203T030000Z.dump\n`);
  const planted = dumpsIn(dirty);
  const strayBytes = snapshot(
    dirty,
    planted.filter((n) => n !== "shop_20251202T030000Z.dump"),
  );

  daily(clean, "shop", "2025-11-14", 22);
  daily(dirty, "shop", "2025-11-14", 22);
  const written = (dir: string) => dumpsIn(dir).filter((f) => !planted.includes(f));
  assert.deepEqual(written(dirty), written(clean), "the same dumps kept as without the strays");
  assert.deepEqual(ownDumps(clean, "shop"), [
    "20251114",
    "20251117",
    "20251124",
    "20251129",
    "20251130",
    "20251201",
    "20251202",
    "20251203",
    "20251204",
    "20251205",
  ]);
  assert.deepEqual(snapshot(dirty, Object.keys(strayBytes)), strayBytes, "every stray still there, unchanged");
  assert.ok(statSync(join(dirty, "dumps", "shop_20251202T030000Z.dump")).isDirectory());
  assert.deepEqual(existsSync(join(dirty, "quarantine")), false, "nothing quarantined");
});

test("the dump just written stays even when older than the stored ones (a clock set back); latest names it", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  daily(dir, "shop", "2026-03-01", 3);
  // The clock goes back: each of these runs writes a dump older than the newest stored, and a second one in a day.
  const path = fakePgDump(`cp "${realDump}" "$f"`);
  for (const at of ["2025-11-01T02:00:00Z", "2025-11-01T14:00:00Z", "2025-11-01T15:00:00Z"]) {
    const r = run("backup.sh", { PGDATABASE: "shop", BACKUP_DIR: dir, PATH: path, BACKUP_TIME: at, KEEP_DAILY: "1", KEEP_WEEKLY: "0", KEEP_MONTHLY: "0" });
    assert.equal(r.status, 0, r.out);
    assertLatestVerified(dir, `shop_${at.replace(/[-:]/g, "")}.dump`);
  }
  assert.deepEqual(
    dumpsIn(dir).filter((f) => f.endsWith(".dump")),
    ["shop_20251101T150000Z.dump", "shop_20260303T020000Z.dump"],
    "the newest by time and the one just written",
  );
});

test("a stored dump beside another dump's checksum file is quarantined: the digest of the file itself is compared", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  daily(dir, "shop", "2025-11-01", 2);
  const a = join(dir, "dumps", "shop_20251101T020000Z.dump");
  const bytes = readFileSync(a);
  bytes[200] = bytes[200]! ^ 0xff;
  writeFileSync(a, bytes);
  // The damaged dump's checksum file now names the other, intact dump (sha256sum -c would check that one).
  copyFileSync(join(dir, "dumps", "shop_20251102T020000Z.dump.sha256"), `${a}.sha256`);
  const r = run("backup.sh", { PGDATABASE: "shop", BACKUP_DIR: dir, PATH: fakePgDump(`cp "${realDump}" "$f"`), BACKUP_TIME: "2025-11-03T02:00:00Z" });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /shop_20251101T020000Z\.dump does not match its checksum/);
  assert.deepEqual(readdirSync(join(dir, "quarantine")).sort(), ["shop_20251101T020000Z.dump", "shop_20251101T020000Z.dump.sha256"]);
  assertLatestVerified(dir, "shop_20251103T020000Z.dump");
});

// Issue 25 item 5: restore.sh trusted what it should check. Without a .sha256
// it relied on pg_restore, which passes a changed table of contents (numeric(10,2)
// became numeric(10,3) and was restored, exit 0); with one, `sha256sum -c`
// checked whichever file the .sha256 named.

/** A copy of the real dump with numeric(10,2) turned into numeric(10,3) in its table of contents (same length). */
function tocFlipped(dir: string, name: string): string {
  const bytes = readFileSync(realDump);
  const at = bytes.indexOf("numeric(10,2)");
  assert.ok(at > 0, "the dump's table of contents spells the column type");
  bytes.write("numeric(10,3)", at);
  const file = join(dir, name);
  writeFileSync(file, bytes);
  assert.equal(pgRestoreList(file), 0, "pg_restore --list accepts the changed dump");
  return file;
}
let scratch = 0;
/** A new empty database to restore into, and what its orders.amount column became (or null: no table). */
function target() {
  const db = `restore_target_${++scratch}`;
  server.psql("postgres", `CREATE DATABASE ${db}`);
  return {
    db,
    amountType: () =>
      server
        .psql(db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass('public.orders') AND attname = 'amount'")
        .trim() || null,
  };
}
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

test("restore.sh: a changed dump beside another dump's checksum file is refused (the digest of the file restored is compared)", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-restore-"));
  copyFileSync(realDump, join(dir, "shop_20251101T020000Z.dump"));
  writeFileSync(join(dir, "shop_20251101T020000Z.dump.sha256"), `${sha256(realDump)}  shop_20251101T020000Z.dump\n`);
  const changed = tocFlipped(dir, "shop_20251102T020000Z.dump");
  // The intact dump's checksum file put beside the changed one: it names the intact dump.
  copyFileSync(join(dir, "shop_20251101T020000Z.dump.sha256"), `${changed}.sha256`);
  const t = target();
  const r = run("restore.sh", { PGDATABASE: t.db }, [changed]);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /shop_20251102T020000Z\.dump does not match its stored checksum/);
  assert.equal(t.amountType(), null, "nothing restored");
  // Through latest.dump as well: the file behind the link is the one checked.
  symlinkSync(changed, join(dir, "latest.dump"));
  assert.equal(run("restore.sh", { PGDATABASE: t.db, BACKUP_DIR: dir }, ["latest"]).status, 1);
  // Even --unverified does not override a checksum that disagrees.
  assert.equal(run("restore.sh", { PGDATABASE: t.db }, ["--unverified", changed]).status, 1);
  assert.equal(t.amountType(), null, "nothing restored");
  // The intact dump with its own checksum restores.
  const ok = run("restore.sh", { PGDATABASE: t.db }, [join(dir, "shop_20251101T020000Z.dump")]);
  assert.equal(ok.status, 0, ok.out);
  assert.equal(t.amountType(), "numeric(10,2)");
});

test("restore.sh: a dump without its checksum is refused; --unverified restores it and says so loudly", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-restore-"));
  const changed = tocFlipped(dir, "shop_20251102T020000Z.dump");
  const t = target();
  const r = run("restore.sh", { PGDATABASE: t.db }, [changed]);
  assert.equal(r.status, 2, r.out);
  assert.match(r.out, /no checksum file .*shop_20251102T020000Z\.dump\.sha256/);
  assert.match(r.out, /--unverified/);
  assert.equal(t.amountType(), null, "nothing restored");

  const u = run("restore.sh", { PGDATABASE: t.db }, ["--unverified", changed]);
  assert.equal(u.status, 0, u.out);
  assert.match(u.out, /UNVERIFIED/);
  assert.match(u.out, /nothing shows that .*shop_20251102T020000Z\.dump is the dump backup\.sh wrote/);
  // What --unverified means: the changed table of contents is what got restored.
  assert.equal(t.amountType(), "numeric(10,3)");
  assert.equal(run("restore.sh", { PGDATABASE: t.db }, ["--unverified"]).status, 2, "the flag alone is bad usage");
  assert.equal(run("restore.sh", { PGDATABASE: t.db }, ["--unverifed", changed]).status, 2, "a misspelt flag is bad usage");
});
