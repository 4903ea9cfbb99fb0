// Connecting to PostgreSQL, with errors that say which server and why — never
// the password.
import pg from "pg";
import { askForPassword } from "./client-config";
import { ConnectionError } from "./errors";

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

export async function connect(url: string): Promise<pg.Client> {
  let client: pg.Client;
  try {
    client = new pg.Client({ connectionString: libpqSsl(url), application_name: "pgshift" });
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
  return client;
}
