import { test } from "node:test";
import assert from "node:assert/strict";
import { startPostgres } from "./postgres";

test("embedded PostgreSQL 16 starts and answers", async () => {
  const pgs = await startPostgres();
  try {
    const rows = await pgs.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    assert.ok(Number(rows[0]!.v) >= 160000 && Number(rows[0]!.v) < 170000, `got ${rows[0]!.v}`);
    const url = await pgs.createDatabase();
    const r2 = await pgs.query<{ d: string }>("SELECT current_database() d", [], url.split("/").pop());
    assert.match(r2[0]!.d, /^t_/);
  } finally {
    await pgs.stop();
  }
});
