// Write downtime of the cutover's data steps with the app's database at 1M rows:
// the bench's `messages` table, loaded into PostgreSQL 16, a stand-in app
// writing a message every 20 ms to SQLite, then the cutover's ordered steps
// (src/provider/cutover-steps.ts) with the real engine: stop → final snapshot →
// delta sync + verification → switch → start. The stand-in starts at once, so
// this is the downtime without the pods' own stop and start (measured on a node
// only). Run: nice node --import tsx bench/cutover-downtime.ts [rows]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateBenchDb } from "./generate";
import { startPostgres } from "../test/helpers/postgres";
import { StandInApp } from "../test/helpers/stand-in-app";
import { migrate } from "../src/engine";
import { engineData } from "../src/provider/cutover-data";
import { cutOver } from "../src/provider/cutover-steps";

async function main(): Promise<void> {
  const rows = Number(process.argv[2] ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), "pgshift-cutover-bench-"));
  const file = join(dir, "app.db");
  const pg = await startPostgres();
  try {
    let t = Date.now();
    generateBenchDb(file, rows);
    console.log(`generated ${rows.toLocaleString("en")} messages in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const url = await pg.createDatabase("cutover");
    t = Date.now();
    const load = await migrate({ source: file, target: url, schema: "create" });
    console.log(`first copy ${((Date.now() - t) / 1000).toFixed(1)} s (ok ${load.ok})`);
    const write = {
      sqlite: "INSERT INTO messages (id, bot_id, text, created_at) VALUES (?, 1, ?, '2026-01-01 00:00:00.000000')",
      pg: "INSERT INTO messages (id, bot_id, text, created_at) VALUES ($1, 1, $2, '2026-01-01 00:00:00')",
      params: (id: number, on: string) => [id, `written on ${on}`],
    };
    const app = new StandInApp(file, url, 20, write, rows + 1_000_000);
    app.replicasOf = { "Deployment/api": 1 };
    // Writes between the last copy and the cutover: what the final sync has to bring.
    app.start();
    await new Promise((r) => setTimeout(r, 10_000));
    const data = engineData(
      { sqlitePath: file, targetUrl: url, tunnel: null, schema: "create", tables: [], identifiers: "downcase", casts: {}, jobs: 2, backupDir: "" },
      async () => file,
    );
    const r = await cutOver(app, data, { workloads: [{ kind: "Deployment", name: "api" }], timeoutMs: 120_000 });
    await new Promise((res) => setTimeout(res, 2_000));
    await app.stop();
    const acked = app.acknowledged;
    const [n] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM messages WHERE id > $1", [rows], "cutover");
    console.log(
      `write downtime ${(r.writeDowntimeMs / 1000).toFixed(2)} s; rows synced ${r.rowsSynced}; acknowledged ${acked.length} (${acked.filter((a) => a.on === "sqlite").length} on SQLite), in PostgreSQL ${n!.n}`,
    );
    console.log(r.steps.join("\n"));
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
