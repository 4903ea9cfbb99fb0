// After the commit, pgshift.loads is brought up to date with the file.
import type Database from "better-sqlite3";
import type pg from "pg";
import { fingerprintSqlite } from "../sqlite/fingerprint";
import { recordedRanges } from "../postgres/catalog";
import type { TablePlan } from "../plan";
import { deltaKeyColumn } from "../delta";
import { tableWriters } from "../delta-sync";
import { rangeDigestsExtension, serializeDigests, sqliteRangeDigests } from "../sqlite/range-digests";
import { sqliteRows } from "./differences";

/**
 * After the commit, pgshift.loads says what is now true: the file's rows are
 * PostgreSQL's. Its range digests are the file's, the transactions that wrote
 * PostgreSQL's rows count as pgshift's (so the next refresh finds both sides
 * level without copying a row), and records that named the file before the
 * write name the file as it is now.
 */
export async function updateRecords(
  client: pg.Client,
  schema: string,
  db: Database.Database,
  file: string,
  released: Promise<void>,
  written: TablePlan[],
  fingerprintBefore: string,
): Promise<void> {
  const extension = rangeDigestsExtension();
  for (const t of written) {
    const key = deltaKeyColumn(t);
    const rows = sqliteRows(db, t.source);
    const path = "path" in extension ? extension.path : undefined;
    const recorded = key && path ? await recordedRanges(client, schema, t.target) : undefined;
    const writers = recorded ? await tableWriters(client, schema, t) : undefined;
    if (key && path && recorded && writers) {
      const digests = serializeDigests(sqliteRangeDigests(db, t, key.source, recorded.width, path));
      await client.query(
        "UPDATE pgshift.loads SET row_count = $3, range_digests = $4, writer_xids = $5::xid8[] WHERE target_schema = $1 AND target_table = $2",
        [schema, t.target, rows, digests, writers],
      );
    } else {
      // Too many writers to list (or nothing recorded): the next refresh compares contents.
      await client.query(
        "UPDATE pgshift.loads SET row_count = $3, range_width = NULL, range_digests = NULL, writer_xids = NULL WHERE target_schema = $1 AND target_table = $2",
        [schema, t.target, rows],
      );
    }
  }
  const after = await fingerprintSqlite(file, released);
  await client.query("UPDATE pgshift.loads SET source_fingerprint = $3 WHERE target_schema = $1 AND source_fingerprint = $2", [
    schema,
    fingerprintBefore,
    after,
  ]);
}
