// pgshift.loads, pgshift's record of its loads: created on the first run,
// upgraded from an older shape, and left alone once current (no DDL: each
// ALTER commits, and a commit can wait on the disk).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { connect } from "../../../src/engine/postgres/connection";
import { ensureLoadsTable } from "../../../src/engine/postgres/catalog";

let pgs: TestPostgres;
before(async () => (pgs = await startPostgres()));
after(async () => pgs?.stop());

const columns = async (db: string) =>
  (
    await pgs.query<{ attname: string; attstorage: string }>(
      "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = 'pgshift.loads'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
      [],
      db,
    )
  ).map((c) => `${c.attname}:${c.attstorage}`);

test("ensureLoadsTable creates pgshift.loads, upgrades an older one, and writes nothing once it is current", async () => {
  const url = await pgs.createDatabase("catalog_loads");
  const db = new URL(url).pathname.slice(1);
  const client = await connect(url);
  try {
    await ensureLoadsTable(client);
    const shape = await columns(db);
    assert.ok(shape.includes("range_digests:e") && shape.includes("writer_xids:x"), shape.join(", "));

    // An older pgshift's table: fewer columns, digests stored the default way.
    await client.query("ALTER TABLE pgshift.loads DROP COLUMN writer_xids, DROP COLUMN layout");
    await client.query("ALTER TABLE pgshift.loads ALTER COLUMN range_digests SET STORAGE EXTENDED");
    await ensureLoadsTable(client);
    assert.deepEqual((await columns(db)).sort(), [...shape].sort(), "the upgrade adds the columns and sets the storage again");
    await client.query("ALTER TABLE pgshift.loads ALTER COLUMN range_digests SET STORAGE EXTENDED");
    await ensureLoadsTable(client);
    assert.ok((await columns(db)).includes("range_digests:e"), "the storage alone is set again");

    // Current: no DDL at all (an event trigger logs every command that would change a table).
    await client.query("CREATE TABLE public.ddl_log (tag text)");
    await client.query(
      "CREATE FUNCTION public.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.ddl_log VALUES (tg_tag); END $$",
    );
    await client.query("CREATE EVENT TRIGGER log_ddl ON ddl_command_start EXECUTE FUNCTION public.log_ddl()");
    await ensureLoadsTable(client);
    assert.deepEqual(await pgs.query("SELECT tag FROM public.ddl_log", [], db), [], "nothing runs on a current table");
    await client.query("ALTER TABLE pgshift.loads DROP COLUMN casts");
    await client.query("TRUNCATE public.ddl_log");
    await ensureLoadsTable(client);
    assert.ok((await pgs.query("SELECT tag FROM public.ddl_log", [], db)).length > 0, "the trigger sees the upgrade's commands");
    assert.deepEqual((await columns(db)).sort(), [...shape].sort());
  } finally {
    await client.end();
  }
});
