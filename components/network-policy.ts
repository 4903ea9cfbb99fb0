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
}

/** The pods of pgshift's own that connect: the exporter and the backup job (their components own these labels). */
export function pgshiftClientSelectors(databaseInstance: string): Record<string, string>[] {
  return [exporterSelector(databaseInstance), backupSelector(databaseInstance)];
}

/** The NetworkPolicy as a plain manifest. */
export function networkPolicyManifest(args: DatabaseNetworkPolicyArgs): k8s.types.input.networking.v1.NetworkPolicy {
  const selectors = [...args.allowFrom, ...pgshiftClientSelectors(args.databaseInstance)];
  return {
    metadata: { name: databaseObjectName(args.namePrefix), namespace: args.namespace, labels: recommendedLabels("postgresql", "network-policy", args.databaseInstance) },
    spec: {
      podSelector: { matchLabels: databaseSelector(args.databaseInstance) },
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ from: selectors.map((matchLabels) => ({ podSelector: { matchLabels } })), ports: [{ protocol: "TCP", port: POSTGRES_PORT }] }],
      // DNS only: a compromised database cannot send data anywhere.
      egress: [
        {
          to: [{ namespaceSelector: {}, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }, ...(args.dnsCidrs ?? []).map((cidr) => ({ ipBlock: { cidr } }))],
          ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
          ],
        },
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
