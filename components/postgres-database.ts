// PostgresDatabase: PostgreSQL 16 as a StatefulSet with the safe choices made —
// non-root with a restricted securityContext, PGDATA in a subdirectory of the
// volume, pg_isready probes, scram-sha-256 only (hostssl when TLS is on), a
// PodDisruptionBudget, and in prod a volume that outlives any delete.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ServerCertificate } from "../src/provider/generated-secret";
import { databaseChildName, databaseObjectName, databaseServiceHost, databaseServiceName, type DatabaseEngine } from "./names";
import { pgHba } from "./pg-hba";
import {
  DATA_MOUNT,
  PGDATA,
  POSTGRES_GID,
  POSTGRES_PORT,
  POSTGRES_UID,
  TLS_MOUNT,
  SHIM_DIR,
  SUPERUSER_SECRET_MOUNT,
  DEFAULT_SHM_SIZE,
  databaseSelector,
  recommendedLabels,
  restrictedContainerSecurity,
} from "./defaults";

export interface PostgresDatabaseArgs {
  namespace: pulumi.Input<string>;
  namePrefix: string;
  database: string;
  image: string;
  storageClass?: string;
  storageSize: string;
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
  superuserSecretName: pulumi.Input<string>;
  tls: boolean;
  /** an existing kubernetes.io/tls Secret (with ca.crt); otherwise a CA and a server certificate it signs are generated */
  tlsSecret?: string;
  protect: boolean;
  /** keep the data volume claim when the StatefulSet is deleted (default: what protect says) */
  keepVolumeOnDelete?: boolean;
  maxConnections: number;
  sharedBuffers: string;
  /** the roles pgshift manages; pg_hba lets each reach only `database` */
  roles: string[];
  /** size of the memory-backed /dev/shm (counts against the memory limit) */
  shmSize?: string;
  /** node drains: "allow" evicts the single instance, "block" waits for an operator */
  drains?: "allow" | "block";
}

export const postgresShim = () => readFileSync(join(__dirname, "postgres", "postgres.sh"), "utf8");
export const entrypointWrapper = () => readFileSync(join(__dirname, "postgres", "entrypoint.sh"), "utf8");

export function postgresqlConf(args: Pick<PostgresDatabaseArgs, "maxConnections" | "sharedBuffers" | "tls">): string {
  return [
    "listen_addresses = '*'",
    `max_connections = ${args.maxConnections}`,
    `shared_buffers = ${args.sharedBuffers.replace(/i$/, "").replace(/([KMGT])$/, "$1B")}`,
    "password_encryption = scram-sha-256",
    "default_statistics_target = 100",
    "autovacuum = on",
    "log_min_duration_statement = 1000",
    "log_connections = on",
    "log_disconnections = on",
    `ssl = ${args.tls ? "on" : "off"}`,
    ...(args.tls ? [`ssl_cert_file = '${TLS_MOUNT}/tls.crt'`, `ssl_key_file = '${TLS_MOUNT}/tls.key'`, "ssl_min_protocol_version = 'TLSv1.2'"] : []),
    "hba_file = '/etc/postgresql/conf/pg_hba.conf'",
    "",
  ].join("\n");
}

/**
 * Every object of the database but the generated certificate, as plain
 * manifests: what the component creates, testable without Pulumi. `instance`
 * is the component's name; the pod labels carry it.
 */
