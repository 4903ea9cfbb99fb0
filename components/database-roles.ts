// The roles the app's data lives under, and what each may do:
//   owner   owns the database and schema, runs DDL (Alembic, pgshift's copy)
//   app     LOGIN; reads and writes rows, uses sequences; nothing else
//   monitor member of pg_monitor only (postgres-exporter)
//   backup  member of pg_read_all_data only (pg_dump)
// PUBLIC loses CONNECT on the database and CREATE on the schema.
//
// All of it is @pulumi/postgresql resources behind one explicit provider,
// except the admin role's own session settings (AdminRolePin), which the
// package cannot set and its unqualified catalog queries rely on; see
// docs/security.md.
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { AdminRolePin } from "../src/provider/admin-role-pin";
import { scramVerifier, stableSalt } from "../src/provider/admin-session";
import type { TunnelTarget } from "../src/provider/tunnel";

export interface RoleLogin {
  name: string;
  password: pulumi.Input<string>;
}

/** How the postgresql provider reaches the server as the superuser. */
export interface AdminEndpoint {
  /** the port-forward's local end, or the server itself */
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  username: pulumi.Input<string>;
  /** secret */
  password: pulumi.Input<string>;
  sslmode: pulumi.Input<string>;
}

export interface DatabaseRolesArgs {
  /**
   * superuser connection string; secret. Used by AdminRolePin, whose own
   * session is pinned in the startup packet (src/provider/admin-session.ts).
   */
  adminUrl: pulumi.Input<string>;
  /** reach PostgreSQL through this port-forward for AdminRolePin; omitted: adminUrl directly */
  tunnel?: pulumi.Input<TunnelTarget>;
  /** where the postgresql provider connects as the same superuser */
  admin: AdminEndpoint;
  database: string;
  schema?: string;
  owner: RoleLogin;
  app: RoleLogin;
  monitor: RoleLogin;
  backup: RoleLogin;
  /**
   * Roles that already exist on the server: taken over (`import`) instead of
   * created — a stack brought up when pgshift's roles were its own dynamic
   * resources, or a role made by hand. Each is brought to exactly the
   * attributes below by the same update.
   */
  existingRoles?: string[];
  /**
   * Roles pgshift does not manage that must still connect to the `postgres`
   * maintenance database after PUBLIC loses CONNECT there: CloudNativePG's
   * `streaming_replica`, which a former primary logs in as to find the new
   * one and pg_rewind itself onto it (without it, a deleted primary never
   * rejoins as a replica: "permission denied for database postgres").
   */
  maintenanceLogins?: string[];
}

const APP_TABLE_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE"];
const APP_SEQUENCE_PRIVILEGES = ["USAGE", "SELECT"];
const MAINTENANCE_DATABASES = ["postgres", "template1"];

/**
 * A role's password as the SCRAM-SHA-256 verifier PostgreSQL stores: the
 * plugin passes its `password` input into CREATE/ALTER ROLE … PASSWORD as
 * given, so the password itself never reaches the server. The salt is derived
 * from the password and the role, so the verifier — and the input — stays the
 * same from one `up` to the next.
 */
