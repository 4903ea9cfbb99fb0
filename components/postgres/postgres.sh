#!/bin/sh
# Put first on the database container's PATH as `postgres`. The image's
# entrypoint reads the superuser password from POSTGRES_PASSWORD_FILE, exports
# it as POSTGRES_PASSWORD for initdb, and then execs `postgres` with it still
# in the environment, where /proc/<pid>/environ and every child process (an
# archive_command, a COPY … PROGRAM) can read it. This drops it and execs the
# real server, the next `postgres` on PATH.
unset POSTGRES_PASSWORD PGPASSWORD
self_dir=$(cd "$(dirname "$0")" && pwd)
real=""
IFS=:
for d in $PATH; do
  [ "$d" = "$self_dir" ] && continue
  if [ -x "$d/postgres" ]; then real="$d/postgres"; break; fi
done
unset IFS
[ -n "$real" ] || { echo "postgres.sh: no postgres binary on PATH besides $self_dir" >&2; exit 127; }
exec "$real" "$@"
