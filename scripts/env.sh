# Sourced by every script that runs Pulumi: the engine toolchain/setup.sh put
# in .toolchain/bin (the user's own CLI, linked, or the pinned build), plugins
# and state inside the project, so a user's own ~/.pulumi is never written and
# the engine never downloads a plugin while it runs (setup.sh installs them).
_pgshift_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PGSHIFT_ROOT="$_pgshift_root"
export PULUMI_HOME="${PGSHIFT_PULUMI_HOME:-$_pgshift_root/.toolchain/pulumi-home}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$_pgshift_root/.pulumi-state}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PULUMI_SKIP_CONFIRMATIONS=true
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true
export PULUMI_CONFIG_PASSPHRASE_FILE="${PULUMI_CONFIG_PASSPHRASE_FILE:-$_pgshift_root/.pulumi-state/passphrase}"
export PATH="$_pgshift_root/.toolchain/bin:$_pgshift_root/node_modules/.bin:$PATH"
unset _pgshift_root
