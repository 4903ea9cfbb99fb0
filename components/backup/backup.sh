#!/bin/sh
# pgshift's database backup, run by the BackupCronJob (and by hand: it needs
# pg_isready, pg_dump, pg_restore, sha256sum, awk and the libpq environment PGHOST, PGPORT,
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
# have one, plus the newest dump and the dump this run wrote. Running twice a
# day, or a day without a dump, changes nothing about how far back the tiers
# reach.
#
# Only files named exactly <PGDATABASE>_<YYYYMMDDTHHMMSSZ>.dump (a real time),
# with their .sha256, are this job's: rotation keys on the parsed time, and
# everything else in dumps/ (another database's dumps after a rename, copies,
# names with spaces or line breaks) is never counted, checked, moved or
# removed. No file name is ever read back from a listing: the shell's own glob
# yields each name whole, and only timestamps travel through the pipeline.
# latest.dump always names the dump this run wrote and verified.
#
# Exit codes: 0 ok; 1 the dump, its check, a stored checksum or the cleanup
# failed; 2 bad settings. BACKUP_TIME (YYYY-MM-DDTHH:MM:SSZ) overrides the clock.
set -eu
umask 077

log() { echo "[backup] $*"; }
fail() { echo "[backup] ERROR: $*" >&2; exit 1; }
bad_input() { echo "[backup] ERROR: $*" >&2; exit 2; }

[ -n "${PGDATABASE:-}" ] || bad_input "PGDATABASE is not set (the backup Secret provides it)"
# The name becomes part of file names and of a glob prefix: a plain database
# name only (not a connection string; set PGHOST and the rest separately).
case "$PGDATABASE" in
  *[!A-Za-z0-9_.-]* | [.-]*) bad_input "PGDATABASE must be a plain database name (letters, digits, _ . -), got '$PGDATABASE'" ;;
esac
BACKUP_DIR="${BACKUP_DIR:-/backups}"
KEEP_DAILY="${KEEP_DAILY:-7}"
KEEP_WEEKLY="${KEEP_WEEKLY:-4}"
KEEP_MONTHLY="${KEEP_MONTHLY:-6}"
for n in KEEP_DAILY KEEP_WEEKLY KEEP_MONTHLY; do
  eval "v=\$$n"
  case "$v" in '' | *[!0-9]*) bad_input "$n must be a whole number, got '$v'" ;; esac
done
[ "$KEEP_DAILY" -ge 1 ] || bad_input "KEEP_DAILY must be at least 1"

# Calendar arithmetic shared by the clock check and the retention below.
CALENDAR='
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
  function realtime(s,   y, m, d, mdays) { # s: YYYYMMDDTHHMMSSZ
    y = substr(s, 1, 4) + 0; m = substr(s, 5, 2) + 0; d = substr(s, 7, 2) + 0
    if (m < 1 || m > 12 || d < 1) return 0
    mdays = days(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) - days(y, m, 1)
    return d <= mdays && substr(s, 10, 2) + 0 < 24 && substr(s, 12, 2) + 0 < 60 && substr(s, 14, 2) + 0 < 60
  }
'
# One digit, spelled out: [0-9] can match other characters in some locales.
D='[0123456789]'
STAMP="$D$D$D$D$D$D$D${D}T$D$D$D$D$D${D}Z"

NOW="${BACKUP_TIME:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
case "$NOW" in
  $D$D$D$D-$D$D-$D${D}T$D$D:$D$D:$D${D}Z) ;;
  *) bad_input "BACKUP_TIME must look like 2025-11-30T02:00:00Z, got '$NOW'" ;;
esac
# 2025-11-30T02:00:00Z -> 20251130T020000Z: fixed width, so stamps sort by time.
stamp=$(echo "$NOW" | tr -d ':-')
awk -v s="$stamp" "$CALENDAR"' BEGIN { exit !realtime(s) }' ||
  bad_input "BACKUP_TIME is not a real time: '$NOW'"

# Sets s to the timestamp when $1 is exactly this database's dump name.
own_stamp() {
  rest=${1#"$PGDATABASE"_}
  [ "$rest" != "$1" ] || return 1
  case "$rest" in
    $STAMP.dump) s=${rest%.dump} ;;
    *) return 1 ;;
  esac
}

dumps="$BACKUP_DIR/dumps"
quarantine="$BACKUP_DIR/quarantine"
mkdir -p "$dumps"
name="${PGDATABASE}_${stamp}.dump"
final="$dumps/$name"
partial="$dumps/.${name}.partial"
[ ! -e "$final" ] || fail "$final already exists (two runs in the same second?); nothing was changed"

# A run that was killed (node lost, deadline) leaves its partial files behind.
for stale in "$dumps"/.*; do
  case "${stale##*/}" in
    ."$PGDATABASE"_$STAMP.dump.partial | ."$PGDATABASE"_$STAMP.dump.partial.err | ."$PGDATABASE"_$STAMP.dump.partial.sha256)
      rm -f -- "$stale" && log "removed $stale, left by an interrupted run" ;;
  esac
