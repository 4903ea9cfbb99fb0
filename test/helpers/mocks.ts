// Pulumi mocks for asserting resource shapes: every registered resource with
// its inputs and the options it was given.
import * as pulumi from "@pulumi/pulumi";

export interface Captured {
  type: string;
  name: string;
  inputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  opts: pulumi.CustomResourceOptions;
}

const opts = new Map<string, pulumi.CustomResourceOptions>();

/** Pass as `{ transformations: [captureOptions] }` to a component to see its children's options. */
export const captureOptions: pulumi.ResourceTransformation = (r) => {
  opts.set(r.name, r.opts as pulumi.CustomResourceOptions);
  return undefined;
};

export function captureResources(): Captured[] {
  const captured: Captured[] = [];
  opts.clear();
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        captured.push({ type: args.type, name: args.name, inputs: unwrapSecrets(args.inputs), opts: opts.get(args.name) ?? {} });
        return {
          id: `${args.name}-id`,
          state: { ...args.inputs, value: args.inputs.value ?? "generated-password-0123456789", cert: "CERT", key: "KEY", caCert: "CA" },
        };
      },
      call: () => ({}),
    },
    "pgshift",
    "test",
    false,
  );
  return captured;
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Secret inputs reach mocks wrapped in Pulumi's secret envelope; tests assert on the values inside. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function unwrapSecrets(v: any): any {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === "object") {
    if (v[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270") return unwrapSecrets(v.value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

// Pulumi counts the registrations in flight (the language host waits on the
// same count before a program exits); the function is internal to the SDK.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- not in the SDK's typings
const { waitForRPCs } = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> };

/** Resolves once every resource registration started so far has reached the mocks: no guessing how long that takes. */
export const settle = (): Promise<void> => waitForRPCs();

export function one(resources: Captured[], type: string, nameIncludes = ""): Captured {
  const found = resources.filter((r) => r.type === type && r.name.includes(nameIncludes));
  if (found.length !== 1) throw new Error(`expected one ${type} named *${nameIncludes}*, found ${found.map((f) => f.name).join(", ") || "none"}`);
  return found[0]!;
}

/** A captured Kubernetes resource's inputs without the apiVersion and kind the SDK adds: what a manifest function returned. */
export function manifestOf(r: Captured): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, ...rest } = r.inputs;
  return rest;
}

/** A manifest as it reaches the mocks: plain JSON (no undefined members). */
export const plain = (o: unknown): unknown => JSON.parse(JSON.stringify(o));
