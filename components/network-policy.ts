// DatabaseNetworkPolicy: only the app's pods (and pgshift's exporter and backup
// jobs) reach 5432; the database pod itself may only talk to DNS.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { POSTGRES_PORT, databaseSelector, recommendedLabels } from "./defaults";

export interface DatabaseNetworkPolicyArgs {
  namespace: pulumi.Input<string>;
  namePrefix: string;
  /** instance name of the PostgresDatabase to protect */
  databaseInstance: string;
  /** label sets of the pods allowed in: the app's api and worker, plus pgshift's own clients */
  allowFrom: Record<string, string>[];
}

export function pgshiftClientSelectors(databaseInstance: string): Record<string, string>[] {
  return [
    { "app.kubernetes.io/component": "metrics", "app.kubernetes.io/instance": databaseInstance },
    { "app.kubernetes.io/component": "backup", "app.kubernetes.io/instance": databaseInstance },
  ];
}

export class DatabaseNetworkPolicy extends pulumi.ComponentResource {
  constructor(name: string, args: DatabaseNetworkPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:DatabaseNetworkPolicy", name, {}, opts);
    const selectors = [...args.allowFrom, ...pgshiftClientSelectors(args.databaseInstance)];
    new k8s.networking.v1.NetworkPolicy(
      `${name}-policy`,
      {
        metadata: { name: `${args.namePrefix}postgres`, namespace: args.namespace, labels: recommendedLabels("postgresql", "network-policy", args.databaseInstance) },
        spec: {
          podSelector: { matchLabels: databaseSelector(args.databaseInstance) },
          policyTypes: ["Ingress", "Egress"],
          ingress: [{ from: selectors.map((matchLabels) => ({ podSelector: { matchLabels } })), ports: [{ protocol: "TCP", port: POSTGRES_PORT }] }],
          // DNS only: a compromised database cannot send data anywhere.
          egress: [
            {
              to: [{ namespaceSelector: {}, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
              ports: [
                { protocol: "UDP", port: 53 },
                { protocol: "TCP", port: 53 },
              ],
            },
          ],
        },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
