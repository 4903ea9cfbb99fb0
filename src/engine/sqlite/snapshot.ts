// A consistent snapshot of the SQLite database for one run: read in place under
// a read transaction where that is safe (WAL files, small journal files), or a
// copy taken under the lock. Every reader of a run (copy, verify, workers) reads
// the same state through it.
import Database from "better-sqlite3";
import { closeSync, copyFileSync, mkdtempSync, openSync, readSync, rmSync, statSync, statfsSync, writeSync } from "node:fs";
import { freemem, tmpdir } from "node:os";
import { join } from "node:path";

export interface Snapshot {
  /** the file other threads may open: the copy, or in place the source itself (call materialize() first) */
  readonly path: string;
  /** when the state every table is read from was fixed, ISO 8601 */
  takenAt: string;
  /** how long the source was locked for it: in rollback-journal mode, the longest the app's writers waited */
  readonly ms: number;
  /** how it was taken (copied under a read lock, backup in one step, or read in place), with the source's journal mode */
  readonly method: string;
  /** the source itself is being read, under a read lock held until materialize() or dispose */
  readonly inPlace: boolean;
  /** the app's writers wait while this snapshot is read (rollback-journal mode, in place): read little, or copy */
  readonly holdsWriters: boolean;
  open(): Database.Database;
  /**
   * In place: copies the file now (the same state: the lock is still held),
   * closes `db` (an in-place reader) and returns a reader of the copy; the lock
   * goes as soon as no in-place reader is left. Otherwise returns `db` as it is.
   */
  materialize(db?: Database.Database): Promise<Database.Database | undefined>;
  dispose(): void;
}

// All pages in one backup step. SQLite restarts a stepped backup whenever
// another connection writes between steps, so under an app committing every
// few milliseconds the default (100 pages a step) may never finish. One step
// reads the whole file inside one read transaction: in WAL mode writers carry
// on meanwhile; in rollback-journal mode they wait for that one pass (a few
// hundred milliseconds per 100 MB, see docs/engine.md).
const ALL_PAGES = 0x7fffffff;

/**
 * Fixes one moment of the source so that every table is read from it even
 * while the app keeps writing.
 * - Rollback-journal mode, `inPlace` (a refresh): nothing is copied. The
 *   source's own connection keeps a read transaction open; its SHARED lock
 *   keeps every other process from committing, so every reader this process
 *   opens meanwhile sees that same state. A refresh that re-reads a few ranges is
 *   done in about the time a copy of the file takes (380 MB: ~0.25 s to copy
 *   and ~0.08 s to delete); when it turns out to need more (a whole table), it
 *   copies the file then, under the same lock, and lets go.
 * - Rollback-journal mode otherwise: the file is copied whole inside a read
 *   transaction; a plain file copy is ~4x faster than SQLite's backup API.
 * - WAL mode, `inPlace` (a refresh): nothing is copied either. The source's
 *   connection keeps a read transaction open, which pins its state while the
 *   app's writers carry on (they append to the log; checkpoints stop short of
 *   it). Other connections would see later commits, so every reader is that
 *   same connection (snapshotWalInPlace), and worker threads get a copy.
 * - WAL mode otherwise: SQLite's online backup API in a single step.
 * `onRelease` runs once the source is no longer locked (fingerprint.ts keeps
 * its descriptors open until then: closing one would drop the lock).
 */
