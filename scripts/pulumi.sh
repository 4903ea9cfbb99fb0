#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the project's Pulumi with the project's PULUMI_HOME,
# local file backend and generated passphrase.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .toolchain/bin/pulumi ] || bash toolchain/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
mkdir -p .pulumi-state
if [ ! -s "$PULUMI_CONFIG_PASSPHRASE_FILE" ]; then
  # Generated once; losing it makes the stacks' secrets unreadable, so it is never overwritten.
  (umask 077 && node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64url"))' >"$PULUMI_CONFIG_PASSPHRASE_FILE")
fi
exec pulumi "$@"
