// DatabaseNetworkPolicy: only the app's pods (and pgshift's exporter and backup
// jobs) reach 5432; the database pod itself may only talk to DNS.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { backupSelector } from "./backup-cronjob";
import { POSTGRES_PORT, databaseSelector, recommendedLabels } from "./defaults";
import { databaseObjectName } from "./names";
import { exporterSelector } from "./postgres-exporter";

export interface DatabaseNetworkPolicyArgs {
  namespace: pulumi.Input<string>;
  namePrefix: string;
  /** instance name of the PostgresDatabase to protect (its `instance`) */
  databaseInstance: string;
  /** label sets of the pods allowed in: the app's api and worker, plus pgshift's own clients */
  allowFrom: Record<string, string>[];
  /** DNS servers that are not pods (a node-local cache, the node's resolver), as CIDRs */
  dnsCidrs?: string[];
  /**
   * A CloudNativePG Cluster: its instances replicate to each other (5432) and answer the operator and each
   * other on the instance manager's port (8000), and each instance manager watches the Kubernetes API.
   */
  cloudnativePg?: { clusterName: string; apiServerCidrs: string[] };
}

/** CloudNativePG's instance manager: status and promotion calls from the operator and the other instances. */
export const CNPG_STATUS_PORT = 8000;
/** The pods of CloudNativePG's operator, in whatever namespace it was installed. */
export const CNPG_OPERATOR_SELECTOR = { "app.kubernetes.io/name": "cloudnative-pg" };

/** The pods of pgshift's own that connect: the exporter and the backup job (their components own these labels). */
export function pgshiftClientSelectors(databaseInstance: string): Record<string, string>[] {
  return [exporterSelector(databaseInstance), backupSelector(databaseInstance)];
}

/** The NetworkPolicy as a plain manifest. */
export function networkPolicyManifest(args: DatabaseNetworkPolicyArgs): k8s.types.input.networking.v1.NetworkPolicy {
  const selectors = [...args.allowFrom, ...pgshiftClientSelectors(args.databaseInstance)];
  const cnpg = args.cloudnativePg;
  const peers = cnpg ? { podSelector: { matchLabels: { "cnpg.io/cluster": cnpg.clusterName } } } : undefined;
  const tcp = (...ports: number[]) => ports.map((port) => ({ protocol: "TCP", port }));
  return {
    metadata: {
      name: databaseObjectName(args.namePrefix),
      namespace: args.namespace,
      labels: recommendedLabels("postgresql", "network-policy", args.databaseInstance),
    },
    spec: {
      podSelector: { matchLabels: databaseSelector(args.databaseInstance) },
      policyTypes: ["Ingress", "Egress"],
      ingress: [
        { from: selectors.map((matchLabels) => ({ podSelector: { matchLabels } })), ports: [{ protocol: "TCP", port: POSTGRES_PORT }] },
        ...(cnpg
          ? [
              { from: [peers!], ports: tcp(POSTGRES_PORT, CNPG_STATUS_PORT) },
              { from: [{ namespaceSelector: {}, podSelector: { matchLabels: CNPG_OPERATOR_SELECTOR } }], ports: tcp(CNPG_STATUS_PORT) },
            ]
          : []),
      ],
      // DNS only: a compromised database cannot send data anywhere.
      egress: [
        {
          to: [
            { namespaceSelector: {}, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } },
            ...(args.dnsCidrs ?? []).map((cidr) => ({ ipBlock: { cidr } })),
          ],
          ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
          ],
        },
        // Replication and the instance managers' calls to each other; the Kubernetes API (any port: the Service's
        // 443 is translated to the API server's own before the policy sees it).
        ...(cnpg
          ? [
              { to: [peers!], ports: tcp(POSTGRES_PORT, CNPG_STATUS_PORT) },
              ...(cnpg.apiServerCidrs.length ? [{ to: cnpg.apiServerCidrs.map((cidr) => ({ ipBlock: { cidr } })) }] : []),
            ]
          : []),
      ],
    },
  };
}

export class DatabaseNetworkPolicy extends pulumi.ComponentResource {
  constructor(name: string, args: DatabaseNetworkPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:DatabaseNetworkPolicy", name, {}, opts);
    new k8s.networking.v1.NetworkPolicy(`${name}-policy`, networkPolicyManifest(args), { parent: this });
    this.registerOutputs({});
  }
}
