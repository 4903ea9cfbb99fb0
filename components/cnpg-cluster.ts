// CnpgDatabase: PostgreSQL as a CloudNativePG `Cluster` (pgshift:database.engine
// cloudnative-pg) instead of pgshift's own StatefulSet — a primary and
// replicas the operator fails over, with every commit waiting for at least one
// synchronous standby, so an acknowledged write survives the primary's loss.
// Everything else in the stack reaches it through the read-write Service the
// operator keeps pointed at the primary (`<cluster>-rw`, components/names.ts).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ServerCertificate } from "../src/provider/generated-secret";
import { certificateNames } from "./postgres-database";
import { databaseChildName, databaseObjectName, databaseServiceHost, databaseServiceName } from "./names";
import { pgHba } from "./pg-hba";
import { databaseSelector, recommendedLabels } from "./defaults";

export const CNPG_API_VERSION = "postgresql.cnpg.io/v1";
/** the uid/gid CloudNativePG's images run postgres as (its default spec.postgresUID) */
export const CNPG_POSTGRES_UID = 26;
/** the role CloudNativePG's instances replicate and pg_rewind as (certificate login) */
export const CNPG_REPLICATION_ROLE = "streaming_replica";

export interface CnpgDatabaseArgs {
  namespace: pulumi.Input<string>;
  namePrefix: string;
  database: string;
  image: string;
  /** PostgreSQL instances: one primary, the rest streaming replicas (at least 2) */
  instances: number;
  storageClass?: string;
  storageSize: string;
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
  superuserSecretName: pulumi.Input<string>;
  /** the roles pgshift manages; the first is the database's owner (bootstrap), pg_hba lets each reach only `database` */
  owner: string;
  roles: string[];
  tls: boolean;
  /** an existing kubernetes.io/tls Secret (with ca.crt); otherwise a CA and a server certificate it signs are generated */
  tlsSecret?: string;
  protect: boolean;
  maxConnections: number;
  sharedBuffers: string;
  shmSize?: string;
}

/** CloudNativePG's labels on its pods: the cluster's, and the role the operator gives each instance. */
export function cnpgPodSelector(clusterName: string, role?: "primary" | "replica"): Record<string, string> {
  return { "cnpg.io/cluster": clusterName, ...(role ? { "cnpg.io/instanceRole": role } : {}) };
}

/** pg_hba.conf's lines as CloudNativePG takes them: after its own (local peer for the instance manager, cert-only streaming_replica). */
export function cnpgHbaLines(args: Pick<CnpgDatabaseArgs, "tls" | "database" | "roles">): string[] {
  return pgHba({ tls: args.tls, database: args.database, roles: args.roles })
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .map((l) => l.replace(/\s+/g, " "));
}

