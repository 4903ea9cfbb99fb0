#!/usr/bin/env bash
# Builds the local cluster's container images without a registry or a Docker
# engine: each is a root filesystem assembled from this machine's Debian
# packages (binaries plus the shared libraries ldd names), packed as an OCI
# image layout tarball that `ctr images import` takes. Cached by content hash:
# a tarball is rebuilt only when what goes into it changed.
#
#   pgshift.local/pause:3.10                the pod sandbox (pause.c, static)
#   pgshift.local/app:busybox               the app stand-in: busybox + sqlite3 CLI
#   pgshift.local/postgres:15               Debian's PostgreSQL 15 + docker-entrypoint.sh
#   pgshift.local/postgres-exporter:debian  Debian's prometheus-postgres-exporter
#
# Writes .toolchain/images/manifest.json: {"<ref>": "<tarball>"}.
set -euo pipefail
shopt -s inherit_errexit

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/.toolchain/images"
mkdir -p "$out"
say() { printf '[images] %s\n' "$*" >&2; }

PG=15
PACKAGES=(busybox-static sqlite3 "postgresql-$PG" "postgresql-client-$PG" prometheus-postgres-exporter gcc libc6-dev)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing ${missing[*]} from Debian"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null
fi

# Copies binaries and every shared library they load into a root filesystem.
with_libs() { # <rootfs> <file>...
  local rootfs="$1"; shift
  local f lib
  for f in "$@"; do
    mkdir -p "$rootfs$(dirname "$f")"
    cp -aL "$f" "$rootfs$f"
    for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
      [ -e "$rootfs$lib" ] && continue
      mkdir -p "$rootfs$(dirname "$lib")"
      cp -aL "$lib" "$rootfs$lib"
    done
  done
}

busybox_base() { # <rootfs>: /bin/sh and the usual tools, /tmp, /etc/passwd
  local rootfs="$1" applet
  mkdir -p "$rootfs/bin" "$rootfs/usr/bin" "$rootfs/tmp" "$rootfs/etc"
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  # Names for the uids the manifests and the official images use (postgres is 999 in
  # Debian's image, 70 in Alpine's); PostgreSQL looks its own user up.
  cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh
postgres70:x:70:70:PostgreSQL (Alpine uid):/var/lib/postgresql:/bin/sh
app:x:1000:1000:app:/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
  cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
postgres:x:999:
postgres70:x:70:
app:x:1000:
nogroup:x:65534:
GROUP
}

# Packs <rootfs> as an OCI image layout tarball for <ref>; <config-json> is the
# image config's "config" object (Entrypoint, Cmd, Env, User, WorkingDir).
pack() { # <rootfs> <ref> <config-json> <tarball>
  local rootfs="$1" ref="$2" cfg="$3" tarball="$4" work
  work="$(mktemp -d)"
  mkdir -p "$work/layout/blobs/sha256"
  # Reproducible layer: sorted, fixed times and owners.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$work/layer.tar" .
  local diff size config cdigest csize manifest mdigest msize
  diff=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  size=$(stat -c %s "$work/layer.tar")
  mv "$work/layer.tar" "$work/layout/blobs/sha256/$diff"
  config=$(printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"pgshift toolchain/images/build.sh"}]}' "$cfg" "$diff")
  cdigest=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
  csize=$(printf '%s' "$config" | wc -c)
  printf '%s' "$config" >"$work/layout/blobs/sha256/$cdigest"
  manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$cdigest" "$csize" "$diff" "$size")
  mdigest=$(printf '%s' "$manifest" | sha256sum | cut -d' ' -f1)
  msize=$(printf '%s' "$manifest" | wc -c)
  printf '%s' "$manifest" >"$work/layout/blobs/sha256/$mdigest"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$mdigest" "$msize" "$ref" "${ref##*:}" >"$work/layout/index.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/layout" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  rm -rf "$work"
}

# What goes into an image, as text: its recipe (this script and its inputs)
# and the versions of the packages it copies from. The tarball's name carries
# the hash, so a changed input means a new build and an unchanged one none.
inputs_hash() { # <name> <packages...>
  local name="$1"; shift
  { cat "$here/build.sh" "$here/pause.c" "$here/docker-entrypoint.sh"; echo "$name"; dpkg-query -W "$@" 2>/dev/null; } | sha256sum | cut -c1-16
}

