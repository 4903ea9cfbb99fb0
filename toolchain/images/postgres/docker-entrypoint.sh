#!/bin/sh
# pgshift's entrypoint for the local PostgreSQL image (pgshift.local/postgres:15).
#
# It follows the contract the official `postgres` image documents, so that the
# manifests written for postgres:16-alpine run unchanged on this image:
#   POSTGRES_PASSWORD (required for a new database), POSTGRES_USER (default
#   postgres), POSTGRES_DB (default: the user's name), each also as ..._FILE;
#   PGDATA; POSTGRES_INITDB_ARGS (+ _FILE); POSTGRES_INITDB_WALDIR;
#   POSTGRES_HOST_AUTH_METHOD; /docker-entrypoint-initdb.d/*.sh (run when
#   executable, sourced otherwise), *.sql, *.sql.gz, *.sql.xz, run once against
#   a server that listens on no TCP address; arguments starting with "-" go to
#   `postgres`; any other command runs as given.
# It runs as any uid: with a uid that has no /etc/passwd entry, initdb gets one
# from nss_wrapper, as in the official image. As root it steps down to postgres.
# Written for busybox sh: the image has no bash.
set -eu

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# VAR_FILE (a mounted secret) instead of VAR; both set is ambiguous.
file_env() { # <var> [default]
  var="$1"
  eval "val=\${$var:-} file=\${${var}_FILE:-}"
  if [ -n "$val" ] && [ -n "$file" ]; then die "both $var and ${var}_FILE are set; set one"; fi
  if [ -n "$file" ]; then
    [ -r "$file" ] || die "${var}_FILE names $file, which cannot be read"
    val="$(cat "$file")"
  fi
  [ -n "$val" ] || val="${2:-}"
  export "$var=$val"
  unset "${var}_FILE" || true
}

# One shell word per argument, for pg_ctl -o (which hands its options to a shell).
quote_args() {
  out=""
  for a in "$@"; do
    out="$out '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
  done
  printf '%s' "$out"
}

setup_env() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
  DATABASE_ALREADY_EXISTS=""
  [ -s "$PGDATA/PG_VERSION" ] && DATABASE_ALREADY_EXISTS=true
  return 0
}

create_directories() {
  mkdir -p "$PGDATA" || die "cannot create PGDATA $PGDATA as uid $(id -u): mount a volume there that this uid (or its fsGroup) can write"
  # initdb refuses a group- or world-readable PGDATA; a volume root we do not own may refuse the chmod, which initdb reports.
  chmod 700 "$PGDATA" 2>/dev/null || true
  mkdir -p /var/run/postgresql 2>/dev/null || true
  chmod 3777 /var/run/postgresql 2>/dev/null || true
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    chmod 700 "$POSTGRES_INITDB_WALDIR" 2>/dev/null || true
  fi
  if [ "$(id -u)" = 0 ]; then
    find "$PGDATA" /var/run/postgresql ${POSTGRES_INITDB_WALDIR:+"$POSTGRES_INITDB_WALDIR"} \! -user 999 -exec chown 999:999 {} +
  fi
}

verify_minimum_env() {
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    die "the database is uninitialized and no superuser password is set. Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value, or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one (not recommended)."
  fi
}

init_database_dir() {
  uid="$(id -u)"
  if ! grep -q "^[^:]*:[^:]*:$uid:" /etc/passwd; then
    # initdb looks its own uid up in the passwd database and stops when it is missing.
    for wrapper in /usr/lib/x86_64-linux-gnu/libnss_wrapper.so /usr/lib/libnss_wrapper.so /lib/libnss_wrapper.so; do
      if [ -s "$wrapper" ]; then
        # A read-only root filesystem has no writable /tmp; the socket directory must be writable anyway.
        NSS_WRAPPER_PASSWD="$(mktemp 2>/dev/null || mktemp -p /var/run/postgresql)"
        NSS_WRAPPER_GROUP="$(mktemp 2>/dev/null || mktemp -p /var/run/postgresql)"
        export LD_PRELOAD="$wrapper" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
        gid="$(id -g)"
        printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$uid" "$gid" "$PGDATA" >"$NSS_WRAPPER_PASSWD"
        printf 'postgres:x:%s:\n' "$gid" >"$NSS_WRAPPER_GROUP"
        break
      fi
    done
  fi
  [ -n "${POSTGRES_INITDB_WALDIR:-}" ] && POSTGRES_INITDB_ARGS="--waldir '$POSTGRES_INITDB_WALDIR' $POSTGRES_INITDB_ARGS"
  # The password goes through a pipe, never a file or the command line.
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as in the official image
  printf '%s\n' "$POSTGRES_PASSWORD" | eval "initdb --username=\"\$POSTGRES_USER\" --pwfile=/dev/stdin $POSTGRES_INITDB_ARGS"
  if [ -n "${LD_PRELOAD:-}" ] && [ -n "${NSS_WRAPPER_PASSWD:-}" ]; then
    rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
    unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  fi
}

setup_hba_conf() {
  # What the official image appends: any TCP client, with a password (or trust when asked).
  {
    printf '\n'
    [ "$POSTGRES_HOST_AUTH_METHOD" = trust ] && printf '# warning trust is enabled for all connections\n'
    printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
  } >>"$PGDATA/pg_hba.conf"
}

process_sql() { # [psql args...]
  PGHOST='' PGHOSTADDR='' psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

temp_server_start() { # <postgres args...>
  # No TCP address: nothing outside the container can connect while the init scripts run.
  PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -w start -o "$(quote_args "$@" -c listen_addresses= -p "${PGPORT:-5432}")"
}

temp_server_stop() {
  PGUSER="${PGUSER:-postgres}" pg_ctl -D "$PGDATA" -m fast -w stop
}

setup_db() {
  [ "$POSTGRES_DB" = postgres ] && return 0
  exists="$(process_sql --dbname postgres -tA -v db="$POSTGRES_DB" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db';
SQL
)"
  if [ -z "$exists" ]; then
    process_sql --dbname postgres -v db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
    log "created database $POSTGRES_DB"
  fi
}

process_init_files() {
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then log "running $f"; "$f"
        else log "sourcing $f"; . "$f"; fi ;;
      *.sql) log "running $f"; process_sql --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | process_sql --dbname "$POSTGRES_DB" ;;
      *.sql.xz) log "running $f"; xzcat "$f" | process_sql --dbname "$POSTGRES_DB" ;;
      *) log "ignoring $f" ;;
    esac
  done
}

wants_help() {
  for arg in "$@"; do
    case "$arg" in -'?'|--help|--describe-config|-V|--version) return 0 ;; esac
  done
  return 1
}

main() {
  # `docker run image -c foo=bar`: options are postgres's.
  case "${1:-}" in -*) set -- postgres "$@" ;; esac
  if [ "${1:-}" != postgres ] || wants_help "$@"; then
    exec "$@"
  fi
  setup_env
  create_directories
  if [ "$(id -u)" = 0 ]; then
    # The official image steps down with gosu; toolchain/images/setuid does the same.
    exec setuid 999:999 "$0" "$@"
  fi
  if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
    verify_minimum_env
    init_database_dir
    setup_hba_conf
    # psql needs it when 'local' connections require a password (--auth-local=scram-sha-256).
    export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
    shift
    temp_server_start "$@"
    set -- postgres "$@"
    setup_db
    process_init_files
    temp_server_stop
    unset PGPASSWORD
    log "PostgreSQL init process complete; ready for start up."
  else
    log "PostgreSQL database directory appears to contain a database; skipping initialization"
  fi
  exec "$@"
}

main "$@"
