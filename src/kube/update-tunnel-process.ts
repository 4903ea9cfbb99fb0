// The tunnel process update-tunnel.ts starts: reads an UpdateTunnelRequest on
// stdin, listens on the first free port of it, answers one line on stdout,
// and forwards until the process it watches is gone.
import { openTunnel } from "./port-forward";
import type { UpdateTunnelReply, UpdateTunnelRequest } from "./update-tunnel";

const answer = (reply: UpdateTunnelReply) => new Promise<void>((resolve) => process.stdout.write(JSON.stringify(reply) + "\n", () => resolve()));

async function readStdin(): Promise<string> {
  let s = "";
  for await (const chunk of process.stdin) s += String(chunk);
  return s;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function main(): Promise<void> {
  const req = JSON.parse(await readStdin()) as UpdateTunnelRequest;
  for (const port of req.ports) {
    try {
      const tunnel = await openTunnel(req.target, { localPort: port, readyTimeoutMs: req.readyTimeoutMs });
      await answer({ port: tunnel.port });
      const timer = setInterval(() => {
        if (alive(req.watchPid)) return;
        clearInterval(timer);
        void tunnel.close().finally(() => process.exit(0));
      }, 500);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EADDRINUSE") continue;
      await answer({ error: (e as Error).message });
      process.exit(1);
    }
  }
  await answer({ error: `every local port tried for the port-forward is in use (${req.ports.join(", ")})` });
  process.exit(1);
}

main().catch(async (e: Error) => {
  await answer({ error: e.message });
  process.exit(1);
});
