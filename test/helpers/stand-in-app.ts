// A stand-in for the app on the cluster, for the cutover's steps
// (src/provider/cutover-steps.ts): while it has replicas, one writer inserts a
// row every `everyMs` into whichever database its Secret named when it started
// (like a pod's environment), logging each acknowledged id; scaled to 0 it
// stops writing. Used by test/provider/cutover-steps.test.ts and
// bench/cutover-downtime.ts.
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import pg from "pg";
import type { HealthCheck, Workload } from "../../src/kube/app-workloads";
import type { AppSide, Backend } from "../../src/provider/cutover-steps";

/** The row each write inserts; `id` is the app's own, acknowledged once the insert returns. */
export interface StandInWrite {
  sqlite: string;
  pg: string;
  params: (id: number, on: Backend) => unknown[];
}

const EVENTS: StandInWrite = {
  sqlite: "INSERT INTO events (id, note) VALUES (?, ?)",
  pg: "INSERT INTO events (id, note) VALUES ($1, $2)",
  params: (id, on) => [id, `written on ${on}`],
};

/** The app: while it has replicas, one writer inserts a row every `everyMs` into the backend its pods started with. */
export class StandInApp implements AppSide {
  secret: Backend = "sqlite";
  replicasOf: Record<string, number> = { "Deployment/api": 2, "StatefulSet/worker": 1 };
  acknowledged: { id: number; on: Backend; run: number }[] = [];
  /** how many times the app was started: each start reads the Secret once, like a pod's environment */
  runs = 0;
  calls: string[] = [];
  health = 200;
  private running: Backend | undefined;
  private loop: Promise<void> | undefined;
  private next: number;

  constructor(
    private readonly sqlitePath: string,
    private readonly pgUrl: string,
    private readonly everyMs = 5,
    private readonly write: StandInWrite = EVENTS,
    firstId = 1_000_000,
  ) {
    this.next = firstId;
  }

  start(): void {
    if (this.running) return;
    const on = (this.running = this.secret);
    const run = ++this.runs;
    this.loop = (async () => {
      const lite = on === "sqlite" ? new Database(this.sqlitePath) : undefined;
      const client = on === "postgresql" ? new pg.Client({ connectionString: this.pgUrl }) : undefined;
      await client?.connect();
      try {
        while (this.running === on) {
          const id = this.next++;
          if (lite) lite.prepare(this.write.sqlite).run(...this.write.params(id, on));
          else await client!.query(this.write.pg, this.write.params(id, on));
          this.acknowledged.push({ id, on, run });
          await new Promise((r) => setTimeout(r, this.everyMs));
        }
      } finally {
        lite?.close();
        await client?.end();
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = undefined;
    await this.loop;
  }

  private total(): number {
    return Object.values(this.replicasOf).reduce((a, b) => a + b, 0);
  }
  async replicas(w: Workload) {
    return this.replicasOf[`${w.kind}/${w.name}`] ?? 0;
  }
  async scale(w: Workload, n: number) {
    this.calls.push(`scale ${w.name} ${n}`);
    this.replicasOf[`${w.kind}/${w.name}`] = n;
    if (this.total() === 0) await this.stop();
  }
  async waitStopped(w: Workload) {
    this.calls.push(`stopped ${w.name}`);
    assert.equal(this.running, undefined, "a writer still runs after every workload was scaled to 0");
  }
  async waitReady(w: Workload) {
    this.calls.push(`ready ${w.name}`);
    if (this.total() > 0) this.start();
  }
  async switchTo(b: Backend) {
    this.calls.push(`secret ${b}`);
    this.secret = b;
  }
  async probe(_check: HealthCheck) {
    this.calls.push("probe");
    return this.health;
  }
}
