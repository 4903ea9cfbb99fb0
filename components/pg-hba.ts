// The database's pg_hba.conf: who may connect to what, from where. The
// NetworkPolicy is not enough on its own (not every network plugin enforces
// one), so the server itself refuses:
//   - the superuser from anywhere but the pod itself: the local socket (the
//     image's init scripts) and loopback, which from outside the pod only
//     `kubectl port-forward` reaches (pgshift's role and grant changes);
//   - every pgshift role on any database but its own;
//   - any other role, and unencrypted connections when TLS is on.
// The first matching line decides, so the explicit rejects come last.
//
// Every name is double-quoted: unquoted, pg_hba reads all, sameuser, samerole,
// samegroup and replication as keywords, +name as "members of name" and @name
// as "the names in file name" (issue 25: `roles.app: all` let the superuser in
// from the network). Quoting cannot make every name literal, so the few it
// cannot carry are refused here too (src/config.ts refuses far more).
import { SUPERUSER } from "./defaults";

export interface PgHbaArgs {
  tls: boolean;
  /** the application database, the only one the roles may connect to */
  database: string;
  /** the roles pgshift manages (owner, app, monitor, backup) */
  roles: string[];
  superuser?: string;
}

export class PgHbaNameError extends Error {}

/**
 * A name as a quoted pg_hba token. The file has no escape for `"` (a doubled
 * quote just closes and reopens the quoting), a name starting with / is a
 * regular expression even when quoted, and a line break ends the line.
 */
export function quoteHbaName(name: string, what: string): string {
  const control = [...name].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
  if (name === "" || name.includes('"') || control || name.startsWith("/")) {
    throw new PgHbaNameError(
      `${what} ${JSON.stringify(name)} cannot be written into pg_hba.conf as a plain name (empty, a double quote, a control character, or a leading / which pg_hba reads as a regular expression); choose another name`,
    );
  }
  return `"${name}"`;
}

export function pgHba(args: PgHbaArgs): string {
  const su = quoteHbaName(args.superuser ?? SUPERUSER, "the superuser");
  const db = quoteHbaName(args.database, "the database");
  // "hostssl everywhere" when TLS is on, loopback (the port-forward) included.
  const host = args.tls ? "hostssl" : "host";
  // Columns aligned for reading, and always at least one space apart: a name
  // as wide as its column must not run into the next one.
  const line = (...cols: string[]) =>
    cols
      .map((c, i) => c.padEnd([10, 16, 16, 16, 0][i] ?? 0))
      .join(" ")
      .trimEnd();
  const rows = [
    line("# TYPE", "DATABASE", "USER", "ADDRESS", "METHOD"),
    "# superuser: the pod's own socket and loopback (kubectl port-forward), never the network",
    line("local", "all", su, "", "scram-sha-256"),
    line(host, "all", su, "127.0.0.1/32", "scram-sha-256"),
    line(host, "all", su, "::1/128", "scram-sha-256"),
    "# pgshift's roles: their own database only, password (SCRAM) only",
    ...args.roles.map((r) => line(host, db, quoteHbaName(r, "the role"), "all", "scram-sha-256")),
    "# everything else is refused explicitly",
    ...(args.tls ? [line("hostnossl", "all", "all", "all", "reject")] : []),
    line("host", "all", "all", "all", "reject"),
    line("host", "replication", "all", "all", "reject"),
    line("local", "all", "all", "", "reject"),
    line("local", "replication", "all", "", "reject"),
    "",
  ];
  return rows.join("\n");
}
