#!/usr/bin/env node
// npm run bench: `thunderbox prepare` against GNU `tar -xf` on the same generated rootfs
// archive, in the same run, alternating, median of N. Prints the wall-time ratio, the peak
// RSS of thunderbox, and the no-op re-run ratio. Targets (issue #2): ratio <= 1.2,
// peak RSS <= 100 MB, no-op re-run <= 5% of the first run.
//
//   node scripts/bench.mjs [--runs 5] [--mb 160] [--entries 6000] [--keep DIR]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeArchive } from '../dist/rootfs/archive-writer.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'bin', 'thunderbox.js');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1];
};
const RUNS = Number(arg('runs', 5));
const MB = Number(arg('mb', 160));
const ENTRIES = Number(arg('entries', 6000));
const work = arg('keep', null) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'thunderbox-bench-'));
fs.mkdirSync(work, { recursive: true });

// A rootfs-shaped archive: ~8% directories, ~10% symlinks, ~2% hard links, the rest files
// whose sizes follow a long tail (most small, a few multi-MB libraries), filled with
// pseudo-random bytes (xorshift, fixed seed: every run generates the same archive).
function* rootfsEntries() {
  let s = 0x9e3779b9;
  const rnd = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), (s >>> 0) / 4294967296);
  const nDirs = Math.round(ENTRIES * 0.08);
  const nLinks = Math.round(ENTRIES * 0.1);
  const nHard = Math.round(ENTRIES * 0.02);
  const nFiles = ENTRIES - nDirs - nLinks - nHard;
  const dirs = ['.'];
  yield { path: './', type: 'Directory', mode: 0o755 };
  for (let i = 1; i < nDirs; i++) {
    const parent = dirs[Math.floor(rnd() * dirs.length)];
    const p = `${parent}/d${i}`;
    dirs.push(p);
    yield { path: p, type: 'Directory', mode: i % 17 === 0 ? 0o555 : 0o755 };
  }
  // sizes: weights so that the total is about MB megabytes
  const raw = Array.from({ length: nFiles }, () => Math.pow(rnd(), 6));
  const scale = (MB * 1e6) / raw.reduce((a, b) => a + b, 0);
  const files = [];
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((rnd() * 4294967296) >>> 0, i);
  for (let i = 0; i < nFiles; i++) {
    const size = Math.max(0, Math.round(raw[i] * scale));
    const p = `${dirs[Math.floor(rnd() * dirs.length)]}/f${i}${i % 5 === 0 ? '.so' : ''}`;
    files.push(p);
    const off = Math.floor(rnd() * 1000);
    const data = size <= block.length - off ? block.subarray(off, off + size) : Buffer.concat(Array.from({ length: Math.ceil(size / block.length) }, () => block)).subarray(0, size);
    yield { path: p, type: 'File', mode: i % 50 === 0 ? 0o4755 : i % 3 === 0 ? 0o755 : 0o644, data, mtime: 1700000000 + i };
  }
  for (let i = 0; i < nLinks; i++) yield { path: `${dirs[Math.floor(rnd() * dirs.length)]}/l${i}`, type: 'SymbolicLink', linkpath: files[Math.floor(rnd() * files.length)].replace(/^\.\//, '/'), mode: 0o777 };
  for (let i = 0; i < nHard; i++) yield { path: `${dirs[Math.floor(rnd() * dirs.length)]}/h${i}`, type: 'Link', linkpath: files[Math.floor(rnd() * files.length)] };
}

const archive = path.join(work, 'rootfs.tar');
if (!fs.existsSync(archive)) {
  process.stdout.write(`generating ${archive} ...\n`);
  writeArchive(archive, rootfsEntries());
}
const size = fs.statSync(archive).size;
const list = spawnSync('tar', ['-tf', archive], { maxBuffer: 1 << 28 }).stdout.toString().trim().split('\n').length;
process.stdout.write(`archive: ${(size / 1e6).toFixed(1)} MB, ${list} entries\n`);

const rm = (p) => fs.rmSync(p, { recursive: true, force: true });
const sync = () => spawnSync('sync');
function time(cmd, args, env = {}) {
  sync();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  const t = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return t;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const tarTimes = [];
const tbTimes = [];
const noopTimes = [];
const rss = [];
for (let i = 0; i < RUNS; i++) {
  const tarDir = path.join(work, 'tar-out');
  const tbDir = path.join(work, 'tb-target');
  rm(tarDir);
  rm(tbDir);
  fs.mkdirSync(tarDir);
  fs.mkdirSync(tbDir);
  const usage = path.join(work, 'rusage.json');
  const tbArgs = [cli, 'prepare', 'BENCH', archive, '--target', tbDir, '--no-plugin-json', '-q'];
  const order = i % 2 === 0 ? ['tar', 'tb'] : ['tb', 'tar'];
  for (const which of order) {
    if (which === 'tar') tarTimes.push(time('tar', ['-xf', archive, '-C', tarDir]));
    else {
      tbTimes.push(time(process.execPath, tbArgs, { THUNDERBOX_RUSAGE_FILE: usage }));
      rss.push(JSON.parse(fs.readFileSync(usage, 'utf8')).maxRSS / 1024);
    }
  }
  noopTimes.push(time(process.execPath, tbArgs));
  process.stdout.write(`run ${i + 1}/${RUNS}: tar ${tarTimes.at(-1).toFixed(2)} s, thunderbox ${tbTimes.at(-1).toFixed(2)} s (${rss.at(-1).toFixed(0)} MB peak), no-op ${noopTimes.at(-1).toFixed(3)} s\n`);
}
// For context: what any Node.js program costs to start on this machine right now.
const nodeStart = median(Array.from({ length: 5 }, () => time(process.execPath, ['-e', '0'])));
const ratio = median(tbTimes) / median(tarTimes);
const noop = median(noopTimes) / median(tbTimes);
const peak = Math.max(...rss);
process.stdout.write(`\nGNU tar -xf:        median ${median(tarTimes).toFixed(2)} s\n`);
process.stdout.write(`thunderbox prepare: median ${median(tbTimes).toFixed(2)} s\n`);
process.stdout.write(`wall ratio:         ${ratio.toFixed(2)}x GNU tar   (target <= 1.2x) ${ratio <= 1.2 ? 'ok' : 'MISSED'}\n`);
process.stdout.write(`peak RSS:           ${peak.toFixed(0)} MB       (target <= 100 MB) ${peak <= 100 ? 'ok' : 'MISSED'}\n`);
process.stdout.write(`no-op re-run:       ${(noop * 100).toFixed(1)}% of the first run (target <= 5%) ${noop <= 0.05 ? 'ok' : 'MISSED'}  [${median(noopTimes).toFixed(3)} s; \`node -e 0\` alone: ${nodeStart.toFixed(3)} s]\n`);
if (!arg('keep', null)) rm(work);
