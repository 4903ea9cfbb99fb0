// Connecting to PostgreSQL, with errors that say which server and why — never
// the password.
import pg from "pg";
import { askForPassword } from "./client-config";
import { ConnectionError } from "../errors";
import type { Snapshot } from "../sqlite/snapshot";

export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(the --to URL, which is not a valid postgres:// URL)";
  }
}

/**
 * Gives `sslmode` its libpq meaning (require: encrypted, certificate not
 * checked; verify-full: checked). node-postgres otherwise treats require as
 * verify-full and refuses the self-signed certificate generated for the
 * database's TLS.
 */
export function libpqSsl(url: string): string {
  if (!/[?&]sslmode=/.test(url) || /[?&]uselibpqcompat=/.test(url)) return url;
  return url + "&uselibpqcompat=true";
}

/**
 * Settings the engine's sessions take in the startup packet, where they
 * outrank whatever the database's owner set with ALTER DATABASE/ROLE … SET and
 * are in force before the first statement. search_path: only the catalog
 * (and temporary objects last), so no function, operator, view or type in
 * "public" or a "$user" schema can stand in for the catalog's when a superuser
 * runs pgshift — every name the engine writes is schema-qualified anyway.
 * standard_conforming_strings: a backslash in a literal is a backslash.
 */
export const ENGINE_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  search_path: "pg_catalog,pg_temp",
  standard_conforming_strings: "on",
};

const PINNED = Object.entries(ENGINE_SESSION_SETTINGS)
  .map(([k, v]) => `-c ${k}=${v}`)
  .join(" ");

/** The URL with the engine's session settings added to its startup options (after any it had, so they win). */
export function pinnedUrl(url: string): string {
  const u = new URL(libpqSsl(url));
  u.searchParams.set("options", [u.searchParams.get("options"), PINNED].filter(Boolean).join(" "));
  return u.toString();
}

/**
 * The client's settings: the pinned options in the URL, or — for a URL only
 * pg's own parser reads (`postgresql://user@/db?host=/run/postgresql`) — in
 * the config, which such a URL's own `options` would override (then the
 * check after connecting refuses the session).
 */
function clientConfig(url: string): pg.ClientConfig {
  try {
    return { connectionString: pinnedUrl(url), application_name: "pgshift" };
  } catch {
    return { connectionString: libpqSsl(url), options: PINNED, application_name: "pgshift" };
  }
}

export async function connect(url: string): Promise<pg.Client> {
  let client: pg.Client;
  try {
    client = new pg.Client(clientConfig(url));
    askForPassword(client, url);
  } catch (err) {
    throw new ConnectionError(`Invalid PostgreSQL URL ${redact(url)}: ${(err as Error).message}`);
  }
  // An idle client must not crash the process when the server goes away;
  // the next query reports the failure instead.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    // The server still waits for the login (up to its authentication_timeout, a minute): close the socket, so the run ends now.
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    if (err instanceof ConnectionError) throw err; // it says what to do already (client-config.ts)
    const e = err as Error & { code?: string };
    throw new ConnectionError(
      `Cannot connect to PostgreSQL at ${redact(url)}: ${e.message}${e.code ? ` (${e.code})` : ""}.\n` +
        "Check that the server is running and reachable (kubectl port-forward?), and the user and password.",
    );
  }
  // A pooler or server that dropped the startup options would leave the session trusting the database's settings.
  const { rows } = await client.query<{ search_path: string; scs: string }>(
    "SELECT pg_catalog.current_setting('search_path') AS search_path, pg_catalog.current_setting('standard_conforming_strings') AS scs",
  );
  if (rows[0]?.search_path.replace(/\s/g, "") !== ENGINE_SESSION_SETTINGS.search_path || rows[0]?.scs !== "on") {
    await client.end().catch(() => {});
    throw new ConnectionError(
      `PostgreSQL at ${redact(url)} did not take pgshift's session settings (search_path is "${rows[0]?.search_path}", standard_conforming_strings ${rows[0]?.scs}).\n` +
        "pgshift pins them in the startup packet (options=-c search_path=pg_catalog,pg_temp); connect directly, or through a pooler that passes startup options.",
    );
  }
  return client;
}

const SESSION = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1; SET client_encoding = 'UTF8'";

/** A connection set up so values print the way convert.ts writes them. */
export async function session(url: string): Promise<pg.Client> {
  const c = await connect(url);
  await c.query(SESSION);
  return c;
}

/** Runs `work` over `items`, `jobs` at a time; stops taking new items after the first failure, which it rethrows. */
export async function pool<T>(items: T[], jobs: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  let failure: unknown;
  const runners = Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, async () => {
    while (queue.length > 0 && failure === undefined) {
      const item = queue.shift()!;
      try {
        await work(item);
      } catch (err) {
        failure ??= err;
      }
    }
  });
  await Promise.all(runners);
  if (failure !== undefined) throw failure;
}

/** Runs `work` in one PostgreSQL transaction with its own snapshot reader; rolls back on any error. */
export async function inTransaction(
  url: string,
  snapshot: Snapshot,
  work: (client: pg.Client, db: ReturnType<Snapshot["open"]>) => Promise<void>,
): Promise<void> {
  const client = await session(url);
  const db = snapshot.open();
  try {
    await client.query("BEGIN");
    await work(client, db);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    db.close();
    await client.end().catch(() => {});
  }
}
