// The local cluster's volume provisioner: for each claim of the default
// StorageClass it makes a directory under <dir>/volumes and a `local`
// PersistentVolume bound to the claim (a local volume, unlike hostPath, gets
// the pod's fsGroup, so a non-root database can write to it). The volume
// outlives its pods; when its claim is deleted, the directory goes with it.
//
//   node --import tsx src/cluster/provisioner.ts <cluster dir> <api port>
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { apiClient, type ApiClient } from "./api";
import { NODE } from "./node-config";

interface Claim {
  metadata: { name: string; namespace: string; uid: string };
  spec: { storageClassName?: string; volumeName?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } }; volumeMode?: string };
  status?: { phase?: string };
}
interface Volume {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { local?: { path: string }; persistentVolumeReclaimPolicy?: string };
  status?: { phase?: string };
}

const PROVISIONED_BY = "pv.kubernetes.io/provisioned-by";

export async function provisionOnce(api: ApiClient, volumesDir: string, log: (m: string) => void): Promise<void> {
  const claims = await api.call<{ items: Claim[] }>("GET", "/api/v1/persistentvolumeclaims");
  if (claims.status !== 200) return;
  for (const c of claims.body.items) {
    if (c.status?.phase !== "Pending" || c.spec.volumeName || c.spec.storageClassName !== NODE.storageClass) continue;
    const name = `pvc-${c.metadata.uid}`;
    const path = join(volumesDir, name);
    mkdirSync(path, { recursive: true, mode: 0o755 });
    const pv = {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name, annotations: { [PROVISIONED_BY]: NODE.provisioner }, labels: { "pgshift.local/claim-namespace": c.metadata.namespace } },
      spec: {
        capacity: { storage: c.spec.resources?.requests?.storage ?? "1Gi" },
        accessModes: c.spec.accessModes ?? ["ReadWriteOnce"],
        volumeMode: c.spec.volumeMode ?? "Filesystem",
        storageClassName: NODE.storageClass,
        persistentVolumeReclaimPolicy: "Delete",
        claimRef: { apiVersion: "v1", kind: "PersistentVolumeClaim", namespace: c.metadata.namespace, name: c.metadata.name, uid: c.metadata.uid },
        local: { path },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [NODE.name] }] }] } },
      },
    };
    const r = await api.call("POST", "/api/v1/persistentvolumes", pv);
    if (r.status === 201) log(`provisioned ${name} at ${path} for ${c.metadata.namespace}/${c.metadata.name}`);
    else if (r.status !== 409) log(`creating ${name} for ${c.metadata.namespace}/${c.metadata.name} failed (${r.status}): ${r.text}`);
  }
  const volumes = await api.call<{ items: Volume[] }>("GET", "/api/v1/persistentvolumes");
  if (volumes.status !== 200) return;
  for (const v of volumes.body.items) {
    if (v.metadata.annotations?.[PROVISIONED_BY] !== NODE.provisioner) continue;
    if (v.spec.persistentVolumeReclaimPolicy !== "Delete" || !["Released", "Failed"].includes(v.status?.phase ?? "")) continue;
    const path = v.spec.local?.path;
    // Only directories this provisioner made are ever removed.
    if (path && path.startsWith(`${volumesDir}/pvc-`)) rmSync(path, { recursive: true, force: true });
    const r = await api.call("DELETE", `/api/v1/persistentvolumes/${v.metadata.name}`);
    if (r.status === 200) log(`deleted ${v.metadata.name} (its claim is gone) and ${path}`);
  }
}

async function main(): Promise<void> {
  const [dir, port] = process.argv.slice(2);
  if (!dir || !port) throw new Error("usage: provisioner.ts <cluster dir> <api port>");
  const api = apiClient(Number(port), dir);
  const volumesDir = join(dir, "volumes");
  const log = (m: string) => console.log(`${new Date().toISOString()} ${m}`);
  log(`provisioning ${NODE.storageClass} volumes under ${volumesDir}`);
  for (;;) {
    try {
      await provisionOnce(api, volumesDir, log);
    } catch (e) {
      log(`error: ${(e as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

if (require.main === module) void main();
