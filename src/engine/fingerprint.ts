// A content fingerprint of a SQLite database: SHA-256 of the main file and of
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
import { Worker } from "node:worker_threads";

// Plain JavaScript (no TypeScript loader in a fresh worker), evaluated as the worker's source.
const HASH_FILES = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { readSync } = require("node:fs");
const hash = createHash("sha256");
const buf = Buffer.allocUnsafe(1 << 20);
for (const fd of workerData) {
  for (let at = 0, n; (n = readSync(fd, buf, 0, buf.length, at)) > 0; at += n) hash.update(buf.subarray(0, n));
}
parentPort.postMessage(hash.digest("hex"));
`;

export function fingerprintSqlite(path: string, keepOpenUntil: Promise<unknown> = Promise.resolve()): Promise<string> {
  const files = existsSync(`${path}-wal`) ? [path, `${path}-wal`] : [path];
  const fds: number[] = [];
  try {
    for (const f of files) fds.push(openSync(f, "r"));
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    return Promise.reject(err);
  }
  const hashed = new Promise<string>((resolve, reject) => {
    const worker = new Worker(HASH_FILES, { eval: true, workerData: fds });
    worker.once("message", (hex: string) => resolve("sha256:" + hex));
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
