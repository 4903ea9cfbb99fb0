#!/bin/sh
# Restores a dump made by backup.sh into the database named by PGDATABASE (and
# the other libpq variables). Usage: restore.sh [--unverified] [--] <file.dump | latest>
#
# The dump must match the SHA-256 that backup.sh stored beside it
# (<file.dump>.sha256): the digest of the very file restored is computed and
# compared with the first field of that file (`sha256sum -c` would check
# whichever file the .sha256 names). pg_restore's own checks do not replace
# it: a changed table of contents (a column type, a default) reads back fine.
# A dump without a checksum file is refused unless --unverified says to
# restore it anyway. Then it is read in full with pg_restore, and objects are
# recreated with --clean --if-exists in one transaction, so a failed restore
# leaves the database as it was.
# Exit codes: 0 restored; 1 the dump is damaged or the restore failed; 2 bad
# usage or no checksum to check against.
set -eu
usage() { echo "usage: restore.sh [--unverified] <file.dump | latest>" >&2; exit 2; }
unverified=0
while [ $# -gt 0 ]; do
  case "$1" in
    --unverified) unverified=1; shift ;;
    --) shift; break ;;
    -*) echo "[restore] ERROR: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage
[ -n "${PGDATABASE:-}" ] || { echo "[restore] ERROR: PGDATABASE is not set" >&2; exit 2; }
BACKUP_DIR="${BACKUP_DIR:-/backups}"
dump="$1"
[ -n "$dump" ] || usage
[ "$dump" = "latest" ] && dump="$BACKUP_DIR/latest.dump"
case "$dump" in -*) dump="./$dump" ;; esac
[ -r "$dump" ] || { echo "[restore] ERROR: cannot read $dump" >&2; exit 2; }
real=$(readlink -f "$dump")
[ -f "$real" ] || { echo "[restore] ERROR: $real is not a regular file" >&2; exit 2; }

# Every read below (the digest, the full check, the restore) is of the file
# opened here, even if something renames another file into its place meanwhile.
exec 3<"$real"
src=/proc/self/fd/3
[ -r "$src" ] || src="$real" # no /proc: the resolved path, checked just the same

if [ -f "$real.sha256" ]; then
  expected=""
  read -r expected _ <"$real.sha256" 2>/dev/null || true
  case "$expected" in *[!0123456789abcdef]*) expected="" ;; esac
  [ "${#expected}" = 64 ] || { echo "[restore] ERROR: $real.sha256 holds no SHA-256 (64 hex digits first); pick another dump" >&2; exit 1; }
  actual=$(sha256sum <&3 | cut -d' ' -f1)
  [ "$actual" = "$expected" ] ||
    { echo "[restore] ERROR: $real does not match its stored checksum ($real.sha256); it is damaged or not the dump backup.sh wrote. Nothing was changed; pick another dump" >&2; exit 1; }
  echo "[restore] $real matches its stored SHA-256"
elif [ "$unverified" = 1 ]; then
  {
    echo "[restore] ****************************************************************"
    echo "[restore] WARNING: RESTORING AN UNVERIFIED DUMP (--unverified)"
    echo "[restore] there is no $real.sha256: nothing shows that $real is the dump backup.sh wrote."
    echo "[restore] pg_restore only checks that it reads; a changed table of contents restores as written."
    echo "[restore] ****************************************************************"
  } >&2
else
  {
    echo "[restore] ERROR: no checksum file $real.sha256: nothing shows that $real is the dump backup.sh wrote, and pg_restore does not notice a changed table of contents."
    echo "[restore] Nothing was changed. Restore a dump from $BACKUP_DIR/dumps/ (each has its .sha256), or, if you know where this file comes from:"
    echo "[restore]   restore.sh --unverified $real"
  } >&2
  exit 2
fi

pg_restore --file=/dev/null "$src" || { echo "[restore] ERROR: $real does not restore (damaged or not a dump); nothing was changed" >&2; exit 1; }
echo "[restore] restoring $real into $PGDATABASE on ${PGHOST:-the local socket}"
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error --no-password --dbname="$PGDATABASE" "$src"
if [ "$unverified" = 1 ]; then
  echo "[restore] done: restored the UNVERIFIED dump $real" >&2
else
  echo "[restore] done"
fi
