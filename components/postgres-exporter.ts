// PostgresExporter: prometheus-community's postgres_exporter, logging in as the
// monitoring role (a member of pg_monitor and nothing else), with Prometheus
// scrape annotations and an optional ServiceMonitor.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CA_MOUNT, EXPORTER_PORT, caVolume, recommendedLabels, restrictedContainerSecurity } from "./defaults";
import { databaseChildName } from "./names";

export interface PostgresExporterArgs {
  namespace: pulumi.Input<string>;
  namePrefix: string;
  databaseInstance: string;
  image: string;
  /** Secret with DATA_SOURCE_NAME for the monitoring role */
  dsnSecretName: pulumi.Input<string>;
  /** the database's TLS Secret: its ca.crt verifies the server (TLS on) */
  caSecretName?: pulumi.Input<string>;
  serviceMonitor: boolean;
}

/** What the exporter's pods are selected by (the NetworkPolicy lets these in). */
export function exporterSelector(databaseInstance: string): Record<string, string> {
  return { "app.kubernetes.io/component": "metrics", "app.kubernetes.io/instance": databaseInstance };
}

/** The exporter's objects as plain manifests. */
export function exporterManifests(args: PostgresExporterArgs) {
  const labels = { ...recommendedLabels("postgres-exporter", "metrics", args.databaseInstance), ...exporterSelector(args.databaseInstance) };
  const annotations = { "prometheus.io/scrape": "true", "prometheus.io/port": String(EXPORTER_PORT), "prometheus.io/path": "/metrics" };
  const metadata = { name: databaseChildName(args.namePrefix, "exporter"), namespace: args.namespace, labels };
  // Its own account, without an API token: the exporter never talks to Kubernetes.
  const serviceAccount = { metadata, automountServiceAccountToken: false };
  const deployment: k8s.types.input.apps.v1.Deployment = {
    metadata,
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels, annotations },
        spec: {
          serviceAccountName: metadata.name,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
          ...(args.caSecretName ? { volumes: [caVolume(args.caSecretName)] } : {}),
          containers: [
            {
              name: "exporter",
              image: args.image,
              ports: [{ name: "metrics", containerPort: EXPORTER_PORT }],
              env: [{ name: "DATA_SOURCE_NAME", valueFrom: { secretKeyRef: { name: args.dsnSecretName, key: "DATA_SOURCE_NAME" } } }],
              resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
              securityContext: { ...restrictedContainerSecurity, readOnlyRootFilesystem: true },
              ...(args.caSecretName ? { volumeMounts: [{ name: "ca", mountPath: CA_MOUNT, readOnly: true }] } : {}),
              readinessProbe: { httpGet: { path: "/", port: "metrics" }, periodSeconds: 10 },
              livenessProbe: { httpGet: { path: "/", port: "metrics" }, initialDelaySeconds: 10, periodSeconds: 20 },
            },
          ],
        },
      },
    },
  };
  const service: k8s.types.input.core.v1.Service = {
    metadata: { ...metadata, annotations },
    spec: { selector: labels, ports: [{ name: "metrics", port: EXPORTER_PORT, targetPort: "metrics" }] },
  };
  const serviceMonitor = args.serviceMonitor
    ? {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata,
        spec: { selector: { matchLabels: labels }, endpoints: [{ port: "metrics", interval: "30s" }] },
      }
    : undefined;
  return { serviceAccount, deployment, service, serviceMonitor };
}

export class PostgresExporter extends pulumi.ComponentResource {
  constructor(name: string, args: PostgresExporterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:PostgresExporter", name, {}, opts);
    const parent = { parent: this };
    const m = exporterManifests(args);
    const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-serviceaccount`, m.serviceAccount, parent);
    // Its pods run as the account: created first.
    new k8s.apps.v1.Deployment(`${name}-deployment`, m.deployment, { ...parent, dependsOn: [serviceAccount] });
    new k8s.core.v1.Service(`${name}-service`, m.service, parent);
    if (m.serviceMonitor) new k8s.apiextensions.CustomResource(`${name}-servicemonitor`, m.serviceMonitor, parent);
    this.registerOutputs({});
  }
}
