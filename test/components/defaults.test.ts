// The pods pgshift runs, judged by a real kube-apiserver and controller
// manager (test/helpers/kube.ts). POD_SECURITY_LABELS: a namespace pgshift
// creates enforces the "restricted" Pod Security Standard, and every pod
// template, as the components build it, passes its PodSecurity admission
// (server-side dry run). The database's PodDisruptionBudget, against the
// Eviction API a node drain uses.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { captureResources, settle, type Captured } from "../helpers/mocks";
import { startTestCluster, type TestCluster } from "../helpers/kube";
import { POD_SECURITY_LABELS, pinnedImage } from "../../components/defaults";
import { PostgresDatabase } from "../../components/postgres-database";
import { PostgresExporter } from "../../components/postgres-exporter";
import { BackupCronJob } from "../../components/backup-cronjob";

const ns = "pgshift-restricted";
let cluster: TestCluster;
let pods: { name: string; spec: Record<string, unknown> }[] = [];
let serviceAccounts: string[] = [];
let databases: { drains: string; name: string; statefulSet: Record<string, unknown>; pdb: Record<string, unknown> }[] = [];

before(async () => {
  const resources: Captured[] = captureResources();
  new PostgresDatabase("postgres", {
    namespace: ns,
    namePrefix: "",
    database: "piyasa_db",
    image: "postgres:16-alpine",
    storageSize: "1Gi",
    requests: { cpu: "100m", memory: "256Mi" },
    limits: { cpu: "1", memory: "1Gi" },
    superuserSecretName: "postgres-superuser",
    tls: true,
    protect: false,
    maxConnections: 100,
    sharedBuffers: "128Mi",
    roles: ["piyasa_user", "piyasa_app"],
  });
  // The same database with drains: "block", for the eviction test.
  new PostgresDatabase("blocked", {
    namespace: ns,
    namePrefix: "blocked-",
    database: "piyasa_db",
    image: "postgres:16-alpine",
    storageSize: "1Gi",
    requests: { cpu: "100m", memory: "256Mi" },
    limits: { cpu: "1", memory: "1Gi" },
    superuserSecretName: "postgres-superuser",
    tls: false,
    protect: false,
    maxConnections: 100,
    sharedBuffers: "128Mi",
    roles: ["piyasa_user"],
    drains: "block",
  });
  new PostgresExporter("exporter", {
    namespace: ns,
    namePrefix: "",
    databaseInstance: "postgres",
    image: "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
    dsnSecretName: "dsn",
    caSecretName: "postgres-tls",
    serviceMonitor: false,
  });
  new BackupCronJob("backup", {
    namespace: ns,
    namePrefix: "",
    databaseInstance: "postgres",
    image: "postgres:16-alpine",
    schedule: "0 2 * * *",
    keepDaily: 7,
    keepWeekly: 4,
    keepMonthly: 6,
    storageSize: "1Gi",
    credentialsSecretName: "backup",
    caSecretName: "postgres-tls",
    protect: false,
  });
  await settle();
  const template = (r: Captured) => {
    if (r.type === "kubernetes:batch/v1:CronJob") return r.inputs.spec.jobTemplate.spec.template.spec;
    const spec = structuredClone(r.inputs.spec.template.spec);
    // What the StatefulSet controller adds: a claim per volumeClaimTemplate.
    for (const t of r.inputs.spec.volumeClaimTemplates ?? []) {
      spec.volumes = [
        ...(spec.volumes ?? []),
        { name: t.metadata.name, persistentVolumeClaim: { claimName: `${t.metadata.name}-${r.inputs.metadata.name}-0` } },
      ];
    }
    return spec;
  };
  databases = ["postgres", "blocked"].map((component) => {
    const sts = resources.find((r) => r.type === "kubernetes:apps/v1:StatefulSet" && r.name.startsWith(component))!;
    const pdb = resources.find((r) => r.type === "kubernetes:policy/v1:PodDisruptionBudget" && r.name.startsWith(component))!;
    return {
      drains: component === "blocked" ? "block" : "allow",
      name: sts.inputs.metadata.name,
      statefulSet: { apiVersion: "apps/v1", kind: "StatefulSet", ...sts.inputs },
      pdb: { apiVersion: "policy/v1", kind: "PodDisruptionBudget", ...pdb.inputs },
    };
  });
  pods = resources
    .filter(
      (r) =>
        ["kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:CronJob"].includes(r.type) && !r.name.startsWith("blocked"),
    )
    .map((r) => ({ name: r.inputs.metadata.name, spec: template(r) }));
  serviceAccounts = resources.filter((r) => r.type === "kubernetes:core/v1:ServiceAccount").map((r) => r.inputs.metadata.name);
  cluster = await startTestCluster();
  await cluster.kubectl(["apply", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: POD_SECURITY_LABELS } }),
  });
  for (const sa of serviceAccounts) await cluster.kubectl(["create", "serviceaccount", sa, "-n", ns], { allowFailure: true });
});
after(async () => cluster?.stop());

