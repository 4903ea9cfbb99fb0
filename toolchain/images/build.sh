#!/usr/bin/env bash
# Builds the local cluster's images without a registry (docs/images.md):
# the pause sandbox, a busybox app stand-in, Debian's PostgreSQL 15 with the
# project's entrypoint, and Debian's postgres exporter, each as an OCI layout
# tarball under the git-ignored .toolchain/images/, plus
# .toolchain/images/manifest.json = {"<ref>": "<path to .tar>"}. Each tarball
# is named by its content hash; a warm run writes nothing.
#
#   bash toolchain/images/build.sh            build what changed
#   bash toolchain/images/build.sh --force    rewrite every tarball
#   bash toolchain/images/build.sh <ref>...   only these images
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out="${PGSHIFT_IMAGES_DIR:-$root/.toolchain/images}"
say() { printf '[images] %s\n' "$*" >&2; }
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

# Everything in the images comes from these Debian packages on this machine.
packages=(busybox-static dash sqlite3 netcat-openbsd postgresql-15 postgresql-client-15 libnss-wrapper prometheus-postgres-exporter)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "the images are made from Debian packages that are not installed: ${missing[*]}"
    say "run as root: apt-get install -y ${missing[*]}   (then run this again)"
    exit 2
  fi
  say "installing Debian packages the images are made from: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi

if ! command -v go >/dev/null 2>&1; then
  say "Go is needed to build the pause and setuid programs (toolchain/images/pause, toolchain/images/setuid); install Go 1.26 or newer"
  exit 2
fi
mkdir -p "$out/work"
# Static and reproducible (-trimpath, no build id): the same source gives the same image digest.
for tool in pause setuid; do
  (cd "$root/toolchain/images/$tool" && CGO_ENABLED=0 GOFLAGS= go build -trimpath -ldflags "-s -w -buildid=" -o "$out/work/$tool.partial" main.go)
  mv "$out/work/$tool.partial" "$out/work/$tool"
done

[ -d "$root/node_modules/tsx" ] || { say "node_modules is missing: running npm ci first"; npm ci --no-audit --no-fund; }
PGSHIFT_IMAGES_DIR="$out" PGSHIFT_TOOLS_DIR="$out/work" node --import tsx "$root/toolchain/images/build.ts" "$@"
