// DatabaseSecrets: the seed's `kubectl create secret … $(openssl rand -base64 32)`,
// done once and kept: generated passwords for every role, stored encrypted in
// the stack's state and handed to Kubernetes as Secrets.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GeneratedPassword } from "../src/provider/generated-secret";
import { CA_FILE, POSTGRES_PORT, SUPERUSER, recommendedLabels } from "./defaults";
import { databaseChildName, databaseServiceHost, type DatabaseEngine } from "./names";

export interface DatabaseSecretsArgs {
  namespace: pulumi.Input<string>;
  namePrefix: string;
  database: string;
  roles: { owner: string; app: string; monitor: string; backup: string };
  tls: boolean;
  /** the local stack's server has its own superuser password */
  superuserPassword?: pulumi.Input<string>;
  /** cloudnative-pg: clients go to the Cluster's read-write Service, and the superuser Secret carries the keys CloudNativePG reads */
  engine?: DatabaseEngine;
}

export type RoleKey = "superuser" | "owner" | "app" | "monitor" | "backup";

/**
 * The Secrets as plain manifests, given the passwords. The host in the
 * exporter's DSN and the backup's PGHOST is the database Service's
 * (components/names.ts).
 */
export function databaseSecretManifests(instance: string, args: DatabaseSecretsArgs, passwords: Record<RoleKey, pulumi.Input<string>>) {
  const labels = recommendedLabels("postgresql", "credentials", instance);
  const host = databaseServiceHost(args.namePrefix, args.namespace, args.engine);
  const secret = (suffix: string, stringData: Record<string, pulumi.Input<string>>) => ({
    metadata: { name: databaseChildName(args.namePrefix, suffix), namespace: args.namespace, labels },
    type: "Opaque",
    stringData,
  });
  // pgshift's own pods verify the server against the CA (ca.crt of the TLS Secret, mounted at CA_FILE).
  const ssl = args.tls ? `verify-full&sslrootcert=${CA_FILE}` : "disable";
  return {
    superuser: secret("superuser", {
      POSTGRES_USER: SUPERUSER,
      POSTGRES_PASSWORD: passwords.superuser,
      // CloudNativePG's spec.superuserSecret: the same credentials under the basic-auth key names.
      ...(args.engine === "cloudnative-pg" ? { username: SUPERUSER, password: passwords.superuser } : {}),
    }),
    // No Secret holds the owner's password: no workload logs in as the owner,
    // so it stays in the stack's state (encrypted) only. The app's password
    // reaches the cluster in the app's own Secret at cutover (AppCutover).
    exporter: secret("exporter", {
      DATA_SOURCE_NAME: pulumi.interpolate`postgresql://${args.roles.monitor}:${passwords.monitor}@${host}:${POSTGRES_PORT}/${args.database}?sslmode=${ssl}`,
    }),
    backup: secret("backup", {
      PGHOST: host,
      PGPORT: String(POSTGRES_PORT),
      PGDATABASE: args.database,
      PGUSER: args.roles.backup,
      PGPASSWORD: passwords.backup,
      PGSSLMODE: args.tls ? "verify-full" : "prefer",
      ...(args.tls ? { PGSSLROOTCERT: CA_FILE } : {}),
    }),
  };
}

export class DatabaseSecrets extends pulumi.ComponentResource {
  public readonly passwords: Record<RoleKey, pulumi.Output<string>>;
  public readonly superuserSecretName: pulumi.Output<string>;
  public readonly exporterSecretName: pulumi.Output<string>;
  public readonly backupSecretName: pulumi.Output<string>;

  constructor(name: string, args: DatabaseSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:DatabaseSecrets", name, {}, opts);
    const parent = { parent: this };
    const gen = (key: RoleKey) => pulumi.secret(new GeneratedPassword(`${name}-${key}-password`, { length: 32 }, parent).value);
    this.passwords = {
      superuser: args.superuserPassword ? pulumi.secret(pulumi.output(args.superuserPassword)) : gen("superuser"),
      owner: gen("owner"),
      app: gen("app"),
      monitor: gen("monitor"),
      backup: gen("backup"),
    };
    const m = databaseSecretManifests(name, args, this.passwords);
    const secret = (suffix: keyof typeof m) => new k8s.core.v1.Secret(`${name}-${suffix}`, m[suffix], parent);
    this.superuserSecretName = secret("superuser").metadata.name;
    this.exporterSecretName = secret("exporter").metadata.name;
    this.backupSecretName = secret("backup").metadata.name;
    this.registerOutputs({
      superuserSecretName: this.superuserSecretName,
      exporterSecretName: this.exporterSecretName,
      backupSecretName: this.backupSecretName,
    });
  }
}
