// The one shape of pgshift's dynamic providers. Pulumi serializes a dynamic
// provider's methods, and everything they reference, into the stack's state,
// and runs them later in a plain Node.js process. So each resource file holds
// a thin provider whose methods only load a handler module by its path (a
// plain string when serialized) and call it; the handler (check, diff, create,
// update, delete) is ordinary TypeScript with ordinary imports, loaded with tsx
// at run time and tested directly (test/provider/).

/**
 * Registers tsx once per process. Every dynamic resource shares one provider
 * process, and each register() stacks another resolver: with a dozen stacked,
 * a require that is meant to fail (the `bindings` package probing for
 * better-sqlite3's addon) retried every layer inside every other and never
 * finished. A process-wide flag, since each serialized provider has its own
 * copy of this module's state.
 */
export function registerTsx(): void {
  const g = globalThis as { pgshiftTsxRegistered?: boolean };
  if (g.pgshiftTsxRegistered) return;
  const { register } = require("tsx/cjs/api") as { register: () => unknown };
  register();
  g.pgshiftTsxRegistered = true;
}

/** Loads the handler module at `path` in the dynamic-provider process. */
export function loadHandler<T>(path: string): T {
  // The dynamic-provider host is plain Node.js; tsx lets it load TypeScript.
  registerTsx();
  return require(path) as T;
}
