# Sourced by scripts that run Pulumi (test.sh) and by hand before running tests:
# the project's Pulumi environment (engine and plugins from .toolchain/, state in
# .pulumi-state/, the generated passphrase) exactly as scripts/pulumi-env.ts says
# it, the one place `npm start`, `npm run pulumi` and the tests also take it from.
_pgshift_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if _pgshift_env="$(cd "$_pgshift_root" && node --import tsx scripts/pulumi-env.ts --shell)"; then
  eval "$_pgshift_env"
  unset _pgshift_root _pgshift_env
else
  echo "scripts/env.sh: could not read the Pulumi environment from scripts/pulumi-env.ts (are the dependencies installed? npm ci)" >&2
  unset _pgshift_root _pgshift_env
  return 1 2>/dev/null || exit 1
fi
