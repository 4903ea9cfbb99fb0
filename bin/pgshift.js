#!/usr/bin/env node
// Runs the TypeScript CLI directly (through tsx), so a fresh clone needs no build step.
"use strict";
require("tsx/cjs/api").register();
require("../src/cli/main.ts")
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
