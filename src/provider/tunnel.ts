// How a dynamic provider reaches PostgreSQL when the stack connects through a
// port-forward: the tunnel is opened for the operation that needs it and closed
// with it, so an `up` with nothing to do opens none.
//
// Pulumi serializes dynamic providers into the state: the port-forward module
// (TypeScript, ES-module client) is loaded at run time from its path.
import type { TunnelTarget } from "../kube/port-forward";
import { registerTsx } from "./handler";

export type { TunnelTarget };

// Captured as a plain string when a provider using this is serialized.
const portForwardModule: string = require.resolve("../kube/port-forward");

export interface Reach {
  /** the connection string to use for this operation */
  url: string;
  close(): Promise<void>;
}

/** Opens the tunnel when there is one (and only then); `url`'s host:port is replaced by its local end. */
export async function reachDatabase(url: string, tunnel: TunnelTarget | null | undefined): Promise<Reach> {
  if (!tunnel || !tunnel.kubeconfig) return { url, close: async () => undefined };
  registerTsx();
  const { openTunnel } = require(portForwardModule) as typeof import("../kube/port-forward");
  const t = await openTunnel(tunnel);
  const u = new URL(url);
  u.hostname = t.host;
  u.port = String(t.port);
  return { url: u.toString(), close: t.close };
}