/** The Cluster as a plain manifest: what the component creates, testable without Pulumi. */
export function cnpgClusterManifest(instance: string, args: CnpgDatabaseArgs, refs: { tlsSecretName?: pulumi.Input<string> } = {}) {
  const name = databaseObjectName(args.namePrefix);
  const labels = { ...recommendedLabels("postgresql", "database", instance), ...databaseSelector(instance) };
  const tlsSecretName = refs.tlsSecretName ?? (args.tls ? (args.tlsSecret ?? databaseChildName(args.namePrefix, "tls")) : undefined);
  return {
    apiVersion: CNPG_API_VERSION,
    kind: "Cluster",
    metadata: {
      name,
      namespace: args.namespace,
      labels,
      annotations: {
        // pulumi-kubernetes waits for the operator's Ready condition: every instance up, replicas streaming.
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": "900",
      },
    },
    spec: {
      instances: args.instances,
      imageName: args.image,
      // Every pod, Service and claim the operator makes carries the labels the NetworkPolicy, the exporter and
      // the backup job select the database by.
      inheritedMetadata: { labels },
      primaryUpdateStrategy: "unsupervised",
      postgresql: {
        parameters: {
          max_connections: String(args.maxConnections),
          shared_buffers: args.sharedBuffers.replace(/i$/, "").replace(/([KMGT])$/, "$1B"),
          password_encryption: "scram-sha-256",
          log_min_duration_statement: "1000",
          log_connections: "on",
          log_disconnections: "on",
        },
        // A commit returns once ANY one standby has it: the failover candidate has every acknowledged write.
        // "required": with no standby left, writes wait rather than being acknowledged by the primary alone.
        synchronous: { method: "any", number: 1, dataDurability: "required" },
        pg_hba: cnpgHbaLines(args),
      },
      bootstrap: { initdb: { database: args.database, owner: args.owner, encoding: "UTF8" } },
      enableSuperuserAccess: true,
      superuserSecret: { name: args.superuserSecretName },
      ...(tlsSecretName ? { certificates: { serverTLSSecret: tlsSecretName, serverCASecret: tlsSecretName } } : {}),
      storage: { size: args.storageSize, ...(args.storageClass ? { storageClass: args.storageClass } : {}) },
      resources: { requests: args.requests, limits: args.limits },
      ...(args.shmSize ? { ephemeralVolumesSizeLimit: { shm: args.shmSize } } : {}),
      // What the StatefulSet's pod holds (restricted Pod Security), stated rather than left to the operator's defaults.
      seccompProfile: { type: "RuntimeDefault" },
      securityContext: {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      },
      // The operator's own PodDisruptionBudgets: a drain never takes the primary and a replica at once.
      enablePDB: true,
    },
  };
}

export class CnpgDatabase extends pulumi.ComponentResource {
  public readonly instance: string;
  /** the Cluster's name */
  public readonly clusterName: string;
  /** the read-write Service (always the primary) */
  public readonly serviceName: pulumi.Output<string>;
  public readonly serviceHost: pulumi.Output<string>;
  public readonly caCert?: pulumi.Output<string>;
  public readonly tlsSecretName?: pulumi.Output<string>;
  /** the first primary; the port-forward looks the current one up by primarySelector when it opens */
  public readonly podName: pulumi.Output<string>;
  /** label selector of the current primary pod */
  public readonly primarySelector: string;

  constructor(name: string, args: CnpgDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:CnpgDatabase", name, {}, opts);
    const parent = { parent: this };
    let tlsSecretName: pulumi.Input<string> | undefined;
    let caCert: pulumi.Output<string> | undefined;
    if (args.tls) {
      if (args.tlsSecret) tlsSecretName = args.tlsSecret;
      else {
        const cert = new ServerCertificate(`${name}-tls`, certificateNames(args.namePrefix, args.namespace, "cloudnative-pg"), parent);
        caCert = cert.caCert;
        tlsSecretName = new k8s.core.v1.Secret(
          `${name}-tls`,
          {
            metadata: { name: databaseChildName(args.namePrefix, "tls"), namespace: args.namespace, labels: recommendedLabels("postgresql", "database", name) },
            type: "kubernetes.io/tls",
            stringData: { "tls.crt": cert.cert, "tls.key": cert.key, "ca.crt": cert.caCert },
          },
          parent,
        ).metadata.name;
      }
    }
    const cluster = new k8s.apiextensions.CustomResource(`${name}-cluster`, cnpgClusterManifest(name, args, { tlsSecretName }), {
      ...parent,
      protect: args.protect,
      retainOnDelete: args.protect,
    });
    this.instance = name;
    this.clusterName = databaseObjectName(args.namePrefix);
    this.caCert = caCert;
    this.tlsSecretName = tlsSecretName ? pulumi.output(tlsSecretName) : undefined;
    this.serviceName = cluster.metadata.apply(() => databaseServiceName(args.namePrefix, "cloudnative-pg"));
    this.serviceHost = databaseServiceHost(args.namePrefix, args.namespace, "cloudnative-pg");
    this.podName = cluster.metadata.apply((m) => `${m.name}-1`);
    this.primarySelector = Object.entries(cnpgPodSelector(this.clusterName, "primary"))
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    this.registerOutputs({ serviceName: this.serviceName, serviceHost: this.serviceHost, clusterName: this.clusterName });
  }
}
