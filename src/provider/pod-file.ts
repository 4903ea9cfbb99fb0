// A pod: source's SQLite file for the cutover's data steps (cutover-data.ts):
// the final snapshot once the app is stopped (a reader pod on its claim), the
// file as it is now before a rollback plans (the app's running pod, or a
// reader pod when none runs), and the rollback's write-back (a writer pod:
// pod-write-back.ts). The local copy at `localPath` is only a working copy:
// on another operator's machine it does not exist, so nothing relies on it.
import type { KubeAccess, Workload } from "../kube/app-workloads";
import { fetchPodSqlite, NoRunningPodError, type PodSqliteSource } from "../kube/pod-sqlite";
import { snapshotThroughReader } from "../kube/reader-pod";
import { writeBackThroughPod } from "../kube/pod-write-back";
import type { RemoteFile } from "./cutover-data";

export interface PodFileSettings {
  kube: KubeAccess;
  /** app.workloads: the ones stopped at a switch */
  workloads: Workload[];
  source: PodSqliteSource;
  /** migration.source as the user wrote it, for messages */
  spec: string;
  localPath: string;
  /** cutover.readerImage ("" = the app's own image) */
  image: string;
  timeoutMs: number;
  now?: () => Date;
}

export function podFile(s: PodFileSettings, note: (line: string) => void): RemoteFile & { finalSnapshot(): Promise<string> } {
  const { kube, source: pod, localPath } = s;
  const stopped = s.workloads.find((w) => w.name === pod.workload);
  const o = { image: s.image || undefined, timeoutMs: s.timeoutMs };
  return {
    async finalSnapshot() {
      if (stopped) {
        const got = await snapshotThroughReader(kube, stopped, pod, localPath, o);
        note(`snapshot through reader pod ${got.pod} (${got.bytes} bytes)`);
      } else {
        // Not one of app.workloads: it was not stopped, so this snapshot may miss its very last writes.
        const got = await fetchPodSqlite(kube.kubeconfig, kube.context, kube.namespace, pod, localPath);
        note(`snapshot in the running pod ${got.pod}: ${pod.workload} is not in app.workloads, so it kept writing`);
      }
      return localPath;
    },
    async refresh() {
      try {
        const got = await fetchPodSqlite(kube.kubeconfig, kube.context, kube.namespace, pod, localPath);
        note(`read ${s.spec} in the running pod ${got.pod} (${got.bytes} bytes)`);
      } catch (e) {
        if (!(e instanceof NoRunningPodError) || !stopped) throw e;
        const got = await snapshotThroughReader(kube, stopped, pod, localPath, o);
        note(`read ${s.spec} through reader pod ${got.pod} (${got.bytes} bytes)`);
      }
    },
    async writeBack(copyBack) {
      if (!stopped)
        throw new Error(
          `${pod.workload} (migration.source ${s.spec}) is not in app.workloads, so the rollback cannot stop it, and its file cannot be replaced while it may write. ` +
            "Add it to app.workloads, or set pgshift:rollback.discardPostgresWrites true to roll back without PostgreSQL's writes.",
        );
      const r = await writeBackThroughPod(kube, stopped, pod, localPath, { ...o, now: s.now }, () => copyBack());
      const took = r.timings.map((t) => `${t.part} ${(t.ms / 1000).toFixed(1)} s`).join(", ");
      note(
        r.backupFile
          ? `put the copied-back file in place of ${s.spec} through writer pod ${r.pod} (${took}); the file before is ${r.backupFile} in the same volume`
          : `copied back in writer pod ${r.pod} without a match: ${s.spec} was left as it was (${took})`,
      );
      return { result: r.result, ...(r.backupFile ? { backupFile: r.backupFile } : {}) };
    },
  };
}
