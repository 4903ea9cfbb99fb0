// Dynamic providers for PostgreSQL roles and the grants pgshift's security model
// needs. They stand in for @pulumi/postgresql, whose plugin cannot be built on
// machines that only reach the Go module proxy (see README, "Roles and grants").
// What a role does at each step is postgres-role-handler.ts (handler.ts).
import * as pulumi from "@pulumi/pulumi";
import { loadHandler } from "./handler";
import type { RoleInputs, RoleOutputs, RoleState } from "./postgres-role-handler";
import type { TunnelTarget } from "./tunnel";

export type { RoleInputs };

// Captured as a plain string when the provider is serialized.
const handlerPath: string = require.resolve("./postgres-role-handler");
const load = () => loadHandler<typeof import("./postgres-role-handler")>(handlerPath);

export const roleProvider: pulumi.dynamic.ResourceProvider = {
  check: async (olds: RoleInputs, news: RoleInputs) => load().check(olds, news),
  diff: async (id: string, olds: RoleState, news: RoleInputs) => load().diff(id, olds, news),
  create: async (inputs: RoleInputs) => load().create(inputs),
  update: async (id: string, olds: RoleState, news: RoleInputs) => load().update(id, olds, news),
  delete: async (id: string, olds: RoleOutputs) => load().remove(id, olds),
};

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
