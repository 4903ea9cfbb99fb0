// toolchain/images/tar.ts: the layer writer. GNU tar reads what it writes
// (long names and link targets included), the bytes depend only on the
// entries, and readTarMember finds a member by name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, lstatSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTarMember, tarArchive, TarEntry, TarEntryError } from "../../../toolchain/images/tar";

const longDir = `deep/${"d".repeat(60)}/${"e".repeat(60)}`;
const entries: TarEntry[] = [
  { type: "dir", path: "deep", mode: 0o755 },
  { type: "dir", path: `deep/${"d".repeat(60)}`, mode: 0o755 },
  { type: "dir", path: longDir, mode: 0o700, uid: 999, gid: 999 },
  { type: "file", path: `${longDir}/file.txt`, mode: 0o640, content: Buffer.from("hello\n") },
  { type: "file", path: "bin/tool", mode: 0o755, content: Buffer.alloc(1000, 7) },
  { type: "dir", path: "bin", mode: 0o755 },
  { type: "symlink", path: "bin/sh", target: "tool" },
  { type: "symlink", path: "far", target: `/${longDir}/file.txt` },
  { type: "dir", path: "tmp", mode: 0o1777 },
];

test("GNU tar extracts every entry with its content, mode and link target", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgs-tar-"));
  try {
    writeFileSync(join(dir, "a.tar"), Buffer.concat(tarArchive(entries)));
    const out = join(dir, "out");
    execFileSync("mkdir", [out]);
    execFileSync("tar", ["-xpf", join(dir, "a.tar"), "-C", out, "--same-owner"]);
    assert.equal(readFileSync(join(out, longDir, "file.txt"), "utf8"), "hello\n");
    assert.equal(lstatSync(join(out, longDir, "file.txt")).mode & 0o7777, 0o640);
    assert.equal(lstatSync(join(out, longDir)).uid, 999);
    assert.equal(lstatSync(join(out, "tmp")).mode & 0o7777, 0o1777);
    assert.ok(readFileSync(join(out, "bin/tool")).equals(Buffer.alloc(1000, 7)));
    assert.equal(readlinkSync(join(out, "bin/sh")), "tool");
    assert.equal(readlinkSync(join(out, "far")), `/${longDir}/file.txt`);
    const listing = execFileSync("tar", ["-tvf", join(dir, "a.tar")], { encoding: "utf8" });
    assert.doesNotMatch(listing, /PaxHeader/, "pax headers are read as headers, not extracted as files");
    assert.match(listing, /1970-01-01/, "no build time in the archive");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the bytes depend on the entries only, not their order", () => {
  const a = Buffer.concat(tarArchive(entries));
  const b = Buffer.concat(tarArchive([...entries].reverse()));
  assert.ok(a.equals(b));
  assert.equal(a.length % 512, 0);
});

test("a path given twice, absolute or with '..' is refused, naming it", () => {
  const file = (path: string): TarEntry => ({ type: "file", path, mode: 0o644, content: Buffer.from("x") });
  assert.throws(
    () => tarArchive([file("a"), file("a")]),
    (e: unknown) => e instanceof TarEntryError && /tar entry a: appears twice/.test(e.message),
  );
  assert.throws(() => tarArchive([file("/etc/passwd")]), /tar entry \/etc\/passwd: must be relative/);
  assert.throws(() => tarArchive([file("x/../../y")]), /must be relative, without '\.\.'/);
});

test("readTarMember finds a member by name, or says it is absent", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgs-tar-"));
  try {
    const path = join(dir, "a.tar");
    writeFileSync(path, Buffer.concat(tarArchive(entries)));
    const fd = openSync(path, "r");
    try {
      assert.ok(readTarMember(fd, "bin/tool")?.equals(Buffer.alloc(1000, 7)));
      assert.equal(readTarMember(fd, "nope"), undefined);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
