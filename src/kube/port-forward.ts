// A port-forward to the database pod, opened by the program itself over the
// stack's own Kubernetes connection, so one `pulumi up` reaches PostgreSQL
// without a `kubectl port-forward` kept alive by hand in another terminal.
// Built on @kubernetes/client-node (the maintained client) rather than a
// spawned kubectl: nothing to find on PATH, and the kubeconfig never touches
// the disk or a command line.
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import type * as k8s from "@kubernetes/client-node" with { "resolution-mode": "import" };

/** Where the tunnel goes: the same kubeconfig/context the kubernetes provider uses. */
export interface TunnelTarget {
  /** kubeconfig file contents (YAML); secret */
  kubeconfig: string;
  /** context to use; empty: the kubeconfig's current context */
  context?: string;
  namespace: string;
  /** the pod; with `selector`, only what error messages call it (e.g. "the primary of cluster-postgres") */
  pod: string;
  /**
   * a label selector chosen when the tunnel opens: the Ready pod it matches. CloudNativePG's primary
   * (`cnpg.io/cluster=<name>,cnpg.io/instanceRole=primary`) moves at a failover, so no name fits every update.
   */
  selector?: string;
  /** port inside the pod */
  port: number;
}

export interface Tunnel {
  host: string;
  port: number;
  close(): Promise<void>;
}

export class TunnelError extends Error {
  constructor(
    message: string,
    readonly target: Pick<TunnelTarget, "namespace" | "pod" | "port">,
  ) {
    super(message);
    this.name = "TunnelError";
  }
}

// client-node is an ES module; loaded on first use so that a direct
// connection never pays for it.
function client(): typeof k8s {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node 20 loads ES modules with require()
  return require("@kubernetes/client-node") as typeof k8s;
}

function loadConfig(target: TunnelTarget): k8s.KubeConfig {
  const kc = new (client().KubeConfig)();
  try {
    kc.loadFromString(target.kubeconfig);
  } catch (e) {
    throw new TunnelError(`The kubeconfig given for the port-forward is not valid YAML/kubeconfig: ${(e as Error).message}`, target);
  }
  if (target.context) {
    if (!kc.getContexts().some((c) => c.name === target.context)) {
      throw new TunnelError(
        `The kubeconfig has no context "${target.context}" (it has: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(", ") || "none"
        }). ` + "Set kubernetes:context to one of them.",
        target,
      );
    }
    kc.setCurrentContext(target.context);
  }
  if (!kc.getCurrentCluster()) throw new TunnelError("The kubeconfig names no cluster for its current context.", target);
  return kc;
}

function where(kc: k8s.KubeConfig, t: TunnelTarget): string {
  return `pod ${t.namespace}/${t.pod} (context "${kc.getCurrentContext()}", API server ${kc.getCurrentCluster()?.server})`;
}

/** Explains an API call's failure in words a person can act on. */
function explain(kc: k8s.KubeConfig, t: TunnelTarget, e: unknown): TunnelError {
  const err = e as { code?: number | string; cause?: { code?: string }; message?: string };
  const code = err.code ?? err.cause?.code;
  const server = kc.getCurrentCluster()?.server;
  if (code === 401)
    return new TunnelError(
      `The Kubernetes API server ${server} refused the kubeconfig's credentials (401). Check kubernetes:kubeconfig / kubernetes:context.`,
      t,
    );
  if (code === 403)
    return new TunnelError(
      `The kubeconfig's user may not read or port-forward to ${where(kc, t)} (403). It needs get on pods and create on pods/portforward in ${t.namespace}.`,
      t,
    );
  if (code === 404) return new TunnelError(`${where(kc, t)} does not exist.`, t);
  if (
    typeof code === "string" &&
    /^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID)$/.test(
      code,
    )
  ) {
    return new TunnelError(`Cannot reach the Kubernetes API server ${server} (${code}). Is this the right kubeconfig/context?`, t);
  }
  return new TunnelError(`Port-forward to ${where(kc, t)} failed: ${err.message ?? String(e)}`, t);
}

