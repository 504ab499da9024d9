#!/usr/bin/env node
'use strict';
// Thin launcher (CommonJS: bin/package.json). The CLI is one CommonJS bundle,
// dist/cli/main.cjs (npm run build), compiled here through vm.Script with the V8 code cache
// the build made for it (dist/cli/main.cjs.v8): Node 20 has no compile cache of its own, and a
// no-op `prepare` is mostly start-up. When V8 rejects the cache (another Node version, other
// V8 flags) the bundle is compiled as usual.
const fs = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const file = path.join(__dirname, '..', 'dist', 'cli', 'main.cjs');
const cacheFile = `${file}.v8`;

function load() {
  // esbuild writes ASCII (it escapes the rest), which latin1 reads without decoding
  const source = fs.readFileSync(file, 'latin1');
  // V8 checks that the cache fits the source's length, not its bytes: a bundle changed after the
  // build made the cache (newer than it) is compiled without it
  let cachedData;
  try {
    if (fs.statSync(cacheFile).mtimeMs >= fs.statSync(file).mtimeMs) cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, path.dirname(file));
  // npm run build: keep what V8 compiled during this run
  if (process.env.THUNDERBOX_WRITE_CODE_CACHE === '1') {
    process.on('exit', () => {
      fs.writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
      fs.renameSync(`${cacheFile}.tmp`, cacheFile);
    });
  }
  return module.exports;
}

let cli;
try {
  cli = load();
} catch (err) {
  process.stderr.write(err && err.code === 'ENOENT' && err.path === file
    ? 'thunderbox: not built yet; run `npm run build` first\n'
    : `thunderbox: internal error: ${err && err.stack ? err.stack : err}\n`);
  process.exit(70);
}
cli.main(process.argv).catch((err) => {
  process.stderr.write(`thunderbox: internal error: ${err && err.stack ? err.stack : err}\n`);
  process.exit(70);
});
