#!/usr/bin/env bash
# Runs every test under test/ with node's test runner (TypeScript through tsx),
# after making sure dependencies, the Debian packages the tests use and the
# Pulumi toolchain are in place.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
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
if [ "$#" -gt 0 ]; then files=("$@"); fi
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
