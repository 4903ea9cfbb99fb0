// The C extensions are built at install (binding.gyp, scripts/build-native.ts)
// and native.ts only finds them: the built modules load into SQLite; a missing
// or outdated build is an error that says what to run, never a silent switch to
// JavaScript; PGSHIFT_NATIVE=off takes the JavaScript paths and a run says so
// once; a machine without a C compiler is told at install what to do.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { sqliteFile } from "../../helpers/sqlite";
import { BUILD_DIR, MANIFEST, NATIVE_ENV, NativeExtensionNotBuilt, ROOT, loadExtension, nativeExtension } from "../../../src/engine/sqlite/native";

const EXTENSIONS = [
  {
    name: "copy-text",
    target: "copy_text",
    entry: "sqlite3_copytext_init",
    does: "copy text",
    disableEnv: "PGSHIFT_NATIVE_COPY",
    functions: ["pgshift_copy_binary", "pgshift_copy_field", "pgshift_copy_text"],
  },
  {
    name: "fingerprint",
    target: "fingerprint",
    entry: "sqlite3_fingerprint_init",
    does: "fingerprint",
    disableEnv: "PGSHIFT_NATIVE_FINGERPRINT",
    functions: ["pgshift_fingerprint"],
  },
  {
    name: "range-digests",
    target: "range_digests",
    entry: "sqlite3_rangedigests_init",
    does: "range digests and numeric dates",
    disableEnv: "PGSHIFT_RANGE_DIGESTS",
    functions: ["pgshift_numeric_dates", "pgshift_range_digests"],
  },
];

/** Runs `body` with these environment variables set (undefined: unset), restoring them after. */
function withEnv<T>(vars: Record<string, string | undefined>, body: () => T): T {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  set(vars);
  try {
    return body();
  } finally {
    set(before);
  }
}

const allOn = Object.fromEntries([NATIVE_ENV, ...EXTENSIONS.map((e) => e.disableEnv)].map((k) => [k, undefined]));

