#!/usr/bin/env bash
# CloudNativePG for the local cluster's node (docs/test-cluster.md): its manager
# binary (the operator, and the instance manager it copies into every
# PostgreSQL pod) from the Go module pinned in toolchain/cnpg/go.mod, and the
# operator's manifests (CRDs, RBAC, Deployment, webhooks) from the same
# module's config/, rendered with kubectl's built-in kustomize. Both land in
# the git-ignored .toolchain; a run with both present does nothing.
#
#   bash toolchain/cnpg/build.sh           build what is missing
#   bash toolchain/cnpg/build.sh --force   rebuild
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
CNPG_VERSION=v1.28.0 # must match toolchain/cnpg/go.mod and the image tag in toolchain/cnpg/operator/
MODULE=github.com/cloudnative-pg/cloudnative-pg
bin="$root/.toolchain/bin"
out="$root/.toolchain/cnpg"
force=false
[ "${1:-}" = "--force" ] && force=true
say() { printf '[setup-cnpg] %s\n' "$*" >&2; }
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
mkdir -p "$bin" "$out"
cd "$root/toolchain/cnpg"

manager="$bin/cnpg-manager"
if [ "$force" = true ] || [ ! -x "$manager" ] || [ "$(cat "$manager.version" 2>/dev/null)" != "$CNPG_VERSION" ]; then
  command -v go >/dev/null 2>&1 || { say "Go 1.26 or newer is needed to build CloudNativePG's manager (https://go.dev/doc/install)"; exit 1; }
  t0=$(date +%s)
  say "building cnpg-manager $CNPG_VERSION from $MODULE/cmd/manager (several minutes on a cold Go cache)"
  # Static like upstream's image: the same binary runs in the operator's image and, copied there by the
  # bootstrap-controller init container, in the PostgreSQL image.
  CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath \
    -ldflags "-s -w -X $MODULE/pkg/versions.buildVersion=${CNPG_VERSION#v}" \
    -o "$manager.partial" "$MODULE/cmd/manager"
  mv "$manager.partial" "$manager"
  echo "$CNPG_VERSION" >"$manager.version"
  say "built cnpg-manager in $(( $(date +%s) - t0 ))s"
fi

manifests="$out/operator.yaml"
if [ "$force" = true ] || [ ! -s "$manifests" ] || [ "$(cat "$manifests.version" 2>/dev/null)" != "$CNPG_VERSION $(sha256sum operator/kustomization.yaml | cut -c1-16)" ]; then
  kubectl="$bin/kubectl"
  [ -x "$kubectl" ] || { say "kubectl is not built yet ($kubectl): run toolchain/setup-kube.sh first"; exit 1; }
  GOFLAGS=-mod=readonly go mod download "$MODULE"
  src="$(GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' "$MODULE")"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # kustomize refuses resources outside its root: a writable copy of the module's config/ beside our overlay.
  cp -r "$src/config" "$work/config"
  chmod -R u+w "$work/config"
  cp operator/kustomization.yaml "$work/"
  # upstream's config uses kustomize `vars`, which still work and print a deprecation warning
  "$kubectl" kustomize "$work" 2> >(grep -v "'vars' is deprecated" >&2) >"$manifests.partial"
  mv "$manifests.partial" "$manifests"
  echo "$CNPG_VERSION $(sha256sum operator/kustomization.yaml | cut -c1-16)" >"$manifests.version"
  say "rendered the operator's manifests ($(grep -c '^kind: CustomResourceDefinition' "$manifests") CRDs) into $manifests"
fi
