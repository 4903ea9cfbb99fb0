// A rollback for a pod: source: the app's SQLite file lives in its volume, so
// PostgreSQL's writes are copied back into a snapshot of it here and the result
// is put in place there. Once the app is stopped, a writer pod mounts the claim
// read-write (reader-pod.ts); in it: the file is checked writable, snapshotted
// (pod-sqlite.ts), the caller copies back into the local snapshot and verifies,
// the result goes up through exec's stdin into a temporary file beside the
// original, is checked whole (size and SHA-256, or quick_check), and only then the
// original is renamed to a backup (with its -wal, -shm and -journal: a stale
// -wal beside the new file would be replayed into it) and the new file renamed
// into its place. Paths reach the shell only as arguments ("$1"...).
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { posix } from "node:path";
import { Writable, type Readable } from "node:stream";
import { kubeClient, type KubeAccess, type Workload } from "./app-workloads";
import { snapshotInPod, type PodSqliteSource } from "./pod-sqlite";
import { withClaimPod, type ClaimPod } from "./reader-pod";

/** Something failed while the file in the volume was being replaced; `volumeUnchanged` says whether the original is still in place. */
export class PodWriteBackError extends Error {
  constructor(
    message: string,
    readonly volumeUnchanged: boolean,
  ) {
    super(message);
    this.name = "PodWriteBackError";
  }
}

// Before anything is copied: the file is there, the pod's user may replace it
// (write permission on the directory: the renames; on the file: SQLite opens it
// read-write), and its journal mode (header byte 18: 2 = WAL) is kept, since a
// snapshot (VACUUM INTO) comes out in rollback-journal mode.
export const PREPARE_SCRIPT = `
set -eu
dst="$1"
dir="$(dirname "$dst")"
[ -r "$dst" ] || { echo "PGSHIFT: $dst does not exist or is not readable in this pod" >&2; exit 4; }
if [ ! -w "$dir" ] || [ ! -w "$dst" ]; then
  echo "PGSHIFT: $dir and $dst must be writable for the app's user; this pod runs as uid $(id -u), gid $(id -g) ($(ls -ld "$dir" | cut -c1-10) on the directory)" >&2
  exit 5
fi
od -An -tu1 -j18 -N1 "$dst"
`;

// Reads exactly $3 bytes from stdin into the temporary file $2 (head -c: ends
// even where the exec connection cannot signal the end of stdin), with the
// original's mode, then prints what arrived: its size, and its SHA-256 (the
// image's sha256sum or python3), else SQLite's quick_check (its sqlite3): the
// snapshot step needed sqlite3 or python3, so one of them is there. The
// temporary file is removed unless all of it went through.
export const UPLOAD_SCRIPT = `
set -eu
dst="$1"; tmp="$2"; size="$3"
done=0
trap '[ "$done" = 1 ] || rm -f "$tmp" "$tmp-wal" "$tmp-shm"' EXIT
: > "$tmp"
mode="$(stat -c %a "$dst" 2>/dev/null || true)"
[ -z "$mode" ] || chmod "$mode" "$tmp"
head -c "$size" > "$tmp"
echo "size $(wc -c < "$tmp" | tr -d ' ')"
if command -v sha256sum >/dev/null 2>&1; then
  echo "sha256 $(sha256sum "$tmp" | cut -d' ' -f1)"
elif command -v python3 >/dev/null 2>&1; then
  echo "sha256 $(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$tmp")"
elif command -v sqlite3 >/dev/null 2>&1; then
  echo "check $(sqlite3 -readonly "$tmp" 'PRAGMA quick_check' 2>&1 | head -n 1)"
  rm -f "$tmp-wal" "$tmp-shm"
else
  echo "PGSHIFT: neither sha256sum, python3 nor sqlite3 is in this container to check the upload with" >&2; exit 3
fi
done=1
`;

