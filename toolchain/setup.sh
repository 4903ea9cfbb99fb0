#!/usr/bin/env bash
# Builds the Pulumi engine pgshift runs on — the CLI, the Node.js language host
# and the kubernetes and command resource plugins — from the Go module proxy at
# the versions pinned in toolchain/*/go.mod, into the git-ignored .toolchain/.
# Plugins are installed into the project's own PULUMI_HOME so the engine never
# tries to download one. Idempotent: a second run with the binaries present
# takes a second or two.
#
#   bash toolchain/setup.sh           build what is missing (or reuse a matching `pulumi` on PATH)
#   bash toolchain/setup.sh --force   rebuild everything
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The single source of truth for versions: each must match toolchain/*/go.mod
# and package.json (@pulumi/pulumi, @pulumi/kubernetes, @pulumi/command).
PULUMI_VERSION=v3.163.0
KUBERNETES_VERSION=4.25.0
COMMAND_VERSION=0.9.2
# The kubernetes provider module is replaced by an unpacked copy (see below), so
# go.sum cannot vouch for it: its hash is pinned here instead.
KUBERNETES_MODULE_SUM="h1:j2bphCf7c2YhnBrhwht2f3TNRRgcMImltUlAgzxr9H4="

tc="$root/.toolchain"
bin="$tc/bin"
export PULUMI_HOME="${PGSHIFT_PULUMI_HOME:-$tc/pulumi-home}"
plugins="$PULUMI_HOME/plugins"
force=false
[ "${1:-}" = "--force" ] && force=true

say() { printf '[setup] %s\n' "$*" >&2; }
mkdir -p "$bin" "$plugins"
started=$(date +%s)

stamp_ok() { # <binary> <version>
  [ "$force" = false ] && [ -x "$1" ] && [ "$(cat "$1.version" 2>/dev/null)" = "$2" ]
}

install_plugin() { # <name> <version> <built binary>
  local dir="$plugins/resource-$1-v$2"
  mkdir -p "$dir"
  ln -sf "$3" "$dir/pulumi-resource-$1"
  rm -f "$dir.partial"
}

# The dynamic-provider and policy shims ship inside @pulumi/pulumi; a normal
# Pulumi install puts them next to `pulumi` on PATH, so do the same.
link_node_shims() {
  local sdk="$root/node_modules/@pulumi/pulumi"
  if [ ! -d "$sdk" ]; then
    say "node_modules is missing: running npm ci first"
    npm ci --no-audit --no-fund
  fi
  ln -sf "$sdk/pulumi-resource-pulumi-nodejs" "$bin/pulumi-resource-pulumi-nodejs"
  ln -sf "$sdk/pulumi-analyzer-policy" "$bin/pulumi-analyzer-policy"
}

# A user who installed Pulumi the normal way, at the same version and with the
# same plugins, needs no build at all.
reuse_installed_pulumi() {
  [ -x "$bin/pulumi" ] && return 1
  local sys
  sys="$(PATH="$(echo "$PATH" | tr ':' '\n' | grep -v "^$bin\$" | paste -sd:)" command -v pulumi || true)"
  [ -n "$sys" ] || return 1
  [ "$("$sys" version 2>/dev/null)" = "$PULUMI_VERSION" ] || return 1
  local home="${HOME}/.pulumi/plugins" k="resource-kubernetes-v$KUBERNETES_VERSION" c="resource-command-v$COMMAND_VERSION"
  [ -x "$home/$k/pulumi-resource-kubernetes" ] && [ -x "$home/$c/pulumi-resource-command" ] || return 1
  [ -x "$(dirname "$sys")/pulumi-language-nodejs" ] || return 1
  say "using the Pulumi $PULUMI_VERSION already installed at $sys (and its plugins)"
  ln -sf "$sys" "$bin/pulumi"
  ln -sf "$(dirname "$sys")/pulumi-language-nodejs" "$bin/pulumi-language-nodejs"
  echo "$PULUMI_VERSION" >"$bin/pulumi.version"
  echo "$PULUMI_VERSION" >"$bin/pulumi-language-nodejs.version"
  install_plugin kubernetes "$KUBERNETES_VERSION" "$home/$k/pulumi-resource-kubernetes"
  echo "$KUBERNETES_VERSION" >"$tc/plugins/pulumi-resource-kubernetes.version" 2>/dev/null || true
  install_plugin command "$COMMAND_VERSION" "$home/$c/pulumi-resource-command"
  return 0
}

find_go() {
  if command -v go >/dev/null 2>&1; then return 0; fi
  if [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; return 0; fi
  cat >&2 <<EOF
[setup] Go is not installed, and pgshift builds its Pulumi engine from Go modules.
[setup] Install Go 1.24 or newer (https://go.dev/doc/install, or your package manager),
[setup] or install Pulumi $PULUMI_VERSION with the kubernetes $KUBERNETES_VERSION and
[setup] command $COMMAND_VERSION plugins, then run this again.
EOF
  exit 1
}

go_build() { # <module dir> <output> <ldflags> <package>
  local t0=$(date +%s)
  say "building $(basename "$2") from $4 (first build takes several minutes)"
  (cd "$root/toolchain/$1" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w $3" -o "$2" "$4")
  say "built $(basename "$2") in $(( $(date +%s) - t0 ))s"
}

link_node_shims
if stamp_ok "$bin/pulumi" "$PULUMI_VERSION" && stamp_ok "$bin/pulumi-language-nodejs" "$PULUMI_VERSION" \
  && [ -e "$plugins/resource-kubernetes-v$KUBERNETES_VERSION/pulumi-resource-kubernetes" ] \
  && [ -e "$plugins/resource-command-v$COMMAND_VERSION/pulumi-resource-command" ] \
  && stamp_ok "$tc/plugins/pulumi-resource-kubernetes" "$KUBERNETES_VERSION" \
  && stamp_ok "$tc/plugins/pulumi-resource-command" "$COMMAND_VERSION"; then
  :
elif [ "$force" = false ] && reuse_installed_pulumi; then
  :
else
  find_go
  mkdir -p "$tc/plugins"
  vflag="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
  if ! stamp_ok "$bin/pulumi" "$PULUMI_VERSION"; then
    go_build pulumi "$bin/pulumi" "$vflag" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    echo "$PULUMI_VERSION" >"$bin/pulumi.version"
  fi
  if ! stamp_ok "$bin/pulumi-language-nodejs" "$PULUMI_VERSION"; then
    go_build pulumi "$bin/pulumi-language-nodejs" "$vflag" github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
    echo "$PULUMI_VERSION" >"$bin/pulumi-language-nodejs.version"
  fi

  if ! stamp_ok "$tc/plugins/pulumi-resource-command" "$COMMAND_VERSION"; then
    go_build command "$tc/plugins/pulumi-resource-command" \
      "-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_VERSION" \
      github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command
    echo "$COMMAND_VERSION" >"$tc/plugins/pulumi-resource-command.version"
  fi

  if ! stamp_ok "$tc/plugins/pulumi-resource-kubernetes" "$KUBERNETES_VERSION"; then
    # The provider embeds schema-embed.json, a file its release build generates
    # and the module zip lacks: unpack the module (its hash checked against KUBERNETES_MODULE_SUM by
    # `go mod download`), generate the file with the module's own generate.go,
    # and build through the replace in toolchain/kubernetes/go.mod.
    mod=github.com/pulumi/pulumi-kubernetes/provider/v4
    modver=$(sed -n "s|^require $mod \(v[^ ]*\)$|\1|p" toolchain/kubernetes/go.mod)
    src="$tc/src/kubernetes-provider"
    if [ ! -f "$src/cmd/pulumi-resource-kubernetes/schema-embed.json" ] || [ "$(cat "$src/.module-version" 2>/dev/null)" != "$modver" ]; then
      say "unpacking $mod@$modver"
      info=$(cd /tmp && GOFLAGS=-mod=mod GONOSUMDB=github.com/pulumi/pulumi-kubernetes go mod download -json "$mod@$modver")
      dir=$(sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p' <<<"$info")
      sum=$(sed -n 's/^\s*"Sum": "\(.*\)",$/\1/p' <<<"$info")
      if [ "$sum" != "$KUBERNETES_MODULE_SUM" ]; then
        say "$mod@$modver has hash $sum, expected $KUBERNETES_MODULE_SUM: refusing to build it"
        exit 1
      fi
      rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$dir" "$src" && chmod -R u+w "$src"
      (cd "$src" && go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4)
      (cd "$src/cmd/pulumi-resource-kubernetes" && VERSION="$KUBERNETES_VERSION" GOFLAGS=-mod=mod GONOSUMDB=github.com/pulumi go run generate.go)
      echo "$modver" >"$src/.module-version"
    fi
    go_build kubernetes "$tc/plugins/pulumi-resource-kubernetes" \
      "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_VERSION" \
      "$mod/cmd/pulumi-resource-kubernetes"
    echo "$KUBERNETES_VERSION" >"$tc/plugins/pulumi-resource-kubernetes.version"
  fi
  install_plugin kubernetes "$KUBERNETES_VERSION" "$tc/plugins/pulumi-resource-kubernetes"
  install_plugin command "$COMMAND_VERSION" "$tc/plugins/pulumi-resource-command"
fi

# Extra toolchain pieces (the test Kubernetes API server) live in their own script.
if [ -f "$root/toolchain/setup-kube.sh" ] && [ "${PGSHIFT_SKIP_KUBE:-}" != 1 ]; then
  bash "$root/toolchain/setup-kube.sh"
fi

say "toolchain ready in $(( $(date +%s) - started ))s: $("$bin/pulumi" version) with kubernetes $KUBERNETES_VERSION and command $COMMAND_VERSION (PULUMI_HOME=$PULUMI_HOME)"
