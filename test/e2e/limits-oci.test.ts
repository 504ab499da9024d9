import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { ociLimits } from '../../src/oci/limits.js';
import { resolveLimits } from '../../src/profile/limits.js';
import { parseManifest } from '../../src/profile/manifest.js';
import { resolveContainer } from '../../src/profile/resolve.js';
import { limitPrograms, type LimitPrograms } from '../helpers/limit-programs.js';
import { tmpDir } from '../helpers/tmp.js';

// ociLimits (linux.resources, process.rlimits) in a minimal bundle this test builds: `runc
// spec`'s config.json with the test's own process, started by the real runc 1.1.5 and crun
// 1.8.1 on this host (cgroup v1). What is checked is what the container sees.

let progs: LimitPrograms;
beforeAll(async () => {
  progs = await limitPrograms(tmpDir());
}, 60_000);

const APPLETS = ['sh', 'cat', 'grep', 'echo'];

function bundle(dir: string): string {
  const b = path.join(dir, 'bundle');
  const root = path.join(b, 'rootfs');
  for (const d of ['bin', 'usr/bin', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const a of APPLETS) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'usr/bin/alloc'), progs.alloc, { mode: 0o755 });
  fs.writeFileSync(path.join(root, 'usr/bin/forker'), progs.forker, { mode: 0o755 });
  return b;
}

async function runIn(runtime: 'runc' | 'crun', dir: string, b: string, args: string[], limits: ReturnType<typeof ociLimits>) {
  await execa('runc', ['spec', '--bundle', b]);
  const file = path.join(b, 'config.json');
  const c = JSON.parse(fs.readFileSync(file, 'utf8'));
  c.process.terminal = false;
  c.process.args = args;
  c.process.rlimits = limits.rlimits;
  c.linux.resources = { ...c.linux.resources, ...limits.resources };
  fs.writeFileSync(file, JSON.stringify(c, null, 2));
  const state = path.join(dir, 'state');
  const id = `tbx-lim-${randomBytes(4).toString('hex')}`;
  // This host is hybrid: its cgroup2 at /sys/fs/cgroup/unified holds hugetlb, and crun 1.8.1
  // refuses that ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2").
  // A device with cgroupfs-mount mounts every controller as v1, so crun runs here in a mount
  // namespace of its own without the cgroup2 mount: the v1 layout the device has.
  const argv = (a: string[]) => (runtime === 'runc' ? ['runc', ...a] : ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$@"', 'crun', 'crun', ...a]);
  try {
    const [cmd, ...rest] = argv(['--root', state, 'run', '--bundle', b, id]);
    return await execa(cmd!, rest, { reject: false, timeout: 60_000, stdin: 'ignore' });
  } finally {
    const [cmd, ...rest] = argv(['--root', state, 'delete', '--force', id]);
    await execa(cmd!, rest, { reject: false });
  }
}

describe.each(['runc', 'crun'] as const)('ociLimits under %s (cgroup v1)', (runtime) => {
  it('memory 32M kills 64 MB inside; memsw, shares, cpuset, Cpus_allowed_list, nofile 2048, pids 32 show and hold', async () => {
    // a manifest's limits, resolved as prepare resolves them
    const m = parseManifest('containers:\n  OCDM:\n    rootfs: .\n    limits: { memory: 32M, memory-swap: 32M, pids: 32, cpu: { weight: 50, cpus: "0" }, nofile: 2048 }\n', 'thunderbox.yaml');
    const spec = resolveContainer('OCDM', m.containers[0]!.input, { target: '/' });
    const limits = ociLimits(spec.limits, 'v1');
    expect(limits).toEqual({ resources: { memory: { limit: 33554432, swap: 33554432 }, pids: { limit: 32 }, cpu: { shares: 512, cpus: '0' } }, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 2048 }] });
    const dir = tmpDir();
    const script = [
      'echo "limit $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"',
      'echo "memsw $(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes)"',
      'echo "shares $(cat /sys/fs/cgroup/cpu/cpu.shares)"',
      'echo "cpuset $(cat /sys/fs/cgroup/cpuset/cpuset.cpus)"',
      'echo "pids.max $(cat /sys/fs/cgroup/pids/pids.max)"',
      'grep Cpus_allowed_list /proc/self/status',
      'echo "nofile $(ulimit -n) $(ulimit -Hn)"',
      '/usr/bin/alloc 16; echo "small status $?"',
      '/usr/bin/alloc 64; echo "big status $?"',
      '/usr/bin/forker',
    ].join('; ');
    const args = ['/bin/sh', '-c', script];
    const out = await runIn(runtime, dir, bundle(dir), args, limits);
    const o = String(out.stdout);
    expect(o, String(out.stderr)).toContain('limit 33554432\n');
    expect(o).toContain('memsw 33554432\n');
    expect(o).toContain('shares 512\n');
    expect(o).toContain('cpuset 0\n');
    expect(o).toContain('pids.max 32\n');
    expect(o).toMatch(/Cpus_allowed_list:\s+0\n/);
    expect(o).toContain('nofile 2048 2048\n');
    expect(o).toContain('alloc done\nsmall status 0\n');
    expect(o).toContain('big status 137\n');
    // forker is the last command, run by exec as the container's pid 1: 1 of the 32 tasks
    expect(o).toContain('forked 31 errno EAGAIN');
  }, 120_000);
});

describe('ociLimits for cgroup v2', () => {
  it('cpu.weight goes in unified (the runtimes\' shares conversion would make 1024 into 39), the rest in the spec\'s fields', () => {
    const r = resolveLimits({ memory: '128M', memorySwap: '192M', pids: 256, cpuWeight: 100, cpus: '0-1', nofile: 1024 }, () => undefined);
    expect(ociLimits(r.limits, 'v2')).toEqual({
      resources: { memory: { limit: 134217728, swap: 201326592 }, pids: { limit: 256 }, cpu: { cpus: '0-1' }, unified: { 'cpu.weight': '100' } },
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }],
    });
    expect(ociLimits(undefined, 'v2')).toEqual({ resources: {}, rlimits: [] });
  });
});
