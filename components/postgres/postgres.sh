#!/bin/sh
# Put first on the database container's PATH as `postgres`. The image's
# entrypoint reads the superuser password from POSTGRES_PASSWORD_FILE, exports
# it as POSTGRES_PASSWORD for initdb, and then execs `postgres` with it still
# in the environment, where /proc/<pid>/environ and every child process (an
# archive_command, a COPY … PROGRAM) can read it. This drops it and execs the
# real server: the next `postgres` on PATH that is not this script. Shell
# built-ins only, so a missing tool cannot turn it into a loop.
unset POSTGRES_PASSWORD PGPASSWORD
if [ -n "${PGSHIFT_POSTGRES_SHIM:-}" ]; then
  echo "postgres.sh: called itself; the real postgres must come later on PATH" >&2
  exit 127
fi
case "$0" in */*) self_dir=${0%/*} ;; *) self_dir=. ;; esac
real=""
IFS=:
for d in $PATH; do
  [ "$d" = "$self_dir" ] && continue
  if [ -x "$d/postgres" ]; then real="$d/postgres"; break; fi
done
unset IFS
[ -n "$real" ] || { echo "postgres.sh: no postgres binary on PATH besides $self_dir" >&2; exit 127; }
PGSHIFT_POSTGRES_SHIM=1 exec "$real" "$@"
