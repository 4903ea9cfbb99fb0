// When neither the --to URL nor PGPASSWORD (nor ~/.pgpass) holds a password
// and the server asks for one, the connection fails at once, saying where a
// password goes — instead of node-postgres answering the server's challenge
// with nothing and the run waiting for the server's authentication timeout.
import type pg from "pg";
import { ConnectionError } from "../errors";

interface Parameters {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
}

/** Sets the client to ask ~/.pgpass, then refuse with the places a password goes, when `url` and PGPASSWORD hold none. */
export function askForPassword(client: pg.Client, url: string): void {
  let inUrl = false;
  try {
    inUrl = new URL(url).password !== "";
  } catch {
    return; // node-postgres reports the URL
  }
  if (inUrl || process.env.PGPASSWORD) return;
  // node-postgres calls a function password only when the server asks for one.
  (client as unknown as { password: (p: Parameters) => Promise<string> }).password = fromPgpass;
}

async function fromPgpass(p: Parameters): Promise<string> {
  // node-postgres's own dependency, which it reads ~/.pgpass (PGPASSFILE) with; untyped, and loaded only when needed.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pgpass = require("pgpass") as (c: Parameters, cb: (pass?: string) => void) => void;
  const found = await new Promise<string | undefined>((resolve) => pgpass(p, resolve));
  if (found !== undefined) return found;
  const where = `${p.host ?? "localhost"}:${p.port ?? 5432}`;
  throw new ConnectionError(
    `PostgreSQL at ${where} asks user "${p.user ?? ""}" for a password, and none was given. ` +
      `Put it in the --to URL (postgres://${p.user ?? "user"}:PASSWORD@${where}/${p.database ?? ""}, with @ : / percent-encoded), ` +
      "or in the PGPASSWORD environment variable, or in ~/.pgpass.",
  );
}
