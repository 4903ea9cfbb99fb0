// toolchain/images/rootfs.ts: host paths land at the same path with their
// symlinks kept and followed, ELF files bring the libraries ldd resolves, and
// what cannot be built is an error naming the image and the path.
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImageBuildError, ldd, Rootfs } from "../../../toolchain/images/rootfs";
import { TarEntry } from "../../../toolchain/images/tar";

const byPath = (fs: Rootfs) => new Map(fs.tarEntries().map((e): [string, TarEntry] => [e.path, e]));

test("a symlink chain is kept as symlinks and its target copied", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgs-rootfs-"));
  try {
    mkdirSync(join(dir, "real"));
    writeFileSync(join(dir, "real", "data.txt"), "payload", { mode: 0o640 });
    symlinkSync("real", join(dir, "alias"));
    symlinkSync("alias/data.txt", join(dir, "link"));
    const fs = new Rootfs("test:1");
    fs.fromHost(join(dir, "link"));
    const e = byPath(fs);
    const rel = dir.slice(1);
    assert.deepEqual(e.get(`${rel}/link`), { type: "symlink", path: `${rel}/link`, target: "alias/data.txt" });
    assert.deepEqual(e.get(`${rel}/alias`), { type: "symlink", path: `${rel}/alias`, target: "real" });
    const file = e.get(`${rel}/real/data.txt`);
    assert.ok(file && file.type === "file");
    assert.equal(file.content.toString(), "payload");
    assert.equal(file.mode, 0o640);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a recursive copy leaves out what is excluded", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgs-rootfs-"));
  try {
    mkdirSync(join(dir, "keep"));
    mkdirSync(join(dir, "skip"));
    writeFileSync(join(dir, "keep", "a"), "a");
    writeFileSync(join(dir, "skip", "b"), "b");
    const fs = new Rootfs("test:1");
    fs.fromHost(dir, { recursive: true, exclude: (p) => p.endsWith("/skip") });
    assert.ok(fs.has(`${dir}/keep/a`));
    assert.ok(!fs.has(`${dir}/skip`));
    assert.ok(!fs.has(`${dir}/skip/b`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an ELF file brings its shared libraries and the dynamic loader", () => {
  const fs = new Rootfs("test:1");
  fs.fromHost("/usr/bin/sqlite3");
  fs.addSharedLibraries();
  const libs = ldd(["/usr/bin/sqlite3"]).get("/usr/bin/sqlite3")!;
  assert.ok(libs.some((l) => l.name.startsWith("libsqlite3")));
  // Found where ldd found it: through /lib (a symlink into /usr on Debian 12) to the real file.
  for (const lib of libs) assert.ok(fs.has(realpathSync(lib.path)), `${lib.path} (${lib.name}) is missing from the image`);
  assert.equal(byPath(fs).get("lib")?.type, lstatSync("/lib").isSymbolicLink() ? "symlink" : "dir");
});

test("a missing host path or a clash is an error naming the image and the path", () => {
  const fs = new Rootfs("pgshift.local/x:1");
  assert.throws(
    () => fs.fromHost("/nonexistent/pgshift/file"),
    (e: unknown) => e instanceof ImageBuildError && /image pgshift\.local\/x:1: \/nonexistent .*does not exist on this machine/.test(e.message),
  );
  fs.file("/etc/motd", "one");
  assert.throws(() => fs.file("/etc/motd", "two"), /image pgshift\.local\/x:1: \/etc\/motd is added twice with different contents/);
  fs.file("/etc/motd", "one");
  assert.throws(() => fs.dir("/etc/motd"), /\/etc\/motd is a directory here but already a file/);
});
