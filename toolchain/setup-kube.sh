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
say "test cluster binaries ready: etcd $ETCD_VERSION, kube-apiserver/kube-controller-manager/kubectl $KUBE_VERSION"
bash "$root/toolchain/images/build.sh" # the node's images (pause, app, postgres, exporter): toolchain/images/
