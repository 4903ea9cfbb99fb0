// Runs the app's own schema command (e.g. `alembic upgrade head`) with
// DATABASE_URL reaching PostgreSQL through the port-forward pgshift opens,
// so `migration.schema: existing` needs no tunnel kept open by hand.
//
//   PGSHIFT_TUNNEL=<json TunnelTarget> DATABASE_URL=… PGSHIFT_OWNER_URL=… node --import tsx run-with-tunnel.ts -- <command…>
//
// Every *_URL variable whose host:port is the tunnel's in-cluster address is
// pointed at the local end; the tunnel is closed when the command ends.
import { spawn } from "node:child_process";
import { openTunnel, type TunnelTarget } from "./port-forward";

function rewrite(url: string, host: string, port: number): string {
  const u = new URL(url);
  u.hostname = host;
  u.port = String(port);
  return u.toString();
}

async function main(): Promise<number> {
  const sep = process.argv.indexOf("--");
  const command = sep >= 0 ? process.argv.slice(sep + 1).join(" ") : "";
  if (!command) {
    process.stderr.write("run-with-tunnel: no command given after --\n");
    return 2;
  }
  const raw = process.env.PGSHIFT_TUNNEL;
  if (!raw) {
    process.stderr.write("run-with-tunnel: PGSHIFT_TUNNEL is not set\n");
    return 2;
  }
  const target = JSON.parse(raw) as TunnelTarget;
  const tunnel = await openTunnel(target);
  try {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.PGSHIFT_TUNNEL;
    for (const key of ["DATABASE_URL", "PGSHIFT_OWNER_URL"]) {
      if (env[key]) env[key] = rewrite(env[key]!, tunnel.host, tunnel.port);
    }
    return await new Promise<number>((resolve) => {
      const child = spawn(command, { shell: true, stdio: "inherit", env });
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
      child.on("error", (e) => {
        process.stderr.write(`run-with-tunnel: cannot start "${command}": ${e.message}\n`);
        resolve(127);
      });
    });
  } finally {
    await tunnel.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  },
);
