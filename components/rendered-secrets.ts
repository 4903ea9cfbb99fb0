// Manifests rendered to a folder (renderDir: the local stack) are files, read by
// whoever can read the folder and easily copied or committed by mistake: a
// Secret is rendered with the names of its keys only, never their values. The
// values stay where they are kept anyway: encrypted in the stack's state (the
// passwords as stack outputs, e.g. `npm run pulumi -- stack output --show-secrets
// appPassword`). Applied to a cluster, such a Secret holds no password, and a pod
// that needs one fails to start saying which key is missing.
import * as pulumi from "@pulumi/pulumi";

/** On each rendered Secret: the keys it holds in the stack, comma-separated. */
export const KEYS_NOT_RENDERED = "pgshift.io/keys-not-rendered";

type SecretProps = Record<string, unknown> & {
  metadata?: pulumi.Input<Record<string, unknown>>;
  data?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  stringData?: pulumi.Input<Record<string, pulumi.Input<string>>>;
};

/** A value as it is given, when it is a plain object (not an Output or a promise of one). */
function plain<T extends object>(v: pulumi.Input<T> | undefined): T | undefined {
  return v && !pulumi.Output.isInstance(v) && !(v instanceof Promise) ? (v as T) : undefined;
}

/** A Secret's inputs without its values; its key names go into an annotation. */
export function withoutSecretValues(props: SecretProps): SecretProps {
  const { data, stringData, ...rest } = props;
  const names = (d: Record<string, unknown>, s: Record<string, unknown>) => [...new Set([...Object.keys(d), ...Object.keys(s)])].sort().join(",");
  const [d, s] = [plain(data ?? {}), plain(stringData ?? {})];
  // Known now when the objects are (the components build them so): the key names are no secret, though the values are.
  const keys: pulumi.Input<string> = d && s ? names(d, s) : pulumi.unsecret(pulumi.all([data ?? {}, stringData ?? {}]).apply(([dd, ss]) => names(dd, ss)));
  const annotate = (m: Record<string, unknown>, k: pulumi.Input<string>) => ({
    ...m,
    annotations: { ...((m.annotations as Record<string, unknown> | undefined) ?? {}), [KEYS_NOT_RENDERED]: k },
  });
  const meta = plain(props.metadata ?? {});
  return { ...rest, metadata: meta ? annotate(meta, keys) : pulumi.all([props.metadata ?? {}, keys]).apply(([m, k]) => annotate(m, k)) };
}

/** The stack transformation that renders every Kubernetes Secret without its values. */
export function renderSecretsWithoutValues(r: pulumi.ResourceTransformationArgs): pulumi.ResourceTransformationResult | undefined {
  if (r.type !== "kubernetes:core/v1:Secret") return undefined;
  return { props: withoutSecretValues(r.props as SecretProps), opts: r.opts };
}
