#!/usr/bin/env bash
# Runs every test under test/ with node's test runner (TypeScript through tsx),
# after making sure dependencies, the Debian packages the tests use and the
# Pulumi toolchain are in place.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/build-tools.sh
[ -d node_modules ] || { source scripts/build-tools.sh && npm ci; }
# The C extensions npm ci builds, when this checkout has none (a worktree sharing another's node_modules).
[ -f build/Release/pgshift-native.json ] || npm run -s build:native
# The Debian packages the suite uses (test/setup/system-packages.ts), installed when missing.
node --import tsx test/setup/system-packages.ts install
bash toolchain/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
echo "[test] type check, lint and format check" >&2
npx tsc -p tsconfig.json --noEmit
npx eslint .
npx prettier --check . || { echo "[test] prettier: files above are not formatted; run: npx prettier --write ." >&2; exit 1; }
mapfile -t files < <(find test -name '*.test.ts' | sort)
# Run again with every C extension's JavaScript path (PGSHIFT_NATIVE=off, what a machine without a C compiler runs):
# the engine tests that go through copy text, the fingerprint, range digests and numeric dates without turning a
# path off themselves (about 4 minutes under CI's load). copy-text, delta, numeric-dates, sync-back and migrate.hostile
# take the JavaScript paths in tests of their own; they are not here.
native_off=(test/engine/sqlite/fingerprint.test.ts test/engine/migrate.test.ts test/engine/sqlite/snapshot.test.ts)
if [ "$#" -gt 0 ]; then
  files=("$@")
  native_off=()
fi
status=0
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}" || status=$?
if [ "${#native_off[@]}" -gt 0 ]; then
  echo "[test] again with PGSHIFT_NATIVE=off (the JavaScript paths): ${native_off[*]}" >&2
  PGSHIFT_NATIVE=off node --import tsx --test --test-concurrency=1 --test-reporter=spec "${native_off[@]}" || status=$?
fi
exit "$status"
