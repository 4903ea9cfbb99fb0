#!/bin/sh
# pgshift's database backup, run by the BackupCronJob (and by hand: it only needs
# pg_dump/pg_restore and the libpq environment PGHOST, PGPORT, PGDATABASE,
# PGUSER, PGPASSWORD).
#
# A custom-format dump goes to $BACKUP_DIR/daily/; on Sundays it is also kept in
# weekly/, on the first of the month in monthly/. Each folder keeps the newest
# KEEP_DAILY / KEEP_WEEKLY / KEEP_MONTHLY dumps. Every dump is checked with
# `pg_restore --list` before it counts: a dump that cannot be read fails the Job
# and is not rotated in. Optional: S3_BUCKET (+ S3_ENDPOINT) uploads it with the
# aws CLI.
set -eu

: "${PGDATABASE:?PGDATABASE is not set}"
BACKUP_DIR="${BACKUP_DIR:-/backups}"
KEEP_DAILY="${KEEP_DAILY:-7}"
KEEP_WEEKLY="${KEEP_WEEKLY:-4}"
KEEP_MONTHLY="${KEEP_MONTHLY:-6}"
NOW="${BACKUP_NOW:-$(date -u +%Y%m%d_%H%M%S)}"
DAY_OF_WEEK="${BACKUP_DAY_OF_WEEK:-$(date -u +%u)}"
DAY_OF_MONTH="${BACKUP_DAY_OF_MONTH:-$(date -u +%d)}"

log() { echo "[backup] $(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }

mkdir -p "$BACKUP_DIR/daily" "$BACKUP_DIR/weekly" "$BACKUP_DIR/monthly"
name="${PGDATABASE}_${NOW}.dump"
partial="$BACKUP_DIR/daily/.${name}.partial"
final="$BACKUP_DIR/daily/$name"

log "dumping $PGDATABASE from ${PGHOST:-local socket} as ${PGUSER:-(default user)}"
pg_dump --format=custom --compress=6 --no-password --file="$partial"

# The integrity check: a dump pg_restore cannot list is not a backup.
if ! pg_restore --list "$partial" >/dev/null; then
  log "ERROR: $partial is not a readable dump; keeping it for inspection, failing the job"
  exit 1
fi
entries=$(pg_restore --list "$partial" | grep -c ';' || true)
mv "$partial" "$final"
log "wrote $final ($(wc -c <"$final") bytes, $entries catalog entries)"

[ "$DAY_OF_WEEK" = "7" ] && cp "$final" "$BACKUP_DIR/weekly/$name" && log "kept as weekly"
[ "$DAY_OF_MONTH" = "01" ] && cp "$final" "$BACKUP_DIR/monthly/$name" && log "kept as monthly"

rotate() { # <dir> <keep>
  ls -1 "$1" | grep '\.dump$' | sort -r | tail -n +"$(($2 + 1))" | while read -r old; do
    rm -f "$1/$old" && log "rotated out $1/$old"
  done
}
rotate "$BACKUP_DIR/daily" "$KEEP_DAILY"
rotate "$BACKUP_DIR/weekly" "$KEEP_WEEKLY"
rotate "$BACKUP_DIR/monthly" "$KEEP_MONTHLY"
ln -sf "daily/$name" "$BACKUP_DIR/latest.dump"

if [ -n "${S3_BUCKET:-}" ]; then
  command -v aws >/dev/null || { log "ERROR: S3_BUCKET is set but the aws CLI is not in this image"; exit 1; }
  aws ${S3_ENDPOINT:+--endpoint-url "$S3_ENDPOINT"} s3 cp "$final" "s3://$S3_BUCKET/$PGDATABASE/$name"
  log "uploaded to s3://$S3_BUCKET/$PGDATABASE/$name"
fi
log "done"
