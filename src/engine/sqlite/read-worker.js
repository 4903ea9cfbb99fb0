"use strict";
// Entry of a read worker thread (read-workers.ts). Worker threads do not
// inherit the TypeScript loader of the process that starts them.
require("tsx/cjs/api").register();
require("./read-worker-main.ts");
