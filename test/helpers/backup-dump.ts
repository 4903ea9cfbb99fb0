// The node tests read the backup CronJob's latest dump back from its volume in a
// pod of their own (restricted like the stack's pods), with pg_restore's args.
import { POSTGRES_UID } from "../../components/defaults";
import type { TestCluster } from "./kube";
import type { Pod } from "./sample-app";

/** Runs `pg_restore <args> /backups/latest.dump` in pod `name` mounting `claimName` read-only; how it ended and what it printed. */
export async function pgRestoreLatestDump(
  cluster: TestCluster,
  ns: string,
  name: string,
  claimName: string,
  args: string[],
): Promise<{ phase: string; output: string }> {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels: { "app.kubernetes.io/component": "backup", "app.kubernetes.io/instance": "postgres" } },
    spec: {
      restartPolicy: "Never",
      securityContext: {
        runAsNonRoot: true,
        runAsUser: POSTGRES_UID,
        runAsGroup: POSTGRES_UID,
        fsGroup: POSTGRES_UID,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "pg-restore",
          image: "pgshift.local/postgres:15",
          command: ["pg_restore", ...args, "/backups/latest.dump"],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          volumeMounts: [{ name: "backups", mountPath: "/backups", readOnly: true }],
        },
      ],
      volumes: [{ name: "backups", persistentVolumeClaim: { claimName } }],
    },
  };
  await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
  const phase = await cluster.waitFor(
    `the ${name} pod to finish`,
    async () => {
      const p = await cluster.get<Pod>("pod", name, ns);
      return p && ["Succeeded", "Failed"].includes(p.status.phase) ? p.status.phase : undefined;
    },
    180_000,
  );
  return { phase, output: (await cluster.kubectl(["logs", "-n", ns, name])).stdout };
}
