#!/usr/bin/env bash
# `npm start`: the whole product on one machine with no cluster and no database
# installed — embedded PostgreSQL 16, a sample app database (or yours:
# `npm start -- --sqlite path/to/app.db`), then `pulumi preview` and `pulumi up`
# of the `local` stack. Safe to run again: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
if [ ! -d node_modules/@pulumi/pulumi ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[start] installing dependencies (npm ci)" >&2
  # shellcheck source=scripts/build-tools.sh
  source scripts/build-tools.sh
  npm ci --no-audit --no-fund >&2
fi
# The C extensions npm ci builds, when this checkout has none (a worktree sharing another's node_modules).
[ -f build/Release/pgshift-native.json ] || npm run -s build:native >&2
echo "[start] checking the Pulumi toolchain" >&2
PGSHIFT_SKIP_KUBE=1 bash toolchain/setup.sh
exec node --import tsx scripts/start.ts "$@"
