// The database's NetworkPolicy (components/network-policy.ts, as index.ts wires
// it with the default allowFrom) enforced on the node by kube-router's firewall
// (src/cluster): the pods it names reach 5432, every other pod is refused within
// a bounded wait, the database may resolve DNS and open nothing else, and taking
// the policy away lets the stranger in — so a node without enforcement fails here.
// The database is a stand-in listening on 5432 with the database pod's labels:
// policies select by label, and the real database pod's traffic is covered by
// test/stacks-cluster.test.ts (app, backup Job and exporter against PostgreSQL).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { backupSelector } from "../../components/backup-cronjob";
import { databaseSelector } from "../../components/defaults";
import { databaseObjectName } from "../../components/names";
import { networkPolicyManifest } from "../../components/network-policy";
import { exporterSelector } from "../../components/postgres-exporter";
import { parseConfig, rawConfig } from "../../src/config";
import { NODE } from "../../src/cluster/node-config";
import { SAMPLE_APP } from "../../src/cluster/sample-app";
import { startTestCluster, type TestCluster } from "../helpers/kube";

const ns = "netpol-db";
const otherNs = "netpol-other";
const instance = "postgres";
const service = "np-postgres";
/** how long a refused connection may take to fail: a dropped SYN times out after nc's -w */
const CONNECT_TIMEOUT_S = 3;
let cluster: TestCluster;
const allowFrom = parseConfig(rawConfig({ "pgshift:namespace": ns })).networkPolicy.allowFrom;
const policy = networkPolicyManifest({ namespace: ns, namePrefix: "np-", databaseInstance: instance, allowFrom, dnsCidrs: [`${NODE.ip}/32`] });

const yamlLabels = (l: Record<string, string>) =>
  `{ ${Object.entries(l)
    .map(([k, v]) => `"${k}": "${v}"`)
    .join(", ")} }`;
const podSpec = (command: string) => `
    securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: RuntimeDefault } }
    automountServiceAccountToken: false
    terminationGracePeriodSeconds: 1
    containers:
      - name: c
        image: ${SAMPLE_APP.image}
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", ${JSON.stringify(command)}]
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: [ALL] } }`;
/** A listener that answers one connection at a time, for ever (OpenBSD nc exits after each). */
const listen = (port: number) => `trap "exit 0" TERM; while true; do nc -l ${port} </dev/null >/dev/null 2>&1; done`;
const idle = 'trap "exit 0" TERM; while true; do sleep 1; done';
const pod = (name: string, namespace: string, labels: Record<string, string>, command: string) => `---
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${namespace}, labels: ${yamlLabels(labels)} }
spec:${podSpec(command)}
`;

/** Exit code of a TCP connect from a pod, with how long it took. */
async function probe(from: string, namespace: string, host: string, port: number): Promise<{ code: number; seconds: number }> {
  const t0 = Date.now();
  const r = await cluster.kubectl(["exec", "-n", namespace, from, "--", "nc", "-z", "-w", String(CONNECT_TIMEOUT_S), host, String(port)], {
    allowFailure: true,
  });
  return { code: r.code, seconds: (Date.now() - t0) / 1000 };
}

async function podIp(name: string, namespace: string): Promise<string> {
  return cluster.waitFor(
    `pod ${namespace}/${name} to run`,
    async () => {
      const p = await cluster.get<{ status: { phase: string; podIP?: string } }>("pod", name, namespace);
      return p?.status.phase === "Running" && p.status.podIP ? p.status.podIP : undefined;
    },
    120_000,
  );
}

before(async () => {
  cluster = await startTestCluster({ node: true });
  await cluster.kubectl(["apply", "-f", "-"], {
    input: `apiVersion: v1
kind: Namespace
metadata: { name: ${ns} }
---
apiVersion: v1
kind: Namespace
metadata: { name: ${otherNs} }
---
apiVersion: v1
kind: Service
metadata: { name: ${service}, namespace: ${ns} }
spec: { selector: ${yamlLabels(databaseSelector(instance))}, ports: [{ port: 5432, targetPort: 5432 }] }
${pod("db", ns, databaseSelector(instance), listen(5432))}${pod("api", ns, allowFrom[0]!, idle)}${pod("worker", ns, allowFrom[1]!, idle)}${pod("exporter", ns, exporterSelector(instance), idle)}${pod("stranger", ns, { app: "something-else" }, listen(8080))}${pod("same-labels-elsewhere", otherNs, allowFrom[0]!, idle)}`,
  });
  for (const [name, namespace] of [
    ["db", ns],
    ["api", ns],
    ["worker", ns],
    ["exporter", ns],
    ["stranger", ns],
    ["same-labels-elsewhere", otherNs],
  ] as const)
    await podIp(name, namespace);
  await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", ...policy }) });
  // kube-router programs a policy within a sync; until then the stranger still gets through.
  await cluster.waitFor(
    "kube-router to enforce the policy (the stranger refused)",
    async () => (await probe("stranger", ns, service, 5432)).code !== 0,
    60_000,
  );
});

