#!/usr/bin/env bash
# `npm run clean`: stops the local PostgreSQL and removes the local stack's
# state, data and rendered manifests — after asking.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "This deletes .local/ (the local PostgreSQL data and sample database), .pulumi-state/ (all local stacks' state) and out/."
if [ "${1:-}" != "--yes" ]; then
  # `yes | npm run clean` answers "y": taken as a yes, like any other prompt.
  read -r -p "Delete them? Type 'delete' or 'yes': " answer || true
  case "$answer" in
    delete | y | Y | yes | YES) ;;
    *) echo "Nothing deleted."; exit 1 ;;
  esac
fi
node --import tsx scripts/local-postgres.ts stop || true
# As root the data may live under /var/lib/pgshift, linked from .local.
[ -L .local/postgres/data ] && rm -rf "$(readlink .local/postgres/data)"
rm -rf .local .pulumi-state out
echo "Removed."
