// What the migration's phases (phases/*.ts) share: one LoadContext per run,
// built by migrate.ts, read by every phase (their sessions, transactions and
// pool are postgres/connection.ts). Types only flow from here outwards, so the
// phases and migrate.ts never import each other in a circle.
import type pg from "pg";
import type { CopyResult } from "./postgres/copy";
import type { SyncResult } from "./delta-sync";
import type { MigrationOptions, MigrationPlan, TablePlan } from "./plan";
import type { ReadWorkers } from "./sqlite/read-workers";
import type { Snapshot } from "./sqlite/snapshot";
import type { RowDifference, TableVerification } from "./compare";
import type { StepClock } from "./step-clock";

export interface ProgressEvent {
  table: string;
  phase: "copy" | "keep" | "indexes" | "foreign keys" | "verify" | "done";
  rows: number;
  total: number;
}

export interface MigrateOptions extends MigrationOptions {
  target: string;
  /** reload tables pgshift loaded earlier from a different version of the source */
  refresh?: boolean;
  /** replace target tables pgshift did not load (create: drop and recreate; existing: truncate) */
  overwrite?: boolean;
  /** compare every row afterwards (DEFAULTS.verify) */
  verify?: boolean;
  onProgress?: (e: ProgressEvent) => void;
}

/**
 * "bookkeeping": a migration tool's table whose rows in PostgreSQL were kept (bookkeeping.ts);
 * "synced": refreshed by re-copying only the key ranges that changed (delta.ts).
 */
export type TableAction = "loaded" | "reloaded" | "synced" | "kept" | "replaced" | "bookkeeping";

/** What the decide phase chose for a table; "load" is reported as "loaded". */
export type Decision = TableAction | "load";

export interface TableReport {
  source: string;
  target: string;
  sourceRows: number;
  targetRows: number;
  match: boolean;
  action: TableAction;
  differences: RowDifference[];
  /** how the rows were compared: the digest of what was sent, or row by row against SQLite */
  verifiedBy?: TableVerification["method"];
  /** loaded, but something the app will notice (e.g. a sequence with no value left) */
  warnings?: string[];
  /** rows copied in this run: every row for a load or reload, the re-copied ranges' rows for a sync, 0 when kept */
  copiedRows?: number;
  /** a refresh: how it went (ranges compared and re-copied, or why the table was reloaded whole) */
  refresh?: string;
}

/** What a load sent (for the digest check), and what the report should tell the app's owner. */
export type Loaded = CopyResult & { warnings: string[]; sync?: SyncResult; refresh?: string };

export type Progress = (table: string, phase: ProgressEvent["phase"], rows: number, total: number) => void;

/** One run's state, shared by its phases: decide → load (with keys) → foreign keys → verify. */
export interface LoadContext {
  /** the PostgreSQL URL; each table's transaction opens its own session on it */
  url: string;
  /** the SQLite file's path, as given (for messages) */
  source: string;
  plan: MigrationPlan;
  /** every table is read from this one moment of the source */
  snapshot: Snapshot;
  /** the source file's fingerprint (fingerprint.ts), hashed on another thread; in a refresh reading in place, the hashing starts at the first call */
  fingerprint: () => Promise<string>;
  /** what a refresh recorded in place of the fingerprint, replaced once it is hashed (settleFingerprint) */
  fingerprintPlaceholder?: string;
  /** a session for catalog reads, ANALYZE and foreign keys */
  admin: pg.Client;
  /** where `migrate` marks the end of each step (a refresh marks its own steps inside the load) */
  clock?: StepClock;
  /** tables loaded / verified at the same time */
  jobs: number;
  progress: Progress;
  /** the plan's tables, referenced tables first */
  ordered: TablePlan[];
  /** per target table, what the decide phase chose */
  actions: Map<string, Decision>;
  /** per target table, what its copy sent, so verify can compare digests instead of re-reading SQLite */
  sent: Map<string, Loaded>;
  /** worker threads converting big tables, when several load at once: how many, and once the first whole table is copied, the workers */
  readerThreads?: number;
  readers?: ReadWorkers;
  /** with verification: per target table, its proof by digest, started as its load committed (verify.ts proveEarly) */
  proofs?: Map<string, Promise<boolean>>;
  /** the `jobs` connections verification reads parts back over, shared by every table's proof */
  readBack?: <T>(work: () => Promise<T>) => Promise<T>;
}
