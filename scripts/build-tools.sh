# Sourced before `npm ci`: it compiles native code with node-gyp (better-sqlite3
# in C++, pgshift's SQLite extensions in C, binding.gyp) and, offline, must use
# the installed Node's headers instead of downloading them. Installs the
# compilers when missing (as root), and points node-gyp at Node's headers.
_missing=()
command -v cc >/dev/null || _missing+=(gcc libc6-dev)
command -v c++ >/dev/null || _missing+=(g++)
command -v make >/dev/null || _missing+=(make)
if ((${#_missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "[build-tools] installing ${_missing[*]} (npm ci compiles native code)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${_missing[@]}" >&2
  else
    echo "[build-tools] npm ci compiles native code: install ${_missing[*]} first (sudo apt-get install -y ${_missing[*]})" >&2
    exit 2
  fi
fi
_node_prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$_node_prefix/include/node/node.h" ]; then
  export npm_config_nodedir="$_node_prefix"
fi
unset _missing _node_prefix
