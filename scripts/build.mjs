#!/usr/bin/env node
// Build: type-check with tsc (npm run build runs it first), then bundle with esbuild.
// Why a bundle: a no-op `prepare` must cost a small fraction of a real one, and Node 20
// spends most of a short run resolving and compiling ~60 separate ESM/CJS modules;
// one bundle (plus lazily loaded chunks for execa, yaml/zod, diff) starts in about half the time.
import { build } from 'esbuild';
import fs from 'node:fs';

fs.rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/main.ts', 'src/rootfs/archive-writer.ts', 'src/rootfs/fs-worker.ts', 'src/lxc/check.ts', 'src/kconfig/lint.ts'],
  outdir: 'dist',
  outbase: 'src',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  // prefer ESM builds: jsonc-parser's "main" is a UMD file that requires siblings at run time
  mainFields: ['module', 'main'],
  target: 'node20',
  sourcemap: true,
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS dependencies (commander) call require() for Node's own modules
  banner: { js: "import { createRequire as __tbxRequire } from 'node:module'; const require = __tbxRequire(import.meta.url);" },
  logLevel: 'warning',
});
