// Short-lived pods on the app's volume claim, once the app is stopped
// (restricted Pod Security, as the app's user), deleted whatever happens: a
// reader mounts the claim read-only for a pod: source's final snapshot, taken
// in it like in the app's pod (pod-sqlite.ts); a writer mounts it read-write
// for a rollback to put the copied-back file in place (pod-write-back.ts).
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

/**
 * The manifest of a short-lived pod on the app's claim: restricted Pod
 * Security, the app's user, a scratch directory for snapshots. A reader
 * (the cutover's final snapshot) mounts the claim read-only; a writer (the
 * rollback putting the copied-back file in place) read-write.
 */
export function claimPodManifest(name: string, namespace: string, c: ReturnType<typeof claimFor>, image: string, o: { readOnly: boolean }) {
  const role = o.readOnly ? "reader" : "writer";
  return {
    metadata: {
      name,
      namespace,
      labels: { "app.kubernetes.io/part-of": "pgshift", "app.kubernetes.io/component": o.readOnly ? "cutover-reader" : "rollback-writer" },
    },
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
          name: role,
          image,
          imagePullPolicy: "IfNotPresent",
          command: ["sleep", "3600"],
          env: [{ name: "TMPDIR", value: "/pgshift-scratch" }],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
          volumeMounts: [
            { name: "app-data", mountPath: c.mount.mountPath, readOnly: o.readOnly, ...(c.mount.subPath ? { subPath: c.mount.subPath } : {}) },
            { name: "scratch", mountPath: "/pgshift-scratch" },
          ],
          resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "256Mi" } },
        },
      ],
      volumes: [
        { name: "app-data", persistentVolumeClaim: { claimName: c.claimName, readOnly: o.readOnly } },
        { name: "scratch", emptyDir: { sizeLimit: "2Gi" } },
      ],
    },
  };
}

/** A running pod on the stopped workload's claim, handed to `f`. */
export interface ClaimPod {
  kc: k8s.KubeConfig;
  namespace: string;
  pod: string;
  container: string;
  claim: ReturnType<typeof claimFor>;
  image: string;
}

/**
 * Starts a pod on the claim that holds `path` in workload `w` (read-only or
 * read-write), waits until it runs, runs `f` in it, and deletes the pod
 * whatever happens.
 */
export async function withClaimPod<T>(
  access: KubeAccess,
  w: Workload,
  path: string,
  o: { image?: string; timeoutMs: number; readOnly: boolean },
  f: (p: ClaimPod) => Promise<T>,
): Promise<T> {
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
  const claim = claimFor(w, obj, path);
  const image = o.image || claim.image;
  const role = o.readOnly ? "reader" : "writer";
  const name = `${w.name}`.slice(0, 40) + `-pgshift-${role}-${randomBytes(3).toString("hex")}`;
  await core.createNamespacedPod({ namespace: ns, body: claimPodManifest(name, ns, claim, image, { readOnly: o.readOnly }) as never });
  try {
    const until = Date.now() + o.timeoutMs;
    for (;;) {
      const p = await core.readNamespacedPod({ name, namespace: ns });
      if (p.status?.phase === "Running") break;
      const waiting = p.status?.containerStatuses?.[0]?.state?.waiting;
      if (p.status?.phase === "Failed" || /ErrImagePull|ImagePullBackOff|CreateContainerConfigError|InvalidImageName/.test(waiting?.reason ?? "")) {
        throw new AppWorkloadError(
          `The ${role} pod ${ns}/${name} (image ${image}) could not start: ${waiting?.reason ?? p.status?.phase} ${waiting?.message ?? ""}. Set pgshift:cutover.readerImage to an image with sh and sqlite3 or python3.`,
        );
      }
      if (Date.now() > until)
        throw new AppWorkloadError(
          `The ${role} pod ${ns}/${name} for claim ${claim.claimName} was not Running within ${Math.round(o.timeoutMs / 1000)} s (phase ${p.status?.phase}).`,
        );
      await new Promise((r) => setTimeout(r, 300));
    }
    return await f({ kc, namespace: ns, pod: name, container: role, claim, image });
  } finally {
    await core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}

/** Snapshot of `source` from the stopped workload's claim into `localPath`, through a reader pod. */
export async function snapshotThroughReader(
  access: KubeAccess,
  w: Workload,
  source: PodSqliteSource,
  localPath: string,
  o: { image?: string; timeoutMs: number },
): Promise<{ pod: string; bytes: number }> {
  return withClaimPod(access, w, source.path, { ...o, readOnly: true }, async (p) => ({
    pod: p.pod,
    bytes: await snapshotInPod(p.kc, p.namespace, p.pod, p.container, source.path, localPath),
  }));
}
