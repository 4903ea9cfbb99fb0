# pgshift's SQLite extensions in C (src/engine/sqlite/native/), built at install
# by scripts/build-native.js (`npm run build:native`) into build/Release/*.node.
# They are SQLite loadable extensions, not Node addons: they use no Node API and
# are loaded with better-sqlite3's loadExtension, so they compile against the
# SQLite headers better-sqlite3 ships (its own SQLite, the one they run in).
{
  'target_defaults': {
    'type': 'loadable_module',
    'include_dirs': ['node_modules/better-sqlite3/deps/sqlite3'],
    'cflags': ['-O2', '-fvisibility=default'],
    'cflags!': ['-fvisibility=hidden'],
  },
  'targets': [
    { 'target_name': 'copy_text', 'sources': ['src/engine/sqlite/native/copy-text.c'] },
    { 'target_name': 'fingerprint', 'sources': ['src/engine/sqlite/native/fingerprint.c'] },
    { 'target_name': 'range_digests', 'sources': ['src/engine/sqlite/native/range-digests.c'] },
  ],
}
