// Inside a worker thread: reads tables from the snapshot and encodes them as
// COPY text, one table at a time as the main thread asks, so that tables
// loading in parallel convert on separate cores. Chunks go back as transferred
// bytes, at most WINDOW ahead of what the main thread has written.
import { parentPort } from "node:worker_threads";
import Database from "better-sqlite3";
import { PgshiftError } from "../errors";
import type { CopyFormat } from "../postgres/copy";
import { NotBinary } from "./copy-text";
import type { TablePlan } from "../plan";
import { tableReader } from "./source";
import type { FromWorker, ToWorker } from "./read-workers";

const port = parentPort!;
let credits = 0;
let wake: (() => void) | undefined;

async function readTable(id: number, path: string, table: TablePlan, size: number, window: number, format: CopyFormat): Promise<void> {
  credits = window;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const reader = tableReader(db, table);
    // The main thread chose binary from the same facts (copy-text.ts binaryPossible); should this thread disagree, the table goes as text.
    const source = format === "binary" ? (reader.binaryChunks(size) ?? notBinary(table)) : reader.chunks(size);
    for (const chunk of source) {
      // Transferred, so it must own its memory whole (a small Buffer may share Node's pool).
      const data = chunk.data.byteOffset === 0 && chunk.data.byteLength === chunk.data.buffer.byteLength ? chunk.data : new Uint8Array(chunk.data);
      port.postMessage({ id, rows: chunk.rows, data } satisfies FromWorker, [data.buffer as ArrayBuffer]);
      if (--credits <= 0) await new Promise<void>((resolve) => (wake = resolve));
    }
    port.postMessage({ id, done: true } satisfies FromWorker);
  } catch (err) {
    const e = err as PgshiftError & Record<string, unknown>;
    // Fields of the engine's errors (table, column, key, value, reason, hint) travel as data.
    const fields = Object.fromEntries(Object.entries(e).filter(([k]) => k !== "stack"));
    port.postMessage({
      id,
      error: { name: e.constructor?.name ?? "Error", message: e.message, fields, engine: err instanceof PgshiftError },
    } satisfies FromWorker);
  } finally {
    db.close();
  }
}

port.on("message", (m: ToWorker) => {
  if (m.type === "credit") {
    credits++;
    const w = wake;
    wake = undefined;
    w?.();
  } else {
    void readTable(m.id, m.path, m.table, m.size, m.window, m.format);
  }
});

function notBinary(table: TablePlan): never {
  throw new NotBinary(table.source);
}
