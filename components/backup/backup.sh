#!/bin/sh
# pgshift's database backup, run by the BackupCronJob (and by hand: it needs
# pg_dump, pg_restore, sha256sum, awk and the libpq environment PGHOST, PGPORT,
# PGDATABASE, PGUSER, PGPASSWORD).
#
# Each run writes one custom-format dump to $BACKUP_DIR/dumps/. A dump counts
# only once it has been read back completely (`pg_restore -f /dev/null`, which
# decompresses every table's data, not just the table of contents) and its
# SHA-256 is stored next to it. Every run also re-checks the stored checksums:
# a dump that changed on disk is moved to quarantine/ and the run fails.
#
# Retention is by calendar, over the good dumps: the first dump of each of the
# newest KEEP_DAILY days, KEEP_WEEKLY ISO weeks and KEEP_MONTHLY months that
# have one, plus the newest dump. Running twice a day, or a day without a
# dump, changes nothing about how far back the tiers reach.
#
# Exit codes: 0 ok; 1 the dump, its check, a stored checksum or the cleanup
# failed; 2 bad settings. BACKUP_TIME (YYYY-MM-DDTHH:MM:SSZ) overrides the clock.
set -eu
umask 077

log() { echo "[backup] $*"; }
fail() { echo "[backup] ERROR: $*" >&2; exit 1; }
bad_input() { echo "[backup] ERROR: $*" >&2; exit 2; }

[ -n "${PGDATABASE:-}" ] || bad_input "PGDATABASE is not set (the backup Secret provides it)"
BACKUP_DIR="${BACKUP_DIR:-/backups}"
KEEP_DAILY="${KEEP_DAILY:-7}"
KEEP_WEEKLY="${KEEP_WEEKLY:-4}"
KEEP_MONTHLY="${KEEP_MONTHLY:-6}"
for n in KEEP_DAILY KEEP_WEEKLY KEEP_MONTHLY; do
  eval "v=\$$n"
  case "$v" in '' | *[!0-9]*) bad_input "$n must be a whole number, got '$v'" ;; esac
done
[ "$KEEP_DAILY" -ge 1 ] || bad_input "KEEP_DAILY must be at least 1"
NOW="${BACKUP_TIME:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
case "$NOW" in
  [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z) ;;
  *) bad_input "BACKUP_TIME must look like 2025-11-30T02:00:00Z, got '$NOW'" ;;
esac
# 2025-11-30T02:00:00Z -> 20251130T020000Z: fixed width, so names sort by time.
stamp=$(echo "$NOW" | tr -d ':-')

dumps="$BACKUP_DIR/dumps"
quarantine="$BACKUP_DIR/quarantine"
mkdir -p "$dumps"
name="${PGDATABASE}_${stamp}.dump"
final="$dumps/$name"
partial="$dumps/.${name}.partial"
[ ! -e "$final" ] || fail "$final already exists (two runs in the same second?); nothing was changed"

# A run that was killed (node lost, deadline) leaves its partial file behind.
for stale in "$dumps"/.*.partial; do
  [ -e "$stale" ] || continue
  rm -f "$stale" && log "removed $stale, left by an interrupted run"
done
good="$dumps/.run-$$.list.partial"
trap 'rm -f "$partial" "$partial.err" "$partial.sha256" "$good"' EXIT

log "$NOW: dumping $PGDATABASE from ${PGHOST:-the local socket} as ${PGUSER:-(default user)}"
if ! pg_dump --format=custom --compress=6 --no-password --file="$partial" 2>"$partial.err"; then
  cat "$partial.err" >&2
  if grep -q "large object" "$partial.err"; then
    fail "pg_dump could not read a large object: pg_read_all_data does not cover them. Grant the backup role SELECT on each (GRANT SELECT ON LARGE OBJECT <oid> TO ${PGUSER:-the backup role}) or store the data as bytea; no dump was kept"
  fi
  fail "pg_dump failed; no dump was kept"
fi
cat "$partial.err" >&2

