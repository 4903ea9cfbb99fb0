#!/bin/sh
# The database container's command: the image's own entrypoint, run with this
# directory first on the image's own PATH, so that the `postgres` it finally
# execs is postgres.sh (which drops the superuser password from the
# environment). The image's PATH is kept: where postgres lives differs between
# images (/usr/local/bin, /usr/lib/postgresql/<major>/bin).
case "$0" in */*) dir=${0%/*} ;; *) dir=. ;; esac
PATH="$dir:$PATH"
export PATH
exec docker-entrypoint.sh "$@"
