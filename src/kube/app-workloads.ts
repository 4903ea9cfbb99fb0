// The app's side of a cutover on the cluster: its workloads' replica counts
// (through the scale subresource, so nothing else in their spec is touched),
// waits for their pods to be gone or Ready, the app's Secret, and an HTTP
// health check through a port-forward to one Ready pod behind a Service.
import { request } from "node:http";
import type * as k8s from "@kubernetes/client-node" with { "resolution-mode": "import" };
import { openTunnel } from "./port-forward";

export type WorkloadKind = "Deployment" | "StatefulSet";
export interface Workload {
  kind: WorkloadKind;
  name: string;
}
/** `cutover.healthCheck`: GET http://<a Ready pod of service>:<port><path>, 2xx = healthy */
export interface HealthCheck {
  service: string;
  port: number | string;
  path: string;
}
export interface KubeAccess {
  /** kubeconfig file contents; secret */
  kubeconfig: string;
  context?: string;
  namespace: string;
}

export class AppWorkloadError extends Error {}

export function kubeClient(): typeof k8s {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node 20 loads ES modules with require()
  return require("@kubernetes/client-node") as typeof k8s;
}

export function kubeConfigOf(access: KubeAccess): k8s.KubeConfig {
  const kc = new (kubeClient().KubeConfig)();
  kc.loadFromString(access.kubeconfig);
  if (access.context) kc.setCurrentContext(access.context);
  return kc;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How often the app's pods are looked at while it is down: every wasted poll is write downtime (two small API reads each). */
const POLL_MS = 100;
const describe = (w: Workload) => `${w.kind} ${w.name}`;

interface WorkloadObject {
  metadata?: { generation?: number };
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  status?: { observedGeneration?: number; readyReplicas?: number; updatedReplicas?: number; replicas?: number; availableReplicas?: number };
}

export class AppWorkloads {
  private readonly kc: k8s.KubeConfig;
  readonly namespace: string;

  constructor(access: KubeAccess) {
    this.kc = kubeConfigOf(access);
    this.namespace = access.namespace;
  }

  private apps() {
    return this.kc.makeApiClient(kubeClient().AppsV1Api);
  }
  private core() {
    return this.kc.makeApiClient(kubeClient().CoreV1Api);
  }

  private async read(w: Workload): Promise<WorkloadObject> {
    const p = { name: w.name, namespace: this.namespace };
    try {
      return (w.kind === "Deployment" ? await this.apps().readNamespacedDeployment(p) : await this.apps().readNamespacedStatefulSet(p)) as WorkloadObject;
    } catch (e) {
      if ((e as { code?: number }).code === 404) {
        throw new AppWorkloadError(
          `${describe(w)} does not exist in namespace ${this.namespace} (app.workloads). Fix the name or remove it from pgshift:app.workloads.`,
        );
      }
      throw new AppWorkloadError(`Cannot read ${describe(w)} in ${this.namespace}: ${(e as Error).message}`);
    }
  }

  async replicas(w: Workload): Promise<number> {
    return (await this.read(w)).spec?.replicas ?? 1;
  }

  async scale(w: Workload, replicas: number): Promise<void> {
    const body = { metadata: { name: w.name, namespace: this.namespace }, spec: { replicas } };
    const p = { name: w.name, namespace: this.namespace, body };
    try {
      if (w.kind === "Deployment") await this.apps().replaceNamespacedDeploymentScale(p);
      else await this.apps().replaceNamespacedStatefulSetScale(p);
    } catch (e) {
      throw new AppWorkloadError(`Cannot scale ${describe(w)} in ${this.namespace} to ${replicas}: ${(e as Error).message}`);
    }
  }

  /** Names of the workload's pods that still exist (Terminating ones too: they may still write). */
  async pods(w: Workload): Promise<string[]> {
    const selector = (await this.read(w)).spec?.selector?.matchLabels ?? {};
    const labelSelector = Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    if (!labelSelector) throw new AppWorkloadError(`${describe(w)} has no matchLabels selector; cannot tell which pods are its writers.`);
    const list = await this.core().listNamespacedPod({ namespace: this.namespace, labelSelector });
    return (list.items ?? []).map((p) => p.metadata?.name ?? "").filter(Boolean);
  }

  async waitStopped(w: Workload, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    let left: string[] = [];
    while (Date.now() < until) {
      left = await this.pods(w);
      if (left.length === 0) return;
      await sleep(POLL_MS);
    }
    throw new AppWorkloadError(`${describe(w)} still has pods after ${Math.round(timeoutMs / 1000)} s of waiting for them to stop: ${left.join(", ")}.`);
  }

  async ready(w: Workload, replicas: number): Promise<boolean> {
    const o = await this.read(w);
    const s = o.status ?? {};
    if ((s.observedGeneration ?? 0) < (o.metadata?.generation ?? 0)) return false;
    if (replicas === 0) return (await this.pods(w)).length === 0;
    return (s.readyReplicas ?? 0) >= replicas && (s.updatedReplicas ?? 0) >= replicas && (s.replicas ?? 0) === replicas;
  }

  async waitReady(w: Workload, replicas: number, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (await this.ready(w, replicas)) return;
      await sleep(POLL_MS);
    }
    const s = (await this.read(w)).status ?? {};
    throw new AppWorkloadError(
      `${describe(w)} was not Ready within ${Math.round(timeoutMs / 1000)} s: ${s.readyReplicas ?? 0} of ${replicas} replicas ready. See \`kubectl -n ${this.namespace} describe ${w.kind.toLowerCase()} ${w.name}\`.`,
    );
  }

  /** The app Secret's string data (decoded); undefined when the Secret does not exist. */
  async secretData(name: string): Promise<Record<string, string> | undefined> {
    try {
      const s = await this.core().readNamespacedSecret({ name, namespace: this.namespace });
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    } catch (e) {
      if ((e as { code?: number }).code === 404) return undefined;
      throw new AppWorkloadError(`Cannot read the app's Secret ${this.namespace}/${name}: ${(e as Error).message}`);
    }
  }

  /** Sets these keys of the app's Secret (others are kept). Values never appear in errors. */
  async writeSecret(name: string, values: Record<string, string>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const s = await this.core().readNamespacedSecret({ name, namespace: this.namespace });
        const data = { ...(s.data ?? {}) };
        for (const [k, v] of Object.entries(values)) data[k] = Buffer.from(v, "utf8").toString("base64");
        await this.core().replaceNamespacedSecret({ name, namespace: this.namespace, body: { ...s, data, stringData: undefined } });
        return;
      } catch (e) {
        // Someone else wrote it between our read and replace: read again.
        if ((e as { code?: number }).code === 409 && attempt < 5) continue;
        throw new AppWorkloadError(`Cannot write the app's Secret ${this.namespace}/${name} (${(e as { code?: number }).code ?? "no status"}).`);
      }
    }
  }

  /** An annotation of the app's Secret (undefined: absent). */
  async secretAnnotation(name: string, key: string): Promise<string | undefined> {
    const s = await this.core().readNamespacedSecret({ name, namespace: this.namespace });
    return s.metadata?.annotations?.[key];
  }

  /** Sets (or, with null, removes) an annotation of the app's Secret. */
  async annotateSecret(name: string, key: string, value: string | null): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const s = await this.core().readNamespacedSecret({ name, namespace: this.namespace });
        const annotations = { ...(s.metadata?.annotations ?? {}) };
        if (value === null) delete annotations[key];
        else annotations[key] = value;
        await this.core().replaceNamespacedSecret({ name, namespace: this.namespace, body: { ...s, metadata: { ...s.metadata, annotations } } });
        return;
      } catch (e) {
        if ((e as { code?: number }).code === 409 && attempt < 5) continue;
        throw new AppWorkloadError(`Cannot annotate the app's Secret ${this.namespace}/${name}: ${(e as Error).message}`);
      }
    }
  }

  /** One GET of the health check through a port-forward to a Ready pod behind the Service; resolves to the HTTP status. */
  async probe(check: HealthCheck, access: KubeAccess, timeoutMs = 3000): Promise<number> {
    const svc = await this.core().readNamespacedService({ name: check.service, namespace: this.namespace });
    const port = (svc.spec?.ports ?? []).find((p) => p.port === check.port || p.name === check.port);
    if (!port) throw new AppWorkloadError(`Service ${check.service} has no port ${check.port} (cutover.healthCheck.port).`);
    const selector = Object.entries(svc.spec?.selector ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const pods = (await this.core().listNamespacedPod({ namespace: this.namespace, labelSelector: selector })).items ?? [];
    const ready = pods.find((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    if (!ready?.metadata?.name) throw new AppWorkloadError(`Service ${check.service} has no Ready pod yet.`);
    let target = port.targetPort ?? port.port;
    if (typeof target === "string") {
      const named = ready.spec?.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === target);
      if (!named) throw new AppWorkloadError(`Pod ${ready.metadata.name} has no port named ${target}.`);
      target = named.containerPort;
    }
    const tunnel = await openTunnel({
      kubeconfig: access.kubeconfig,
      context: access.context ?? "",
      namespace: this.namespace,
      pod: ready.metadata.name,
      port: Number(target),
    });
    try {
      return await new Promise<number>((resolve, reject) => {
        const req = request({ host: tunnel.host, port: tunnel.port, path: check.path, method: "GET", timeout: timeoutMs }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on("error", reject);
        req.end();
      });
    } finally {
      await tunnel.close();
    }
  }
}
