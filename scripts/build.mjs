#!/usr/bin/env node
// Build: type-check with tsc (npm run build runs it first), then bundle with esbuild.
//
// Why this shape: a no-op `prepare` must cost a small fraction of a real one, and on Node 20
// most of a short run is loading code. The bench's no-op, against `node -e 0` in the same run:
//   one ESM bundle split into lazily loaded chunks (~30 files) ..... about +50 ms (0.14 s in all)
//   one CommonJS bundle compiled with the V8 code cache made here ... about +25 ms (0.085 s)
// Node 20 has no compile cache for ES modules (module.enableCompileCache is Node 22), but
// vm.Script takes V8's cached data, and a CommonJS bundle can be compiled through it.
//
//   dist/cli/main.cjs        the CLI, one file; modules it imports dynamically stay lazy
//                            (esbuild turns import() into a deferred init within the file)
//   dist/cli/main.cjs.v8     V8's code cache for it, made below by running the built CLI
//                            (bin/thunderbox.js falls back to a plain compile when V8 rejects it).
//                            V8 checks only the source's length, and a damaged cache can abort
//                            it: the file starts with a SHA-256 of the bundle and the cache, and
//                            the launcher uses the cache only when that matches
//   dist/kconfig/targets/*.data.cjs   the same for the kernel configurations kconfig lint uses
//   dist/vendor/<lib>.cjs    the large libraries that a run may not need (zod, yaml, execa, tar,
//                            diff, ejs, picomatch: ~1.5 MB), each required the first time it is
//                            used. They are leaves: none imports thunderbox's own modules, so
//                            keeping them in their own files duplicates no state.
//   dist/rootfs/{fs-worker,archive-writer}.js, dist/lxc/check.js, dist/kconfig/lint.js
//                            ES modules of their own: worker threads (their own isolates) and
//                            the benchmark's direct imports.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const VENDOR = ['zod', 'yaml', 'execa', 'tar', 'diff', 'ejs', 'picomatch', 'ajv'];
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // prefer ESM builds: jsonc-parser's "main" is a UMD file that requires siblings at run time
  mainFields: ['module', 'main'],
  sourcemap: true,
  logLevel: 'warning',
};

fs.rmSync('dist', { recursive: true, force: true });

// the CLI: CommonJS, so that the launcher can compile it with a code cache
await build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli/main.cjs',
  format: 'cjs',
  // import() of a vendor library or a Node module becomes a require() when first needed: vm.Script
  // has no loader for real dynamic imports
  supported: { 'dynamic-import': false },
  // ASCII (the default, stated): bin/thunderbox.js reads the file as latin1, without decoding
  charset: 'ascii',
  // whitespace only: names stay readable in stack traces, and the file is about a third smaller to read
  minifyWhitespace: true,
  // import.meta.url (findUp of the package root) is this file's URL
  define: { 'import.meta.url': '__tbxFileUrl' },
  banner: { js: "const __tbxFileUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [{
    name: 'leaves',
    setup(b) {
      const filter = new RegExp(`^(${VENDOR.join('|')})$`);
      b.onResolve({ filter }, (a) => ({ path: `../vendor/${a.path}.cjs`, external: true }));
      b.onResolve({ filter: /^\.\/targets\/[\w-]+\.data\.js$/ }, (a) => ({ path: `../kconfig/targets/${path.basename(a.path, '.js')}.cjs`, external: true }));
    },
  }],
});

for (const lib of VENDOR) {
  await build({ ...common, entryPoints: [lib], outfile: `dist/vendor/${lib}.cjs`, format: 'cjs', minifyWhitespace: true });
}
// the kernel configurations kconfig lint compares with (440 KB of text): read only by kconfig
for (const data of fs.readdirSync('src/kconfig/targets').filter((f) => f.endsWith('.data.ts'))) {
  await build({ ...common, entryPoints: [`src/kconfig/targets/${data}`], outfile: `dist/kconfig/targets/${data.replace(/\.ts$/, '.cjs')}`, format: 'cjs', sourcemap: false });
}

// ES modules of their own (each self-contained)
const esmBanner = "import { createRequire as __tbxRequire } from 'node:module'; const require = __tbxRequire(import.meta.url);";
for (const entry of ['src/rootfs/fs-worker.ts', 'src/rootfs/archive-writer.ts', 'src/lxc/check.ts', 'src/kconfig/lint.ts']) {
  await build({
    ...common,
    entryPoints: [entry],
    outfile: entry.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js'),
    format: 'esm',
    // CommonJS dependencies call require() for Node's own modules
    banner: { js: esmBanner },
  });
}

// The code cache: V8 writes what it compiled while running the built CLI, here a `demo` and a
// no-op `prepare` of the demo's container, so that the cache holds the functions a run needs.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'thunderbox-build-'));
try {
  const run = (...args) => {
    const r = spawnSync(process.execPath, ['bin/thunderbox.js', ...args], { env: { ...process.env, THUNDERBOX_WRITE_CODE_CACHE: '1' }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`build: thunderbox ${args.join(' ')} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  };
  run('demo', '--dir', tmp);
  run('prepare', 'OCDM', path.join(tmp, 'rootfs.tar'), '--target', path.join(tmp, 'target'), '-q');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
