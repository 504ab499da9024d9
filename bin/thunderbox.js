#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (npm run build).
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('thunderbox: not built yet; run `npm run build` first\n');
  } else {
    process.stderr.write(`thunderbox: internal error: ${err && err.stack ? err.stack : err}\n`);
  }
  process.exit(70);
});
