// What the node tests read back from the writing sample app
// (src/cluster/sample-app.ts): the ids it logged as acknowledged, and the check
// that each of them is in a database once, as written. Shared by the
// StatefulSet stack's test (test/stacks-cluster.test.ts) and the CloudNativePG
// one's (test/stacks-cnpg-node.test.ts).
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { nodeName?: string; volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[] };
  status: { phase: string; conditions?: { type: string; status: string }[]; podIP?: string };
}

export const podReady = (p: Pod | undefined) =>
  !!p && !p.metadata.deletionTimestamp && !!p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");

/** one line of acks-<pod>.log: the backend, the id the database returned, the row's text ("ack <pod> <run> <n>") */
export interface Ack {
  backend: "sqlite" | "postgresql";
  id: string;
  tag: string;
}

/** every id the app's pods logged as acknowledged, from the directory they mount at /app */
export const readAcks = (appDir: string): Ack[] =>
  readdirSync(appDir)
    .filter((f) => /^acks-.*\.log$/.test(f))
    .flatMap((f) => readFileSync(join(appDir, f), "utf8").split("\n").filter(Boolean))
    .map((line) => {
      const [backend, id, ...tag] = line.split(" ");
      return { backend: backend as Ack["backend"], id: id!, tag: tag.join(" ") };
    });

/** every acknowledged id is in `rows` (id → text) with the row the app wrote, and that row is there once */
export function assertEveryAck(rows: Map<string, string>, list: Ack[], side: string): void {
  const byText = new Map<string, number>();
  for (const text of rows.values()) byText.set(text, (byText.get(text) ?? 0) + 1);
  const missing = list.filter((a) => rows.get(a.id) !== a.tag);
  const twice = list.filter((a) => (byText.get(a.tag) ?? 0) > 1);
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${list.length} acknowledged rows are not in ${side} as written`);
  assert.deepEqual(twice.slice(0, 5), [], `${twice.length} acknowledged rows are in ${side} more than once`);
  assert.equal(new Set(list.map((a) => a.tag)).size, list.length, "each row was acknowledged once");
}