export function postgresDatabaseManifests(instance: string, args: PostgresDatabaseArgs) {
  const base = databaseObjectName(args.namePrefix);
  const configMapName = databaseChildName(args.namePrefix, "config");
  const selector = databaseSelector(instance);
  const labels = { ...recommendedLabels("postgresql", "database", instance), ...selector, "app.kubernetes.io/version": "16" };
  const meta = (n: string) => ({ name: n, namespace: args.namespace, labels });
  const tlsSecretName = args.tls ? (args.tlsSecret ?? databaseChildName(args.namePrefix, "tls")) : undefined;

  const configMap = {
    metadata: meta(configMapName),
    data: {
      "postgresql.conf": postgresqlConf(args),
      "pg_hba.conf": pgHba({ tls: args.tls, database: args.database, roles: args.roles }),
      "postgres.sh": postgresShim(),
      "entrypoint.sh": entrypointWrapper(),
    },
  };
  const headlessServiceName = databaseChildName(args.namePrefix, "headless");
  const headlessService: k8s.types.input.core.v1.Service = {
    metadata: meta(headlessServiceName),
    spec: { clusterIP: "None", selector, ports: [{ name: "postgresql", port: POSTGRES_PORT, targetPort: "postgresql" }], publishNotReadyAddresses: true },
  };
  const service: k8s.types.input.core.v1.Service = {
    metadata: meta(base),
    spec: { type: "ClusterIP", selector, ports: [{ name: "postgresql", port: POSTGRES_PORT, targetPort: "postgresql" }] },
  };
  const serviceAccount = { metadata: meta(base), automountServiceAccountToken: false };

  const probe = (initialDelaySeconds: number, periodSeconds: number, failureThreshold: number) => ({
    exec: { command: ["sh", "-c", `pg_isready -U "$POSTGRES_USER" -d ${args.database} -h 127.0.0.1 -p ${POSTGRES_PORT}`] },
    initialDelaySeconds,
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });

  const volumes: k8s.types.input.core.v1.Volume[] = [
    { name: "config", configMap: { name: configMapName } },
    ...(tlsSecretName ? [{ name: "tls", secret: { secretName: tlsSecretName, defaultMode: 0o600 } }] : []),
    // The superuser password as a file the entrypoint reads (POSTGRES_PASSWORD_FILE), not an env var.
    { name: "superuser", secret: { secretName: args.superuserSecretName, items: [{ key: "POSTGRES_PASSWORD", path: "password" }], defaultMode: 0o400 } },
    {
      name: "shim",
      configMap: {
        name: configMapName,
        items: [
          { key: "entrypoint.sh", path: "entrypoint" },
          { key: "postgres.sh", path: "postgres" },
        ],
        defaultMode: 0o555,
      },
    },
    // Parallel queries use POSIX shared memory; a container's default /dev/shm is 64MB.
    { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: args.shmSize ?? DEFAULT_SHM_SIZE } },
  ];
  const mounts: k8s.types.input.core.v1.VolumeMount[] = [
    { name: "data", mountPath: DATA_MOUNT },
    { name: "config", mountPath: "/etc/postgresql/conf", readOnly: true },
    ...(tlsSecretName ? [{ name: "tls", mountPath: TLS_MOUNT, readOnly: true }] : []),
    { name: "superuser", mountPath: SUPERUSER_SECRET_MOUNT, readOnly: true },
    { name: "shim", mountPath: SHIM_DIR, readOnly: true },
    { name: "dshm", mountPath: "/dev/shm" },
  ];

  const statefulSet = {
    metadata: meta(base),
    spec: {
      serviceName: headlessServiceName,
      replicas: 1,
      selector: { matchLabels: selector },
      // A delete of the StatefulSet keeps the data volume in prod (or where asked); a scale-down always does.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: (args.keepVolumeOnDelete ?? args.protect) ? "Retain" : "Delete", whenScaled: "Retain" },
      template: {
        metadata: { labels },
        spec: {
          securityContext: {
            runAsNonRoot: true,
            runAsUser: POSTGRES_UID,
            runAsGroup: POSTGRES_GID,
            fsGroup: POSTGRES_GID,
            fsGroupChangePolicy: "OnRootMismatch",
            seccompProfile: { type: "RuntimeDefault" },
          },
          serviceAccountName: base,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 60,
          containers: [
            {
              name: "postgresql",
              image: args.image,
              // The image's entrypoint, through a wrapper that puts postgres.sh first on PATH.
              command: [`${SHIM_DIR}/entrypoint`],
              args: ["-c", "config_file=/etc/postgresql/conf/postgresql.conf"],
              ports: [{ name: "postgresql", containerPort: POSTGRES_PORT }],
              env: [
                { name: "POSTGRES_DB", value: args.database },
                { name: "POSTGRES_USER", valueFrom: { secretKeyRef: { name: args.superuserSecretName, key: "POSTGRES_USER" } } },
                { name: "POSTGRES_PASSWORD_FILE", value: `${SUPERUSER_SECRET_MOUNT}/password` },
                { name: "POSTGRES_INITDB_ARGS", value: "--auth-host=scram-sha-256 --auth-local=scram-sha-256" },
                // A subdirectory: the volume's root holds lost+found on many storage classes.
                { name: "PGDATA", value: PGDATA },
              ],
              resources: { requests: args.requests, limits: args.limits },
              securityContext: restrictedContainerSecurity,
              startupProbe: probe(5, 5, 60),
              readinessProbe: probe(5, 10, 3),
              livenessProbe: probe(30, 20, 6),
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data", labels },
          spec: {
            accessModes: ["ReadWriteOnce"],
            ...(args.storageClass ? { storageClassName: args.storageClass } : {}),
            resources: { requests: { storage: args.storageSize } },
          },
        },
      ],
    },
  } satisfies k8s.types.input.apps.v1.StatefulSet;

  // One instance: "block" makes a node drain wait until an operator moves the
  // database (docs/security.md); "allow" lets the drain evict it (a restart
  // elsewhere), and an unhealthy pod never holds a drain up.
  const podDisruptionBudget = {
    metadata: meta(base),
    spec: {
      maxUnavailable: args.drains === "block" ? 0 : 1,
      unhealthyPodEvictionPolicy: "AlwaysAllow",
      selector: { matchLabels: selector },
    },
  };

  /** The TLS Secret for a generated certificate; ca.crt as cert-manager names it: the other pods mount only that key. */
  const tlsSecret = (cert: { cert: pulumi.Input<string>; key: pulumi.Input<string>; caCert: pulumi.Input<string> }) => ({
    metadata: meta(databaseChildName(args.namePrefix, "tls")),
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": cert.cert, "tls.key": cert.key, "ca.crt": cert.caCert },
  });

  return { configMap, headlessService, service, serviceAccount, statefulSet, podDisruptionBudget, tlsSecret };
}

/** The names the server certificate is valid for: the Service's, short and fully qualified. */
export function certificateNames(namePrefix: string, namespace: pulumi.Input<string>, engine: DatabaseEngine = "statefulset") {
  const base = databaseServiceName(namePrefix, engine);
  const host = pulumi.interpolate`${base}.${namespace}.svc`;
  return { commonName: host, dnsNames: [host, databaseServiceHost(namePrefix, namespace, engine), base] };
}

export class PostgresDatabase extends pulumi.ComponentResource {
  /** the instance label of the database pod (the component's name); the exporter, backup and NetworkPolicy use it */
  public readonly instance: string;
  public readonly serviceName: pulumi.Output<string>;
  /** in-cluster DNS name of the ClusterIP Service */
  public readonly serviceHost: pulumi.Output<string>;
  public readonly statefulSetName: pulumi.Output<string>;
  /** PEM of the CA that signed the server certificate (generated certificates only) */
  public readonly caCert?: pulumi.Output<string>;
  /** the kubernetes.io/tls Secret; its ca.crt key verifies the server */
  public readonly tlsSecretName?: pulumi.Output<string>;
  /** the database pod (one replica); known once the StatefulSet is applied, and awaited as Ready when awaitReadiness is on */
  public readonly podName: pulumi.Output<string>;

  constructor(name: string, args: PostgresDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:PostgresDatabase", name, {}, opts);
    const parent = { parent: this };
    const m = postgresDatabaseManifests(name, args);
    const config = new k8s.core.v1.ConfigMap(`${name}-config`, m.configMap, parent);

    // The generated certificate's Secret; an existing one (args.tlsSecret) is only referred to by name.
    let tlsSecret: k8s.core.v1.Secret | undefined;
    let caCert: pulumi.Output<string> | undefined;
    if (args.tls && !args.tlsSecret) {
      const cert = new ServerCertificate(`${name}-tls`, certificateNames(args.namePrefix, args.namespace), parent);
      caCert = cert.caCert;
      tlsSecret = new k8s.core.v1.Secret(`${name}-tls`, m.tlsSecret(cert), parent);
    }

    const headless = new k8s.core.v1.Service(`${name}-headless`, m.headlessService, parent);
    const service = new k8s.core.v1.Service(`${name}-service`, m.service, parent);
    const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-serviceaccount`, m.serviceAccount, parent);
    // The manifests name the objects the pod uses; dependsOn has them created first (a pod whose ConfigMap
    // or ServiceAccount is missing does not start).
    const podNeeds = [config, headless, serviceAccount, ...(tlsSecret ? [tlsSecret] : [])];
    const statefulSet = new k8s.apps.v1.StatefulSet(`${name}-statefulset`, m.statefulSet, {
      ...parent,
      dependsOn: podNeeds,
      protect: args.protect,
      retainOnDelete: args.protect,
    });
    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, m.podDisruptionBudget, parent);

    this.instance = name;
    this.caCert = caCert;
    // An output of the Secret when generated: who mounts its ca.crt waits for it.
    this.tlsSecretName = tlsSecret ? tlsSecret.metadata.name : args.tls && args.tlsSecret ? pulumi.output(args.tlsSecret) : undefined;
    this.serviceName = service.metadata.name;
    this.serviceHost = databaseServiceHost(args.namePrefix, args.namespace);
    this.statefulSetName = statefulSet.metadata.name;
    this.podName = pulumi.interpolate`${statefulSet.metadata.name}-0`;
    this.registerOutputs({ serviceName: this.serviceName, serviceHost: this.serviceHost, statefulSetName: this.statefulSetName, podName: this.podName });
  }
}
