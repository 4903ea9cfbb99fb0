// Dynamic providers for PostgreSQL roles and the grants pgshift's security model
// needs. They stand in for @pulumi/postgresql, whose plugin cannot be built on
// machines that only reach the Go module proxy (see README, "Roles and grants").
//
// Pulumi serializes a dynamic provider's methods into the state, so each method
// loads its modules with require() and uses nothing from the enclosing module
// but plain data.
import * as pulumi from "@pulumi/pulumi";
import { connectAdmin, scramVerifier } from "./admin-session";
import type { TunnelTarget } from "./tunnel";

export interface RoleInputs {
  /** superuser (or CREATEROLE) connection string; a secret */
  adminUrl: string;
  /** the stack's port-forward to the database pod, or null for a direct connection; a secret */
  tunnel?: TunnelTarget | null;
  name: string;
  /** a secret; null for a NOLOGIN group role */
  password: string | null;
  /** built-in or other roles this one is a member of, e.g. pg_monitor */
  memberOf: string[];
  /** passed to CONNECTION LIMIT */
  connectionLimit: number;
}

interface RoleState {
  name: string;
  login: boolean;
  memberOf: string[];
  connectionLimit: number;
  /** sha256 of the password, so a changed password is noticed without keeping it */
  passwordDigest: string;
}

export const roleProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: RoleInputs, news: RoleInputs) {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(news.name ?? "")) {
      failures.push({ property: "name", reason: `role name "${news.name}" must be lowercase letters, digits and _ (max 63)` });
    }
    if (news.password !== null && (typeof news.password !== "string" || news.password.length < 16)) {
      failures.push({ property: "password", reason: "a login role needs a generated password of at least 16 characters" });
    } else if (news.password !== null && !/^[\x21-\x7e]+$/.test(news.password)) {
      failures.push({ property: "password", reason: "a role password must be printable ASCII without spaces (its SCRAM verifier is computed by pgshift)" });
    }
    return { inputs: news, failures };
  },

  async diff(_id: string, olds: RoleState, news: RoleInputs) {
    const { createHash } = require("node:crypto") as typeof import("node:crypto");
    const digest = news.password === null ? "" : createHash("sha256").update(news.password).digest("hex");
    const replaces = olds.name !== news.name ? ["name"] : [];
    const changed =
      replaces.length > 0 ||
      olds.passwordDigest !== digest ||
      olds.login !== (news.password !== null) ||
      olds.connectionLimit !== news.connectionLimit ||
      JSON.stringify([...olds.memberOf].sort()) !== JSON.stringify([...news.memberOf].sort());
    return { changes: changed, replaces, deleteBeforeReplace: true };
  },

  async create(inputs: RoleInputs) {
    return { id: inputs.name, outs: await applyRole(inputs) };
  },

  async update(_id: string, _olds: RoleState, news: RoleInputs) {
    return { outs: await applyRole(news) };
  },

  // A role that owns the migrated tables cannot be dropped without dropping
  // the data; it only loses LOGIN, so nothing can connect with it any more.
  async delete(_id: string, olds: RoleState & { adminUrl?: string; tunnel?: TunnelTarget | null }) {
    if (!olds.adminUrl) return;
    const client = await connectAdmin(olds.adminUrl, undefined, olds.tunnel);
    try {
      const ident = (s: string) => '"' + s.replace(/"/g, '""') + '"';
      await client.query(`ALTER ROLE ${ident(olds.name)} NOLOGIN`).catch(() => undefined);
    } finally {
      await client.end();
    }
  },
};

async function applyRole(inputs: RoleInputs): Promise<RoleState & { adminUrl: string; tunnel: TunnelTarget | null }> {
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  const ident = (s: string) => '"' + s.replace(/"/g, '""') + '"';
  // The maintenance database and a pinned search_path: nothing the owner of the
  // application database can define is looked up here (see admin-session.ts).
  const client = await connectAdmin(inputs.adminUrl, undefined, inputs.tunnel);
  try {
    await client.query("BEGIN");
    const exists =
      (await client.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", [inputs.name])).rowCount === 1;
    const login = inputs.password !== null;
    // NOSUPERUSER etc. are spelled out so that a pre-existing role with more
    // rights is brought down to exactly these.
    const attrs = `${login ? "LOGIN" : "NOLOGIN"} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT ${Number(inputs.connectionLimit)}`;
    await client.query(`${exists ? "ALTER" : "CREATE"} ROLE ${ident(inputs.name)} ${attrs}`);
    if (login) {
      // Only a SCRAM verifier travels (CREATE ROLE takes no parameters), and the
      // session does not log statements (admin-session.ts), success or error.
      await client.query(`ALTER ROLE ${ident(inputs.name)} PASSWORD ${client.escapeLiteral(scramVerifier(inputs.password as string))}`);
    } else {
      await client.query(`ALTER ROLE ${ident(inputs.name)} PASSWORD NULL`);
    }
    const current = await client.query<{ rolname: string }>(
      `SELECT r.rolname FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) m.roleid
        WHERE m.member OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1)`,
      [inputs.name],
    );
    const have = new Set(current.rows.map((r) => r.rolname));
    for (const group of inputs.memberOf) {
      if (!have.has(group)) await client.query(`GRANT ${ident(group)} TO ${ident(inputs.name)}`);
    }
    for (const group of have) {
      if (!inputs.memberOf.includes(group)) await client.query(`REVOKE ${ident(group)} FROM ${ident(inputs.name)}`);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new Error(`Could not create or update PostgreSQL role "${inputs.name}": ${(err as Error).message}\nNothing was changed for this role.`);
  } finally {
    await client.end();
  }
  return {
    adminUrl: inputs.adminUrl,
    tunnel: inputs.tunnel ?? null,
    name: inputs.name,
    login: inputs.password !== null,
    memberOf: inputs.memberOf,
    connectionLimit: inputs.connectionLimit,
    passwordDigest: inputs.password === null ? "" : createHash("sha256").update(inputs.password).digest("hex"),
  };
}

export interface PostgresRoleArgs {
  adminUrl: pulumi.Input<string>;
  /** reach PostgreSQL through this port-forward (opened per operation); omitted: connect to adminUrl directly */
  tunnel?: pulumi.Input<TunnelTarget>;
  name: pulumi.Input<string>;
  password: pulumi.Input<string> | null;
  memberOf?: pulumi.Input<string[]>;
  connectionLimit?: pulumi.Input<number>;
}

/** A PostgreSQL role with exactly the attributes and memberships given. */
export class PostgresRole extends pulumi.dynamic.Resource {
  declare public readonly name: pulumi.Output<string>;

  constructor(name: string, args: PostgresRoleArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      roleProvider,
      name,
      {
        adminUrl: pulumi.secret(args.adminUrl),
        tunnel: args.tunnel ? pulumi.secret(args.tunnel) : null,
        name: args.name,
        password: args.password === null ? null : pulumi.secret(args.password),
        memberOf: args.memberOf ?? [],
        connectionLimit: args.connectionLimit ?? -1,
      },
      { ...opts, additionalSecretOutputs: ["adminUrl", "password", "tunnel", "passwordDigest"] },
    );
  }
}
