// The app pgshift migrates, as it runs before pgshift: the seed's chat-bot
// api (a Deployment) and worker (a StatefulSet) in their namespace, reading
// DATABASE_URL from the Secret piyasa-secrets. A busybox stand-in: it prints
// which database it was started with and waits, so a test (or a person) can
// see a restart at cutover and what each new pod got.
import { NODE } from "./node-config";

export const SAMPLE_APP = {
  namespace: "piyasa-chatbot-cluster",
  prefix: "cluster-",
  image: "pgshift.local/app:busybox",
  secretName: "piyasa-secrets",
} as const;

export function sampleAppManifest(opts: { namespace?: string; prefix?: string } = {}): string {
  const ns = opts.namespace ?? SAMPLE_APP.namespace;
  const prefix = opts.prefix ?? SAMPLE_APP.prefix;
  // `sh` as PID 1 ignores SIGTERM unless it traps it; without the trap every restart waits out the grace period.
  const script = 'echo "started with DATABASE_URL=${DATABASE_URL%%:*}:..."; trap "exit 0" TERM; while true; do sleep 1; done';
  const pod = (app: string) => `
    metadata: { labels: { app: ${app} } }
    spec:
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: RuntimeDefault } }
      automountServiceAccountToken: false
      containers:
        - name: app
          image: ${SAMPLE_APP.image}
          imagePullPolicy: IfNotPresent
          command: ["sh", "-c", ${JSON.stringify(script)}]
          envFrom: [{ secretRef: { name: ${SAMPLE_APP.secretName}, optional: true } }]
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: [ALL] } }
          resources: { requests: { cpu: 10m, memory: 16Mi }, limits: { memory: 64Mi } }`;
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