// The switch: the original and its -wal/-shm/-journal become the backup $3
// (and its own -wal/-shm/-journal, so the backup opens as the app left it),
// then the checked temporary file $2 becomes $1. A failing step puts back what
// was moved and removes the temporary file: the volume is as it was.
export const SWAP_SCRIPT = `
set -u
dst="$1"; tmp="$2"; bak="$3"
moved=""
undo() {
  for s in $moved; do
    if [ "$s" = db ]; then mv -f "$bak" "$dst"; else mv -f "$bak-$s" "$dst-$s"; fi
  done
  rm -f "$tmp"
}
for s in "" -wal -shm -journal; do
  if [ -e "$bak$s" ]; then echo "PGSHIFT: $bak$s already exists" >&2; rm -f "$tmp"; exit 5; fi
done
mv "$dst" "$bak" || { echo "PGSHIFT: could not rename $dst to $bak" >&2; undo; exit 6; }
moved="db"
for s in wal shm journal; do
  if [ -e "$dst-$s" ]; then
    mv "$dst-$s" "$bak-$s" || { echo "PGSHIFT: could not rename $dst-$s to $bak-$s" >&2; undo; exit 6; }
    moved="$moved $s"
  fi
done
mv "$tmp" "$dst" || { echo "PGSHIFT: could not rename $tmp to $dst" >&2; undo; exit 6; }
sync 2>/dev/null || true
`;

interface ExecStatus {
  status?: string;
  message?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

/** Runs `sh -c script sh ...args` in the pod, stdin from `stdin`; stdout, stderr and the exit code. */
async function run(p: ClaimPod, script: string, args: string[], stdin: Readable | null = null): Promise<{ stdout: string; stderr: string; code: string }> {
  let stdout = "";
  let stderr = "";
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _e, done) {
        add(chunk.toString("utf8"));
        done();
      },
    });
  const status = await new Promise<ExecStatus>((resolve, reject) => {
    // Done when the connection closes, not at the status, which can overtake stdout's last chunks (pod-sqlite.ts).
    let got: ExecStatus | undefined;
    let closed = false;
    new (kubeClient().Exec)(p.kc)
      .exec(
        p.namespace,
        p.pod,
        p.container,
        ["sh", "-c", script, "sh", ...args],
        sink((s) => (stdout += s)),
        sink((s) => (stderr += s)),
        stdin,
        false,
        (s) => {
          got = s as ExecStatus;
          if (closed) resolve(got);
        },
      )
      .then((ws) =>
        ws.on("close", () => {
          closed = true;
          if (got) resolve(got);
          else setTimeout(() => resolve(got ?? { status: "Unknown", message: "the exec stream closed without a status" }), 2000);
        }),
      )
      .catch(reject);
  });
  const code = status.status === "Success" ? "0" : (status.details?.causes?.find((c) => c.reason === "ExitCode")?.message ?? "?");
  if (code !== "0") stderr = stderr.trim() || status.message || "unknown error";
  return { stdout, stderr: stderr.trim(), code };
}

