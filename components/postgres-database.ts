// PostgresDatabase: PostgreSQL 16 as a StatefulSet with the safe choices made —
// non-root with a restricted securityContext, PGDATA in a subdirectory of the
// volume, pg_isready probes, scram-sha-256 only (hostssl when TLS is on), a
// PodDisruptionBudget, and in prod a volume that outlives any delete.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ServerCertificate } from "../src/provider/generated-secret";
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

export class PostgresDatabase extends pulumi.ComponentResource {
  public readonly serviceName: pulumi.Output<string>;
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
    const base = `${args.namePrefix}postgres`;
    const selector = databaseSelector(name);
    const labels = { ...recommendedLabels("postgresql", "database", name), ...selector, "app.kubernetes.io/version": "16" };
    const meta = (n: string) => ({ name: n, namespace: args.namespace, labels });

    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      {
        metadata: meta(`${base}-config`),
        data: {
          "postgresql.conf": postgresqlConf(args),
          "pg_hba.conf": pgHba({ tls: args.tls, database: args.database, roles: args.roles }),
          "postgres.sh": postgresShim(),
          "entrypoint.sh": entrypointWrapper(),
        },
      },
      parent,
    );

    let tlsSecretName: pulumi.Input<string> | undefined;
    let caCert: pulumi.Output<string> | undefined;
    if (args.tls) {
      if (args.tlsSecret) tlsSecretName = args.tlsSecret;
      else {
        const host = pulumi.interpolate`${base}.${args.namespace}.svc`;
        const cert = new ServerCertificate(`${name}-tls`, { commonName: host, dnsNames: [host, pulumi.interpolate`${base}.${args.namespace}.svc.cluster.local`, base] }, parent);
        caCert = cert.caCert;
        tlsSecretName = new k8s.core.v1.Secret(
          `${name}-tls`,
          // ca.crt as cert-manager names it: the other pods mount only that key to verify the server.
          { metadata: meta(`${base}-tls`), type: "kubernetes.io/tls", stringData: { "tls.crt": cert.cert, "tls.key": cert.key, "ca.crt": cert.caCert } },
          parent,
        ).metadata.name;
      }
    }

    const headless = new k8s.core.v1.Service(
      `${name}-headless`,
      {
        metadata: meta(`${base}-headless`),
        spec: { clusterIP: "None", selector, ports: [{ name: "postgresql", port: POSTGRES_PORT, targetPort: "postgresql" }], publishNotReadyAddresses: true },
      },
      parent,
    );
    const service = new k8s.core.v1.Service(
      `${name}-service`,
      { metadata: meta(base), spec: { type: "ClusterIP", selector, ports: [{ name: "postgresql", port: POSTGRES_PORT, targetPort: "postgresql" }] } },
      parent,
    );

    const probe = (initialDelaySeconds: number, periodSeconds: number, failureThreshold: number) => ({
      exec: { command: ["sh", "-c", `pg_isready -U "$POSTGRES_USER" -d ${args.database} -h 127.0.0.1 -p ${POSTGRES_PORT}`] },
      initialDelaySeconds,
      periodSeconds,
      timeoutSeconds: 5,
      failureThreshold,
    });

    const volumes: k8s.types.input.core.v1.Volume[] = [
      { name: "config", configMap: { name: config.metadata.name } },
      ...(tlsSecretName ? [{ name: "tls", secret: { secretName: tlsSecretName, defaultMode: 0o600 } }] : []),
      // The superuser password as a file the entrypoint reads (POSTGRES_PASSWORD_FILE), not an env var.
      { name: "superuser", secret: { secretName: args.superuserSecretName, items: [{ key: "POSTGRES_PASSWORD", path: "password" }], defaultMode: 0o400 } },
      {
        name: "shim",
        configMap: {
          name: config.metadata.name,
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
    const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-serviceaccount`, { metadata: meta(base), automountServiceAccountToken: false }, parent);

    const statefulSet = new k8s.apps.v1.StatefulSet(
      `${name}-statefulset`,
      {
        metadata: meta(base),
        spec: {
          serviceName: headless.metadata.name,
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
              serviceAccountName: serviceAccount.metadata.name,
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
      },
      { ...parent, protect: args.protect, retainOnDelete: args.protect },
    );

    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      // One instance: "block" makes a node drain wait until an operator moves the
      // database (docs/security.md); "allow" lets the drain evict it (a restart
      // elsewhere), and an unhealthy pod never holds a drain up.
      {
        metadata: meta(base),
        spec: {
          maxUnavailable: args.drains === "block" ? 0 : 1,
          unhealthyPodEvictionPolicy: "AlwaysAllow",
          selector: { matchLabels: selector },
        },
      },
      parent,
    );

    this.caCert = caCert;
    this.tlsSecretName = tlsSecretName ? pulumi.output(tlsSecretName) : undefined;
    this.serviceName = service.metadata.name;
    this.serviceHost = pulumi.interpolate`${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`;
    this.statefulSetName = statefulSet.metadata.name;
    this.podName = pulumi.interpolate`${statefulSet.metadata.name}-0`;
    this.registerOutputs({ serviceName: this.serviceName, serviceHost: this.serviceHost, statefulSetName: this.statefulSetName, podName: this.podName });
  }
}
