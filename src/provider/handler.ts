// The one shape of pgshift's dynamic providers. Pulumi serializes a dynamic
// provider's methods, and everything they reference, into the stack's state,
// and runs them later in a plain Node.js process. So each resource file holds
// a thin provider whose methods only load a handler module by its path (a
// plain string when serialized) and call it; the handler (check, diff, create,
// update, delete) is ordinary TypeScript with ordinary imports, loaded with tsx
// at run time and tested directly (test/provider/).

/** Loads the handler module at `path` in the dynamic-provider process. */
export function loadHandler<T>(path: string): T {
  // The dynamic-provider host is plain Node.js; tsx lets it load TypeScript.
  const { register } = require("tsx/cjs/api") as { register: () => unknown };
  register();
  return require(path) as T;
}
