// A content fingerprint of a SQLite database: SHA-256 of the main file and of
// its write-ahead log, if any. Reading bytes is cheap next to a copy, and it
// notices every committed change. The hashing runs in a worker thread, so it
// overlaps with the snapshot instead of adding to it.
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";

// Plain JavaScript (no TypeScript loader in a fresh worker), evaluated as the worker's source.
const HASH_FILES = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { openSync, readSync, closeSync } = require("node:fs");
const hash = createHash("sha256");
const buf = Buffer.allocUnsafe(1 << 20);
for (const path of workerData) {
  const fd = openSync(path, "r");
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}
parentPort.postMessage(hash.digest("hex"));
`;

export function fingerprintSqlite(path: string): Promise<string> {
  const files = existsSync(`${path}-wal`) ? [path, `${path}-wal`] : [path];
  return new Promise((resolve, reject) => {
    const worker = new Worker(HASH_FILES, { eval: true, workerData: files });
    worker.once("message", (hex: string) => resolve("sha256:" + hex));
    worker.once("error", reject);
    worker.once("exit", (code) => code !== 0 && reject(new Error(`Fingerprinting ${path} stopped with exit code ${code}.`)));
  });
}
