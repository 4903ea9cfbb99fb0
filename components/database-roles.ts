// The roles the app's data lives under, and what each may do:
//   owner   owns the database and schema, runs DDL (Alembic, pgshift's copy)
//   app     LOGIN; reads and writes rows, uses sequences; nothing else
//   monitor member of pg_monitor only (postgres-exporter)
//   backup  member of pg_read_all_data only (pg_dump)
// PUBLIC loses CONNECT on the database and CREATE on the schema.
import * as pulumi from "@pulumi/pulumi";
import { PostgresRole } from "../src/provider/postgres-role";
import { DatabaseGrants } from "../src/provider/database-grants";
import type { TunnelTarget } from "../src/provider/tunnel";

export interface RoleLogin {
  name: pulumi.Input<string>;
  password: pulumi.Input<string>;
}

export interface DatabaseRolesArgs {
  /**
   * superuser connection string; secret. Role statements run in the `postgres`
   * maintenance database, grants in `database` with search_path pinned
   * (src/provider/admin-session.ts), whatever database the URL names.
   */
  adminUrl: pulumi.Input<string>;
  /** reach PostgreSQL through this port-forward to the database pod; omitted: adminUrl directly */
  tunnel?: pulumi.Input<TunnelTarget>;
  database: pulumi.Input<string>;
  schema?: pulumi.Input<string>;
  owner: RoleLogin;
  app: RoleLogin;
  monitor: RoleLogin;
  backup: RoleLogin;
}

export class DatabaseRoles extends pulumi.ComponentResource {
  public readonly ownerRole: pulumi.Output<string>;
  public readonly appRole: pulumi.Output<string>;
  public readonly monitorRole: pulumi.Output<string>;
  public readonly backupRole: pulumi.Output<string>;
  /** resolves once every role and grant is in place */
  public readonly ready: pulumi.Output<boolean>;

  constructor(name: string, args: DatabaseRolesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:DatabaseRoles", name, {}, opts);
    const parent = { parent: this };
    const role = (suffix: string, login: RoleLogin, memberOf: string[], connectionLimit = -1) =>
      new PostgresRole(`${name}-${suffix}`, { adminUrl: args.adminUrl, tunnel: args.tunnel, name: login.name, password: login.password, memberOf, connectionLimit }, parent);

    const owner = role("owner", args.owner, []);
    const app = role("app", args.app, []);
    const monitor = role("monitor", args.monitor, ["pg_monitor"], 5);
    const backup = role("backup", args.backup, ["pg_read_all_data"], 2);

    const grants = new DatabaseGrants(
      `${name}-grants`,
      {
        adminUrl: args.adminUrl,
        tunnel: args.tunnel,
        database: args.database,
        schema: args.schema ?? "public",
        owner: owner.name,
        app: app.name,
        connectOnly: [monitor.name, backup.name],
      },
      { ...parent, dependsOn: [owner, app, monitor, backup] },
    );

    this.ownerRole = owner.name;
    this.appRole = app.name;
    this.monitorRole = monitor.name;
    this.backupRole = backup.name;
    this.ready = pulumi.all([grants.id]).apply(() => true);
    this.registerOutputs({
      ownerRole: this.ownerRole,
      appRole: this.appRole,
      monitorRole: this.monitorRole,
      backupRole: this.backupRole,
    });
  }
}