after(async () => {
  const left = await cluster?.stop();
  assert.deepEqual(left ?? [], [], "the node (kube-router's chains and ipsets included) left nothing behind");
});

/**
 * What components/backup/backup.sh does before pg_dump: a new pod's address is
 * allowed only once kube-router has seen the pod, so its first connections can
 * be refused; it tries again, 2 s apart, a bounded number of times.
 */
const waitThenConnect = `i=0; until nc -z -w ${CONNECT_TIMEOUT_S} ${service} 5432; do i=$((i+1)); [ $i -lt 30 ] || exit 1; sleep 2; done; echo "connected after $i refused tries"`;

test("the app's api and worker pods, the exporter and a backup Job reach the database on 5432", async () => {
  for (const from of ["api", "worker", "exporter"]) {
    const r = await probe(from, ns, service, 5432);
    assert.equal(r.code, 0, `${from} reaches ${service}:5432`);
  }
  await cluster.kubectl(["apply", "-f", "-"], {
    input: `apiVersion: batch/v1
kind: Job
metadata: { name: backup-probe, namespace: ${ns} }
spec:
  backoffLimit: 0
  template:
    metadata: { labels: ${yamlLabels(backupSelector(instance))} }
    spec:
      restartPolicy: Never${podSpec(waitThenConnect).replace(/\n {4}/g, "\n      ")}
`,
  });
  const job = await cluster.waitFor(
    "the backup Job to finish",
    async () => {
      const j = await cluster.get<{ status: { succeeded?: number; failed?: number } }>("job", "backup-probe", ns);
      return j && (j.status.succeeded || j.status.failed) ? j : undefined;
    },
    120_000,
  );
  const logs = (await cluster.kubectl(["logs", "-n", ns, "job/backup-probe"], { allowFailure: true })).stdout.trim();
  console.log(`backup Job: ${logs}`);
  assert.equal(job.status.succeeded, 1, `the backup Job's pod reached 5432 (${logs})`);
});

test("a pod without those labels, and a pod with the app's labels in another namespace, are refused within a bounded wait", async () => {
  const dbIp = await podIp("db", ns);
  for (const [from, namespace, host] of [
    ["stranger", ns, service],
    ["stranger", ns, dbIp],
    ["same-labels-elsewhere", otherNs, `${service}.${ns}.svc.${NODE.domain}`],
    ["same-labels-elsewhere", otherNs, dbIp],
  ] as const) {
    const r = await probe(from, namespace, host, 5432);
    assert.notEqual(r.code, 0, `${namespace}/${from} must not reach ${host}:5432`);
    assert.ok(r.seconds < CONNECT_TIMEOUT_S + 10, `refused within a bounded wait (${r.seconds.toFixed(1)} s)`);
  }
});

test("the database pod resolves DNS and cannot open a connection anywhere else", async () => {
  const dns = await cluster.kubectl(["exec", "-n", ns, "db", "--", "nslookup", `${service}.${ns}.svc.${NODE.domain}`], { allowFailure: true });
  assert.equal(dns.code, 0, `DNS from the database pod: ${dns.stdout}${dns.stderr}`);
  const strangerIp = await podIp("stranger", ns);
  for (const [host, port] of [
    [strangerIp, 8080],
    [NODE.ip, 10250],
    [NODE.apiServiceIp, 443],
  ] as const) {
    const r = await probe("db", ns, host, port);
    assert.notEqual(r.code, 0, `the database pod must not reach ${host}:${port}`);
  }
  assert.equal((await probe("api", ns, strangerIp, 8080)).code, 0, "the stranger's listener itself answers (from a pod without a policy)");
});

test("without the policy the stranger gets in (what the tests above refused is the policy's doing)", async () => {
  await cluster.kubectl(["delete", "networkpolicy", "-n", ns, databaseObjectName("np-")]);
  await cluster.waitFor("the stranger to reach 5432 once the policy is gone", async () => (await probe("stranger", ns, service, 5432)).code === 0, 60_000);
  assert.equal((await probe("same-labels-elsewhere", otherNs, `${service}.${ns}.svc.${NODE.domain}`, 5432)).code, 0);
  assert.equal((await probe("db", ns, await podIp("stranger", ns), 8080)).code, 0, "and the database pod's egress is open again");
});
