// Loads the images build.sh made into a containerd (the node's, or a test's):
// `ctr images import` for each tarball in .toolchain/images/manifest.json,
// skipping a ref containerd already holds at the same manifest digest, so a
// warm `cluster up` imports nothing.
import { execFileSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { readTarMember } from "./tar";

export const defaultImageManifest = resolve(__dirname, "..", "..", ".toolchain", "images", "manifest.json");

export class ImageImportError extends Error {
  constructor(
    public readonly ref: string,
    message: string,
  ) {
    super(`image ${ref}: ${message}`);
    this.name = "ImageImportError";
  }
}

/** {"<ref>": "<tarball>"} as build.sh wrote it; a clear error when it has not run. */
export function readImageManifest(path = defaultImageManifest): Record<string, string> {
  if (!existsSync(path)) throw new ImageImportError("*", `${path} does not exist: build the images first with \`bash toolchain/images/build.sh\``);
  return JSON.parse(readFileSync(path, "utf8")) as Record<string, string>;
}

/** The manifest digest the tarball's index.json names for `ref`. */
export function tarballDigest(ref: string, tarball: string): string {
  if (!existsSync(tarball)) throw new ImageImportError(ref, `${tarball} is missing: rebuild with \`bash toolchain/images/build.sh\``);
  const fd = openSync(tarball, "r");
  try {
    const index = readTarMember(fd, "index.json");
    if (!index) throw new ImageImportError(ref, `${tarball} has no index.json: not an OCI layout tarball; rebuild with \`bash toolchain/images/build.sh\``);
    const parsed = JSON.parse(index.toString("utf8")) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const m = parsed.manifests.find((x) => x.annotations?.["io.containerd.image.name"] === ref);
    if (!m) throw new ImageImportError(ref, `${tarball}'s index.json does not name ${ref}`);
    return m.digest;
  } finally {
    closeSync(fd);
  }
}

export interface ImportedImage {
  ref: string;
  digest: string;
  /** false when containerd already had this ref at this digest */
  imported: boolean;
}

export interface ImportOptions {
  manifestPath?: string;
  /** the ctr binary (default: ctr on PATH) */
  ctr?: string;
  /** only these refs (default: every image in the manifest) */
  refs?: string[];
}

/** containerd's images in `namespace`: ref → manifest digest. */
export function listImages(ctrAddress: string, namespace: string, ctr = "ctr"): Map<string, string> {
  const out = execFileSync(ctr, ["-a", ctrAddress, "-n", namespace, "images", "ls"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const images = new Map<string, string>();
  for (const line of out.split("\n").slice(1)) {
    const [ref, , digest] = line.trim().split(/\s+/);
    if (ref && digest) images.set(ref, digest);
  }
  return images;
}

export function importImages(ctrAddress: string, namespace = "k8s.io", opts: ImportOptions = {}): ImportedImage[] {
  const ctr = opts.ctr ?? "ctr";
  const manifest = readImageManifest(opts.manifestPath);
  const refs = opts.refs ?? Object.keys(manifest);
  const present = listImages(ctrAddress, namespace, ctr);
  const result: ImportedImage[] = [];
  for (const ref of refs) {
    const tarball = manifest[ref];
    if (!tarball) throw new ImageImportError(ref, `not in ${opts.manifestPath ?? defaultImageManifest}; known: ${Object.keys(manifest).join(", ")}`);
    const digest = tarballDigest(ref, tarball);
    if (present.get(ref) === digest) {
      result.push({ ref, digest, imported: false });
      continue;
    }
    try {
      // Unpacked into the default snapshotter, which is what the CRI plugin runs pods from.
      execFileSync(ctr, ["-a", ctrAddress, "-n", namespace, "images", "import", tarball], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
      throw new ImageImportError(ref, `ctr images import ${tarball} into ${ctrAddress} (namespace ${namespace}) failed: ${stderr || (e as Error).message}`);
    }
    result.push({ ref, digest, imported: true });
  }
  return result;
}
