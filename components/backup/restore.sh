#!/bin/sh
# Restores a dump made by backup.sh into the database named by PGDATABASE (and
# the other libpq variables). Usage: restore.sh <file.dump | latest>
#
# The dump is checked first; objects are recreated with --clean --if-exists in
# one transaction, so a failed restore leaves the database as it was.
set -eu
: "${PGDATABASE:?PGDATABASE is not set}"
BACKUP_DIR="${BACKUP_DIR:-/backups}"
dump="${1:?usage: restore.sh <file.dump | latest>}"
[ "$dump" = "latest" ] && dump="$BACKUP_DIR/latest.dump"
[ -r "$dump" ] || { echo "[restore] ERROR: cannot read $dump" >&2; exit 2; }
pg_restore --list "$dump" >/dev/null || { echo "[restore] ERROR: $dump is not a readable dump" >&2; exit 1; }
echo "[restore] restoring $dump into $PGDATABASE on ${PGHOST:-local socket}"
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error --no-password --dbname="$PGDATABASE" "$dump"
echo "[restore] done"
