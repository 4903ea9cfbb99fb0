-- What pgshift itself loaded, and from which source: the record that makes
-- re-runs exactly-once and lets pgshift tell its own tables from the app's.
CREATE SCHEMA IF NOT EXISTS pgshift;
CREATE TABLE IF NOT EXISTS pgshift.loads (
  target_schema      text        NOT NULL,
  target_table       text        NOT NULL,
  source_table       text        NOT NULL,
  source_fingerprint text        NOT NULL,
  schema_mode        text        NOT NULL,
  row_count          bigint      NOT NULL,
  loaded_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (target_schema, target_table)
);
-- How it was loaded, so a plain `pgshift verify` compares the same way.
ALTER TABLE pgshift.loads ADD COLUMN IF NOT EXISTS identifiers text NOT NULL DEFAULT 'downcase';
ALTER TABLE pgshift.loads ADD COLUMN IF NOT EXISTS casts jsonb NOT NULL DEFAULT '{}';
-- The table's columns and keys when loaded (delta.ts layoutOf): a refresh syncs
-- only the changed key ranges while it matches, and reloads the table otherwise.
ALTER TABLE pgshift.loads ADD COLUMN IF NOT EXISTS layout text;
-- Delta sync's record of the rows (delta.ts, range-digests.ts): the key range
-- width, per range the row count and a digest of SQLite's raw values as loaded
-- (int64 triples), and the transactions pgshift wrote the table's rows in. A
-- refresh then finds what changed in SQLite by hashing the new file, and what
-- changed in PostgreSQL from row counts and xmin: a row written by anyone else
-- carries another transaction id. NULL: compare full contents instead.
ALTER TABLE pgshift.loads ADD COLUMN IF NOT EXISTS range_width bigint;
ALTER TABLE pgshift.loads ADD COLUMN IF NOT EXISTS range_digests bytea;
ALTER TABLE pgshift.loads ADD COLUMN IF NOT EXISTS writer_xids xid8[];
-- The digests are random bytes: compressing 3 MB of them (a 1M-row table) on every
-- load and sync costs ~60 ms and saves little. Stored out of line as they are.
ALTER TABLE pgshift.loads ALTER COLUMN range_digests SET STORAGE EXTERNAL;
