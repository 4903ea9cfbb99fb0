#!/bin/sh
# The database image's entrypoint, following the official `postgres` image's
# documented contract so the same manifests serve postgres:16-alpine:
# POSTGRES_PASSWORD / POSTGRES_PASSWORD_FILE, POSTGRES_USER (default postgres),
# POSTGRES_DB (default: the user), PGDATA, POSTGRES_INITDB_ARGS,
# POSTGRES_HOST_AUTH_METHOD, /docker-entrypoint-initdb.d/*.sh|*.sql, and
# `postgres` as the command (arguments starting with - are passed to it).
# Runs as whatever non-root uid the pod sets; PGDATA's parent must be writable.
set -eu

file_env() { # <var>: VAR or VAR_FILE, not both
  var="$1"; fvar="${1}_FILE"
  eval "val=\${$var:-}"; eval "fval=\${$fvar:-}"
  if [ -n "$val" ] && [ -n "$fval" ]; then echo "error: both $var and $fvar are set" >&2; exit 1; fi
  if [ -n "$fval" ]; then val="$(cat "$fval")"; fi
  export "$var"="$val"
  unset "$fvar"
}

if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  echo "error: this image does not run PostgreSQL as root; set runAsUser (e.g. 999)" >&2
  exit 1
fi

if [ "$1" = postgres ]; then
  : "${PGDATA:=/var/lib/postgresql/data}"
  export PGDATA
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA" 2>/dev/null || true
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    : "${POSTGRES_USER:=postgres}"
    : "${POSTGRES_DB:=$POSTGRES_USER}"
    if [ -z "$POSTGRES_PASSWORD" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
      echo "error: database is uninitialized and POSTGRES_PASSWORD is not set (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
      exit 1
    fi
    pwfile="$(mktemp)"
    printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=scram-sha-256 --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    # A temporary server on the socket only, for the database and init scripts.
    sockdir="$(mktemp -d)"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=$sockdir" start >/dev/null
    export PGPASSWORD="$POSTGRES_PASSWORD"
    psql_() { psql -v ON_ERROR_STOP=1 --no-psqlrc -h "$sockdir" -U "$POSTGRES_USER" "$@"; }
    if [ "$POSTGRES_DB" != postgres ]; then
      psql_ -d postgres -q -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    fi
    for f in /docker-entrypoint-initdb.d/*; do
      [ -e "$f" ] || continue
      case "$f" in
        *.sh) echo "running $f"; . "$f" ;;
        *.sql) echo "running $f"; psql_ -d "$POSTGRES_DB" -q -f "$f" ;;
        *) echo "ignoring $f" ;;
      esac
    done
    unset PGPASSWORD
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    rmdir "$sockdir" 2>/dev/null || true
    echo "PostgreSQL init process complete; ready for start up."
  fi
  unset POSTGRES_PASSWORD
fi

exec "$@"
