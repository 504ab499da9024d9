#!/usr/bin/env node
'use strict';
// Thin launcher (CommonJS: bin/package.json). The CLI is one CommonJS bundle,
// dist/cli/main.cjs (npm run build), compiled here through vm.Script with the V8 code cache
// the build made for it (dist/cli/main.cjs.v8): Node 20 has no compile cache of its own, and a
// no-op `prepare` is mostly start-up. When the cache does not match the bundle, or V8 rejects
// it (another Node version, other V8 flags), the bundle is compiled as usual.
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const file = path.join(__dirname, '..', 'dist', 'cli', 'main.cjs');
const cacheFile = `${file}.v8`;

// main.cjs.v8 is a SHA-256 of the bundle and the cache, then V8's cache. V8 itself checks only
// that the cache fits the source's length, and a damaged cache can abort the process: a cache
// whose digest does not match (another build, a changed bundle, a damaged file) is not used.
const digest = (source, payload) => createHash('sha256').update(source, 'latin1').update(payload).digest();

function load() {
  // esbuild writes ASCII (it escapes the rest), which latin1 reads without decoding
  const source = fs.readFileSync(file, 'latin1');
  let cachedData;
  try {
    const stored = fs.readFileSync(cacheFile);
    const payload = stored.subarray(32);
    if (stored.length > 32 && digest(source, payload).equals(stored.subarray(0, 32))) cachedData = payload;
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, path.dirname(file));
  // npm run build: keep what V8 compiled during this run
  if (process.env.THUNDERBOX_WRITE_CODE_CACHE === '1') {
    process.on('exit', () => {
      const payload = script.createCachedData();
      fs.writeFileSync(`${cacheFile}.tmp`, Buffer.concat([digest(source, payload), payload]));
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