interface PodStatus {
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

/** Waits for a Ready pod matching target.selector (one pod: a primary) and returns its name. */
async function readyPodBySelector(kc: k8s.KubeConfig, t: TunnelTarget & { selector: string }, timeoutMs: number): Promise<string> {
  const api = kc.makeApiClient(client().CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let last = "no pod matches";
  for (;;) {
    try {
      const list = (await api.listNamespacedPod({ namespace: t.namespace, labelSelector: t.selector })) as {
        items: (PodStatus & { metadata?: { name?: string; deletionTimestamp?: unknown } })[];
      };
      const ready = list.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
      if (ready.length === 1 && ready[0]!.metadata?.name) return ready[0]!.metadata.name;
      last =
        ready.length > 1
          ? `${ready.length} Ready pods match (${ready.map((p) => p.metadata?.name).join(", ")}), expected one`
          : `${list.items.length} pod(s) match, none Ready`;
    } catch (e) {
      throw explain(kc, t, e);
    }
    if (Date.now() > deadline) {
      throw new TunnelError(
        `No single Ready pod in ${t.namespace} matched ${t.selector} (${t.pod}) within ${Math.round(timeoutMs / 1000)} s: ${last}. ` +
          `See \`kubectl get pods -n ${t.namespace} -l ${t.selector}\` and the operator's status of the cluster.`,
        t,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Waits until the pod reports Ready: nothing may touch PostgreSQL before then. */
async function waitReady(kc: k8s.KubeConfig, t: TunnelTarget, timeoutMs: number): Promise<void> {
  const api = kc.makeApiClient(client().CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let last = "not found";
  for (;;) {
    try {
      const pod = (await api.readNamespacedPod({ name: t.pod, namespace: t.namespace })) as PodStatus;
      if (pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) return;
      last = `phase ${pod.status?.phase ?? "unknown"}, not Ready`;
    } catch (e) {
      const te = explain(kc, t, e);
      if ((e as { code?: number }).code !== 404) throw te;
    }
    if (Date.now() > deadline) {
      throw new TunnelError(
        `${where(kc, t)} did not become Ready within ${Math.round(timeoutMs / 1000)} s (${last}). ` +
          `See \`kubectl describe pod ${t.pod} -n ${t.namespace}\` and its logs.`,
        t,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

interface Ws {
  readyState: number;
  bufferedAmount: number;
  close(): void;
  on(event: string, fn: (...a: unknown[]) => void): void;
}

/**
 * Opens 127.0.0.1:<free port, or localPort> → <pod>:<port>. Each TCP connection gets its
 * own port-forward stream; when either side ends, the other is closed, so a
 * dropped tunnel surfaces as a broken PostgreSQL connection (the load's
 * transaction rolls back) instead of a hang.
 */
export async function openTunnel(given: TunnelTarget, opts: { readyTimeoutMs?: number; localPort?: number } = {}): Promise<Tunnel> {
  const kc = loadConfig(given);
  const target = given.selector
    ? { ...given, pod: await readyPodBySelector(kc, { ...given, selector: given.selector }, opts.readyTimeoutMs ?? 300_000) }
    : given;
  await waitReady(kc, target, opts.readyTimeoutMs ?? 300_000);
  const forward = new (client().PortForward)(kc, true);
  const sockets = new Set<Socket>();

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let problem = "";
    const errors = new Writable({
      write(chunk: Buffer, _enc, done) {
        problem += chunk.toString("utf8");
        done();
      },
    });
    const output = new Writable({
      write(chunk: Buffer, _enc, done) {
        if (socket.destroyed) return done();
        if (socket.write(chunk)) done();
        else socket.once("drain", () => done());
      },
    });
    forward
      .portForward(target.namespace, target.pod, [target.port], output, errors, socket)
      .then((res) => {
        const ws = res as unknown as Ws;
        ws.on("close", () => socket.destroy(problem ? new TunnelError(problem.trim(), target) : undefined));
        ws.on("error", () => socket.destroy());
        socket.on("close", () => ws.close());
        // client-node forwards the socket's data without backpressure; hold
        // the client back while the WebSocket's buffer is large.
        const timer = setInterval(() => {
          if (ws.bufferedAmount > 8 << 20) socket.pause();
          else if (socket.isPaused()) socket.resume();
        }, 5);
        socket.on("close", () => clearInterval(timer));
      })
      .catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.localPort ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Runs `fn` with a connection string that reaches the database: through a
 * port-forward opened for the call and closed afterwards (also on failure),
 * or unchanged when no tunnel is configured.
 */
export async function withTunnel<T>(url: string, target: TunnelTarget | undefined | null, fn: (url: string) => Promise<T>): Promise<T> {
  if (!target?.kubeconfig) return fn(url);
  const tunnel = await openTunnel(target);
  try {
    const u = new URL(url);
    u.hostname = tunnel.host;
    u.port = String(tunnel.port);
    return await fn(u.toString());
  } finally {
    await tunnel.close();
  }
}