done
# Scratch space on the backup volume: the Job's root file system (and /tmp) may be read-only.
work="$dumps/.pgshift-backup.$$"
rm -rf -- "$work"
mkdir -m 700 -- "$work"
trap 'rm -f -- "$partial" "$partial.err" "$partial.sha256"; rm -rf -- "$work"' EXIT

# A Job's pod can be refused for its first second or two: the NetworkPolicy
# engine allows a new pod's address only once it has seen the pod (kube-router
# on the local node: docs/test-cluster.md), and the database may be restarting.
# Wait for it, bounded, rather than fail the night's dump on the first packet.
attempts=0
until pg_isready -q -t 3; do
  attempts=$((attempts + 1))
  [ "$attempts" -lt "${BACKUP_CONNECT_ATTEMPTS:-30}" ] || fail "the database at ${PGHOST:-the local socket}:${PGPORT:-5432} did not accept connections after $attempts tries (2 s apart); nothing was changed"
  sleep 2
done
[ "$attempts" = 0 ] || log "the database accepted connections after $attempts refused tries"

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
mv -- "$partial" "$final"
mv -- "$partial.sha256" "$final.sha256"
log "wrote $final ($(wc -c <"$final" | tr -d ' ') bytes, $entries catalog entries), restore-checked, sha256 stored"

# The digest stored for $1 (the first field of $1.sha256), or nothing.
stored_sum() {
  expected=""
  read -r expected _ <"$1.sha256" 2>/dev/null || true
  case "$expected" in *[!0123456789abcdef]*) expected="" ;; esac
  [ "${#expected}" = 64 ] || expected=""
  echo "$expected"
}

# Stored dumps are re-checked every run; one that changed on disk is no backup.
# The digest of the dump file itself is compared: `sha256sum -c` would check
# whichever file the .sha256 names.
damaged=0
others=0
: >"$work/good"
for f in "$dumps"/*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  b=${f##*/}
  if ! own_stamp "$b"; then
    case "$b" in *.sha256) own_stamp "${b%.sha256}" && continue ;; esac
    others=$((others + 1))
    continue
  fi
  if [ -L "$f" ] || [ ! -f "$f" ]; then
    log "WARNING: $b is not a regular file; it is not counted as a backup and is left alone"
    continue
  fi
  if ! awk -v s="$s" "$CALENDAR"' BEGIN { exit !realtime(s) }'; then
    log "WARNING: $b is not stamped with a real time; it is not counted as a backup and is left alone"
    continue
  fi
  if [ ! -f "$f.sha256" ]; then
    log "WARNING: $b has no checksum file; it is not counted as a backup and is left alone"
    continue
  fi
  expected=$(stored_sum "$f")
  actual=$(sha256sum <"$f" | cut -d' ' -f1)
  if [ -n "$expected" ] && [ "$actual" = "$expected" ]; then
    echo "$s" >>"$work/good"
  else
    mkdir -p "$quarantine"
    mv -f -- "$f" "$f.sha256" "$quarantine/"
    echo "[backup] ERROR: $b does not match its checksum; moved to $quarantine/" >&2
    damaged=1
  fi
done
[ "$others" = 0 ] || log "left alone $others other files in $dumps (not named ${PGDATABASE}_<YYYYMMDDTHHMMSSZ>.dump[.sha256]: another database's dumps, copies, anything else); they are not counted"

# latest.dump names the dump this run wrote and checked, before anything is
# rotated out: whatever it named before may go, what it names now stays.
grep -qx "$stamp" "$work/good" && [ -f "$final" ] && [ -f "$final.sha256" ] ||
  fail "the new dump $name changed on disk before the run ended; latest.dump was not moved and nothing was rotated"
ln -sfn "dumps/$name" "$BACKUP_DIR/latest.dump"

# Calendar retention over the good dumps' timestamps (fixed width: sorted is
# chronological), so the first seen in a day, ISO week or month is that
# period's first good dump.
sort -u "$work/good" | awk -v kd="$KEEP_DAILY" -v kw="$KEEP_WEEKLY" -v km="$KEEP_MONTHLY" -v current="$stamp" "$CALENDAR"'
  {
    s = $0; y = substr(s, 1, 4) + 0; m = substr(s, 5, 2) + 0; d = substr(s, 7, 2) + 0
    all[++n] = s
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
    for (i = 1; i <= n; i++) {
      if (all[i] == current) keep[i] = "written-now"
      print (i in keep ? "keep " keep[i] : "drop -") " " all[i]
    }
  }
' >"$work/plan"

while read -r action _tier s; do
  [ "$action" = drop ] || continue
  # Only a timestamp comes back; the name is rebuilt, never read.
  case "$s" in $STAMP) ;; *) fail "rotation produced '$s', not a timestamp; nothing more was removed" ;; esac
  [ "$s" != "$stamp" ] || fail "rotation would remove the dump just written; nothing more was removed"
  b="${PGDATABASE}_$s.dump"
  rm -f -- "$dumps/$b" "$dumps/$b.sha256" || fail "could not remove $b"
  log "rotated out $b"
done <"$work/plan"

[ "$damaged" = 0 ] || fail "stored dumps failed their checksum (see above); the new dump $name is good"
log "done"
