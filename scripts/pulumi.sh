#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the project's Pulumi in the project's environment
# (scripts/pulumi.ts; on the local stack with the settings `npm start` uses).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .toolchain/bin/pulumi ] || bash toolchain/setup.sh
exec node --import tsx scripts/pulumi.ts "$@"