test("the modules node-gyp built at install load into better-sqlite3's SQLite and bring their functions", () => {
  const db = new Database(":memory:");
  try {
    for (const ext of EXTENSIONS) {
      const built = withEnv(allOn, () => nativeExtension(ext));
      assert.ok("path" in built, `${ext.name}: ${JSON.stringify(built)}`);
      assert.equal(built.path, join(BUILD_DIR, `${ext.target}.node`));
      loadExtension(db, built);
    }
    const names = db.prepare("SELECT DISTINCT name FROM pragma_function_list WHERE name LIKE 'pgshift\\_%' ESCAPE '\\' ORDER BY name").pluck().all();
    assert.deepEqual(names, EXTENSIONS.flatMap((e) => e.functions).sort());
    const path = sqliteFile((d) => d.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')"));
    const file = new Database(path, { readonly: true });
    try {
      loadExtension(file, withEnv(allOn, () => nativeExtension(EXTENSIONS[0]!)) as { path: string; entry: string });
      assert.equal((file.prepare("SELECT pgshift_copy_text('i,t', id, v) FROM t").pluck().get() as Buffer).toString(), "1\ta\n2\tb\n");
    } finally {
      file.close();
    }
  } finally {
    db.close();
  }
});

test("a build that is missing is an error naming the extension, the command that builds it and PGSHIFT_NATIVE=off; not a switch to JavaScript", () => {
  const empty = mkdtempSync(join(tmpdir(), "pgshift-native-"));
  try {
    for (const ext of EXTENSIONS) {
      assert.throws(
        () => withEnv(allOn, () => nativeExtension(ext, empty)),
        (err: Error) => {
          assert.ok(err instanceof NativeExtensionNotBuilt);
          assert.match(err.message, new RegExp(`SQLite extension ${ext.name} \\(.*${ext.target}\\.node\\) is not built\\. `));
          assert.match(err.message, /Build it with `npm run build:native` in .* \(needs a C compiler: apt-get install gcc libc6-dev\)/);
          assert.match(err.message, /or set PGSHIFT_NATIVE=off wherever pgshift runs \(pulumi up, the CLI\) to take the JavaScript paths/);
          return true;
        },
      );
    }
    // Asked for, the JavaScript path needs no build, whichever variable asks.
    for (const ext of EXTENSIONS) {
      assert.deepEqual(
        withEnv({ ...allOn, [NATIVE_ENV]: "off" }, () => nativeExtension(ext, empty)),
        { unavailable: "PGSHIFT_NATIVE=off" },
      );
      assert.deepEqual(
        withEnv({ ...allOn, [ext.disableEnv]: "off" }, () => nativeExtension(ext, empty)),
        { unavailable: `${ext.disableEnv}=off` },
      );
    }
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("a build made from other sources than the C files now is refused, with the same advice", () => {
  const copy = mkdtempSync(join(tmpdir(), "pgshift-native-"));
  try {
    cpSync(BUILD_DIR, copy, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(copy, MANIFEST), "utf8")) as Record<string, string>;
    assert.deepEqual(
      withEnv(allOn, () => nativeExtension(EXTENSIONS[1]!, copy)),
      { path: join(copy, "fingerprint.node"), entry: "sqlite3_fingerprint_init" },
    );
    writeFileSync(join(copy, MANIFEST), JSON.stringify({ ...manifest, range_digests: "0".repeat(64) }));
    assert.throws(
      () => withEnv(allOn, () => nativeExtension(EXTENSIONS[2]!, copy)),
      /SQLite extension range-digests \(.*range_digests\.node\) was built from other sources than src\/engine\/sqlite\/native\/range-digests\.c and its headers now\. Build it with `npm run build:native`/,
    );
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test("a run says once on stderr which path each extension takes and why", () => {
  const path = sqliteFile((d) => d.exec("CREATE TABLE t (v TEXT)"));
  const script = `
    const { fingerprintSqlite } = require(${JSON.stringify(join(ROOT, "src", "engine", "sqlite", "fingerprint.ts"))});
    (async () => { for (let i = 0; i < 3; i++) await fingerprintSqlite(${JSON.stringify(path)}); })();`;
  const run = (env: Record<string, string | undefined>) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...allOn, ...env } });
    assert.equal(r.status, 0, r.stderr);
    return r.stderr.split("\n").filter((l) => l.startsWith("[pgshift]"));
  };
  assert.deepEqual(run({}), ["[pgshift] fingerprint: C (build/Release/fingerprint.node)"]);
  assert.deepEqual(run({ [NATIVE_ENV]: "off" }), ["[pgshift] fingerprint: JavaScript (PGSHIFT_NATIVE=off)"]);
});

test("install without a C compiler: the build stops with what to install and how to run without it, and leaves the build alone", () => {
  const manifest = join(BUILD_DIR, MANIFEST);
  const before = statSync(manifest).mtimeMs;
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "build-native.ts")], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, [NATIVE_ENV]: undefined, CC: "/nonexistent/cc" },
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /\[build:native\] cannot build pgshift's SQLite extensions in C \(binding\.gyp\): no C compiler: `\/nonexistent\/cc --version` failed \(ENOENT\)\./,
  );
  assert.match(r.stderr, /Install one \(Debian: apt-get install gcc libc6-dev\), then run `npm run build:native`\./);
  assert.match(r.stderr, /Or install without them: PGSHIFT_NATIVE=off npm ci, and set PGSHIFT_NATIVE=off wherever pgshift runs/);
  assert.equal(statSync(manifest).mtimeMs, before);
  const off = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "build-native.ts")], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, [NATIVE_ENV]: "off", CC: "/nonexistent/cc" },
  });
  assert.equal(off.status, 0, off.stderr);
  assert.match(off.stderr, /PGSHIFT_NATIVE=off: not building the C extensions; pgshift takes its JavaScript paths/);
});
