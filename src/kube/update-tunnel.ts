// The port-forward the postgresql provider reaches the database through, for
// the length of one `pulumi up` or `preview`.
//
// The program opens it, but cannot hold it: the engine deletes resources the
// program no longer declares, and the originals of replaced ones, after the
// program has exited. So it runs in a process of its own that outlives the
// program and ends with the update: it watches the Node.js language host
// (the program's parent), which the engine stops when the update is over.
//
// Its local port is derived from the stack, so the provider's `port` input is
// the same on every run and a second `up` shows no change; when that port is
// taken it moves to the next of a few (one provider update then).
import * as pulumi from "@pulumi/pulumi";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { TunnelError, type TunnelTarget } from "./port-forward";

/** What the tunnel process reads on stdin: where to forward, which local ports to try, whose end to wait for. */
export interface UpdateTunnelRequest {
  target: TunnelTarget;
  ports: number[];
  watchPid: number;
  readyTimeoutMs?: number;
}

/** Its one line on stdout: the port it listens on, or why it could not. */
export type UpdateTunnelReply = { port: number } | { error: string };

const FIRST_PORT = 20000;
const PORT_RANGE = 20000;
const CANDIDATES = 16;

/** The local ports to try for `key` (project, stack, pod): always the same ones, in the same order. */
export function tunnelPorts(key: string): number[] {
  const base = createHash("sha256").update(key).digest().readUInt32BE(0) % PORT_RANGE;
  return Array.from({ length: CANDIDATES }, (_, i) => FIRST_PORT + ((base + i * 997) % PORT_RANGE));
}

const script = join(__dirname, "update-tunnel-process.ts");
const projectRoot = join(__dirname, "..", "..");

/**
 * Starts the tunnel process and resolves once it listens: 127.0.0.1 and its
 * port. The process ends when `watchPid` (default: this program's parent,
 * the language host) does; the kubeconfig travels on its stdin only.
 */
export async function openUpdateTunnel(
  target: TunnelTarget,
  key: string,
  opts: { watchPid?: number; readyTimeoutMs?: number } = {},
): Promise<{ host: string; port: number }> {
  const request: UpdateTunnelRequest = { target, ports: tunnelPorts(key), watchPid: opts.watchPid ?? process.ppid, readyTimeoutMs: opts.readyTimeoutMs };
  const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: projectRoot, detached: true, stdio: ["pipe", "pipe", "ignore"] });
  child.stdin.end(JSON.stringify(request));
  const reply = await new Promise<UpdateTunnelReply>((resolve) => {
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      out += d;
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        try {
          resolve(JSON.parse(out.slice(0, nl)) as UpdateTunnelReply);
        } catch {
          resolve({ error: `the tunnel process answered ${JSON.stringify(out.slice(0, 200))}` });
        }
      }
    });
    child.on("exit", (code) => resolve({ error: `the tunnel process exited (code ${code}) before it listened${out ? `: ${out.trim()}` : ""}` }));
    child.on("error", (e) => resolve({ error: `cannot start the tunnel process: ${e.message}` }));
  });
  child.stdout.destroy();
  child.unref();
  if ("error" in reply) throw new TunnelError(reply.error, target);
  return { host: "127.0.0.1", port: reply.port };
}

/**
 * The provider's host and port for this update: the tunnel process's local
 * end, opened once the database pod is Ready. In a preview it is opened only
 * if the pod is Ready already (an existing stack, so the provider can read
 * what it is asked to import); before the pod exists it is unknown, and the
 * resources behind it show as to-create.
 */
export function updateTunnelEndpoint(target: pulumi.Output<TunnelTarget>, key: string): pulumi.Output<{ host: string; port: number }> {
  return target.apply(async (t) => {
    const id = `${key}/${t.namespace}/${t.pod}`;
    if (!pulumi.runtime.isDryRun()) return openUpdateTunnel(t, id);
    try {
      return await openUpdateTunnel(t, id, { readyTimeoutMs: 0 });
    } catch (e) {
      pulumi.log.info(`No port-forward during preview (${(e as Error).message}): the postgresql resources show as planned, not as read.`);
      return pulumi.unknown as unknown as { host: string; port: number };
    }
  });
}