export async function takeSnapshot(source: Database.Database, options: { inPlace?: boolean; onRelease?: () => void } = {}): Promise<Snapshot> {
  const journal = String(source.pragma("journal_mode", { simple: true }));
  if (options.inPlace && journal === "wal" && source.name !== ":memory:") return snapshotWalInPlace(source, options.onRelease ?? (() => {}));
  if (options.inPlace && journal !== "wal" && source.name !== ":memory:" && statSync(source.name).size <= IN_PLACE_MAX_BYTES) {
    return snapshotInPlace(source, journal, options.onRelease ?? (() => {}));
  }
  const dir = snapshotDir(source.name);
  const path = join(dir, "snapshot.db");
  const started = Date.now();
  let takenAt = new Date(started);
  let method: string;
  try {
    if (journal !== "wal" && source.name !== ":memory:") {
      source.exec("BEGIN");
      try {
        source.prepare("SELECT count(*) FROM sqlite_schema").get(); // takes the SHARED lock
        takenAt = new Date();
        copyFileSync(source.name, path);
      } finally {
        source.exec("COMMIT");
      }
      method = `file copy under a read lock (${journal} journal)`;
    } else {
      // The first step (0 pages) only opens the backup; the second copies everything.
      await source.backup(path, {
        progress: () => {
          takenAt = new Date();
          return ALL_PAGES;
        },
      });
      method = `backup in one step (${journal} journal)`;
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    options.onRelease?.();
  }
  const ms = Date.now() - started;
  return {
    path,
    takenAt: takenAt.toISOString(),
    ms,
    method,
    inPlace: false,
    holdsWriters: false,
    open: () => new Database(path, { readonly: true, fileMustExist: true }),
    materialize: async (db) => db,
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Read in place, a refresh holds the app's writers for as long as it reads —
 * its whole plan, digest scan and sync: 3 s at 400,000 rows, growing with the
 * table. A copy holds them only for the copy (~30 ms for 30 MB, ~0.25 s for
 * 380 MB). So only a file this small, whose reading is short however the
 * refresh goes, is read in place; a bigger one is copied under the lock and
 * let go at once.
 */
export const IN_PLACE_MAX_BYTES = 4 << 20;

function snapshotInPlace(source: Database.Database, journal: string, onRelease: () => void): Snapshot {
  const started = Date.now();
  source.exec("BEGIN");
  try {
    source.prepare("SELECT count(*) FROM sqlite_schema").get(); // takes the SHARED lock
  } catch (err) {
    source.exec("COMMIT");
    onRelease();
    throw err;
  }
  const takenAt = new Date().toISOString();
  // Kept open while locked: closing a descriptor of the source drops this process's locks on it.
  const fd = openSync(source.name, "r");
  const readers = new Set<Database.Database>();
  let copied: { dir: string; path: string } | undefined;
  let releasedAt: number | undefined;

  const release = () => {
    if (releasedAt !== undefined) return;
    releasedAt = Date.now();
    for (const db of readers) if (db.open) db.close();
    readers.clear();
    if (source.open && source.inTransaction) source.exec("COMMIT");
    closeSync(fd);
    onRelease();
  };
  const copyFile = () => {
    if (copied) return;
    const dir = snapshotDir(source.name);
    const path = join(dir, "snapshot.db");
    try {
      copyFromDescriptor(fd, path);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    copied = { dir, path };
  };
  const ofCopy: Database.Database[] = [];
  // Another connection of this process joins the lock: SQLite shares the
  // process's POSIX locks among its connections (worker threads' too), so it
  // reads the locked state even while another process waits to commit.
  const openReader = (): Database.Database => {
    const db = new Database(copied?.path ?? source.name, { readonly: true, fileMustExist: true });
    if (copied) ofCopy.push(db);
    else readers.add(db);
    return db;
  };
  return {
    get path() {
      return copied?.path ?? source.name;
    },
    takenAt,
    get ms() {
      return (releasedAt ?? Date.now()) - started;
    },
    get method() {
      return `read in place under a read lock${copied ? ", then copied" : ""} (${journal} journal)`;
    },
    get inPlace() {
      return !copied;
    },
    get holdsWriters() {
      return !copied;
    },
    open: openReader,
    async materialize(db) {
      copyFile();
      if (db && readers.delete(db)) {
        db.close();
        db = openReader();
      }
      for (const r of readers) if (!r.open) readers.delete(r);
      if (readers.size === 0) release();
      return db;
    },
    dispose() {
      release();
      for (const db of ofCopy) if (db.open) db.close();
      if (copied) rmSync(copied.dir, { recursive: true, force: true });
    },
  };
}

/** Where snapshots go when TMPDIR does not say: memory, when it has room to spare. */
export const MEMORY_DIR = "/dev/shm";

/**
 * A new directory for a copy of `source`: in memory (/dev/shm) when the copy
 * takes at most a quarter of both its free space and the machine's free
 * memory, on disk (TMPDIR, /tmp) otherwise or when TMPDIR is set. On disk, the
 * copy's few hundred MB of dirty pages made the next commit to a PostgreSQL on
 * the same disk wait 0.2–0.3 s for them (ext4 flushes them with its journal).
 */
export function snapshotDir(source: string, memoryDir = MEMORY_DIR): string {
  let dir = tmpdir();
  if (!process.env.TMPDIR && source !== ":memory:") {
    try {
      const size = statSync(source).size + (statSync(`${source}-wal`, { throwIfNoEntry: false })?.size ?? 0);
      const fs = statfsSync(memoryDir);
      if (4 * size <= Math.min(fs.bavail * fs.bsize, freemem())) dir = memoryDir;
    } catch {
      // no such directory: on disk
    }
  }
  return mkdtempSync(join(dir, "pgshift-snapshot-"));
}

/** The locked source, copied through the descriptor that holds it (a copy by path would close another one). */
function copyFromDescriptor(fd: number, path: string): void {
  const out = openSync(path, "w");
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (let at = 0, n; (n = readSync(fd, buf, 0, buf.length, at)) > 0; at += n) writeSync(out, buf, 0, n);
  } finally {
    closeSync(out);
  }
}

/** Readers that are a pinned WAL snapshot's own connection: another thread opening the file would see later commits. */
const pinnedViews = new WeakSet<Database.Database>();

/** Whether a worker thread opening `db`'s file reads the same state as `db` (not so for a WAL snapshot read in place). */
export function readableByWorkers(db: Database.Database): boolean {
  return !pinnedViews.has(db);
}

/**
 * WAL mode, read in place: the source's connection holds one read transaction
 * from here to the copy or dispose, and every reader handed out is that same
 * connection (a view whose close() leaves it open). The app's writers never
 * wait for it. A refresh that re-reads a few ranges reads nothing else; one that
 * needs a file (worker threads, a whole table) gets it from SQLite's backup API
 * run inside the same read transaction, so the copy holds the same state.
 */
function snapshotWalInPlace(source: Database.Database, onRelease: () => void): Snapshot {
  const started = Date.now();
  source.exec("BEGIN");
  try {
    source.prepare("SELECT count(*) FROM sqlite_schema").get(); // starts the read transaction: the state is fixed here
  } catch (err) {
    source.exec("COMMIT");
    onRelease();
    throw err;
  }
  const takenAt = new Date().toISOString();
  const ms = Date.now() - started;
  let copied: { dir: string; path: string } | undefined;
  // Once copied the transaction is gone and the connection would read the live file: the view refuses.
  const prepare = (sql: string) => {
    if (copied) throw new Error("This reader of a WAL-mode source read in place was replaced by a reader of its copy: read from that.");
    return source.prepare.call(view, sql);
  };
  const view = Object.create(source, { close: { value: () => view }, prepare: { value: prepare } }) as Database.Database;
  pinnedViews.add(view);
  const ofCopy: Database.Database[] = [];
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    if (source.open && source.inTransaction) source.exec("COMMIT");
    onRelease();
  };
  const openCopy = () => {
    const db = new Database(copied!.path, { readonly: true, fileMustExist: true });
    ofCopy.push(db);
    return db;
  };
  return {
    get path(): string {
      if (!copied)
        throw new Error("A WAL-mode source read in place has no file holding its snapshot until materialize(): another connection would read later commits.");
      return copied.path;
    },
    takenAt,
    ms,
    get method() {
      return `read in place under a read transaction${copied ? ", then copied with the backup API" : ""} (wal journal)`;
    },
    get inPlace() {
      return !copied;
    },
    holdsWriters: false,
    open: () => (copied ? openCopy() : view),
    async materialize(db) {
      if (!copied) {
        const dir = snapshotDir(source.name);
        const path = join(dir, "snapshot.db");
        try {
          // Inside the read transaction held above: the backup reads that same state, in one step.
          await source.backup(path, { progress: () => ALL_PAGES });
        } catch (err) {
          rmSync(dir, { recursive: true, force: true });
          throw err;
        }
        copied = { dir, path };
        release();
      }
      return db === view ? openCopy() : db;
    },
    dispose() {
      release();
      for (const db of ofCopy) if (db.open) db.close();
      if (copied) rmSync(copied.dir, { recursive: true, force: true });
    },
  };
}
