#!/usr/bin/env node
// npm run bench: `thunderbox prepare` against GNU `tar -xf` on the same generated rootfs
// archive, in the same run, alternating, median of N. Prints the wall-time ratio, the peak
// RSS of thunderbox, the no-op re-run ratio, and what the idmap ownership shift costs against
// --idmap none. Targets: ratio <= 1.2, peak RSS <= 100 MB, no-op re-run <= 5% of the first
// run (issue #2); the shift adds at most 10% (issue #4).
//
//   node scripts/bench.mjs [--runs 7] [--mb 160] [--entries 6000] [--keep DIR]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeArchive } from '../dist/rootfs/archive-writer.js';
import { checkConfigText } from '../dist/lxc/check.js';
import { lint } from '../dist/kconfig/lint.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'bin', 'thunderbox.js');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1];
};
const RUNS = Number(arg('runs', 7));
const MB = Number(arg('mb', 160));
const ENTRIES = Number(arg('entries', 6000));
// the benchmark as specified: at least 5 runs of an archive of at least 150 MB and 5,000 entries
if (RUNS < 5 || MB < 150 || ENTRIES < 5000) {
  process.stdout.write(`note: --runs ${RUNS} --mb ${MB} --entries ${ENTRIES} is below the benchmark's minimums (5 runs, 150 MB, 5,000 entries): the figures below are not the benchmark's\n`);
}
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
  yield* thunderEntries();
}

