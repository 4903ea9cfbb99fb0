// The app pgshift migrates, as it runs before pgshift: the seed's chat-bot
// api (a Deployment) and worker (a StatefulSet) in their namespace, reading
// DATABASE_URL from the Secret piyasa-secrets. A busybox stand-in: it prints
// which database it was started with and waits, so a test (or a person) can
// see a restart at cutover and what each new pod got. Given the host directory
// that holds the stack's SQLite file, it writes like the real app instead: one
// message every ~20 ms into whichever database DATABASE_URL names (sqlite3 on
// the file, mounted at the app's working directory, or psql on PostgreSQL),
// appending each id the database acknowledged to acks-<pod>.log in that
// directory, where a test still reads it after the pod is gone.
import { NODE } from "./node-config";

export const SAMPLE_APP = {
  namespace: "piyasa-chatbot-cluster",
  prefix: "cluster-",
  image: "pgshift.local/app:busybox",
  secretName: "piyasa-secrets",
} as const;
/** the uid (and gid) the app's pods run as: its SQLite file and directory must be theirs */
export const SAMPLE_APP_UID = 1000;

/**
 * The writing stand-in's loop. An id is logged only after the database
 * returned it (the INSERT committed), so every logged id must survive a switch;
 * a pod stopped between the commit and the log line leaves a row nobody
 * counted, never a counted row missing. The message text carries the pod, a
 * run of its own and a counter, so a row written twice, or an id reused for
 * another row, shows.
 * The SQLite timestamps have microseconds, as SQLAlchemy writes them (the
 * column's usual form, so PostgreSQL's now() goes back in it).
 */
export const WRITER_SCRIPT = `# Before the stack writes its Secret: the file beside the app (the stack's app.sqliteUrl).
: "\${DATABASE_URL:=sqlite:///./app.db}"
echo "started with DATABASE_URL=\${DATABASE_URL%%:*}:..."
trap 'exit 0' TERM
me="\${HOSTNAME:-$(hostname)}"
acks="/app/acks-$me.log"
# A StatefulSet's pod comes back under the same name: each start tags its rows with a run of its own.
run=$(cut -c1-8 /proc/sys/kernel/random/uuid)
case "$DATABASE_URL" in
  postgresql*) backend=postgresql; url="postgresql\${DATABASE_URL#postgresql+psycopg}" ;;
  sqlite:///*) backend=sqlite; file="\${DATABASE_URL#sqlite:///}" ;;
  *) echo "DATABASE_URL names no database I can write to"; while true; do sleep 1; done ;;
esac
n=0
while true; do
  n=$((n + 1))
  tag="ack $me $run $n"
  if [ "$backend" = sqlite ]; then
    id=$(sqlite3 -cmd ".timeout 10000" "$file" "INSERT INTO messages (bot_id, chat_id, text, created_at) VALUES (1, 1, '$tag', strftime('%Y-%m-%d %H:%M:%f000', 'now')) RETURNING id;" 2>>/app/errors-$me.log)
  else
    id=$(psql "$url" -XqtA -v ON_ERROR_STOP=1 -c "INSERT INTO messages (bot_id, chat_id, text, created_at) VALUES (1, 1, '$tag', LOCALTIMESTAMP) RETURNING id" 2>>/app/errors-$me.log)
  fi && [ -n "$id" ] && echo "$backend $id $tag" >> "$acks"
  usleep 20000
done`;

export function sampleAppManifest(opts: { namespace?: string; prefix?: string; dataDir?: string } = {}): string {
  const ns = opts.namespace ?? SAMPLE_APP.namespace;
  const prefix = opts.prefix ?? SAMPLE_APP.prefix;
  // `sh` as PID 1 ignores SIGTERM unless it traps it; without the trap every restart waits out the grace period.
  const script = opts.dataDir ? WRITER_SCRIPT : 'echo "started with DATABASE_URL=${DATABASE_URL%%:*}:..."; trap "exit 0" TERM; while true; do sleep 1; done';
  // The node runs on this machine: the stack's own SQLite file is the one the app writes (uid 1000 needs the directory writable, for journals).
  const mount = opts.dataDir
    ? `
          volumeMounts: [{ name: data, mountPath: /app }]
      volumes: [{ name: data, hostPath: { path: ${JSON.stringify(opts.dataDir)}, type: Directory } }]`
    : "";
  const pod = (app: string) => `
    metadata: { labels: { app: ${app} } }
    spec:
      securityContext: { runAsNonRoot: true, runAsUser: ${SAMPLE_APP_UID}, runAsGroup: ${SAMPLE_APP_UID}, seccompProfile: { type: RuntimeDefault } }
      automountServiceAccountToken: false
      containers:
        - name: app
          image: ${SAMPLE_APP.image}
          imagePullPolicy: IfNotPresent
          command: ["sh", "-c", ${JSON.stringify(script)}]
          envFrom: [{ secretRef: { name: ${SAMPLE_APP.secretName}, optional: true } }]
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: [ALL] } }
          resources: { requests: { cpu: 10m, memory: 16Mi }, limits: { memory: 64Mi } }${mount}`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${ns} }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${prefix}api, namespace: ${ns} }
spec:
  replicas: 1
  selector: { matchLabels: { app: piyasa-api } }
  template:${pod("piyasa-api")}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: ${prefix}worker, namespace: ${ns} }
spec:
  serviceName: ${prefix}worker
  replicas: 1
  selector: { matchLabels: { app: piyasa-worker } }
  template:${pod("piyasa-worker")}
`;
}

/** for messages: where the sample app runs */
export const sampleAppWhere = () => `${SAMPLE_APP.namespace} (Deployment ${SAMPLE_APP.prefix}api, StatefulSet ${SAMPLE_APP.prefix}worker) on ${NODE.name}`;
