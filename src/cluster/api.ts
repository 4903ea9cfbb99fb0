// A minimal client for the cluster's API server, authenticated with the admin
// client certificate; used by the harness and the volume provisioner, which
// must not spawn a kubectl per request.
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";

export interface ApiClient {
  /** resolves with the status (0 when unreachable) and the parsed body, if JSON */
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T; text: string }>;
}

export function apiClient(port: number, pkiDir: string): ApiClient {
  const tls = { ca: readFileSync(join(pkiDir, "ca.crt")), cert: readFileSync(join(pkiDir, "admin.crt")), key: readFileSync(join(pkiDir, "admin.key")) };
  return {
    call<T>(method: string, path: string, body?: unknown) {
      return new Promise<{ status: number; body: T; text: string }>((resolve) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = request(
          {
            host: "127.0.0.1",
            port,
            path,
            method,
            ...tls,
            timeout: 10_000,
            headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {},
          },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c.toString()));
            res.on("end", () => {
              let parsed: unknown;
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = undefined;
              }
              resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
            });
          },
        );
        req.on("error", () => resolve({ status: 0, body: undefined as T, text: "" }));
        req.on("timeout", () => req.destroy());
        req.end(payload);
      });
    },
  };
}
