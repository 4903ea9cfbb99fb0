// A volume provisioner for the one-node cluster: every pending claim of the
// pgshift-local class gets a hostPath volume under <cluster dir>/volumes, so a
// StatefulSet's data outlives its pod (a deleted pod comes back to the same
// directory). Released volumes (reclaim policy Delete) are removed with their
// directory; Retain keeps both, as in a real cluster.
//
//   node --import tsx scripts/cluster/provisioner.ts <kubeconfig> <volumes dir>
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type * as k8s from "@kubernetes/client-node" with { "resolution-mode": "import" };

const [kubeconfig, dir] = process.argv.slice(2);
if (!kubeconfig || !dir) {
  process.stderr.write("usage: provisioner.ts <kubeconfig> <volumes dir>\n");
  process.exit(2);
}
// eslint-disable-next-line @typescript-eslint/no-require-imports -- Node 20 loads ES modules with require()
const k = require("@kubernetes/client-node") as typeof k8s;
const kc = new k.KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(k.CoreV1Api);
const storage = kc.makeApiClient(k.StorageV1Api);
const PROVISIONER = "pgshift.local/hostpath";

async function classes(): Promise<Map<string, string>> {
  const list = await storage.listStorageClass();
  const ours = new Map<string, string>();
  for (const sc of list.items) if (sc.provisioner === PROVISIONER && sc.metadata?.name) ours.set(sc.metadata.name, sc.reclaimPolicy ?? "Delete");
  return ours;
}

async function tick(): Promise<void> {
  const ours = await classes();
  const claims = await core.listPersistentVolumeClaimForAllNamespaces();
  for (const c of claims.items) {
    const cls = c.spec?.storageClassName ?? "";
    if (c.status?.phase !== "Pending" || c.spec?.volumeName || !ours.has(cls)) continue;
    const ns = c.metadata!.namespace!;
    const name = `pv-${ns}-${c.metadata!.name}`.slice(0, 250);
    const path = join(dir!, name);
    // World-writable: the pod's uid is not known here, and fsGroup does not apply to hostPath.
    mkdirSync(path, { recursive: true, mode: 0o777 });
    try {
      await core.createPersistentVolume({
        body: {
          metadata: { name, annotations: { "pv.kubernetes.io/provisioned-by": PROVISIONER } },
          spec: {
            capacity: { storage: c.spec?.resources?.requests?.storage ?? "1Gi" },
            accessModes: c.spec?.accessModes ?? ["ReadWriteOnce"],
            persistentVolumeReclaimPolicy: ours.get(cls) as "Delete" | "Retain",
            storageClassName: cls,
            hostPath: { path, type: "DirectoryOrCreate" },
            claimRef: { namespace: ns, name: c.metadata!.name!, uid: c.metadata!.uid!, apiVersion: "v1", kind: "PersistentVolumeClaim" },
          },
        },
      });
      process.stdout.write(`provisioned ${name} at ${path} for ${ns}/${c.metadata!.name}\n`);
    } catch (e) {
      if ((e as { code?: number }).code !== 409) process.stderr.write(`cannot provision ${name}: ${(e as Error).message}\n`);
    }
  }
  const volumes = await core.listPersistentVolume();
  for (const v of volumes.items) {
    if (v.metadata?.annotations?.["pv.kubernetes.io/provisioned-by"] !== PROVISIONER) continue;
    if (v.status?.phase === "Released" && v.spec?.persistentVolumeReclaimPolicy === "Delete") {
      await core.deletePersistentVolume({ name: v.metadata.name! }).catch(() => undefined);
      if (v.spec.hostPath?.path?.startsWith(dir!)) rmSync(v.spec.hostPath.path, { recursive: true, force: true });
      process.stdout.write(`deleted released volume ${v.metadata.name}\n`);
    }
  }
}

async function loop(): Promise<void> {
  for (;;) {
    await tick().catch((e: Error) => process.stderr.write(`provisioner: ${e.message}\n`));
    await new Promise((r) => setTimeout(r, 1000));
  }
}
void loop();
