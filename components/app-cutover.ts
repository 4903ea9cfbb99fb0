// AppCutover: the seed's "Update K8s Secrets" and "Restart API and workers",
// and its quick rollback. The app's Secret carries DATABASE_URL — SQLite before
// cutover, PostgreSQL (as the restricted app role) after — and the configured
// workloads are restarted whenever it changes, by a pod-template annotation.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { POSTGRES_PORT, recommendedLabels } from "./defaults";

export interface AppCutoverArgs {
  namespace: pulumi.Input<string>;
  databaseInstance: string;
  secretName: string;
  cutover: boolean;
  sqliteUrl: string;
  host: pulumi.Input<string>;
  database: string;
  appRole: pulumi.Input<string>;
  appPassword: pulumi.Input<string>;
  tls: boolean;
  /** PEM of the CA that signed the server certificate, put in the app's Secret as DATABASE_CA_CERT */
  caCert?: pulumi.Input<string>;
  /** where the app's pods mount DATABASE_CA_CERT; with it the URLs verify the server */
  caCertPath?: string;
  workloads: { kind: "Deployment" | "StatefulSet"; name: string }[];
}

export const RESTART_ANNOTATION = "pgshift.io/database";

/**
 * The seed's URL formats: SQLAlchemy with psycopg, and the asyncpg variant.
 * With TLS the app must know it talks to this server, not to whoever answers
 * on its address: with the CA mounted (caCertPath) both verify the certificate
 * and its name (verify-full; asyncpg reads the CA from PGSSLROOTCERT, which
 * the Secret also sets). Without it, psycopg (libpq) still requires SCRAM
 * channel binding, which only a server holding the role's verifier can
 * complete over this very TLS session; asyncpg cannot do channel binding, so
 * its URL then only encrypts (docs/security.md).
 */
export function databaseUrls(a: { role: string; password: string; host: string; database: string; tls: boolean; caCertPath?: string }): { sync: string; async: string } {
  const pw = encodeURIComponent(a.password);
  const base = `${a.role}:${pw}@${a.host}:${POSTGRES_PORT}/${a.database}`;
  if (!a.tls) return { sync: `postgresql+psycopg://${base}`, async: `postgresql+asyncpg://${base}` };
  if (a.caCertPath) {
    const ca = encodeURIComponent(a.caCertPath);
    return { sync: `postgresql+psycopg://${base}?sslmode=verify-full&sslrootcert=${ca}`, async: `postgresql+asyncpg://${base}?ssl=verify-full` };
  }
  return { sync: `postgresql+psycopg://${base}?sslmode=require&channel_binding=require`, async: `postgresql+asyncpg://${base}?ssl=require` };
}

/** What the app uses: "sqlite" before cutover, "postgresql" after. */
export type Backend = "sqlite" | "postgresql";

/** The app's Secret and the restart patches as plain manifests; `urls` are the PostgreSQL URLs (databaseUrls). */
export function appCutoverManifests(instance: string, args: AppCutoverArgs, urls: pulumi.Input<{ sync: string; async: string }>) {
  const u = pulumi.output(urls);
  const ca: Record<string, pulumi.Input<string>> = {
    ...(args.tls && args.caCert ? { DATABASE_CA_CERT: args.caCert } : {}),
    ...(args.tls && args.caCertPath ? { PGSSLROOTCERT: args.caCertPath } : {}),
  };
  const stringData = args.cutover
    ? { DATABASE_URL: pulumi.secret(u.sync), DATABASE_URL_ASYNC: pulumi.secret(u.async), ...ca }
    : { DATABASE_URL: args.sqliteUrl, DATABASE_URL_ASYNC: args.sqliteUrl.replace(/^sqlite:/, "sqlite+aiosqlite:"), ...ca };
  const secret = {
    metadata: { name: args.secretName, namespace: args.namespace, labels: recommendedLabels("app-database-url", "cutover", args.databaseInstance) },
    type: "Opaque",
    stringData,
  };
  const backend: Backend = args.cutover ? "postgresql" : "sqlite";
  // Changing a pod-template annotation is what `kubectl rollout restart` does.
  const restarts = args.workloads.map((w) => ({
    resourceName: `${instance}-${w.name}-restart`,
    kind: w.kind,
    patch: {
      metadata: { name: w.name, namespace: args.namespace, annotations: { "pulumi.com/patchForce": "true" } },
      spec: { template: { metadata: { annotations: { [RESTART_ANNOTATION]: backend } } } },
    },
  }));
  return { secret, backend, restarts };
}

export class AppCutover extends pulumi.ComponentResource {
  /** what the app uses now: "sqlite" or "postgresql" (never the URL itself) */
  public readonly backend: pulumi.Output<string>;

  constructor(name: string, args: AppCutoverArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:AppCutover", name, {}, opts);
    const parent = { parent: this };
    const urls = pulumi.all([args.appRole, args.appPassword, args.host]).apply(([role, password, host]) =>
      databaseUrls({ role, password, host, database: args.database, tls: args.tls, caCertPath: args.caCertPath }),
    );
    const m = appCutoverManifests(name, args, urls);
    const secret = new k8s.core.v1.Secret(`${name}-secret`, m.secret, parent);
    for (const r of m.restarts) {
      // After the Secret: pods restarted before it is written would start with the old DATABASE_URL
      // (or none, while a replaced Secret is briefly absent) — found on the node, where pods really restart.
      const after = { ...parent, dependsOn: [secret] };
      if (r.kind === "Deployment") new k8s.apps.v1.DeploymentPatch(r.resourceName, r.patch, after);
      else new k8s.apps.v1.StatefulSetPatch(r.resourceName, r.patch, after);
    }
    this.backend = pulumi.output(m.backend);
    this.registerOutputs({ backend: this.backend });
  }
}