declare -A built=()
image() { # <name> <ref> <recipe function> <packages...>
  local name="$1" ref="$2" recipe="$3"; shift 3
  local hash tarball rootfs t0
  hash=$(inputs_hash "$name" "$@")
  tarball="$out/$name-$hash.tar"
  if [ ! -s "$tarball" ]; then
    t0=$(date +%s)
    rootfs="$(mktemp -d)"
    local cfg
    cfg=$("$recipe" "$rootfs")
    pack "$rootfs" "$ref" "$cfg" "$tarball"
    rm -rf "$rootfs"
    # Older builds of the same image are not needed any more.
    find "$out" -maxdepth 1 -name "$name-*.tar" ! -name "$name-$hash.tar" -delete
    say "built $ref ($(du -h "$tarball" | cut -f1)) in $(( $(date +%s) - t0 ))s"
  fi
  built[$ref]="$tarball"
}

recipe_pause() {
  mkdir -p "$1"
  gcc -static -O2 -s -o "$1/pause" "$here/pause.c"
  echo '{"Entrypoint":["/pause"],"User":"65535:65535"}'
}

recipe_app() {
  busybox_base "$1"
  with_libs "$1" /usr/bin/sqlite3
  mkdir -p "$1/app"
  echo '{"Entrypoint":["/bin/sh","-c"],"Cmd":["sleep 2147483647"],"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"WorkingDir":"/app"}'
}

recipe_postgres() {
  local r="$1" bindir="/usr/lib/postgresql/$PG/bin" b
  busybox_base "$r"
  for b in postgres initdb pg_ctl pg_isready psql pg_dump pg_dumpall pg_restore pg_basebackup; do
    with_libs "$r" "$bindir/$b"
    ln -sf "$bindir/$b" "$r/usr/bin/$b"
  done
  # initdb's and the server's data files (postgres.bki, extensions, timezone sets);
  # Debian builds with the system's zoneinfo.
  mkdir -p "$r/usr/share/postgresql" "$r/usr/share/zoneinfo" "$r/usr/lib/postgresql/$PG/lib"
  cp -a "/usr/share/postgresql/$PG" "$r/usr/share/postgresql/"
  cp -a /usr/share/zoneinfo/. "$r/usr/share/zoneinfo/"
  # Server modules (PL/pgSQL, encodings, contrib), without the LLVM JIT: it would
  # bring 100 MB of LLVM, and jit is off unless configured.
  cp -a "/usr/lib/postgresql/$PG/lib/." "$r/usr/lib/postgresql/$PG/lib/"
  rm -rf "$r/usr/lib/postgresql/$PG/lib/"llvmjit* "$r/usr/lib/postgresql/$PG/lib/bitcode"
  for lib in "$r/usr/lib/postgresql/$PG/lib/"*.so; do with_libs "$r" "${lib#"$r"}"; done
  # As in the official image: the socket directory exists and anyone may use it.
  mkdir -p "$r/var/run/postgresql" "$r/var/lib/postgresql/data" "$r/docker-entrypoint-initdb.d" "$r/usr/local/bin"
  chmod 3777 "$r/var/run/postgresql"
  chmod 777 "$r/var/lib/postgresql/data"
  install -m 755 "$here/docker-entrypoint.sh" "$r/usr/local/bin/docker-entrypoint.sh"
  ln -s usr/local/bin/docker-entrypoint.sh "$r/docker-entrypoint.sh"
  echo '{"Entrypoint":["docker-entrypoint.sh"],"Cmd":["postgres"],"Env":["PATH=/usr/local/bin:/usr/lib/postgresql/'"$PG"'/bin:/usr/bin:/bin","PGDATA=/var/lib/postgresql/data","LANG=C.UTF-8"],"User":"999","StopSignal":"SIGINT"}'
}

recipe_exporter() {
  busybox_base "$1"
  with_libs "$1" /usr/bin/prometheus-postgres-exporter
  ln -s prometheus-postgres-exporter "$1/usr/bin/postgres_exporter"
  echo '{"Entrypoint":["/usr/bin/prometheus-postgres-exporter"],"User":"65534:65534","ExposedPorts":{"9187/tcp":{}}}'
}

image pause pgshift.local/pause:3.10 recipe_pause gcc libc6-dev
image app pgshift.local/app:busybox recipe_app busybox-static sqlite3 libsqlite3-0
image postgres "pgshift.local/postgres:$PG" recipe_postgres busybox-static "postgresql-$PG" "postgresql-client-$PG" libpq5 tzdata
image postgres-exporter pgshift.local/postgres-exporter:debian recipe_exporter busybox-static prometheus-postgres-exporter

{
  echo "{"
  first=true
  for ref in "${!built[@]}"; do
    $first || echo ","
    first=false
    printf '  "%s": "%s"' "$ref" "${built[$ref]}"
  done
  echo
  echo "}"
} >"$out/manifest.json.partial"
mv "$out/manifest.json.partial" "$out/manifest.json"
say "images ready: ${!built[*]}"
