#!/usr/bin/env bash
# Builds the test Kubernetes cluster the stack tests apply the dev and prod
# stacks to (docs/test-cluster.md): etcd, kube-apiserver,
# kube-controller-manager and kubectl, from the Go module proxy at the versions
# pinned in toolchain/kube/go.mod and toolchain/etcd/go.mod, into the
# git-ignored .toolchain/bin. Called by toolchain/setup.sh; a second run with
# the binaries present does nothing.
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
COREDNS_VERSION=v1.14.7 # must match toolchain/coredns/go.mod
KUBE_ROUTER_VERSION=v2.1.0 # must match toolchain/kube-router/go.mod

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
# The node: pods are scheduled, run and reachable through Services.
build kube kube-scheduler "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
build kube kubelet "$KUBE_VERSION" k8s.io/kubernetes/cmd/kubelet "$kube_ldflags"
build kube kube-proxy "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-proxy "$kube_ldflags"
# Cluster DNS (*.svc.cluster.local), with only the plugins it needs (toolchain/coredns/main.go).
build coredns coredns "$COREDNS_VERSION" .
# NetworkPolicy enforcement on the node: kube-router's firewall (toolchain/kube-router/go.mod).
build kube-router kube-router "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION"

# The container runtime comes from Debian: containerd, runc and the CNI plugins.
# Running pods needs root (network namespaces, mounts, iptables); without it the
# node tests fail saying so, and the rest of the suite runs as usual.
if ! command -v containerd >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 || [ ! -x /usr/lib/cni/bridge ] || [ ! -x /usr/sbin/ipset ]; then
  if [ "$(id -u)" != 0 ]; then
    say "containerd, runc, containernetworking-plugins or ipset are missing and this is not root: install them"
    say "(apt-get install containerd runc containernetworking-plugins ipset) to run the test cluster's node."
  else
    say "installing containerd, runc, containernetworking-plugins and ipset from Debian"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd runc containernetworking-plugins iptables iproute2 ipset; } >/dev/null
  fi
fi
say "test cluster binaries ready: etcd $ETCD_VERSION, Kubernetes $KUBE_VERSION (apiserver, controller-manager, scheduler, kubelet, kube-proxy, kubectl), CoreDNS $COREDNS_VERSION, kube-router $KUBE_ROUTER_VERSION"
# CloudNativePG's manager and operator manifests (toolchain/cnpg/): before the images, the operator's image carries it.
bash "$root/toolchain/cnpg/build.sh"
bash "$root/toolchain/images/build.sh" # the node's images (pause, app, postgres, exporter): toolchain/images/