# The integrity check: every byte is read back, the data decompressed.
entries=$(pg_restore --list "$partial" 2>"$partial.err" | grep -c ';' || true)
if ! pg_restore --file=/dev/null "$partial" 2>>"$partial.err"; then
  cat "$partial.err" >&2
  fail "the new dump does not restore (pg_restore to /dev/null failed); it was deleted, the job fails"
fi
sum=$(sha256sum <"$partial" | cut -d' ' -f1)
echo "$sum  $name" >"$partial.sha256"
mv "$partial" "$final"
mv "$partial.sha256" "$final.sha256"
log "wrote $final ($(wc -c <"$final" | tr -d ' ') bytes, $entries catalog entries), restore-checked, sha256 stored"

# Stored dumps are re-checked every run; one that changed on disk is no backup.
damaged=0
: >"$good"
for f in "$dumps"/*.dump; do
  [ -e "$f" ] || continue
  b=$(basename "$f")
  if [ ! -e "$f.sha256" ]; then
    log "WARNING: $b has no checksum file; it is not counted as a backup and is left alone"
    continue
  fi
  if (cd "$dumps" && sha256sum -c "$b.sha256" >/dev/null 2>&1); then
    echo "$b" >>"$good"
  else
    mkdir -p "$quarantine"
    mv "$f" "$f.sha256" "$quarantine/"
    echo "[backup] ERROR: $b does not match its checksum; moved to $quarantine/" >&2
    damaged=1
  fi
done

# Calendar retention: names sort by time, so the first dump seen in a day,
# ISO week or month is that period's first good dump.
sort "$good" | awk -v kd="$KEEP_DAILY" -v kw="$KEEP_WEEKLY" -v km="$KEEP_MONTHLY" '
  function days(y, m, d,   era, yoe, doy, doe) { # days since 1970-01-01 (proleptic Gregorian)
    y -= (m <= 2); era = int((y >= 0 ? y : y - 399) / 400); yoe = y - era * 400
    doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
    doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
    return era * 146097 + doe - 719468
  }
  function isoweek(y, m, d,   n, thu, iy) { # ISO 8601 week, e.g. 2026-W01
    n = days(y, m, d); thu = n - (n + 3) % 7 + 3   # the Thursday of its week; 1970-01-01 was a Thursday
    iy = y; if (thu < days(y, 1, 1)) iy = y - 1; else if (thu >= days(y + 1, 1, 1)) iy = y + 1
    return sprintf("%04d-W%02d", iy, int((thu - days(iy, 1, 1)) / 7) + 1)
  }
  {
    if (!match($0, /_[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z\.dump$/)) next
    s = substr($0, RSTART + 1, 16); y = substr(s, 1, 4) + 0; m = substr(s, 5, 2) + 0; d = substr(s, 7, 2) + 0
    all[++n] = $0
    key["D", n] = substr(s, 1, 8); key["W", n] = isoweek(y, m, d); key["M", n] = substr(s, 1, 6)
  }
  function keepFirsts(tier, limit,   i, seen, count, order, k) {
    count = 0
    for (i = 1; i <= n; i++) if (!((tier, key[tier, i]) in seen)) { seen[tier, key[tier, i]] = i; order[++count] = i }
    for (k = count; k > count - limit && k >= 1; k--) keep[order[k]] = tier
  }
  END {
    if (n == 0) exit
    keepFirsts("M", km); keepFirsts("W", kw); keepFirsts("D", kd); keep[n] = "newest"
    for (i = 1; i <= n; i++) print (i in keep ? "keep " keep[i] : "drop -") " " all[i]
  }
' | while read -r action _tier b; do
  [ "$action" = drop ] || continue
  rm -f "$dumps/$b" "$dumps/$b.sha256" || { echo "[backup] ERROR: could not remove $b" >&2; exit 1; }
  log "rotated out $b"
done

ln -sfn "dumps/$name" "$BACKUP_DIR/latest.dump"
[ "$damaged" = 0 ] || fail "stored dumps failed their checksum (see above); the new dump $name is good"
log "done"
