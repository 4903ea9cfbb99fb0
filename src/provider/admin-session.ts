// How the role and grant providers talk to PostgreSQL as the superuser, so
// that nothing a non-superuser controls runs with the superuser's rights and
// no password ends up in the server's log.
//
// The owner role owns the application database, so it can `ALTER DATABASE …
// SET search_path` and put its own `public.pg_roles` view (calling a function
// that runs `ALTER ROLE … SUPERUSER`) in front of the catalog: CVE-2018-1058's
// class. Hence: role statements run in the maintenance database, which the
// owner does not own; grants (which must run inside the application database)
// get search_path pinned in the startup packet, which outranks database and
// role settings; every catalog name is written schema-qualified anyway.
// Used by the role and grant handlers, which the dynamic providers load at run
// time (handler.ts).

import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { reachDatabase, type TunnelTarget } from "./tunnel";

/** The database role statements run in: owned by the superuser, not by any role pgshift manages. */
export const MAINTENANCE_DATABASE = "postgres";

/**
 * Session settings sent in the startup packet. They outrank whatever the
 * database's owner set with ALTER DATABASE … SET, and they are in force before
 * the first statement. The log settings keep statements that carry password
 * verifiers out of the server log whether they succeed or fail; they are
 * superuser-only, which the admin connection is.
 */
export const ADMIN_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  search_path: "pg_catalog,pg_temp",
  log_statement: "none",
  log_min_error_statement: "panic",
  log_min_duration_statement: "-1",
  log_min_duration_sample: "-1",
  log_transaction_sample_rate: "0",
  log_parameter_max_length: "0",
  log_parameter_max_length_on_error: "0",
};

/** The admin URL pointed at `database` (default: the maintenance database) with the pinned session settings. */
export function adminSessionUrl(adminUrl: string, database: string = MAINTENANCE_DATABASE): string {
  const u = new URL(adminUrl);
  u.pathname = "/" + encodeURIComponent(database);
  u.searchParams.set(
    "options",
    Object.entries(ADMIN_SESSION_SETTINGS)
      .map(([k, v]) => `-c ${k}=${v}`)
      .join(" "),
  );
  // libpq's sslmode meaning (require: encrypted, not verified), as everywhere in pgshift.
  if (u.searchParams.has("sslmode") && !u.searchParams.has("uselibpqcompat")) u.searchParams.set("uselibpqcompat", "true");
  return u.toString();
}

/**
 * Connects as the admin with the pinned settings and checks they took: a
 * connection that cannot pin them (not a superuser) is refused before any
 * statement runs.
 */
export async function connectAdmin(adminUrl: string, database?: string, tunnel?: TunnelTarget | null): Promise<pg.Client> {
  // Through the stack's port-forward when it has one; closed with the client.
  const reach = await reachDatabase(adminUrl, tunnel);
  const client = new pg.Client({ connectionString: adminSessionUrl(reach.url, database), application_name: "pgshift-admin" });
  client.on("error", () => {});
  const end = client.end.bind(client);
  client.end = (async () => {
    try {
      await end();
    } finally {
      await reach.close();
    }
  }) as typeof client.end;
  try {
    await client.connect();
  } catch (err) {
    await reach.close();
    const e = err as Error & { code?: string };
    const where = (() => {
      try {
        const u = new URL(adminUrl);
        return `${u.hostname}:${u.port || 5432}/${database ?? "postgres"} as ${decodeURIComponent(u.username)}`;
      } catch {
        return "the admin URL";
      }
    })();
    const hint =
      e.code === "42501"
        ? "The admin connection must be a superuser: pgshift turns statement logging off for the sessions that set passwords, which only a superuser may do."
        : "Check that the server is reachable (kubectl port-forward?) and the superuser's password.";
    throw new Error(`Cannot open the admin session to PostgreSQL at ${where}: ${e.message}${e.code ? ` (${e.code})` : ""}.\n${hint}`);
  }
  const { rows } = await client.query<{ search_path: string; super: string }>(
    "SELECT pg_catalog.current_setting('search_path') AS search_path, pg_catalog.current_setting('is_superuser') AS super",
  );
  if (rows[0]?.search_path.replace(/\s/g, "") !== ADMIN_SESSION_SETTINGS.search_path || rows[0]?.super !== "on") {
    await client.end().catch(() => undefined);
    throw new Error(
      `The admin session to PostgreSQL is not what pgshift requires (search_path "${rows[0]?.search_path}", superuser ${rows[0]?.super}).\n` +
        "Role and grant changes need a superuser connection; nothing was changed.",
    );
  }
  return client;
}

/**
 * A SCRAM-SHA-256 verifier for `password` (RFC 5802/7677, PostgreSQL's stored
 * form), computed here so the password itself never reaches the server.
 * PostgreSQL stores a `PASSWORD 'SCRAM-SHA-256$…'` literal as given.
 */
export function scramVerifier(password: string, opts: { salt?: Buffer; iterations?: number } = {}): string {
  // PostgreSQL runs SASLprep over the password, which leaves printable ASCII
  // unchanged; anything else is refused rather than normalised differently.
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error("a role password must be printable ASCII without spaces (pgshift generates such passwords)");
  const iterations = opts.iterations ?? 4096;
  const salt = opts.salt ?? randomBytes(16);
  const salted = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/**
 * A 16-byte salt for `role`'s verifier, derived from the password (HMAC keyed
 * with it), so the same password gives the same verifier on every run — the
 * postgresql plugin compares its `password` input with what it stored — and a
 * new password a new salt. Derived, not random, only because the input must be
 * stable; it reveals no more than the verifier does.
 */
export function stableSalt(role: string, password: string): Buffer {
  return createHmac("sha256", password).update(`pgshift SCRAM salt for role ${role}`).digest().subarray(0, 16);
}
