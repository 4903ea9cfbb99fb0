#!/usr/bin/env bash
# Puts the Pulumi engine pgshift runs on — the CLI, the Node.js language host
# and the kubernetes, command and postgresql resource plugins — in the
# git-ignored .toolchain/, where scripts/env.sh finds it.
#
# With a Pulumi v3 CLI on PATH that is at least as new as the @pulumi/pulumi SDK
# in node_modules (the SDK asks the engine for features by name; an older engine
# lacks some, and a v4 may change the protocol), that CLI and its language host
# are used and nothing of them is built. Its plugins come from the user's plugin
# cache ($PULUMI_HOME or ~/.pulumi), or from `pulumi plugin install`; only when
# that fails is the pinned plugin built from Go modules.
#
# Without a usable CLI (the offline path) everything is built from the Go module
# proxy at the versions pinned in toolchain/*/go.mod, and the postgresql plugin
# from its source tarball (below) unless a plugin cache or `pulumi plugin install`
# has it. Each Go build prints one
# line with its time; its full output goes to .toolchain/logs/<piece>.log.
# Plugins are linked into the project's own PULUMI_HOME, so the engine never
# tries to download one at run time. Idempotent: a second run takes a second or two.
#
#   bash toolchain/setup.sh           use the user's Pulumi, or build what is missing
#   bash toolchain/setup.sh --force   rebuild everything (ignores a Pulumi on PATH)
#
#   PGSHIFT_BUILD_FROM_GO=never       never build a plugin from Go: report the
#                                     command that installs it instead
#   PGSHIFT_POSTGRESQL_PLUGIN_SRC=<f> the source tarball the postgresql plugin is
#                                     built from when it cannot be installed
#                                     (default: ../shared/vendor/pulumi-postgresql-
#                                     3.18.0-src.tar.gz beside the checkout, if there)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The single source of truth for versions: each must match toolchain/*/go.mod
# and package.json (@pulumi/pulumi, @pulumi/kubernetes, @pulumi/command,
# @pulumi/postgresql: the npm SDK's version is the plugin version it loads).
PULUMI_VERSION=v3.274.1
# The Node.js language host is its own Go module with no release tags; the newest
# pseudo-version the proxy serves is 3 commits after v3.163.0 and does not compile
# against sdk/v3 v3.274.1, so it is built with its own dependencies
# (toolchain/pulumi-language-nodejs/go.mod) and speaks the same gRPC protocol.
LANGUAGE_HOST_VERSION=v3.163.0
KUBERNETES_VERSION=4.25.0
COMMAND_VERSION=0.9.2
POSTGRESQL_VERSION=3.18.0
# The kubernetes provider module is replaced by an unpacked copy (see below), so
# go.sum cannot vouch for it: its hash is pinned here instead.
KUBERNETES_MODULE_SUM="h1:j2bphCf7c2YhnBrhwht2f3TNRRgcMImltUlAgzxr9H4="
# Neither github.com/pulumi/pulumi-postgresql nor the terraform provider it wraps
# has a version on the Go module proxy, so the postgresql plugin is built from a
# source tarball (pulumi-postgresql v3.18.0's provider/ and patches/, and the
# terraform-provider-postgresql commit it pins): PGSHIFT_POSTGRESQL_PLUGIN_SRC, or
# the shared copy next to the checkout. Its sha256 is pinned as the kubernetes
# module's hash is; every other module comes from the proxy and go.sum.
POSTGRESQL_SRC_SHA256=d0a6a550d4adbe97933a9a1b8f65eb41765cfe3d6623f069d84afb612575a87a
POSTGRESQL_SRC_DEFAULT="$root/../shared/vendor/pulumi-postgresql-$POSTGRESQL_VERSION-src.tar.gz"

