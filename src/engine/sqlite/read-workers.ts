// A pool of worker threads that turn SQLite rows into COPY text (read-worker-main.ts).
// JavaScript runs one thread per process: without them, tables "loading in
// parallel" would take turns on one core for reading and converting, and only
// PostgreSQL's side would be parallel.
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import * as errors from "../errors";
import type { CopyFormat } from "../postgres/copy";
import { NotBinary } from "./copy-text";
import { assertNumericDatesSettled } from "./numeric-dates";
import type { TablePlan } from "../plan";

export type ToWorker =
  { type: "table"; id: number; path: string; table: TablePlan; size: number; window: number; format: CopyFormat } | { type: "credit"; id: number };
export type FromWorker =
  | { id: number; rows: number; data: Uint8Array }
  | { id: number; done: true }
  | { id: number; error: { name: string; message: string; fields: Record<string, unknown>; engine: boolean } };

export interface Chunk {
  data: Uint8Array;
  rows: number;
}

/**
 * The bound on COPY text in flight, per table: chunks a worker has converted
 * that PostgreSQL has not taken yet (the one being written included). Four
 * chunks of CHUNK bytes keep the writer busy; more only add memory.
 */
export const WINDOW = 4;

/**
 * A read worker's V8 young generation, in MB. What a worker keeps alive is the
 * chunk it is building; everything else it allocates (row arrays, converted
 * fields, lines) is garbage once the chunk is sent. V8's default young
 * generation (16 MB semi-spaces) let each worker sit on ~50 MB of that garbage,
 * which put `--jobs 2` on the 20-table bench at 336 MB peak RSS against 175-190
 * MB for one table (docs/benchmarks.md). 12 MB (4 MB semi-spaces) still holds
 * several chunks; on that bench it measured the same CPU time (13.6-14.3 s
 * user+sys with either) and ~35 MB less RSS.
 */
export const WORKER_YOUNG_GENERATION_MB = 12;

/** What went through the workers, for tests and diagnostics: the most chunks and bytes ever in flight. */
export interface InFlightPeak {
  /** most chunks of one table received from its worker and not yet written */
  chunks: number;
  /** most bytes of COPY text received from all workers and not yet written */
  bytes: number;
  /** most worker threads running at once */
  threads: number;
}

export class ReadWorkers {
  private idle: Worker[] = [];
  private all: Worker[] = [];
  private next = 1;
  private bytesInFlight = 0;
  /** tables waiting for a worker, when all `maxThreads` are busy */
  private waiting: ((w: Worker) => void)[] = [];
  readonly peak: InFlightPeak = { chunks: 0, bytes: 0, threads: 0 };

  constructor(
    private readonly snapshotPath: string,
    private readonly size: number,
    /** each worker is a V8 heap: beyond one per core they add memory, not speed */
    private readonly maxThreads: number,
  ) {}

  /** The table's rows as COPY text (or binary tuples: copy-text.ts), converted in a worker thread; errors arrive as the engine's own error classes. */
  async *chunks(table: TablePlan, format: CopyFormat = "text"): AsyncGenerator<Chunk> {
    assertNumericDatesSettled(table); // here too: the worker's own check would arrive as a message, later
    const worker = await this.acquire();
    const id = this.next++;
    const queue: FromWorker[] = [];
    let notify: (() => void) | undefined;
    let crashed: Error | undefined;
    // Chunks received and not yet written, and their bytes: what WINDOW bounds.
    let chunks = 0;
    let bytes = 0;
    const onMessage = (m: FromWorker) => {
      if (m.id !== id) return;
      if ("data" in m) {
        chunks++;
        bytes += m.data.byteLength;
        this.bytesInFlight += m.data.byteLength;
        this.peak.chunks = Math.max(this.peak.chunks, chunks);
        this.peak.bytes = Math.max(this.peak.bytes, this.bytesInFlight);
      }
      queue.push(m);
      notify?.();
    };
    const onError = (err: Error) => {
      crashed = err;
      notify?.();
    };
    const onExit = (code: number) =>
      onError(
        new Error(
          `A read worker stopped (exit code ${code}) while reading table "${table.source}"; nothing of the table was committed. Run the same command again.`,
        ),
      );
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    let clean = false;
    try {
      worker.postMessage({ type: "table", id, path: this.snapshotPath, table, size: this.size, window: WINDOW, format } satisfies ToWorker);
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
          throw m.error.name === "NotBinary" ? new NotBinary(table.source) : revive(m.error);
        }
        yield m;
        // Resumed: the consumer has written the chunk and asks for the next one.
        chunks--;
        bytes -= m.data.byteLength;
        this.bytesInFlight -= m.data.byteLength;
        worker.postMessage({ type: "credit", id } satisfies ToWorker);
      }
    } finally {
      this.bytesInFlight -= bytes;
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
      // A worker abandoned mid-table (the COPY failed) may still be reading: it is not reused.
      if (clean) this.release(worker);
      else {
        this.all = this.all.filter((w) => w !== worker);
        await worker.terminate();
        if (this.waiting.length > 0) this.release(this.spawn());
      }
    }
  }

  /** An idle worker, a new one while fewer than maxThreads run, or else the next one a table releases. */
  private acquire(): Promise<Worker> {
    const w = this.idle.pop() ?? (this.all.length < this.maxThreads ? this.spawn() : undefined);
    return w ? Promise.resolve(w) : new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(w: Worker): void {
    const next = this.waiting.shift();
    if (next) next(w);
    else this.idle.push(w);
  }

  /** Worker threads running now (each holds a V8 heap until close). */
  get threads(): number {
    return this.all.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
    this.all = [];
    this.idle = [];
  }

  private spawn(): Worker {
    const w = new Worker(join(__dirname, "read-worker.js"), { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
    w.unref();
    this.all.push(w);
    this.peak.threads = Math.max(this.peak.threads, this.all.length);
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
