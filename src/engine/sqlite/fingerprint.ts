// A content fingerprint of a SQLite database: a hash of the main file and of
// its write-ahead log, if any. Reading bytes is cheap next to a copy, and it
// notices every committed change. The hashing runs in a worker thread, so it
// overlaps with the snapshot instead of adding to it.
//
// The files are opened here and read by the worker through those descriptors,
// which stay open until `keepOpenUntil` settles. SQLite's locks are POSIX
// record locks, and closing any descriptor of a file drops every such lock
// this process holds on it: a hash finishing during the snapshot would
// otherwise let the app commit in the middle of it.
import { closeSync, existsSync, openSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { nativeExtension } from "./native";

// Plain JavaScript (no TypeScript loader in a fresh worker), evaluated as the worker's source.
const HASH_FILES = `
const { parentPort, workerData: w } = require("node:worker_threads");
if (w.extension) {
  const Database = require(w.module);
  const db = new Database(":memory:");
  try {
    db.loadExtension(w.extension, w.entry);
    const hex = db.prepare("SELECT pgshift_fingerprint(" + w.fds.map(() => "?").join(", ") + ")").pluck().get(...w.fds);
    parentPort.postMessage("murmur256:" + hex);
  } finally {
    db.close();
  }
} else {
  parentPort.postMessage(require(w.javascript).murmur256(w.fds));
}
`;

const EXTENSION = {
  name: "fingerprint",
  target: "fingerprint",
  entry: "sqlite3_fingerprint_init",
  does: "fingerprint",
  disableEnv: "PGSHIFT_NATIVE_FINGERPRINT",
};
/** Set to "off" to hash in JavaScript (murmur256.js: the same fingerprint, slower; PGSHIFT_NATIVE=off turns every C path off). */
export const FINGERPRINT_ENV = EXTENSION.disableEnv;

/**
 * "murmur256:…" from the fingerprint extension (native/fingerprint.c, ~4x
 * faster than SHA-256), or from the same hash in JavaScript (murmur256.js) when
 * its JavaScript path is asked for: the same value either way, so changing paths
 * never makes a file look changed. (pgshift once wrote "sha256:…" on machines
 * without a compiler; such a record reads as a changed file once, and
 * --refresh is cheap.)
 */
export function fingerprintSqlite(path: string, keepOpenUntil: Promise<unknown> = Promise.resolve()): Promise<string> {
  const files = existsSync(`${path}-wal`) ? [path, `${path}-wal`] : [path];
  const fds: number[] = [];
  try {
    for (const f of files) fds.push(openSync(f, "r"));
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    return Promise.reject(err);
  }
  let native;
  try {
    native = nativeExtension(EXTENSION);
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    return Promise.reject(err);
  }
  const hashed = new Promise<string>((resolve, reject) => {
    const worker = new Worker(HASH_FILES, {
      eval: true,
      workerData: {
        fds,
        ...("path" in native
          ? { extension: native.path, entry: native.entry, module: require.resolve("better-sqlite3") }
          : { javascript: join(__dirname, "murmur256.js") }),
      },
    });
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => code !== 0 && reject(new Error(`Fingerprinting ${path} stopped with exit code ${code}.`)));
  });
  const close = () => {
    for (const fd of fds.splice(0)) closeSync(fd);
  };
  // Closed once the worker is done and the caller's locks are gone, whichever comes last.
  hashed.then(
    () => keepOpenUntil.then(close, close),
    () => keepOpenUntil.then(close, close),
  );
  return hashed;
}
