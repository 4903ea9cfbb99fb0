// Where the local cluster's binaries and files are. Shared by the tests
// (test/helpers/kube.ts) and `npm run cluster`.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const repoRoot = resolve(__dirname, "..", "..");
export const toolchainBin = join(repoRoot, ".toolchain", "bin");
/** written by toolchain/images/build.sh: {"<image ref>": "<OCI layout tarball>"} */
export const imageManifest = process.env.PGSHIFT_IMAGES_MANIFEST ?? join(repoRoot, ".toolchain", "images", "manifest.json");
/** `npm run cluster -- up` keeps its cluster here (git-ignored) */
export const userClusterDir = join(repoRoot, ".cluster");

export const CONTROL_PLANE_BINARIES = ["etcd", "kube-apiserver", "kube-controller-manager", "kubectl"] as const;
export const NODE_BINARIES = ["kube-scheduler", "kubelet", "kube-proxy", "coredns", "kube-router"] as const;
/** from Debian's containerd, runc, containernetworking-plugins and ipset (kube-router keeps its pod sets in ipsets) */
export const NODE_HOST_TOOLS = [
  "/usr/bin/containerd",
  "/usr/bin/containerd-shim-runc-v2",
  "/usr/bin/ctr",
  "/usr/sbin/runc",
  "/usr/lib/cni/bridge",
  "/usr/lib/cni/host-local",
  "/usr/lib/cni/loopback",
  "/usr/sbin/ipset",
] as const;

export function missingBinaries(names: readonly string[]): string[] {
  return names.filter((b) => !existsSync(join(toolchainBin, b)));
}