const submit = (name: string, spec: unknown) =>
  cluster.kubectl(["create", "--dry-run=server", "-n", ns, "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace: ns }, spec }),
    allowFailure: true,
  });

test('every pgshift pod (database, exporter, backup job) is admitted under Pod Security "restricted", each with its own token-less ServiceAccount', async () => {
  assert.deepEqual(pods.map((p) => p.name).sort(), ["postgres", "postgres-backup", "postgres-exporter"]);
  for (const p of pods) {
    const r = await submit(p.name, p.spec);
    assert.equal(r.code, 0, `${p.name}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /PodSecurity/, p.name);
    assert.equal(p.spec.automountServiceAccountToken, false, p.name);
    assert.ok(serviceAccounts.includes(p.spec.serviceAccountName as string), `${p.name} runs as its own ServiceAccount`);
  }
  assert.equal(new Set(pods.map((p) => p.spec.serviceAccountName)).size, 3, "one ServiceAccount per workload");
});

test("the namespace really enforces it: the database pod without its hardening is refused", async () => {
  const db = structuredClone(pods.find((p) => p.name === "postgres")!.spec) as {
    securityContext: Record<string, unknown>;
    containers: { securityContext: Record<string, unknown> }[];
  };
  delete db.securityContext.seccompProfile;
  db.containers[0]!.securityContext = { ...db.containers[0]!.securityContext, allowPrivilegeEscalation: true, capabilities: {} };
  const r = await submit("postgres-weakened", db);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /violates PodSecurity "restricted:latest"/);
  assert.match(r.stderr, /seccompProfile/);
  assert.match(r.stderr, /allowPrivilegeEscalation/);
});

/** The StatefulSet's pod, marked Ready or not as a kubelet would report it (this cluster has none). */
async function databasePod(statefulSet: string, ready: boolean): Promise<string> {
  const pod = `${statefulSet}-0`;
  await cluster.waitFor(`the StatefulSet controller to create ${pod}`, async () => (await cluster.get("pod", pod, ns)) !== undefined);
  if (ready) {
    const status = { status: { phase: "Running", conditions: [{ type: "Ready", status: "True", lastTransitionTime: new Date().toISOString() }] } };
    await cluster.kubectl(["patch", "pod", pod, "-n", ns, "--subresource=status", "--type=merge", "-p", JSON.stringify(status)]);
  }
  return pod;
}

const evict = (pod: string) =>
  cluster.kubectl(["create", "--raw", `/api/v1/namespaces/${ns}/pods/${pod}/eviction`, "-f", "-"], {
    input: JSON.stringify({ apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod, namespace: ns } }),
    allowFailure: true,
  });

const counted = (pdb: string, healthy: number) =>
  cluster.waitFor(`the disruption controller to count ${healthy} healthy for ${pdb}`, async () => {
    const o = await cluster.get<{ status?: { currentHealthy?: number; expectedPods?: number } }>("poddisruptionbudget", pdb, ns);
    return o?.status?.expectedPods === 1 && o.status.currentHealthy === healthy;
  });

test("PodDisruptionBudget on a real API server: a drain evicts the database by default; drains: block holds it while it is healthy, never when it is not", async () => {
  for (const { statefulSet, pdb } of databases) {
    await cluster.kubectl(["create", "-n", ns, "-f", "-"], { input: JSON.stringify(statefulSet) });
    await cluster.kubectl(["create", "-n", ns, "-f", "-"], { input: JSON.stringify(pdb) });
  }
  const [allow, block] = ["allow", "block"].map((d) => databases.find((x) => x.drains === d)!);
  const allowPod = await databasePod(allow!.name, true);
  const blockPod = await databasePod(block!.name, true);
  await counted(allow!.name, 1);
  await counted(block!.name, 1);

  const held = await evict(blockPod);
  assert.notEqual(held.code, 0, "drains: block holds a healthy database");
  assert.match(held.stderr, /disruption budget/);
  const evicted = await evict(allowPod);
  assert.equal(evicted.code, 0, `the default lets the drain through: ${evicted.stderr}`);

  // Not Ready: never holds a drain, even with drains: block (unhealthyPodEvictionPolicy: AlwaysAllow).
  await cluster.kubectl([
    "patch",
    "pod",
    blockPod,
    "-n",
    ns,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { conditions: [{ type: "Ready", status: "False", lastTransitionTime: new Date().toISOString() }] } }),
  ]);
  await counted(block!.name, 0);
  const unready = await evict(blockPod);
  assert.equal(unready.code, 0, unready.stderr);
});

test("images are pinned by digest when the config gives one", () => {
  const digest = "sha256:" + "ab".repeat(32);
  assert.equal(pinnedImage("postgres:16-alpine", digest), `postgres:16-alpine@${digest}`);
  assert.equal(pinnedImage(`postgres:16-alpine@sha256:${"cd".repeat(32)}`, digest), `postgres:16-alpine@${digest}`);
  assert.equal(pinnedImage("postgres:16-alpine"), "postgres:16-alpine");
});
