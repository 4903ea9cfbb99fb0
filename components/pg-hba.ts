// The database's pg_hba.conf: who may connect to what, from where. The
// NetworkPolicy is not enough on its own (not every network plugin enforces
// one), so the server itself refuses:
//   - the superuser from anywhere but the pod itself: the local socket (the
//     image's init scripts) and loopback, which from outside the pod only
//     `kubectl port-forward` reaches (pgshift's role and grant changes);
//   - every pgshift role on any database but its own;
//   - any other role, and unencrypted connections when TLS is on.
// The first matching line decides, so the explicit rejects come last.
import { SUPERUSER } from "./defaults";

export interface PgHbaArgs {
  tls: boolean;
  /** the application database, the only one the roles may connect to */
  database: string;
  /** the roles pgshift manages (owner, app, monitor, backup) */
  roles: string[];
  superuser?: string;
}

const quote = (s: string) => (/^[a-z_][a-z0-9_]*$/.test(s) ? s : `"${s.replace(/"/g, '""')}"`);

export function pgHba(args: PgHbaArgs): string {
  const su = quote(args.superuser ?? SUPERUSER);
  const db = quote(args.database);
  // "hostssl everywhere" when TLS is on, loopback (the port-forward) included.
  const host = args.tls ? "hostssl" : "host";
  const line = (...cols: string[]) => cols.map((c, i) => c.padEnd([10, 16, 16, 16, 0][i] ?? 0)).join("").trimEnd();
  const rows = [
    line("# TYPE", "DATABASE", "USER", "ADDRESS", "METHOD"),
    "# superuser: the pod's own socket and loopback (kubectl port-forward), never the network",
    line("local", "all", su, "", "scram-sha-256"),
    line(host, "all", su, "127.0.0.1/32", "scram-sha-256"),
    line(host, "all", su, "::1/128", "scram-sha-256"),
    "# pgshift's roles: their own database only, password (SCRAM) only",
    ...args.roles.map((r) => line(host, db, quote(r), "all", "scram-sha-256")),
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
