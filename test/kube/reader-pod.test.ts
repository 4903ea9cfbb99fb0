// Which volume claim holds a pod: source's file once the app is stopped, and
// the pods that mount it: the reader read-only, the rollback's writer
// read-write, both under restricted Pod Security as the app's user. (Started
// on a real node: test/kube/pod-write-back.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { claimFor, claimPodManifest } from "../../src/kube/reader-pod";
import { AppWorkloadError } from "../../src/kube/app-workloads";

const template = (volumes: unknown[], mounts: unknown[]) => ({
  spec: {
    template: {
      spec: {
        securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
        containers: [{ name: "app", image: "registry/app:1.2", volumeMounts: mounts }],
        volumes,
      },
    },
  },
});

/** Restricted Pod Security, as the app's user and groups (template's 1000/1000/2000), no service account token. */
function assertRestricted(pod: ReturnType<typeof claimPodManifest>): void {
  assert.deepEqual(pod.spec.containers[0]!.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
  });
  assert.deepEqual(pod.spec.securityContext, {
    runAsNonRoot: true,
    runAsUser: 1000,
    runAsGroup: 1000,
    fsGroup: 2000,
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.equal(pod.spec.automountServiceAccountToken, false);
}

test("claimFor: the deepest mount above the file, its claim (a StatefulSet's first replica's), the app's user; other volumes refused with the reason", () => {
  const d = claimFor(
    { kind: "Deployment", name: "dev-api" },
    template(
      [
        { name: "data", persistentVolumeClaim: { claimName: "api-data" } },
        { name: "cfg", configMap: { name: "x" } },
      ],
      [
        { name: "cfg", mountPath: "/app" },
        { name: "data", mountPath: "/app/data", subPath: "sqlite" },
      ],
    ) as never,
    "/app/data/app.db",
  );
  assert.deepEqual(d, {
    claimName: "api-data",
    mount: { name: "data", mountPath: "/app/data", subPath: "sqlite" },
    image: "registry/app:1.2",
    runAsUser: 1000,
    runAsGroup: 1000,
    fsGroup: 2000,
  });
  const s = claimFor(
    { kind: "StatefulSet", name: "dev-worker" },
    {
      ...template([], [{ name: "state", mountPath: "/var/lib/app/" }]),
      spec: { ...template([], [{ name: "state", mountPath: "/var/lib/app/" }]).spec, volumeClaimTemplates: [{ metadata: { name: "state" } }] },
    } as never,
    "/var/lib/app/app.db",
  );
  assert.equal(s.claimName, "state-dev-worker-0");
  assert.throws(
    () =>
      claimFor(
        { kind: "Deployment", name: "dev-api" },
        template([{ name: "tmp", emptyDir: {} }], [{ name: "tmp", mountPath: "/app" }]) as never,
        "/app/app.db",
      ),
    (e: Error) => e instanceof AppWorkloadError && /volume "tmp", which is not a PersistentVolumeClaim/.test(e.message),
  );
  assert.throws(() => claimFor({ kind: "Deployment", name: "dev-api" }, template([], []) as never, "/app/app.db"), /inside the container's own filesystem/);
  // /app/database is not under /app/data.
  assert.throws(
    () =>
      claimFor(
        { kind: "Deployment", name: "dev-api" },
        template([{ name: "data", persistentVolumeClaim: { claimName: "c" } }], [{ name: "data", mountPath: "/app/data" }]) as never,
        "/app/database/app.db",
      ),
    AppWorkloadError,
  );
});

test("claimPodManifest, reader: the claim read-only at the app's mount path, restricted Pod Security, never root", () => {
  const c = claimFor(
    { kind: "Deployment", name: "dev-api" },
    template([{ name: "data", persistentVolumeClaim: { claimName: "api-data" } }], [{ name: "data", mountPath: "/app/data" }]) as never,
    "/app/data/app.db",
  );
  const pod = claimPodManifest("dev-api-pgshift-reader-abc123", "ns", c, "registry/app:1.2", { readOnly: true });
  assert.deepEqual(pod.spec.volumes[0], { name: "app-data", persistentVolumeClaim: { claimName: "api-data", readOnly: true } });
  const ctr = pod.spec.containers[0]!;
  assert.deepEqual(ctr.volumeMounts[0], { name: "app-data", mountPath: "/app/data", readOnly: true });
  assert.equal(ctr.image, "registry/app:1.2");
  assertRestricted(pod);
  // An app that runs as root (or does not say): the reader still does not.
  const root = claimPodManifest("r", "ns", { ...c, runAsUser: 0 }, "img", { readOnly: true });
  assert.equal(root.spec.securityContext.runAsUser, 65532);
});

test("claimPodManifest, writer: the same pod with the claim read-write (the rollback puts the file back), still restricted and never root", () => {
  const c = claimFor(
    { kind: "Deployment", name: "dev-api" },
    template([{ name: "data", persistentVolumeClaim: { claimName: "api-data" } }], [{ name: "data", mountPath: "/app/data", subPath: "sqlite" }]) as never,
    "/app/data/app.db",
  );
  const pod = claimPodManifest("dev-api-pgshift-writer-abc123", "ns", c, "registry/app:1.2", { readOnly: false });
  assert.deepEqual(pod.spec.volumes[0], { name: "app-data", persistentVolumeClaim: { claimName: "api-data", readOnly: false } });
  const ctr = pod.spec.containers[0]!;
  assert.equal(ctr.name, "writer");
  assert.deepEqual(ctr.volumeMounts[0], { name: "app-data", mountPath: "/app/data", readOnly: false, subPath: "sqlite" });
  assert.equal(pod.metadata.labels["app.kubernetes.io/component"], "rollback-writer");
  // Restricted Pod Security as for the reader: the file is written as the app's user and group, nothing more.
  assertRestricted(pod);
  assert.equal(claimPodManifest("w", "ns", { ...c, runAsUser: undefined }, "img", { readOnly: false }).spec.securityContext.runAsUser, 65532);
  // Reader and writer differ only in the claim's mode, the container's name and the label.
  const reader = claimPodManifest("dev-api-pgshift-writer-abc123", "ns", c, "registry/app:1.2", { readOnly: true });
  const strip = (p: typeof pod) =>
    JSON.stringify({ ...p, metadata: { ...p.metadata, labels: {} } })
      .replace(/"readOnly":(true|false)/g, "")
      .replace(/"(reader|writer)"/g, "");
  assert.equal(strip(reader), strip(pod));
});
