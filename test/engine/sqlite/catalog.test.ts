// What the catalog sees and the plan says: skipped objects with reasons,
// WITHOUT ROWID, composite keys, FK chains and self-references, hard names.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { sqliteFile } from "../../helpers/sqlite";
import { formatPlan, migrate, planMigration } from "../../../src/engine";

let pg: TestPostgres;
before(async () => (pg = await startPostgres()));
after(async () => pg?.stop());

const tricky = () =>
  sqliteFile((db) => {
    db.exec(`
      CREATE TABLE "Order Details" ("Order ID" INTEGER NOT NULL, "Line" INTEGER NOT NULL, "user" TEXT, "say ""hi""" TEXT, "order" INTEGER,
        PRIMARY KEY ("Order ID", "Line")) WITHOUT ROWID;
      CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
      CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE ON UPDATE RESTRICT,
        boss_id INTEGER REFERENCES child(id));
      CREATE TABLE grandchild (a INTEGER, b INTEGER, child_id INTEGER REFERENCES child(id), PRIMARY KEY (a, b));
      CREATE TABLE empty (id INTEGER PRIMARY KEY, note TEXT);
      CREATE TABLE nokey (x TEXT, y REAL);
      CREATE INDEX ix_child_active ON child (parent_id) WHERE boss_id IS NOT NULL;
      CREATE VIEW v_children AS SELECT * FROM child;
      CREATE TRIGGER trg AFTER INSERT ON parent BEGIN SELECT 1; END;
      CREATE VIRTUAL TABLE docs USING fts5(body);
      INSERT INTO "Order Details" VALUES (1, 1, 'ayşe', 'x', 5), (1, 2, NULL, NULL, NULL), (2, 1, 'b', 'c', 7);
      INSERT INTO parent (name) VALUES ('p1'), ('p2'), ('p3');
      DELETE FROM parent WHERE id = 3;
      INSERT INTO child VALUES (1, 1, NULL), (2, 1, 1), (3, 2, 2);
      INSERT INTO grandchild VALUES (1, 1, 3), (1, 2, 3);
      INSERT INTO nokey VALUES ('a', 1.0), ('a', 1.0), ('b', NULL);
      INSERT INTO docs VALUES ('full text');
    `);
  });

test("the plan lists views, triggers and virtual tables as not copied, with reasons", async () => {
  const plan = await planMigration({ source: tricky() });
  const skipped = plan.skipped.map((s) => `${s.kind}:${s.name}`);
  assert.ok(skipped.includes("view:v_children"));
  assert.ok(skipped.includes("trigger:trg"));
  assert.ok(skipped.includes("virtual table:docs"));
  assert.ok(plan.skipped.every((s) => s.reason.length > 10));
  assert.ok(!plan.tables.some((t) => t.source.startsWith("docs")), "FTS shadow tables are not copied");
  const order = plan.loadOrder;
  assert.ok(order.indexOf("parent") < order.indexOf("child") && order.indexOf("child") < order.indexOf("grandchild"), order.join(","));
  const text = formatPlan(plan);
  for (const s of ["Order Details → order details", "WITHOUT ROWID", "Not copied:", "virtual table docs", "Cast rules"]) assert.ok(text.includes(s), s);
});

test("hard names, composite keys, WITHOUT ROWID, FK chains, empty and keyless tables arrive intact", async () => {
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  const r = await migrate({ source: tricky(), target: url });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  const od = await pg.query(`SELECT "order id", "line", "user", "say ""hi""", "order" FROM "order details" ORDER BY 1, 2`, [], db);
  assert.deepEqual(od, [
    { "order id": "1", line: "1", user: "ayşe", 'say "hi"': "x", order: "5" },
    { "order id": "1", line: "2", user: null, 'say "hi"': null, order: null },
    { "order id": "2", line: "1", user: "b", 'say "hi"': "c", order: "7" },
  ]);
  const [pk] = await pg.query<{ def: string }>(
    `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = '"order details"'::regclass AND contype = 'p'`,
    [],
    db,
  );
  assert.equal(pk!.def, 'PRIMARY KEY ("order id", line)');
  const fks = await pg.query<{ def: string }>(
    "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'child'::regclass AND contype = 'f' ORDER BY 1",
    [],
    db,
  );
  assert.deepEqual(
    fks.map((f) => f.def),
    [
      "FOREIGN KEY (boss_id) REFERENCES child(id) ON UPDATE NO ACTION ON DELETE NO ACTION".replace(" ON UPDATE NO ACTION ON DELETE NO ACTION", ""),
      "FOREIGN KEY (parent_id) REFERENCES parent(id) ON UPDATE RESTRICT ON DELETE CASCADE",
    ],
  );
  const [partial] = await pg.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_child_active'", [], db);
  assert.match(partial!.indexdef, /WHERE \(boss_id IS NOT NULL\)/);
  const [empty] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM empty", [], db);
  assert.equal(Number(empty!.n), 0);
  const nokey = await pg.query("SELECT x, y FROM nokey ORDER BY x, y", [], db);
  assert.equal(nokey.length, 3, "duplicate rows in a keyless table are all kept");
  // AUTOINCREMENT never reuses an id SQLite handed out (3 was deleted)
  const [p] = await pg.query<{ id: string }>("INSERT INTO parent (name) VALUES ('new') RETURNING id", [], db);
  assert.equal(p!.id, "4");
  const [e] = await pg.query<{ id: string }>("INSERT INTO empty (note) VALUES ('first') RETURNING id", [], db);
  assert.equal(e!.id, "1");
});

test("--identifiers preserve keeps names exactly", async () => {
  const url = await pg.createDatabase();
  const r = await migrate({ source: tricky(), target: url, identifiers: "preserve", tables: ["Order Details"] });
  assert.equal(r.ok, true);
  const rows = await pg.query(`SELECT count(*)::int AS n FROM "Order Details" WHERE "Order ID" = 1`, [], url.split("/").pop());
  assert.deepEqual(rows, [{ n: 2 }]);
});

test("verification catches a row changed in PostgreSQL behind pgshift's back", async () => {
  const src = tricky();
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  await migrate({ source: src, target: url });
  await pg.query("UPDATE child SET boss_id = NULL WHERE id = 3; DELETE FROM grandchild WHERE b = 2; UPDATE nokey SET y = 2 WHERE x = 'b'", [], db);
  const r = await migrate({ source: src, target: url });
  assert.equal(r.ok, false);
  const child = r.tables.find((t) => t.source === "child")!;
  assert.deepEqual(child.differences[0], { key: { id: "3" }, problem: "values differ", columns: [{ column: "boss_id", source: "2", target: "\\N" }] });
  const gc = r.tables.find((t) => t.source === "grandchild")!;
  assert.equal(gc.differences[0]!.problem, "missing in PostgreSQL");
  assert.equal(r.tables.find((t) => t.source === "nokey")!.match, false);
});
