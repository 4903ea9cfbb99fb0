// POD_SECURITY_LABELS: a namespace pgshift creates enforces the "restricted"
// Pod Security Standard, and every pod pgshift runs passes it. The judge is a
// real kube-apiserver's PodSecurity admission (test/helpers/kube.ts): each
// pod template, as the components build it, is submitted as a Pod with a
// server-side dry run into such a namespace.
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
  new PostgresExporter("exporter", { namespace: ns, namePrefix: "", databaseInstance: "postgres", image: "quay.io/prometheuscommunity/postgres-exporter:v0.15.0", dsnSecretName: "dsn", caSecretName: "postgres-tls", serviceMonitor: false });
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
      spec.volumes = [...(spec.volumes ?? []), { name: t.metadata.name, persistentVolumeClaim: { claimName: `${t.metadata.name}-${r.inputs.metadata.name}-0` } }];
    }
    return spec;
  };
  pods = resources
    .filter((r) => ["kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:CronJob"].includes(r.type))
    .map((r) => ({ name: r.inputs.metadata.name, spec: template(r) }));
  serviceAccounts = resources.filter((r) => r.type === "kubernetes:core/v1:ServiceAccount").map((r) => r.inputs.metadata.name);
  cluster = await startTestCluster();
  await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: POD_SECURITY_LABELS } }) });
  for (const sa of serviceAccounts) await cluster.kubectl(["create", "serviceaccount", sa, "-n", ns]);
});
after(async () => cluster?.stop());

const submit = (name: string, spec: unknown) =>
  cluster.kubectl(["create", "--dry-run=server", "-n", ns, "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace: ns }, spec }), allowFailure: true });

test("every pgshift pod (database, exporter, backup job) is admitted under Pod Security \"restricted\", each with its own token-less ServiceAccount", async () => {
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
  const db = structuredClone(pods.find((p) => p.name === "postgres")!.spec) as { securityContext: Record<string, unknown>; containers: { securityContext: Record<string, unknown> }[] };
  delete db.securityContext.seccompProfile;
  db.containers[0]!.securityContext = { ...db.containers[0]!.securityContext, allowPrivilegeEscalation: true, capabilities: {} };
  const r = await submit("postgres-weakened", db);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /violates PodSecurity "restricted:latest"/);
  assert.match(r.stderr, /seccompProfile/);
  assert.match(r.stderr, /allowPrivilegeEscalation/);
});

test("images are pinned by digest when the config gives one", () => {
  const digest = "sha256:" + "ab".repeat(32);
  assert.equal(pinnedImage("postgres:16-alpine", digest), `postgres:16-alpine@${digest}`);
  assert.equal(pinnedImage(`postgres:16-alpine@sha256:${"cd".repeat(32)}`, digest), `postgres:16-alpine@${digest}`);
  assert.equal(pinnedImage("postgres:16-alpine"), "postgres:16-alpine");
});
