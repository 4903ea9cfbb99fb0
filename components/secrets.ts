// DatabaseSecrets: the seed's `kubectl create secret … $(openssl rand -base64 32)`,
// done once and kept: generated passwords for every role, stored encrypted in
// the stack's state and handed to Kubernetes as Secrets.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GeneratedPassword } from "../src/provider/generated-secret";
import { CA_FILE, POSTGRES_PORT, SUPERUSER, recommendedLabels } from "./defaults";

export interface DatabaseSecretsArgs {
  namespace: pulumi.Input<string>;
  namePrefix: string;
  database: string;
  roles: { owner: string; app: string; monitor: string; backup: string };
  /** in-cluster host name of the database Service */
  serviceHost: pulumi.Input<string>;
  tls: boolean;
  /** the local stack's server has its own superuser password */
  superuserPassword?: pulumi.Input<string>;
}

export type RoleKey = "superuser" | "owner" | "app" | "monitor" | "backup";

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
    const labels = recommendedLabels("postgresql", "credentials", name);
    const secret = (suffix: string, stringData: Record<string, pulumi.Input<string>>) =>
      new k8s.core.v1.Secret(
        `${name}-${suffix}`,
        { metadata: { name: `${args.namePrefix}postgres-${suffix}`, namespace: args.namespace, labels }, type: "Opaque", stringData },
        parent,
      );
    // pgshift's own pods verify the server against the CA (ca.crt of the TLS Secret, mounted at CA_FILE).
    const ssl = args.tls ? `verify-full&sslrootcert=${CA_FILE}` : "disable";
    const superuser = secret("superuser", { POSTGRES_USER: SUPERUSER, POSTGRES_PASSWORD: this.passwords.superuser });
    // No Secret holds the owner's password: no workload logs in as the owner,
    // so it stays in the stack's state (encrypted) only. The app's password
    // reaches the cluster in the app's own Secret at cutover (AppCutover).
    const exporter = secret("exporter", {
      DATA_SOURCE_NAME: pulumi.interpolate`postgresql://${args.roles.monitor}:${this.passwords.monitor}@${args.serviceHost}:${POSTGRES_PORT}/${args.database}?sslmode=${ssl}`,
    });
    const backup = secret("backup", {
      PGHOST: args.serviceHost,
      PGPORT: String(POSTGRES_PORT),
      PGDATABASE: args.database,
      PGUSER: args.roles.backup,
      PGPASSWORD: this.passwords.backup,
      PGSSLMODE: args.tls ? "verify-full" : "prefer",
      ...(args.tls ? { PGSSLROOTCERT: CA_FILE } : {}),
    });
    this.superuserSecretName = superuser.metadata.name;
    this.exporterSecretName = exporter.metadata.name;
    this.backupSecretName = backup.metadata.name;
    this.registerOutputs({ superuserSecretName: this.superuserSecretName, exporterSecretName: this.exporterSecretName, backupSecretName: this.backupSecretName });
  }
}
