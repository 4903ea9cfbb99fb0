// A content fingerprint of a SQLite database: SHA-256 of the main file and of
// its write-ahead log, if any. Reading bytes is cheap next to a copy, and it
// notices every committed change.
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";

async function hashInto(hash: ReturnType<typeof createHash>, path: string): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

export async function fingerprintSqlite(path: string): Promise<string> {
  const hash = createHash("sha256");
  await hashInto(hash, path);
  if (existsSync(`${path}-wal`)) await hashInto(hash, `${path}-wal`);
  return "sha256:" + hash.digest("hex");
}
