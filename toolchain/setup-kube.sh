#!/usr/bin/env bash
# Builds the test Kubernetes cluster the stack tests apply the dev and prod
# stacks to (docs/test-cluster.md): etcd, kube-apiserver,
# kube-controller-manager, kubectl and the node (kube-scheduler, kubelet,
# kube-proxy, CoreDNS), from the Go module proxy at the versions pinned in
# toolchain/{kube,etcd,coredns}/go.mod, into the git-ignored .toolchain/bin.
# The node's container runtime (containerd, runc, the CNI plugins) comes from
# Debian and is installed when missing, which needs root. Called by
# toolchain/setup.sh; a second run with everything present does nothing.
#
#   bash toolchain/setup-kube.sh           build what is missing
#   bash toolchain/setup-kube.sh --force   rebuild
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Must match toolchain/kube/go.mod (k8s.io/kubernetes and its v0.x staging
# replaces) and toolchain/etcd/go.mod.
KUBE_VERSION=v1.34.2
ETCD_VERSION=v3.6.16
COREDNS_VERSION=v1.15.0

bin="$root/.toolchain/bin"
force=false
[ "${1:-}" = "--force" ] && force=true
say() { printf '[setup-kube] %s\n' "$*" >&2; }
mkdir -p "$bin"
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
need_go() {
  command -v go >/dev/null 2>&1 && return 0
  say "Go is not installed, and the test cluster (etcd, kube-apiserver, kube-controller-manager, kubectl) is built"
  say "from Go modules. Install Go 1.26 or newer (https://go.dev/doc/install), or skip the test cluster with"
  say "PGSHIFT_SKIP_KUBE=1 (test/stacks.test.ts then fails, saying the binaries are missing)."
  exit 1
}

stamp_ok() { # <binary> <version>
  [ "$force" = false ] && [ -x "$1" ] && [ "$(cat "$1.version" 2>/dev/null)" = "$2" ]
}

build() { # <module dir> <binary name> <version> <package> [ldflags]
  local out="$bin/$2" t0
  stamp_ok "$out" "$3" && return 0
  need_go
  t0=$(date +%s)
  say "building $2 $3 from $4 (the first build takes several minutes)"
  (cd "$root/toolchain/$1" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w ${5:-}" -o "$out.partial" "$4")
  mv "$out.partial" "$out"
  echo "$3" >"$out.version"
  say "built $2 in $(( $(date +%s) - t0 ))s"
}

# Without these the binaries call themselves v0.0.0-master, and kubectl warns
# about version skew on every call.
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
kube_ldflags="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

build etcd etcd "$ETCD_VERSION" .
build kube kube-apiserver "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kube kube-controller-manager "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kube kubectl "$KUBE_VERSION" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
build kube kube-scheduler "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
build kube kubelet "$KUBE_VERSION" k8s.io/kubernetes/cmd/kubelet "$kube_ldflags"
build kube kube-proxy "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-proxy "$kube_ldflags"
build coredns coredns "$COREDNS_VERSION" .

# The node runs pods with Debian's containerd, runc and CNI plugins (the same
# packages a user's distribution ships). Installing them needs root; without
# root the control plane still works and the node tests say what is missing.
node_packages=(containerd runc containernetworking-plugins iptables iproute2)
missing=()
for p in "${node_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "the local cluster's node needs ${missing[*]} (Debian packages), and installing them needs root:"
    say "  sudo apt-get install -y ${missing[*]}"
    say "without them the control plane works but no pod runs (the node tests fail, saying so)."
  elif ! command -v apt-get >/dev/null 2>&1; then
    say "the local cluster's node needs ${missing[*]}; this is not a Debian-like system, so install them yourself."
  else
    say "installing ${missing[*]} for the local cluster's node"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
fi
say "test cluster binaries ready: etcd $ETCD_VERSION, kube-apiserver/kube-controller-manager/kubectl/kube-scheduler/kubelet/kube-proxy $KUBE_VERSION, coredns $COREDNS_VERSION"
