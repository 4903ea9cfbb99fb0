// The committed cluster-ha stack (pgshift:database.engine cloudnative-pg)
// against a real API server (control plane only, test/helpers/kube.ts): a
// preview where CloudNativePG is missing stops with what to install; once the
// operator's CRDs from toolchain/cnpg/ are installed (what `npm run cluster --
// up --cnpg` does), the preview declares a postgresql.cnpg.io/v1 Cluster in
// place of the StatefulSet. The node test (test/stacks-cnpg-node.test.ts)
// runs it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pulumiWorkspace, repoRoot, type PulumiWorkspace } from "./helpers/pulumi";
import { startTestCluster, type TestCluster } from "./helpers/kube";
import { createSampleAppDb } from "../scripts/sample-app-db";
import { moveEncryptionSalt } from "../scripts/stack-file";
import { apiClient } from "../src/cluster/api";
import { readState } from "../src/cluster/cluster";
import { installCloudNativePg } from "../src/cluster/cnpg";
import { CNPG_CLUSTER_CRD, OperatorMissingError, checkCloudNativePg } from "../src/kube/operator-check";

let cluster: TestCluster;
let ws: PulumiWorkspace;
const work = mkdtempSync(join(tmpdir(), "pgshift-cnpg-stack-"));
const stackFile = join(repoRoot, "Pulumi.cluster-ha.yaml");
const committed = readFileSync(stackFile, "utf8");
const configFile = join(work, "Pulumi.cluster-ha.yaml");
const run = (args: string[], allowFailure = false) =>
  ws.run([...(["preview", "up", "destroy", "config"].includes(args[0]!) ? [...args, "--config-file", configFile] : args), "--stack", "cluster-ha"], {
    allowFailure,
  });

before(async () => {
  cluster = await startTestCluster();
  ws = pulumiWorkspace(repoRoot, cluster.env);
  await ws.run(["stack", "init", "cluster-ha", "--secrets-provider", "passphrase"]);
  moveEncryptionSalt(stackFile, configFile, committed, committed);
  const source = join(work, "app.db");
  createSampleAppDb(source, { messages: 50 });
  await run(["config", "set", "--path", "pgshift:migration.source", source]);
  await run(["config", "set", "--path", "pgshift:awaitReadiness", "false"]);
});
after(async () => {
  await ws?.run(["stack", "rm", "--yes", "--force", "--preserve-config", "cluster-ha"], { allowFailure: true });
  if (readFileSync(stackFile, "utf8") !== committed) throw new Error("the committed Pulumi.cluster-ha.yaml was changed");
  await cluster?.stop();
  rmSync(work, { recursive: true, force: true });
  if (ws) rmSync(ws.backendDir, { recursive: true, force: true });
});

test("without CloudNativePG the preview stops before declaring anything, saying what to install", async () => {
  const r = await run(["preview"], true);
  assert.notEqual(r.code, 0);
  const out = r.stdout + r.stderr;
  assert.match(
    out,
    /pgshift:database\.engine is cloudnative-pg, but the cluster \(context "[^"]+", API server https:\/\/127\.0\.0\.1:\d+\) has no CloudNativePG: the CustomResourceDefinition clusters\.postgresql\.cnpg\.io does not exist/,
  );
  assert.match(out, /npm run cluster -- up --cnpg/);
  await assert.rejects(checkCloudNativePg(readFileSync(cluster.kubeconfig, "utf8")), (e: unknown) => e instanceof OperatorMissingError);
});

test("with the operator's CRDs installed, the preview declares a CloudNativePG Cluster instead of the StatefulSet", async () => {
  const state = readState(cluster.dir)!;
  await installCloudNativePg({
    kubeconfig: cluster.kubeconfig,
    api: apiClient(state.apiPort, cluster.dir),
    node: false,
    log: () => {},
    waitFor: cluster.waitFor,
  });
  const crd = await cluster.get<{ spec: { versions: { name: string }[] } }>("crd", CNPG_CLUSTER_CRD);
  assert.deepEqual(
    crd?.spec.versions.map((v) => v.name),
    ["v1"],
  );
  await checkCloudNativePg(readFileSync(cluster.kubeconfig, "utf8"));
  const r = await run(["preview", "--json"]);
  const steps = (JSON.parse(r.stdout) as { steps: { op: string; urn: string; newState?: { inputs?: Record<string, any> } }[] }).steps; // eslint-disable-line @typescript-eslint/no-explicit-any
  const types = steps.map((s) => s.urn.split("::")[2]!.split("$").pop()!);
  assert.ok(types.includes("kubernetes:postgresql.cnpg.io/v1:Cluster"), types.join(", "));
  assert.ok(!types.includes("kubernetes:apps/v1:StatefulSet"), "no StatefulSet with cloudnative-pg");
  const c = steps.find((s) => s.urn.endsWith("kubernetes:postgresql.cnpg.io/v1:Cluster::postgres-cluster"))!;
  assert.equal(c.op, "create");
  const spec = c.newState!.inputs!.spec;
  assert.equal(spec.instances, 3);
  assert.equal(spec.imageName, "pgshift.local/cnpg-postgres:15");
  assert.deepEqual(spec.postgresql.synchronous, { method: "any", number: 1, dataDurability: "required" });
  assert.equal(c.newState!.inputs!.metadata.name, "cluster-postgres");
  // PUBLIC loses CONNECT on `postgres`; CloudNativePG's replication role keeps it, or a deleted primary never rejoins.
  const maintenance = steps.find((s) => s.urn.endsWith("postgresql:index/grant:Grant::roles-maintenance-streaming_replica"));
  const g = maintenance?.newState?.inputs ?? {};
  assert.deepEqual(
    { database: g["database"], role: g["role"], objectType: g["objectType"], privileges: g["privileges"] },
    { database: "postgres", role: "streaming_replica", objectType: "database", privileges: ["CONNECT"] },
  );
});
