// The shell steps the rollback's writer pod runs on the app's volume
// (src/kube/pod-write-back.ts), run here by this machine's sh on real SQLite
// files in a directory whose name a shell would misread: paths arrive as
// arguments only. (In a writer pod on a node: test/provider/cutover-pod-source.test.ts.)
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { backupName, PREPARE_SCRIPT, SWAP_SCRIPT, UPLOAD_SCRIPT } from "../../src/kube/pod-write-back";

const root = mkdtempSync(join(tmpdir(), "pgshift-writeback-"));
after(() => rmSync(root, { recursive: true, force: true }));

const sh = (script: string, args: string[], input?: Buffer) => {
  const r = spawnSync("sh", ["-c", script, "sh", ...args], { input, cwd: root });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

/** A directory named like a shell command, holding app.db (WAL or not) with `rows` rows. */
function volume(name: string, rows: number, wal: boolean) {
  const dir = join(root, `${name} $(touch pwned) 'q' "d"`);
  spawnSync("mkdir", ["-p", dir]);
  const db = new Database(join(dir, "app.db"));
  if (wal) db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
  const ins = db.prepare("INSERT INTO notes (body) VALUES (?)");
  for (let i = 1; i <= rows; i++) ins.run(`row ${i}`);
  db.close();
  return { dir, dst: join(dir, "app.db") };
}
const count = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare("SELECT count(*) FROM notes").pluck().get();
  } finally {
    db.close();
  }
};

test("prepare: says whether the file is in WAL mode (kept after the write-back); a missing file is explained", () => {
  const w = volume("wal", 3, true);
  const j = volume("journal", 3, false);
  assert.deepEqual(sh(PREPARE_SCRIPT, [w.dst]), { code: 0, stdout: "   2\n", stderr: "" });
  assert.equal(sh(PREPARE_SCRIPT, [j.dst]).stdout.trim(), "1");
  const missing = sh(PREPARE_SCRIPT, [join(w.dir, "nope.db")]);
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /nope\.db does not exist or is not readable in this pod/);
  assert.equal(existsSync(join(root, "pwned")), false, "no path was run as a command");
});

test("upload: exactly the bytes sent, with the original's mode; the size and SHA-256 of what arrived; a short or damaged upload shows", () => {
  const v = volume("upload", 50, false);
  chmodSync(v.dst, 0o640);
  const next = volume("next", 80, false);
  const bytes = readFileSync(next.dst);
  const tmp = join(v.dir, ".app.db.pgshift-upload-1");
  const ok = sh(UPLOAD_SCRIPT, [v.dst, tmp, String(bytes.length)], bytes);
  assert.equal(ok.code, 0, ok.stderr);
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  assert.equal(ok.stdout, `size ${bytes.length}\nsha256 ${sha(bytes)}\n`);
  assert.equal(count(tmp), 80);
  assert.equal(statSync(tmp).mode & 0o777, 0o640, "the original's mode");
  assert.equal(count(v.dst), 50, "the original is untouched");
  // Cut short: what arrived says so (the caller compares and removes it).
  const short = sh(UPLOAD_SCRIPT, [v.dst, `${tmp}-short`, String(bytes.length)], bytes.subarray(0, bytes.length - 100));
  assert.match(short.stdout, new RegExp(`^size ${bytes.length - 100}$`, "m"));
  const damaged = Buffer.from(bytes);
  damaged.fill(7, 100, 4000);
  const bad = sh(UPLOAD_SCRIPT, [v.dst, `${tmp}-bad`, String(damaged.length)], damaged).stdout;
  assert.equal(bad, `size ${bytes.length}\nsha256 ${sha(damaged)}\n`, "what arrived, not what was meant: the caller compares it with its own");
  assert.notEqual(sha(damaged), sha(bytes));
  assert.equal(existsSync(join(root, "pwned")), false);
});

test("swap: the original and its -wal/-shm become the backup, the new file takes its place; a failing rename puts everything back", () => {
  // The files as an app stopped without a checkpoint leaves them: a -wal holding a row the main file lacks.
  const crashed = volume("crashed", 20, true);
  const live = new Database(crashed.dst);
  live.pragma("wal_autocheckpoint = 0");
  live.exec("INSERT INTO notes (body) VALUES ('in the wal')");
  const v = volume("swap", 0, false);
  const mainBytes = readFileSync(crashed.dst);
  const walBytes = readFileSync(`${crashed.dst}-wal`);
  const shmBytes = readFileSync(`${crashed.dst}-shm`);
  live.close();
  writeFileSync(v.dst, mainBytes);
  writeFileSync(`${v.dst}-wal`, walBytes);
  writeFileSync(`${v.dst}-shm`, shmBytes);
  const tmp = join(v.dir, ".app.db.pgshift-upload-2");
  writeFileSync(tmp, readFileSync(volume("new", 7, false).dst));
  const bak = backupName(v.dst, new Date("2026-12-07T18:30:05.123Z"));
  assert.equal(bak, `${v.dst}.pgshift-backup-20261207T183005Z`);

  // The temporary file is gone before the last rename: what was moved comes back.
  const failed = sh(SWAP_SCRIPT, [v.dst, `${tmp}-missing`, bak]);
  assert.equal(failed.code, 6);
  assert.match(failed.stderr, /could not rename .*pgshift-upload-2-missing to .*app\.db/);
  assert.deepEqual(readFileSync(v.dst), mainBytes);
  assert.deepEqual(readFileSync(`${v.dst}-wal`), walBytes);
  assert.deepEqual(readFileSync(`${v.dst}-shm`), shmBytes);
  assert.deepEqual(
    readdirSync(v.dir).filter((f) => f.includes("backup")),
    [],
  );

  // A backup of that name already there: refused before anything moves, the temporary file removed.
  writeFileSync(`${tmp}-other`, "x");
  writeFileSync(`${bak}-journal`, "");
  const taken = sh(SWAP_SCRIPT, [v.dst, `${tmp}-other`, bak]);
  assert.equal(taken.code, 5);
  assert.match(taken.stderr, /pgshift-backup-20261207T183005Z-journal already exists/);
  assert.equal(existsSync(`${tmp}-other`), false);
  assert.deepEqual(readFileSync(v.dst), mainBytes);
  rmSync(`${bak}-journal`);

  const ok = sh(SWAP_SCRIPT, [v.dst, tmp, bak]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(count(v.dst), 7, "the new file is in place");
  assert.equal(existsSync(`${v.dst}-wal`), false, "no -wal of the old file beside the new one");
  assert.equal(existsSync(tmp), false);
  assert.equal(count(bak), 21, "the backup opens with its -wal: the row only the -wal held is there");
  assert.equal(existsSync(join(root, "pwned")), false);
});
