// The final snapshot of a pod: source, taken once the app is stopped: a
// short-lived pod mounts the app's volume claim read-only (restricted Pod
// Security), the snapshot is taken in it like in the app's pod
// (pod-sqlite.ts), and the pod is deleted whatever happens.
import { randomBytes } from "node:crypto";
import type * as k8s from "@kubernetes/client-node" with { "resolution-mode": "import" };
import { AppWorkloadError, kubeClient, kubeConfigOf, type KubeAccess, type Workload } from "./app-workloads";
import { snapshotInPod, type PodSqliteSource } from "./pod-sqlite";

interface Mount {
  name: string;
  mountPath: string;
  subPath?: string;
}
interface PodTemplate {
  spec?: {
    securityContext?: { runAsUser?: number; runAsGroup?: number; fsGroup?: number };
    containers?: { name: string; image?: string; volumeMounts?: Mount[]; securityContext?: { runAsUser?: number; runAsGroup?: number } }[];
    volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[];
  };
}
interface WorkloadSpec {
  spec?: { template?: PodTemplate; volumeClaimTemplates?: { metadata?: { name?: string } }[] };
}

/** Which claim holds `path`, where it is mounted, and who the app runs as (read from the workload's pod template). */
export function claimFor(w: Workload, obj: WorkloadSpec, path: string) {
  const spec = obj.spec?.template?.spec ?? {};
  for (const c of spec.containers ?? []) {
    const mount = (c.volumeMounts ?? [])
      .filter((m) => path === m.mountPath || path.startsWith(m.mountPath.replace(/\/$/, "") + "/"))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    if (!mount) continue;
    const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
    let claimName = volume?.persistentVolumeClaim?.claimName;
    if (!claimName && w.kind === "StatefulSet" && obj.spec?.volumeClaimTemplates?.some((t) => t.metadata?.name === mount.name)) {
      // The first replica's claim: a SQLite file is only ever one replica's.
      claimName = `${mount.name}-${w.name}-0`;
    }
    if (!claimName) {
      throw new AppWorkloadError(
        `${path} in ${w.kind} ${w.name} is on volume "${mount.name}", which is not a PersistentVolumeClaim: once the app is stopped there is nothing to read it from. ` +
          "Keep the SQLite file on a claim (the data survives restarts only there), or set migration.source to a local copy.",
      );
    }
    return {
      claimName,
      mount,
      image: c.image ?? "",
      runAsUser: c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser,
      runAsGroup: c.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup,
      fsGroup: spec.securityContext?.fsGroup,
    };
  }
  throw new AppWorkloadError(
    `No container of ${w.kind} ${w.name} mounts a volume at or above ${path}: the SQLite file is inside the container's own filesystem and is gone once the app is stopped.`,
  );
}

/** The reader pod's manifest: restricted Pod Security, the claim read-only, a scratch directory for the snapshot. */
export function readerPodManifest(name: string, namespace: string, c: ReturnType<typeof claimFor>, image: string) {
  return {
    metadata: { name, namespace, labels: { "app.kubernetes.io/part-of": "pgshift", "app.kubernetes.io/component": "cutover-reader" } },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: c.runAsUser && c.runAsUser > 0 ? c.runAsUser : 65532,
        ...(c.runAsGroup !== undefined ? { runAsGroup: c.runAsGroup } : {}),
        ...(c.fsGroup !== undefined ? { fsGroup: c.fsGroup } : {}),
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "reader",
          image,
          imagePullPolicy: "IfNotPresent",
          command: ["sleep", "3600"],
          env: [{ name: "TMPDIR", value: "/pgshift-scratch" }],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
          volumeMounts: [
            { name: "app-data", mountPath: c.mount.mountPath, readOnly: true, ...(c.mount.subPath ? { subPath: c.mount.subPath } : {}) },
            { name: "scratch", mountPath: "/pgshift-scratch" },
          ],
          resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "256Mi" } },
        },
      ],
      volumes: [
        { name: "app-data", persistentVolumeClaim: { claimName: c.claimName, readOnly: true } },
        { name: "scratch", emptyDir: { sizeLimit: "2Gi" } },
      ],
    },
  };
}

/** Snapshot of `source` from the stopped workload's claim into `localPath`, through a reader pod. */
export async function snapshotThroughReader(
  access: KubeAccess,
  w: Workload,
  source: PodSqliteSource,
  localPath: string,
  o: { image?: string; timeoutMs: number },
): Promise<{ pod: string; bytes: number }> {
  const kc: k8s.KubeConfig = kubeConfigOf(access);
  const k = kubeClient();
  const apps = kc.makeApiClient(k.AppsV1Api);
  const core = kc.makeApiClient(k.CoreV1Api);
  const ns = access.namespace;
  const obj = (
    w.kind === "Deployment"
      ? await apps.readNamespacedDeployment({ name: w.name, namespace: ns })
      : await apps.readNamespacedStatefulSet({ name: w.name, namespace: ns })
  ) as WorkloadSpec;
  const claim = claimFor(w, obj, source.path);
  const image = o.image || claim.image;
  const name = `${w.name}`.slice(0, 40) + `-pgshift-reader-${randomBytes(3).toString("hex")}`;
  await core.createNamespacedPod({ namespace: ns, body: readerPodManifest(name, ns, claim, image) as never });
  try {
    const until = Date.now() + o.timeoutMs;
    for (;;) {
      const p = await core.readNamespacedPod({ name, namespace: ns });
      if (p.status?.phase === "Running") break;
      const waiting = p.status?.containerStatuses?.[0]?.state?.waiting;
      if (p.status?.phase === "Failed" || /ErrImagePull|ImagePullBackOff|CreateContainerConfigError|InvalidImageName/.test(waiting?.reason ?? "")) {
        throw new AppWorkloadError(
          `The reader pod ${ns}/${name} (image ${image}) could not start: ${waiting?.reason ?? p.status?.phase} ${waiting?.message ?? ""}. Set pgshift:cutover.readerImage to an image with sh and sqlite3 or python3.`,
        );
      }
      if (Date.now() > until)
        throw new AppWorkloadError(
          `The reader pod ${ns}/${name} for claim ${claim.claimName} was not Running within ${Math.round(o.timeoutMs / 1000)} s (phase ${p.status?.phase}).`,
        );
      await new Promise((r) => setTimeout(r, 300));
    }
    const bytes = await snapshotInPod(kc, ns, name, "reader", source.path, localPath);
    return { pod: name, bytes };
  } finally {
    await core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}
