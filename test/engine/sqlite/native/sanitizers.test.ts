// The C extensions (src/engine/sqlite/native/*.c) under AddressSanitizer and
// UndefinedBehaviorSanitizer, in every test run: sanitizer-harness.c links
// them with the SQLite amalgamation better-sqlite3 ships and feeds them tens
// of thousands of hostile values; any sanitizer report fails the test. A
// second test puts back the two findings of the security review (memcpy from
// SQLite's NULL pointer for an empty value; a NULL spec read) and shows the
// harness fails on each, so it is known to catch that kind of bug.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

const root = resolve(__dirname, "..", "..", "..", "..");
const native = join(root, "src", "engine", "sqlite", "native");
const harness = join(__dirname, "sanitizer-harness.c");
const sqliteDir = join(dirname(require.resolve("better-sqlite3/package.json")), "deps", "sqlite3");
const cc = process.env.CC || "cc";
const SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1"];
const ITERATIONS = "3000";
// A sanitizer's report, whichever it is.
const REPORT = /runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior|Leak)Sanitizer/;

/** The amalgamation compiled once (no sanitizer: it is SQLite, not pgshift, under test), cached by its hash and the compiler. */
function sqliteObject(): string {
  const source = join(sqliteDir, "sqlite3.c");
  assert.ok(existsSync(source), `better-sqlite3 ships the SQLite amalgamation at ${source}`);
  const id = createHash("sha256")
    .update(readFileSync(source))
    .update(execFileSync(cc, ["--version"]))
    .update(process.arch)
    .digest("hex")
    .slice(0, 16);
  const dir = join(root, "node_modules", ".cache", "pgshift", "sanitizers");
  mkdirSync(dir, { recursive: true });
  const object = join(dir, `sqlite3-${id}.o`);
  if (!existsSync(object)) {
    const partial = `${object}.${process.pid}.tmp`;
    execFileSync(cc, ["-O0", "-c", source, "-DSQLITE_THREADSAFE=0", "-DSQLITE_OMIT_LOAD_EXTENSION", "-o", partial], { stdio: "pipe" });
    renameSync(partial, object);
  }
  return object;
}

/** The harness built against the extension sources in `sources` (the repository's, or a changed copy). */
function buildHarness(sources: string, out: string): string {
  const exe = join(out, "harness");
  const units = ["copy-text.c", "range-digests.c", "fingerprint.c"].map((f) => join(sources, f));
  const r = spawnSync(
    cc,
    [...SANITIZE, "-DSQLITE_CORE", "-I", sqliteDir, "-I", sources, harness, ...units, sqliteObject(), "-lm", "-lpthread", "-ldl", "-o", exe],
    {
      encoding: "utf8",
    },
  );
  assert.equal(
    r.status,
    0,
    `the sanitizer build failed (it needs ${cc} with libasan and libubsan, as the machine that built better-sqlite3 has):\n${r.stderr}`,
  );
  return exe;
}

function runHarness(exe: string, seed: string) {
  return spawnSync(exe, [ITERATIONS, seed], {
    encoding: "utf8",
    env: { ...process.env, ASAN_OPTIONS: "detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS: "print_stacktrace=1" },
  });
}

test("the C extensions show no AddressSanitizer or UndefinedBehaviorSanitizer report on thousands of hostile values", () => {
  const out = mkdtempSync(join(tmpdir(), "pgshift-sanitizers-"));
  try {
    const exe = buildHarness(native, out);
    for (const seed of ["1", "20261207"]) {
      const r = runHarness(exe, seed);
      assert.doesNotMatch(r.stderr, REPORT, r.stderr.slice(0, 4000));
      assert.equal(r.status, 0, r.stderr.slice(0, 4000));
      const values = Number(/^ok: (\d+) hostile values/.exec(r.stdout)?.[1]);
      assert.ok(values > 30_000, r.stdout);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the harness fails when either of the review's findings comes back (memcpy from NULL for an empty value, a NULL spec read)", () => {
  const bugs: [string, string, RegExp][] = [
    ["  if (n == 0) return;\n", "", /null pointer passed as argument|applying zero offset to null pointer/],
    ["  if (!spec) return -2;\n", "", /load of null pointer|SEGV/],
  ];
  for (const [guard, replacement, report] of bugs) {
    const out = mkdtempSync(join(tmpdir(), "pgshift-sanitizers-bug-"));
    try {
      for (const f of readdirSync(native)) copyFileSync(join(native, f), join(out, f));
      const source = readFileSync(join(out, "copy-text.c"), "utf8");
      assert.ok(source.includes(guard), `copy-text.c holds the guard ${JSON.stringify(guard)} (update this test if it moved)`);
      writeFileSync(
        join(out, "copy-text.c"),
        source.replace(guard, () => replacement),
      );
      const r = runHarness(buildHarness(out, out), "1");
      assert.notEqual(r.status, 0, `without ${JSON.stringify(guard.trim())} the harness must fail`);
      assert.match(r.stderr, report);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
});