tc="$root/.toolchain"
bin="$tc/bin"
logs="$tc/logs"
# Where a normal Pulumi install keeps its plugins; read before PULUMI_HOME is
# pointed at the project's own.
user_plugins="${PULUMI_HOME:-$HOME/.pulumi}/plugins"
export PULUMI_HOME="${PGSHIFT_PULUMI_HOME:-$tc/pulumi-home}"
plugins="$PULUMI_HOME/plugins"
[ "$user_plugins" = "$plugins" ] && user_plugins=""
force=false
[ "${1:-}" = "--force" ] && force=true

say() { printf '[setup] %s\n' "$*" >&2; }
mkdir -p "$bin" "$plugins" "$logs"
started=$(date +%s)

stamp_ok() { # <binary> <version>
  [ "$force" = false ] && [ -x "$1" ] && [ "$(cat "$1.version" 2>/dev/null)" = "$2" ]
}

install_plugin() { # <name> <version> <binary>
  local dir="$plugins/resource-$1-v$2"
  mkdir -p "$dir"
  ln -sf "$3" "$dir/pulumi-resource-$1"
  rm -f "$dir.partial"
}

plugin_ready() { # <name> <version>
  [ -x "$plugins/resource-$1-v$2/pulumi-resource-$1" ]
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

# The oldest CLI the program can run on: the version of the @pulumi/pulumi SDK
# it is written against (the SDK probes the engine for features such as
# resource references and output values, and an older engine answers "no").
sdk_version() {
  node -p 'require(process.argv[1]).version' "$root/node_modules/@pulumi/pulumi/package.json"
}

version_at_least() { # <version> <minimum>, both without the leading v
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# Prints the path of a `pulumi` on PATH (other than our own link) that is v3,
# at least the SDK's version, and brings a Node.js language host that runs; or
# says why it is passed over and prints nothing.
usable_user_pulumi() {
  local sys real version min lh
  sys="$(PATH="$(echo "$PATH" | tr ':' '\n' | grep -vx "$bin" | paste -sd:)" command -v pulumi || true)"
  [ -n "$sys" ] || return 0
  real="$(readlink -f "$sys")"
  version="$("$real" version 2>/dev/null | tr -d '[:space:]' || true)"
  min="$(sdk_version)"
  if ! [[ "$version" =~ ^v3\.[0-9]+\.[0-9]+$ ]] || ! version_at_least "${version#v}" "$min"; then
    say "not using the pulumi at $sys (version '${version:-unknown}'): @pulumi/pulumi $min needs a v3 CLI at v$min or newer (below v4); install one to skip the build below"
    return 0
  fi
  lh="$(dirname "$real")/pulumi-language-nodejs"
  [ -x "$lh" ] || lh="$(command -v pulumi-language-nodejs 2>/dev/null || true)"
  if [ -z "$lh" ] || ! "$lh" -h >/dev/null 2>&1; then
    say "not using the pulumi $version at $sys: it has no working Node.js language host (pulumi-language-nodejs) next to it or on PATH"
    return 0
  fi
  printf '%s\n%s\n%s\n' "$real" "$version" "$(readlink -f "$lh")"
}

find_go() {
  if command -v go >/dev/null 2>&1; then return 0; fi
  if [ -x /usr/local/go/bin/go ]; then export PATH="$PATH:/usr/local/go/bin"; return 0; fi
  return 1
}

no_go() {
  cat >&2 <<EOF
[setup] Go is not installed, and pgshift builds its Pulumi engine from Go modules.
[setup] Install Go 1.26.6 or newer (https://go.dev/doc/install, or your package manager),
[setup] or install a Pulumi v3 CLI at v$(sdk_version) or newer (https://www.pulumi.com/docs/install/),
[setup] then run this again.
EOF
  exit 1
}

# One line per piece: what is built, where its full output goes, how long it took.
go_build() { # <module dir under toolchain/, or an absolute path> <output> <ldflags> <package>
  local name log t0 dir="$1"
  [ "${dir#/}" != "$dir" ] || dir="$root/toolchain/$1"
  name="$(basename "$2")" log="$logs/$(basename "$2").log" t0=$(date +%s)
  printf '[setup] building %s (log: %s) ... ' "$name" "$log" >&2
  if (cd "$dir" && GOFLAGS=-mod=readonly go build -v -trimpath -ldflags "-s -w $3" -o "$2" "$4") >>"$log" 2>&1; then
    printf 'done in %ss\n' "$(( $(date +%s) - t0 ))" >&2
  else
    printf 'failed after %ss; last lines of the log:\n' "$(( $(date +%s) - t0 ))" >&2
    tail -n 15 "$log" >&2
    return 1
  fi
}

build_pulumi() {
  local vflag="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
  if ! stamp_ok "$bin/pulumi" "$PULUMI_VERSION"; then
    : >"$logs/pulumi.log"
    go_build pulumi "$bin/pulumi" "$vflag" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi || return 1
    echo "$PULUMI_VERSION" >"$bin/pulumi.version"
  fi
  if ! stamp_ok "$bin/pulumi-language-nodejs" "$LANGUAGE_HOST_VERSION"; then
    : >"$logs/pulumi-language-nodejs.log"
    go_build pulumi-language-nodejs "$bin/pulumi-language-nodejs" \
      "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$LANGUAGE_HOST_VERSION" \
      github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 || return 1
    echo "$LANGUAGE_HOST_VERSION" >"$bin/pulumi-language-nodejs.version"
  fi
}

build_command_plugin() {
  stamp_ok "$tc/plugins/pulumi-resource-command" "$COMMAND_VERSION" && return 0
  mkdir -p "$tc/plugins"
  : >"$logs/pulumi-resource-command.log"
  go_build command "$tc/plugins/pulumi-resource-command" \
    "-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_VERSION" \
    github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command || return 1
  echo "$COMMAND_VERSION" >"$tc/plugins/pulumi-resource-command.version"
}

build_kubernetes_plugin() {
  stamp_ok "$tc/plugins/pulumi-resource-kubernetes" "$KUBERNETES_VERSION" && return 0
  mkdir -p "$tc/plugins"
  local log="$logs/pulumi-resource-kubernetes.log"
  : >"$log"
  # The provider embeds schema-embed.json, a file its release build generates
  # and the module zip lacks: unpack the module (its hash checked against KUBERNETES_MODULE_SUM by
  # `go mod download`), generate the file with the module's own generate.go,
  # and build through the replace in toolchain/kubernetes/go.mod.
  local mod=github.com/pulumi/pulumi-kubernetes/provider/v4 modver src info dir sum
  modver=$(sed -n "s|^require $mod \(v[^ ]*\)$|\1|p" toolchain/kubernetes/go.mod)
  src="$tc/src/kubernetes-provider"
  if [ ! -f "$src/cmd/pulumi-resource-kubernetes/schema-embed.json" ] || [ "$(cat "$src/.module-version" 2>/dev/null)" != "$modver" ]; then
    say "unpacking $mod@$modver and generating its schema (log: $log)"
    info=$(cd /tmp && GOFLAGS=-mod=mod GONOSUMDB=github.com/pulumi/pulumi-kubernetes go mod download -json "$mod@$modver" 2>>"$log")
    dir=$(sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p' <<<"$info")
    sum=$(sed -n 's/^\s*"Sum": "\(.*\)",$/\1/p' <<<"$info")
    if [ "$sum" != "$KUBERNETES_MODULE_SUM" ]; then
      say "$mod@$modver has hash '$sum', expected $KUBERNETES_MODULE_SUM: refusing to build it (log: $log)"
      return 1
    fi
    rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$dir" "$src" && chmod -R u+w "$src"
    (cd "$src" && go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4) >>"$log" 2>&1 || return 1
    (cd "$src/cmd/pulumi-resource-kubernetes" && VERSION="$KUBERNETES_VERSION" GOFLAGS=-mod=mod GONOSUMDB=github.com/pulumi go run generate.go) >>"$log" 2>&1 || {
      say "generating the kubernetes provider's schema failed; last lines of $log:"; tail -n 15 "$log" >&2; return 1; }
    echo "$modver" >"$src/.module-version"
  fi
  go_build kubernetes "$tc/plugins/pulumi-resource-kubernetes" \
    "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_VERSION" \
    "$mod/cmd/pulumi-resource-kubernetes" || return 1
  echo "$KUBERNETES_VERSION" >"$tc/plugins/pulumi-resource-kubernetes.version"
}

# The source tarball of the postgresql plugin: PGSHIFT_POSTGRESQL_PLUGIN_SRC, else
# the shared copy beside the checkout when there is one; prints nothing if neither.
postgresql_plugin_src() {
  if [ -n "${PGSHIFT_POSTGRESQL_PLUGIN_SRC:-}" ]; then
    printf '%s\n' "$PGSHIFT_POSTGRESQL_PLUGIN_SRC"
  elif [ -f "$POSTGRESQL_SRC_DEFAULT" ]; then
    printf '%s\n' "$(cd "$(dirname "$POSTGRESQL_SRC_DEFAULT")" && pwd)/$(basename "$POSTGRESQL_SRC_DEFAULT")"
  fi
}

build_postgresql_plugin() {
  stamp_ok "$tc/plugins/pulumi-resource-postgresql" "$POSTGRESQL_VERSION" && return 0
  mkdir -p "$tc/plugins"
  local log="$logs/pulumi-resource-postgresql.log" tarball sum src="$tc/src/postgresql-provider" p
  : >"$log"
  tarball="$(postgresql_plugin_src)"
  if [ -z "$tarball" ]; then
    say "no source for the postgresql plugin: set PGSHIFT_POSTGRESQL_PLUGIN_SRC to pulumi-postgresql-$POSTGRESQL_VERSION-src.tar.gz (pulumi-postgresql v$POSTGRESQL_VERSION's provider/ and patches/ with the terraform-provider-postgresql commit it pins)"
    return 1
  fi
  if [ ! -f "$tarball" ]; then
    say "PGSHIFT_POSTGRESQL_PLUGIN_SRC is $tarball, which is not a file"
    return 1
  fi
  sum="$(sha256sum "$tarball" | cut -d' ' -f1)"
  if [ "$sum" != "$POSTGRESQL_SRC_SHA256" ]; then
    say "$tarball has sha256 $sum, expected $POSTGRESQL_SRC_SHA256 (pulumi-postgresql v$POSTGRESQL_VERSION): refusing to build it"
    return 1
  fi
  # As pulumi-postgresql's own Makefile does: Pulumi's patches on the upstream
  # provider (its module path), then the schema the binary embeds, then the build
  # (provider/go.mod replaces the upstream module with ../upstream).
  if [ ! -f "$src/provider/cmd/pulumi-resource-postgresql/schema-embed.json" ] || [ "$(cat "$src/.source-sha256" 2>/dev/null)" != "$sum" ]; then
    say "unpacking $tarball, patching it and generating its schema (log: $log)"
    command -v patch >/dev/null 2>&1 || { say "building the postgresql plugin needs \`patch\` (to apply Pulumi's patches/): install it and run this again"; return 1; }
    rm -rf "$src" && mkdir -p "$src"
    tar -xzf "$tarball" -C "$src" --strip-components=1 >>"$log" 2>&1 || { say "unpacking $tarball failed (log: $log)"; return 1; }
    for p in "$src"/patches/*.patch; do
      [ -f "$p" ] || continue
      (cd "$src/upstream" && patch -p1 <"$p") >>"$log" 2>&1 || { say "applying $(basename "$p") failed (log: $log)"; return 1; }
    done
    (cd "$src/provider/cmd/pulumi-resource-postgresql" && VERSION="$POSTGRESQL_VERSION" GOFLAGS=-mod=readonly go run generate.go) >>"$log" 2>&1 || {
      say "generating the postgresql provider's schema failed; last lines of $log:"; tail -n 15 "$log" >&2; return 1; }
    echo "$sum" >"$src/.source-sha256"
  fi
  go_build "$src/provider" "$tc/plugins/pulumi-resource-postgresql" \
    "-X github.com/pulumi/pulumi-postgresql/provider/v3/pkg/version.Version=$POSTGRESQL_VERSION" \
    ./cmd/pulumi-resource-postgresql || return 1
  echo "$POSTGRESQL_VERSION" >"$tc/plugins/pulumi-resource-postgresql.version"
}

# How long a cold build takes on two cores, measured on a fresh clone: the whole
# engine 1093 s, of which the kubernetes plugin 762 s.
build_estimate() {
  case "$1" in
    kubernetes) echo "about 13 minutes" ;;
    postgresql) echo "up to 40 minutes (measured: 38 minutes at load 25)" ;;
    *) echo "a few minutes" ;;
  esac
}

# With the user's CLI: the plugin from the project's earlier build, the user's
# plugin cache, `pulumi plugin install`, and only then a Go build.
provide_plugin() { # <name> <version>
  local name="$1" version="$2" cached why t0
  plugin_ready "$name" "$version" && return 0
  if stamp_ok "$tc/plugins/pulumi-resource-$name" "$version"; then
    install_plugin "$name" "$version" "$tc/plugins/pulumi-resource-$name"
    return 0
  fi
  cached="$user_plugins/resource-$name-v$version/pulumi-resource-$name"
  if [ -n "$user_plugins" ] && [ -x "$cached" ]; then
    say "plugin $name $version: from your plugin cache ($cached)"
    install_plugin "$name" "$version" "$cached"
    return 0
  fi
  t0=$(date +%s)
  if timeout 600 "$bin/pulumi" plugin install resource "$name" "$version" --non-interactive >"$logs/plugin-install-$name.log" 2>&1 \
    && plugin_ready "$name" "$version"; then
    say "plugin $name $version: installed by pulumi plugin install in $(( $(date +%s) - t0 ))s"
    return 0
  fi
  why="$(grep -m1 -i 'error' "$logs/plugin-install-$name.log" || tail -n1 "$logs/plugin-install-$name.log")"
  if [ "${PGSHIFT_BUILD_FROM_GO:-auto}" = never ]; then
    why="$why; building from Go is switched off (PGSHIFT_BUILD_FROM_GO=never)"
  elif ! find_go; then
    why="$why; Go is not installed to build it"
  elif [ "$name" = postgresql ] && [ -z "$(postgresql_plugin_src)" ]; then
    why="$why; there is no source tarball to build it from (PGSHIFT_POSTGRESQL_PLUGIN_SRC is not set and $POSTGRESQL_SRC_DEFAULT does not exist)"
  else
    say "plugin $name $version is not in your plugin cache and pulumi plugin install failed ($why):"
    if [ "$name" = postgresql ]; then
      say "building it from the source tarball $(postgresql_plugin_src) and Go modules instead, $(build_estimate "$name") on two cores when Go's caches are cold"
    else
      say "building it from Go modules instead, $(build_estimate "$name") on two cores when Go's caches are cold"
    fi
    if "build_${name}_plugin"; then
      install_plugin "$name" "$version" "$tc/plugins/pulumi-resource-$name"
      return 0
    fi
    why="the Go build failed too (log: $logs/pulumi-resource-$name.log)"
  fi
  cat >&2 <<EOF
[setup] The Pulumi plugin $name $version is missing and could not be installed: $why.
[setup] Install it with:
[setup]     pulumi plugin install resource $name $version
[setup] then run this again.
EOF
  return 1
}

# A pinned build set aside while the user's CLI is linked, so that switching
# back (the user's CLI removed or too old) costs no rebuild.
set_pinned_aside() {
  local f
  for f in pulumi pulumi-language-nodejs; do
    if [ -f "$bin/$f" ] && [ ! -L "$bin/$f" ]; then
      mkdir -p "$tc/pinned"
      mv -f "$bin/$f" "$tc/pinned/$f"
      mv -f "$bin/$f.version" "$tc/pinned/$f.version" 2>/dev/null || true
    fi
  done
}

forget_user_pulumi() {
  local f
  [ -f "$bin/pulumi.source" ] || return 0
  rm -f "$bin/pulumi.source"
  for f in pulumi pulumi-language-nodejs; do
    rm -f "$bin/$f" "$bin/$f.version"
    if [ -x "$tc/pinned/$f" ]; then
      mv -f "$tc/pinned/$f" "$bin/$f"
      mv -f "$tc/pinned/$f.version" "$bin/$f.version" 2>/dev/null || true
    fi
  done
}

link_node_shims
user=()
[ "$force" = true ] || mapfile -t user < <(usable_user_pulumi)
if [ "${#user[@]}" -eq 3 ]; then
  # The user's own install: link it where scripts/env.sh looks; build nothing of it.
  if [ "$(cat "$bin/pulumi.source" 2>/dev/null)" != "${user[0]}" ]; then
    say "using the Pulumi ${user[1]} installed at ${user[0]} (and its language host ${user[2]})"
  fi
  set_pinned_aside
  ln -sfn "${user[0]}" "$bin/pulumi"
  ln -sfn "${user[2]}" "$bin/pulumi-language-nodejs"
  echo "${user[1]}" >"$bin/pulumi.version"
  echo "${user[1]}" >"$bin/pulumi-language-nodejs.version"
  echo "${user[0]}" >"$bin/pulumi.source"
  provide_plugin kubernetes "$KUBERNETES_VERSION" || exit 1
  provide_plugin command "$COMMAND_VERSION" || exit 1
  provide_plugin postgresql "$POSTGRESQL_VERSION" || exit 1
else
  # The offline path: no usable Pulumi on PATH, so build the pinned engine.
  forget_user_pulumi
  if ! stamp_ok "$bin/pulumi" "$PULUMI_VERSION" || ! stamp_ok "$bin/pulumi-language-nodejs" "$LANGUAGE_HOST_VERSION" \
    || ! stamp_ok "$tc/plugins/pulumi-resource-kubernetes" "$KUBERNETES_VERSION" \
    || ! stamp_ok "$tc/plugins/pulumi-resource-command" "$COMMAND_VERSION"; then
    find_go || no_go
    say "no Pulumi v$(sdk_version) or newer on PATH: building the pinned engine ($PULUMI_VERSION) from Go modules (a cold build takes about 20 minutes on two cores)"
  fi
  build_pulumi || { say "building the Pulumi CLI failed: see $logs/"; exit 1; }
  build_command_plugin || { say "building the command plugin failed: see $logs/pulumi-resource-command.log"; exit 1; }
  build_kubernetes_plugin || { say "building the kubernetes plugin failed: see $logs/pulumi-resource-kubernetes.log"; exit 1; }
  install_plugin kubernetes "$KUBERNETES_VERSION" "$tc/plugins/pulumi-resource-kubernetes"
  install_plugin command "$COMMAND_VERSION" "$tc/plugins/pulumi-resource-command"
  # No Go module serves the postgresql plugin: the same order as with the user's
  # CLI (plugin cache, `pulumi plugin install` with the CLI just built, then the
  # source tarball), so a machine that can download it never builds it.
  provide_plugin postgresql "$POSTGRESQL_VERSION" || exit 1
fi

# Extra toolchain pieces (the test Kubernetes API server) live in their own script.
if [ -f "$root/toolchain/setup-kube.sh" ] && [ "${PGSHIFT_SKIP_KUBE:-}" != 1 ]; then
  bash "$root/toolchain/setup-kube.sh"
fi

say "toolchain ready in $(( $(date +%s) - started ))s: pulumi $("$bin/pulumi" version) with kubernetes $KUBERNETES_VERSION, command $COMMAND_VERSION and postgresql $POSTGRESQL_VERSION (PULUMI_HOME=$PULUMI_HOME)"