export function passwordVerifier(role: string, password: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.secret(pulumi.output(password).apply((p) => scramVerifier(p, { salt: stableSalt(role, p) })));
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
    const db = args.database;
    const schema = args.schema ?? "public";
    const existing = new Set(args.existingRoles ?? []);

    const pin = new AdminRolePin(`${name}-admin-session`, { adminUrl: args.adminUrl, tunnel: args.tunnel }, { parent: this });
    const provider = new postgresql.Provider(
      `${name}-postgresql`,
      {
        host: args.admin.host,
        port: args.admin.port,
        username: args.admin.username,
        password: pulumi.secret(args.admin.password),
        sslmode: args.admin.sslmode,
        // Role statements and reads run in the maintenance database, which the owner role does not own.
        database: "postgres",
        superuser: true,
        connectTimeout: 30,
      },
      { parent: this },
    );
    // Nothing may reach the server before the admin role's session is pinned.
    const res = { parent: this, provider, dependsOn: [pin] };

    const role = (suffix: string, login: RoleLogin, memberOf: string[], connectionLimit = -1) =>
      new postgresql.Role(
        `${name}-${suffix}`,
        {
          name: login.name,
          login: true,
          password: passwordVerifier(login.name, login.password),
          // Spelled out, so a role taken over with more rights is brought down to exactly these.
          superuser: false,
          createDatabase: false,
          createRole: false,
          replication: false,
          bypassRowLevelSecurity: false,
          inherit: true,
          connectionLimit,
          roles: memberOf,
        },
        {
          ...res,
          import: existing.has(login.name) ? login.name : undefined,
          // Removing the resource (or `pulumi destroy`) never drops a role: the owner's holds the data.
          retainOnDelete: true,
          additionalSecretOutputs: ["password"],
        },
      );
    const owner = role("owner", args.owner, []);
    const app = role("app", args.app, []);
    const monitor = role("monitor", args.monitor, ["pg_monitor"], 5);
    const backup = role("backup", args.backup, ["pg_read_all_data"], 2);

    // The database exists before any role does (the image's init step, or the
    // server the stack points at): taken over, given to the owner, never dropped.
    const database = new postgresql.Database(`${name}-database`, { name: db, owner: owner.name }, { ...res, import: db, retainOnDelete: true });
    const inDb = { ...res, dependsOn: [pin, database] };
    // A schema other than public is created for the owner; public belongs to
    // pg_database_owner (PostgreSQL 15+), that is to the database's owner.
    const schemaResource =
      schema === "public"
        ? undefined
        : new postgresql.Schema(`${name}-schema`, { name: schema, database: db, owner: owner.name }, { ...inDb, retainOnDelete: true });
    const inSchema = { ...res, dependsOn: [pin, database, ...(schemaResource ? [schemaResource] : [])] };

    // A grant or default privilege leaving the state never revokes: the plugin
    // replaces a grant by creating the new one (revoke and grant, one
    // transaction) and then deleting the old, whose revoke would take back what
    // the new one just gave.
    const keep = { retainOnDelete: true };
    // One at a time: grants to different roles on the same database or schema
    // rewrite the same ACL, and run in parallel they fail with "tuple
    // concurrently updated" (seen here: the plugin locks per role only).
    const grants: pulumi.CustomResource[] = [];
    const serial = (o: pulumi.CustomResourceOptions): pulumi.CustomResourceOptions => ({
      ...o,
      ...keep,
      dependsOn: [...((o.dependsOn as pulumi.Resource[] | undefined) ?? []), ...grants.slice(-1)],
    });
    const grant = (suffix: string, grantArgs: postgresql.GrantArgs, grantOpts: pulumi.CustomResourceOptions) => {
      const g = new postgresql.Grant(`${name}-${suffix}`, grantArgs, serial(grantOpts));
      grants.push(g);
      return g;
    };
    // PUBLIC: nothing on the maintenance databases, the application database or the schema.
    for (const m of MAINTENANCE_DATABASES) {
      grant(`public-${m}`, { database: m, role: "public", objectType: "database", privileges: [] }, res);
    }
    for (const login of args.maintenanceLogins ?? []) {
      grant(`maintenance-${login}`, { database: "postgres", role: login, objectType: "database", privileges: ["CONNECT"] }, res);
    }
    grant("public-database", { database: db, role: "public", objectType: "database", privileges: [] }, inDb);
    grant("public-schema", { database: db, schema, role: "public", objectType: "schema", privileges: [] }, inSchema);
    // app, monitor and backup may connect and see the schema.
    for (const [suffix, r] of [
      ["app", app],
      ["monitor", monitor],
      ["backup", backup],
    ] as const) {
      grant(`${suffix}-connect`, { database: db, role: r.name, objectType: "database", privileges: ["CONNECT"] }, inDb);
      grant(`${suffix}-usage`, { database: db, schema, role: r.name, objectType: "schema", privileges: ["USAGE"] }, inSchema);
    }
    // The app's rows and sequences: on every table there is now (no `objects`
    // list, so adding a table never narrows the grant) …
    grant("app-tables", { database: db, schema, role: app.name, objectType: "table", privileges: APP_TABLE_PRIVILEGES }, inSchema);
    grant("app-sequences", { database: db, schema, role: app.name, objectType: "sequence", privileges: APP_SEQUENCE_PRIVILEGES }, inSchema);
    // … and on those the owner creates later (the app's migrations, pgshift's copy).
    for (const [suffix, objectType, privileges] of [
      ["tables", "table", APP_TABLE_PRIVILEGES],
      ["sequences", "sequence", APP_SEQUENCE_PRIVILEGES],
    ] as const) {
      grants.push(
        new postgresql.DefaultPrivileges(
          `${name}-app-default-${suffix}`,
          { database: db, schema, owner: owner.name, role: app.name, objectType, privileges: [...privileges] },
          serial(inSchema),
        ),
      );
    }

    this.ownerRole = owner.name;
    this.appRole = app.name;
    this.monitorRole = monitor.name;
    this.backupRole = backup.name;
    this.ready = pulumi.all(grants.map((g) => g.id)).apply(() => true);
    this.registerOutputs({
      ownerRole: this.ownerRole,
      appRole: this.appRole,
      monitorRole: this.monitorRole,
      backupRole: this.backupRole,
    });
  }
}
