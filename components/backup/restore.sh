#!/bin/sh
# Restores a dump made by backup.sh into the database named by PGDATABASE (and
# the other libpq variables). Usage: restore.sh <file.dump | latest>
#
# The dump is checked first (its stored SHA-256 when there is one, then a full
# read with pg_restore); objects are recreated with --clean --if-exists in one
# transaction, so a failed restore leaves the database as it was.
# Exit codes: 0 restored; 1 the dump is damaged or the restore failed; 2 bad usage.
set -eu
[ -n "${PGDATABASE:-}" ] || { echo "[restore] ERROR: PGDATABASE is not set" >&2; exit 2; }
BACKUP_DIR="${BACKUP_DIR:-/backups}"
dump="${1:-}"
[ -n "$dump" ] || { echo "usage: restore.sh <file.dump | latest>" >&2; exit 2; }
[ "$dump" = "latest" ] && dump="$BACKUP_DIR/latest.dump"
[ -r "$dump" ] || { echo "[restore] ERROR: cannot read $dump" >&2; exit 2; }
real=$(readlink -f "$dump")
if [ -e "$real.sha256" ]; then
  (cd "$(dirname "$real")" && sha256sum -c "$(basename "$real").sha256" >/dev/null 2>&1) ||
    { echo "[restore] ERROR: $real does not match its stored checksum; pick another dump" >&2; exit 1; }
else
  echo "[restore] no checksum file next to $real; relying on pg_restore's own checks"
fi
pg_restore --file=/dev/null "$real" || { echo "[restore] ERROR: $real does not restore (damaged or not a dump); nothing was changed" >&2; exit 1; }
echo "[restore] restoring $real into $PGDATABASE on ${PGHOST:-the local socket}"
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error --no-password --dbname="$PGDATABASE" "$real"
echo "[restore] done"