// What a minimised container is made of: a ThunderPlugin stand-in (this host's bash) with its
// libraries, a plugin library and a proxy stub (libz), at Debian's merged-/usr paths.
function* thunderEntries() {
  const t = 1700000000;
  const lib = '/usr/lib/x86_64-linux-gnu';
  for (const d of ['./usr', './usr/bin', './usr/lib', `.${lib}`, './usr/lib64', './usr/lib/thunder', './usr/lib/thunder/plugins', './usr/lib/thunder/proxystubs', './etc']) yield { path: d, type: 'Directory', mode: 0o755, mtime: t };
  yield { path: './lib64', type: 'SymbolicLink', linkpath: 'usr/lib64', mode: 0o777, mtime: t };
  yield { path: './lib', type: 'SymbolicLink', linkpath: 'usr/lib', mode: 0o777, mtime: t };
  const file = (to, from, mode = 0o755) => ({ path: `.${to}`, type: 'File', mode, data: fs.readFileSync(from), mtime: t });
  yield file('/usr/bin/ThunderPlugin', '/usr/bin/bash');
  yield file('/usr/lib64/ld-linux-x86-64.so.2', '/lib64/ld-linux-x86-64.so.2');
  for (const so of ['libc.so.6', 'libtinfo.so.6', 'libz.so.1']) yield file(`${lib}/${so}`, `${lib}/${so}`, 0o644);
  yield file('/usr/lib/thunder/plugins/libThunderBench.so', `${lib}/libz.so.1`);
  yield file('/usr/lib/thunder/proxystubs/libThunderBenchProxyStubs.so', `${lib}/libz.so.1`);
  yield { path: './etc/passwd', type: 'File', mode: 0o644, data: 'root:x:0:0:root:/root:/bin/sh\n', mtime: t };
  yield { path: './etc/group', type: 'File', mode: 0o644, data: 'root:x:0:\n', mtime: t };
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
const plainTimes = [];
const noopTimes = [];
const rss = [];
// Two regimes, both reported:
//  - loaded (the figure the targets are about, and the one the issue measured: tar about 2 s):
//    each round removes all three outputs at once, then runs the three commands in rotating
//    order, `sync` before each. On this ext4 (discard) the removals keep the disk busy, as a
//    Buildroot build that just wrote the image and deleted the old container does;
//  - page cache: a run's own output removed, `sync`, a pause, then the run: nothing but the
//    CPU and the page cache, where Node's fixed costs (start-up, parsing in JS) show most.
const tarDir = path.join(work, 'tar-out');
const tbDir = path.join(work, 'tb-target');
const plainDir = path.join(work, 'tb-plain');
const usage = path.join(work, 'rusage.json');
// --no-doctor: the generated image has no LXC configuration, and what is timed is the extraction
const tbArgs = [cli, 'prepare', 'BENCH', archive, '--target', tbDir, '--no-plugin-json', '-q', '--no-doctor'];
const plainArgs = [cli, 'prepare', 'BENCH', archive, '--target', plainDir, '--no-plugin-json', '-q', '--no-doctor', '--idmap', 'none'];
// the closure of ThunderPlugin, the plugin library and the proxy stubs (issue #8)
const minDir = path.join(work, 'tb-min');
const minArgs = [cli, 'prepare', 'BENCH', archive, '--target', minDir, '--no-plugin-json', '-q', '--no-doctor', '--minimize', '--root', '/usr/lib/thunder/plugins/libThunderBench.so'];
const minTimes = [];
const fresh = (d) => {
  rm(d);
  fs.mkdirSync(d);
};
const runs = {
  tar: () => tarTimes.push(time('tar', ['-xf', archive, '-C', tarDir])),
  tb: () => {
    tbTimes.push(time(process.execPath, tbArgs, { THUNDERBOX_RUSAGE_FILE: usage }));
    rss.push(JSON.parse(fs.readFileSync(usage, 'utf8')).maxRSS / 1024);
    // the same command again: the inputs did not change, so it has nothing to do
    noopTimes.push(time(process.execPath, tbArgs));
  },
  plain: () => plainTimes.push(time(process.execPath, plainArgs)),
  min: () => minTimes.push(time(process.execPath, minArgs)),
};
const orders = [['tar', 'tb', 'plain', 'min'], ['tb', 'min', 'plain', 'tar'], ['min', 'plain', 'tar', 'tb']];
for (let i = 0; i < RUNS; i++) {
  for (const d of [tarDir, tbDir, plainDir, minDir]) fresh(d);
  for (const which of orders[i % orders.length]) runs[which]();
  process.stdout.write(`run ${i + 1}/${RUNS}: tar ${tarTimes.at(-1).toFixed(2)} s, thunderbox ${tbTimes.at(-1).toFixed(2)} s (${rss.at(-1).toFixed(0)} MB peak), without idmap ${plainTimes.at(-1).toFixed(2)} s, no-op ${noopTimes.at(-1).toFixed(3)} s, minimised ${minTimes.at(-1).toFixed(2)} s\n`);
}
// The page-cache regime on a tmpfs (as root; skipped otherwise): no disk at all, so the
// figure is steady, and it shows the CPU cost of Node's start-up and of parsing in JS.
const warm = { tar: [], tb: [], plain: [] };
const mnt = path.join(work, 'tmpfs');
fs.mkdirSync(mnt, { recursive: true });
if (process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1g', 'tbx-bench', mnt]).status === 0) {
  try {
    for (let i = 0; i < 5; i++) {
      for (const which of orders[i % orders.length].filter((w) => w !== 'min')) {
        const d = path.join(mnt, which);
        fresh(d);
        const tb = [cli, 'prepare', 'BENCH', archive, '--target', d, '--no-plugin-json', '-q', '--no-doctor'];
        warm[which].push(which === 'tar' ? time('tar', ['-xf', archive, '-C', d]) : time(process.execPath, which === 'plain' ? [...tb, '--idmap', 'none'] : tb));
        rm(d); // the tmpfs holds one tree at a time
      }
    }
  } finally {
    spawnSync('umount', [mnt]);
  }
}
// For context: what any Node.js program costs to start on this machine right now.
const nodeStart = median(Array.from({ length: 5 }, () => time(process.execPath, ['-e', '0'])));
const ratio = median(tbTimes) / median(tarTimes);
const noop = median(noopTimes) / median(tbTimes);
const peak = Math.max(...rss);
process.stdout.write(`\nGNU tar -xf:        median ${median(tarTimes).toFixed(2)} s\n`);
process.stdout.write(`thunderbox prepare: median ${median(tbTimes).toFixed(2)} s\n`);
process.stdout.write(`wall ratio:         ${ratio.toFixed(2)}x GNU tar   (target <= 1.2x) ${ratio <= 1.2 ? 'ok' : 'MISSED'}\n`);
// the shift's cost is measured where the figures are steady: on the tmpfs when there is one
const [withMap, without] = warm.tb.length ? [median(warm.tb), median(warm.plain)] : [median(tbTimes), median(plainTimes)];
const shift = withMap / without - 1;
process.stdout.write(`idmap shift:        ${shift >= 0 ? '+' : ''}${(shift * 100).toFixed(1)}% (${withMap.toFixed(2)} s with the default idmap, ${without.toFixed(2)} s with --idmap none${warm.tb.length ? ', tmpfs' : ''}) (target <= 10%) ${shift <= 0.1 ? 'ok' : 'MISSED'}\n`);
process.stdout.write(`peak RSS:           ${peak.toFixed(0)} MB       (target <= 100 MB) ${peak <= 100 ? 'ok' : 'MISSED'}\n`);
if (warm.tar.length) process.stdout.write(`tmpfs (CPU only):   tar ${median(warm.tar).toFixed(2)} s, thunderbox ${median(warm.tb).toFixed(2)} s: ${(median(warm.tb) / median(warm.tar)).toFixed(2)}x (no disk: Node's start-up and JS parsing show; for information)\n`);
process.stdout.write(`no-op re-run:       ${(noop * 100).toFixed(1)}% of the first run (target <= 5%) ${noop <= 0.05 ? 'ok' : 'MISSED'}  [${median(noopTimes).toFixed(3)} s; \`node -e 0\` alone: ${nodeStart.toFixed(3)} s]\n`);
{
  fresh(minDir);
  const r = spawnSync(process.execPath, [...minArgs.filter((a) => a !== '-q'), '--json'], { encoding: 'utf8' });
  const sz = JSON.parse(r.stdout).containers[0].size;
  const m = median(minTimes) / median(tarTimes);
  process.stdout.write(`minimised prepare:  median ${median(minTimes).toFixed(2)} s = ${m.toFixed(2)}x GNU tar's full extraction (goal: faster, < 1x) ${m < 1 ? 'ok' : 'MISSED'}; ${sz.files} files, ${(sz.bytes / 1e6).toFixed(1)} MB = ${sz.percent}% of ${sz.fullFiles} files, ${(sz.fullBytes / 1e6).toFixed(1)} MB\n`);
}

// thunderbox doctor on the full container (it exits 1 here: the generated image has no LXC)
{
  const ts = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync(process.execPath, [cli, 'doctor', 'BENCH', '--target', tbDir, '-q'], { stdio: 'ignore' });
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const m = median(ts);
  process.stdout.write(`doctor:             ${m.toFixed(2)} s on the ${list}-entry container, start-up included (target < 1 s) ${m < 1 ? 'ok' : 'MISSED'}\n`);
}

// lxc check of a 1,000-line config, in-process (target: under 20 ms)
{
  const lines = ['lxc.uts.name = bench', 'lxc.include = /usr/share/lxc/config/common.conf', 'lxc.arch = linux32', 'lxc.rootfs.path = dir:/usr/share/Thunder/B/Container/rootfs'];
  for (let i = 0; lines.length < 1000; i++) {
    lines.push(`# block ${i}`, `lxc.mount.entry = /srv/d${i} srv/d${i} none rbind,create=dir,optional 0 0`, `lxc.environment = V${i}=value ${i}`, `lxc.net.${i}.type = veth`, `lxc.net.${i}.link = lxcbr0`, `lxc.net.${i}.flags = up`, `lxc.net.${i}.hwaddr = 00:16:3e:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, `lxc.net.${i}.ipv4.address = 198.18.${i >> 8}.${i & 255}/24`, `lxc.cgroup2.memory.max = ${i}M`);
  }
  lines.push('lxc.idmap = u 0 100000 65536', 'lxc.idmap = g 0 100000 65536');
  const text = lines.join('\n') + '\n';
  const ms = [];
  for (let i = 0; i < 30; i++) {
    const t0 = process.hrtime.bigint();
    checkConfigText(text, '/bench.conf', { version: 6 });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const m = median(ms.slice(5));
  process.stdout.write(`lxc check:          ${m.toFixed(1)} ms for ${text.split('\n').length - 1} lines (target < 20 ms) ${m < 20 ? 'ok' : 'MISSED'}\n`);
}

// kconfig lint of a 10,000-line .config, in-process (target: under 100 ms)
{
  const lines = ['#', '# Automatically generated file; DO NOT EDIT.', '# Linux/arm 6.12.49 Kernel Configuration', '#'];
  for (let i = 0; lines.length < 10000; i++) lines.push(i % 3 === 0 ? `# CONFIG_SYM_${i} is not set` : i % 3 === 1 ? `CONFIG_SYM_${i}=y` : `CONFIG_STR_${i}="value ${i}"`);
  lines.push('CONFIG_NAMESPACES=y', 'CONFIG_USER_NS=y', 'CONFIG_VETH=m');
  const file = path.join(work, 'big.config');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const ms = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    await lint([file], { uses: new Set(['idmap', 'seccomp']) });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const m = median(ms.slice(3));
  process.stdout.write(`kconfig lint:       ${m.toFixed(1)} ms for a ${lines.length}-line .config (target < 100 ms) ${m < 100 ? 'ok' : 'MISSED'}\n`);
}
if (!arg('keep', null)) rm(work);
