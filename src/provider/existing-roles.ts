// Which of pgshift's roles already exist on the server, asked by the program
// before it declares them: those the postgresql provider takes over (import)
// instead of creating — a stack brought up when the roles were pgshift's own
// dynamic resources, or roles made by hand. Asked through a pinned admin
// session (admin-session.ts), like every other superuser statement.
import type * as pulumi from "@pulumi/pulumi";
import { connectAdmin } from "./admin-session";

export interface ServerAddress {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  sslmode: string;
}

export async function existingRoles(at: ServerAddress, names: string[]): Promise<string[]> {
  const url = new URL("postgresql://placeholder");
  url.hostname = at.host;
  url.port = String(at.port);
  url.username = encodeURIComponent(at.user);
  url.password = encodeURIComponent(at.password);
  url.searchParams.set("sslmode", at.sslmode);
  const client = await connectAdmin(url.toString(), at.database);
  try {
    const { rows } = await client.query<{ rolname: string }>(
      "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]) ORDER BY rolname",
      [names],
    );
    return rows.map((r) => r.rolname);
  } finally {
    await client.end();
  }
}

/**
 * The value of `output` once it is settled, or `fallback` when it is unknown
 * (a preview of resources not yet created). Outputs expose this only
 * internally (isKnown, promise); the program needs a plain value to decide
 * resource options.
 */
export async function settled<T>(output: pulumi.Output<T>, fallback: T): Promise<T> {
  const impl = output as unknown as { isKnown: Promise<boolean>; promise(): Promise<T> };
  const value = await impl.promise();
  return (await impl.isKnown) ? value : fallback;
}