async function sha256(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** `app.db.pgshift-backup-20261207T183000Z` */
export function backupName(path: string, at: Date): string {
  return `${path}.pgshift-backup-${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;
}

export interface WriteBack<T> {
  /** what `copyBack` returned */
  result: T;
  /** the writer pod it ran in (deleted since) */
  pod: string;
  /** where the original file is now, inside the container (absent: nothing was replaced, `copyBack` did not verify) */
  backupFile?: string;
  /** where the time went, in order (pod start, snapshot, copy back, upload and check, renames), in ms: a slow rollback says which part to work on */
  timings: { part: string; ms: number }[];
}

/**
 * In a writer pod on the stopped workload's claim: snapshots `source` into
 * `localPath`, runs `copyBack` on it, and if it verified (`ok`), puts the
 * local file in place of the one in the volume, the original kept beside it.
 * On any failure before the switch the volume is as it was.
 */
export async function writeBackThroughPod<T extends { ok: boolean }>(
  access: KubeAccess,
  w: Workload,
  source: PodSqliteSource,
  localPath: string,
  o: { image?: string; timeoutMs: number; now?: () => Date },
  copyBack: (localPath: string) => Promise<T>,
): Promise<WriteBack<T>> {
  let last = Date.now();
  const timings: { part: string; ms: number }[] = [];
  const mark = (part: string) => {
    const t = Date.now();
    timings.push({ part, ms: t - last });
    last = t;
  };
  return withClaimPod(access, w, source.path, { image: o.image, timeoutMs: o.timeoutMs, readOnly: false }, async (p) => {
    mark("writer pod start");
    const dst = source.path;
    const where = `pod ${p.namespace}/${p.pod} (claim ${p.claim.claimName}, image ${p.image})`;
    const unchanged = "The file in the volume was not changed.";
    const prep = await run(p, PREPARE_SCRIPT, [dst]);
    if (prep.code !== "0") {
      const hint =
        prep.code === "5"
          ? " The writer pod runs as the app's user (runAsUser/runAsGroup/fsGroup of the workload's pod template): give that user write access to the file and its directory, or roll back with rollback.discardPostgresWrites."
          : prep.code === "126" || prep.code === "127"
            ? " The image has no /bin/sh: set pgshift:cutover.readerImage to an image with sh and sqlite3 or python3."
            : "";
      throw new PodWriteBackError(`Could not prepare to write ${dst} back in ${where}: ${prep.stderr} (exit ${prep.code}).${hint} ${unchanged}`, true);
    }
    const wal = prep.stdout.trim() === "2";
    await snapshotInPod(p.kc, p.namespace, p.pod, p.container, dst, localPath);
    mark("snapshot");
    const result = await copyBack(localPath);
    mark("copy back and verify");
    if (!result.ok) return { result, pod: p.pod, timings };
    if (wal) {
      // As the app had it: WAL mode is recorded in the file's header, and the snapshot came out without it.
      const Database = require("better-sqlite3") as typeof import("better-sqlite3"); // eslint-disable-line @typescript-eslint/no-require-imports
      const db = new Database(localPath);
      db.pragma("journal_mode = WAL");
      db.close();
    }
    const size = statSync(localPath).size;
    const sum = await sha256(localPath);
    const tmp = posix.join(posix.dirname(dst), `.${posix.basename(dst)}.pgshift-upload-${randomBytes(4).toString("hex")}`);
    const removeTmp = () => run(p, 'rm -f "$1"', [tmp]).catch(() => undefined);
    let up: Awaited<ReturnType<typeof run>>;
    try {
      up = await run(p, UPLOAD_SCRIPT, [dst, tmp, String(size)], createReadStream(localPath));
    } catch (e) {
      await removeTmp();
      throw new PodWriteBackError(`Could not upload the copied-back file to ${tmp} in ${where}: ${(e as Error).message}. ${unchanged}`, true);
    }
    const got = Object.fromEntries(
      up.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]),
    );
    const wrong =
      up.code !== "0"
        ? `${up.stderr} (exit ${up.code})`
        : got["size"] !== String(size)
          ? `${got["size"] ?? "no"} of ${size} bytes arrived`
          : got["sha256"] && got["sha256"] !== sum
            ? `its SHA-256 is ${got["sha256"]}, the local file's ${sum}`
            : got["check"] && got["check"] !== "ok"
              ? `quick_check there says ${got["check"]}`
              : undefined;
    if (wrong) {
      await removeTmp();
      throw new PodWriteBackError(`The copied-back file did not arrive whole in ${where}: ${wrong}. ${unchanged}`, true);
    }
    mark("upload and check");
    const backupFile = backupName(dst, (o.now ?? (() => new Date()))());
    let swap: Awaited<ReturnType<typeof run>>;
    try {
      swap = await run(p, SWAP_SCRIPT, [dst, tmp, backupFile]);
    } catch (e) {
      throw new PodWriteBackError(
        `Lost the connection to ${where} while putting the copied-back file in place of ${dst} (${(e as Error).message}): ` +
          `if ${backupFile} exists in the volume, the new file is in place and that is the original; otherwise the file is as it was.`,
        false,
      );
    }
    if (swap.code !== "0") throw new PodWriteBackError(`Could not put the copied-back file in place of ${dst} in ${where}: ${swap.stderr}. ${unchanged}`, true);
    mark("renames");
    return { result, pod: p.pod, backupFile, timings };
  });
}
