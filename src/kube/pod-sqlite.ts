// The app's SQLite file usually lives in the app's pod, not on the operator's
// laptop. This takes a consistent snapshot of it inside the pod in one read
// transaction (the image's sqlite3 CLI's VACUUM INTO, or Python's sqlite3
// backup in one step) and brings the snapshot over the Kubernetes API. A plain
// copy of a file the app is writing can be torn; a snapshot cannot.
import { createWriteStream, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { Writable } from "node:stream";
import type * as k8s from "@kubernetes/client-node" with { "resolution-mode": "import" };

/** `pod:<Deployment or StatefulSet name>/<path in the container>` */
export interface PodSqliteSource {
  workload: string;
  /** absolute path inside the container */
  path: string;
}

export class PodSourceError extends Error {}

/** The workload has no running pod to take a snapshot in (stopped, or not started yet). */
export class NoRunningPodError extends PodSourceError {}

export function parsePodSource(spec: string): PodSqliteSource | null {
  if (!spec.startsWith("pod:")) return null;
  const m = /^pod:([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/(.+)$/.exec(spec);
  if (!m) {
    throw new PodSourceError(
      `migration.source "${spec}" is not pod:<Deployment or StatefulSet name>/<path in the container>, e.g. pod:dev-api/app/data/app.db`,
    );
  }
  return { workload: m[1]!, path: "/" + m[3]!.replace(/^\/+/, "") };
}

function client(): typeof k8s {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node 20 loads ES modules with require()
  return require("@kubernetes/client-node") as typeof k8s;
}

// Runs inside the app's container as `sh -c <this> sh <path>`: the snapshot goes
// to a temporary file (removed whatever happens), then to stdout.
// One read transaction, not the sqlite3 CLI's `.backup`: that steps 100 pages
// at a time and starts over whenever the app commits between two steps, so
// under an app writing every 20 ms a large file never finished (the same bug as
// src/engine/sqlite/backup.ts). VACUUM INTO reads one snapshot; in WAL mode the
// app keeps writing meanwhile, in rollback-journal mode its writes wait (their
// busy timeout) for the one read. The snapshot's name is made here, digits
// only, relative to the scratch directory: nothing of the user's reaches SQL.
export const SNAPSHOT_SCRIPT = `
set -eu
src="$1"
dir="\${TMPDIR:-/tmp}"
[ -d "$dir" ] && [ -w "$dir" ] || dir="$(dirname "$src")"
name=".pgshift-snapshot-$$.db"
tmp="$dir/$name"
copy="$dir/.pgshift-source-$$.db"
trap 'rm -f "$tmp" "$tmp-journal" "$tmp-wal" "$tmp-shm" "$copy" "$copy-wal" "$copy-shm"' EXIT
[ -r "$src" ] || { echo "PGSHIFT: $src does not exist or is not readable in this container" >&2; exit 4; }
if [ ! -w "$(dirname "$src")" ]; then
  # A read-only mount (the reader pod, the app stopped): SQLite cannot open a WAL-mode file where it cannot
  # create the -shm beside it. A copy with its -wal is the same database, nobody writing.
  cp "$src" "$copy"
  if [ -f "$src-wal" ]; then cp "$src-wal" "$copy-wal"; fi
  src="$copy"
fi
cd "$dir"
if command -v sqlite3 >/dev/null 2>&1; then
  sqlite3 -cmd ".timeout 10000" "$src" "VACUUM INTO '$name'" >&2
elif command -v python3 >/dev/null 2>&1; then
  python3 -c 'import sqlite3, sys
s = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
d = sqlite3.connect(sys.argv[2])
s.backup(d, pages=-1)
d.close(); s.close()' "$src" "$tmp" >&2
else
  echo "PGSHIFT: neither the sqlite3 CLI nor python3 is in this container" >&2; exit 3
fi
# The size first, on stderr: a snapshot that arrives cut short is told from a whole one by its length.
echo "PGSHIFT-SIZE $(wc -c < "$tmp" | tr -d ' ')" >&2
cat "$tmp"
`;

interface Pod {
  metadata?: { name?: string };
  spec?: { containers?: { name: string }[] };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

async function findPod(kc: k8s.KubeConfig, namespace: string, workload: string): Promise<{ pod: string; container: string }> {
  const k = client();
  const apps = kc.makeApiClient(k.AppsV1Api);
  let selector: Record<string, string> | undefined;
  for (const read of [
    () => apps.readNamespacedDeployment({ name: workload, namespace }),
    () => apps.readNamespacedStatefulSet({ name: workload, namespace }),
  ]) {
    try {
      selector = (await read()).spec?.selector?.matchLabels;
      if (selector) break;
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw new PodSourceError(`Cannot read workload ${namespace}/${workload}: ${(e as Error).message}`);
    }
  }
  if (!selector) throw new PodSourceError(`No Deployment or StatefulSet named "${workload}" in namespace ${namespace} (migration.source pod:${workload}/…).`);
  const core = kc.makeApiClient(k.CoreV1Api);
  const labelSelector = Object.entries(selector)
    .map(([a, b]) => `${a}=${b}`)
    .join(",");
  const pods = ((await core.listNamespacedPod({ namespace, labelSelector })).items ?? []) as Pod[];
  const ready = pods.find((p) => p.status?.phase === "Running" && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
  const running = ready ?? pods.find((p) => p.status?.phase === "Running");
  if (!running?.metadata?.name) {
    throw new NoRunningPodError(`${workload} in ${namespace} has no running pod to take the SQLite snapshot from (${pods.length} pods, none Running).`);
  }
  return { pod: running.metadata.name, container: running.spec?.containers?.[0]?.name ?? "" };
}

/**
 * Snapshots `source` from the app's pod into `localPath` and checks the copy
 * is a sound SQLite database. Returns the pod it came from, for messages.
 */
export async function fetchPodSqlite(
  kubeconfig: string,
  context: string | undefined,
  namespace: string,
  source: PodSqliteSource,
  localPath: string,
): Promise<{ pod: string; bytes: number }> {
  const k = client();
  const kc = new k.KubeConfig();
  kc.loadFromString(kubeconfig);
  if (context) kc.setCurrentContext(context);
  const { pod, container } = await findPod(kc, namespace, source.workload);
  const bytes = await snapshotInPod(kc, namespace, pod, container, source.path, localPath);
  return { pod, bytes };
}

/** The snapshot's bytes stopped before its end (the exec stream closed early): nothing is wrong with the file. */
class CutShortError extends PodSourceError {}

/**
 * Takes the snapshot of `path` inside `pod` (the app's, or the reader pod the
 * cutover starts once the app is stopped) into `localPath`, checked sound.
 * A transfer cut short is taken again (at most three times in all): on a
 * busy machine about one 100 MB snapshot in a few arrived without its last
 * bytes although the exec's status said Success.
 */
export async function snapshotInPod(kc: k8s.KubeConfig, namespace: string, pod: string, container: string, path: string, localPath: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await snapshotOnce(kc, namespace, pod, container, path, localPath);
    } catch (e) {
      if (!(e instanceof CutShortError) || attempt >= 3) throw e;
    }
  }
}

async function snapshotOnce(kc: k8s.KubeConfig, namespace: string, pod: string, container: string, path: string, localPath: string): Promise<number> {
  const k = client();
  const source = { path };
  mkdirSync(dirname(localPath), { recursive: true });
  const partial = `${localPath}.partial`;
  const out = createWriteStream(partial);
  let stderr = "";
  const err = new Writable({
    write(chunk: Buffer, _e, done) {
      stderr += chunk.toString("utf8");
      done();
    },
  });
  let bytes = 0;
  const counting = new Writable({
    write(chunk: Buffer, _e, done) {
      bytes += chunk.length;
      if (out.write(chunk)) done();
      else out.once("drain", () => done());
    },
  });
  const where = `${namespace}/${pod}${container ? ` (container ${container})` : ""}`;
  try {
    const status = await new Promise<{ status?: string; message?: string; details?: { causes?: { reason?: string; message?: string }[] } }>(
      (resolve, reject) => {
        // Done when the connection closes, not at the status: the API server relays stdout and the status from
        // the kubelet's separate streams, so the status can overtake stdout's last chunks (a 64 MB snapshot
        // arrived cut short, "malformed", about one time in three).
        let got: unknown;
        let closed = false;
        new k.Exec(kc)
          .exec(namespace, pod, container, ["sh", "-c", SNAPSHOT_SCRIPT, "sh", source.path], counting, err, null, false, (s) => {
            got = s;
            if (closed) resolve(s as never);
          })
          .then((ws) =>
            ws.on("close", () => {
              closed = true;
              if (got) resolve(got as never);
              else setTimeout(() => resolve((got as never) ?? { status: "Unknown", message: "the exec stream closed without a status" }), 2000);
            }),
          )
          .catch(reject);
      },
    );
    // The status can come while stdout's last chunks still wait in `counting` for the file to drain: all of them
    // reach the file before it is closed (ended first, a large snapshot arrived cut short: "malformed").
    await new Promise<void>((r) => counting.end(r));
    await new Promise<void>((r) => out.end(r));
    const size = /^PGSHIFT-SIZE (\d+)$/m.exec(stderr)?.[1];
    stderr = stderr.replace(/^PGSHIFT-SIZE \d+\n?/m, "");
    if (status.status !== "Success") {
      const code = status.details?.causes?.find((c) => c.reason === "ExitCode")?.message;
      const why = stderr.trim() || status.message || "unknown error";
      const hint =
        code === "3"
          ? ' Add the sqlite3 CLI or python3 to the app\'s image, or copy a snapshot out yourself (`sqlite3 app.db ".backup snap.db"` in the pod, then `kubectl cp`) and set migration.source to that file.'
          : code === "126" || code === "127" || /executable file not found|no such file or directory.*sh/.test(why)
            ? " The container has no /bin/sh; copy a snapshot out yourself and set migration.source to the local file."
            : "";
      throw new PodSourceError(`Could not take a SQLite snapshot of ${source.path} in pod ${where}: ${why}${code ? ` (exit ${code})` : ""}.${hint}`);
    }
    if (size !== undefined && Number(size) !== bytes)
      throw new CutShortError(
        `The snapshot of ${source.path} from pod ${where} arrived cut short (${bytes} of ${size} bytes); nothing was migrated. Try again.`,
      );
    // A snapshot that arrived torn must not be migrated as if it were the app's data.
    const Database = require("better-sqlite3") as typeof import("better-sqlite3"); // eslint-disable-line @typescript-eslint/no-require-imports
    const db = new Database(partial, { readonly: true, fileMustExist: true });
    try {
      const check = db.pragma("quick_check", { simple: true });
      if (check !== "ok")
        throw new PodSourceError(`The SQLite snapshot from pod ${where} is damaged (quick_check: ${String(check)}); nothing was migrated. Try again.`);
    } catch (e) {
      if (e instanceof PodSourceError) throw e;
      throw new PodSourceError(`The snapshot of ${source.path} from pod ${where} is not a SQLite database (${(e as Error).message}); nothing was migrated.`);
    } finally {
      db.close();
    }
    renameSync(partial, localPath);
    return bytes;
  } catch (e) {
    rmSync(partial, { force: true });
    if (e instanceof PodSourceError) throw e;
    throw new PodSourceError(`Could not take a SQLite snapshot of ${source.path} in pod ${where}: ${(e as Error).message}`);
  }
}
