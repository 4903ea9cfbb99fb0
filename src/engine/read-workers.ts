// A pool of worker threads that turn SQLite rows into COPY text (read-worker-main.ts).
// JavaScript runs one thread per process: without them, tables "loading in
// parallel" would take turns on one core for reading and converting, and only
// PostgreSQL's side would be parallel.
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import * as errors from "./errors";
import type { TablePlan } from "./plan";

export type ToWorker = { type: "table"; id: number; path: string; table: TablePlan; size: number; window: number } | { type: "credit"; id: number };
export type FromWorker =
  | { id: number; rows: number; data: Uint8Array }
  | { id: number; done: true }
  | { id: number; error: { name: string; message: string; fields: Record<string, unknown>; engine: boolean } };

export interface Chunk {
  data: Uint8Array;
  rows: number;
}

/** Chunks of COPY text ahead of the writer: enough to keep it busy, few enough to keep memory flat. */
const WINDOW = 4;

export class ReadWorkers {
  private idle: Worker[] = [];
  private all: Worker[] = [];
  private next = 1;

  constructor(
    private readonly snapshotPath: string,
    private readonly size: number,
  ) {}

  /** The table's rows as COPY text, converted in a worker thread; errors arrive as the engine's own error classes. */
  async *chunks(table: TablePlan): AsyncGenerator<Chunk> {
    const worker = this.idle.pop() ?? this.spawn();
    const id = this.next++;
    const queue: FromWorker[] = [];
    let notify: (() => void) | undefined;
    let crashed: Error | undefined;
    const onMessage = (m: FromWorker) => {
      if (m.id !== id) return;
      queue.push(m);
      notify?.();
    };
    const onError = (err: Error) => {
      crashed = err;
      notify?.();
    };
    const onExit = (code: number) => onError(new Error(`A read worker stopped (exit code ${code}) while reading table "${table.source}"; nothing of the table was committed. Run the same command again.`));
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    let clean = false;
    try {
      worker.postMessage({ type: "table", id, path: this.snapshotPath, table, size: this.size, window: WINDOW } satisfies ToWorker);
      for (;;) {
        while (queue.length === 0 && !crashed) await new Promise<void>((resolve) => (notify = resolve));
        notify = undefined;
        if (crashed) throw crashed;
        const m = queue.shift()!;
        if ("done" in m) {
          clean = true;
          return;
        }
        if ("error" in m) {
          clean = true; // the worker finished the table and is free again
          throw revive(m.error);
        }
        yield m;
        worker.postMessage({ type: "credit", id } satisfies ToWorker);
      }
    } finally {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
      // A worker abandoned mid-table (the COPY failed) may still be reading: it is not reused.
      if (clean) this.idle.push(worker);
      else {
        this.all = this.all.filter((w) => w !== worker);
        await worker.terminate();
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
    this.all = [];
    this.idle = [];
  }

  private spawn(): Worker {
    const w = new Worker(join(__dirname, "read-worker.js"));
    w.unref();
    this.all.push(w);
    return w;
  }
}

/** The engine's error as the worker threw it, with its class and fields, so messages and exit codes stay the same. */
function revive(e: { name: string; message: string; fields: Record<string, unknown>; engine: boolean }): Error {
  const Cls = (errors as unknown as Record<string, new (...args: never[]) => Error>)[e.name];
  const err: Error = e.engine && Cls ? Object.create(Cls.prototype) : new Error(e.message);
  Object.assign(err, e.fields, { message: e.message, name: e.name });
  if (!err.stack) err.stack = `${e.name}: ${e.message}\n    (in a read worker)`;
  return err;
}
