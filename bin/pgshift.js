#!/usr/bin/env node
// Runs the CLI from a bundle of src/ (scripts/bundle-cli.js: built at install,
// and again whenever a file under src/ changes), so a run loads one file
// instead of ~50 TypeScript modules through tsx. PGSHIFT_BUNDLE=off runs the
// sources through tsx; so does a bundle that cannot be built, and it says why.
"use strict";
const { bundle } = require("../scripts/bundle-cli.js");

async function cli() {
  if (process.env.PGSHIFT_BUNDLE !== "off") {
    try {
      return require(await bundle());
    } catch (err) {
      // An unwritable node_modules, a damaged install: the sources still run, slower.
      process.stderr.write(`[pgshift] running from the sources through tsx: the CLI's bundle could not be built (${err.message.split("\n")[0]})\n`);
    }
  }
  require("tsx/cjs/api").register();
  return require("../src/cli/main.ts");
}

cli()
  .then((c) => c.main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
  });
