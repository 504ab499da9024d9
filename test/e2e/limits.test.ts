import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { startOnDevice } from '../../src/lxc/device-start.js';
import { runDoctor } from '../../src/thunder/doctor.js';
import { THUNDER_ENVIRONMENT } from '../../src/thunder/environment.js';
import { tbx } from '../helpers/cli.js';
import { busyboxRootfs, deviceImage } from '../helpers/device-image.js';
import { limitPrograms, type LimitPrograms } from '../helpers/limit-programs.js';
import { tmpDir } from '../helpers/tmp.js';

// Limits as the device applies them: a manifest with limits, `thunderbox prepare` (the built
// CLI), then a start as Thunder's LXC backend starts the container (startOnDevice). This
// host's controllers are cgroup v1, so these are the v1 keys; the v2 ones start under a
// booted kernel in limits-v2.test.ts. What is checked is what the container sees.

const cs = (p: string) => `${p}${randomBytes(3).toString('hex')}`;
let progs: LimitPrograms;

beforeAll(async () => {
  progs = await limitPrograms(tmpDir());
}, 60_000);

/** An image that mounts cgroup v1 (cgroupfs-mount), with a container prepared from a manifest. */
const config = (target: string, c: string) => fs.readFileSync(path.join(target, 'usr/share/Thunder', c, 'Container/config'), 'utf8');

async function prepared(limits: string, mount: 'v1' | 'v2' | 'none' = 'v1') {
  const dir = tmpDir();
  const target = await deviceImage(dir);
  if (mount === 'v1') fs.writeFileSync(path.join(target, 'usr/bin/cgroupfs-mount'), '#!/bin/sh\n', { mode: 0o755 });
  if (mount === 'v2') {
    fs.mkdirSync(path.join(target, 'etc/init.d'), { recursive: true });
    fs.writeFileSync(path.join(target, 'etc/init.d/S30cgroupfs2'), '#!/bin/sh\n', { mode: 0o755 });
  }
  const t = 1700000000;
  const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'), {
    extra: [
      { path: 'usr', type: 'Directory', mtime: t },
      { path: 'usr/bin', type: 'Directory', mtime: t },
      { path: 'usr/bin/alloc', type: 'File', mode: 0o755, data: progs.alloc, mtime: t },
      { path: 'usr/bin/forker', type: 'File', mode: 0o755, data: progs.forker, mtime: t },
    ],
  });
  const c = cs('Lim');
  const manifest = path.join(dir, 'thunderbox.yaml');
  fs.writeFileSync(manifest, `containers:\n  ${c}:\n    rootfs: ${rootfs}\n    plugin-json: false\n    limits: ${limits}\n`);
  const r = await tbx(['prepare', '--manifest', manifest, '--target', target, '--no-doctor']);
  expect(r.code, r.stderr).toBe(0);
  return { target, callsign: c, lxcpath: `/usr/share/Thunder/${c}`, config: fs.readFileSync(path.join(target, 'usr/share/Thunder', c, 'Container/config'), 'utf8'), stderr: r.stderr };
}

/**
 * The container's own cgroups, mounted as its init would: liblxc 5.0.2 mounts none for
 * lxc.mount.auto = cgroup:mixed when the container keeps CAP_SYS_ADMIN in its cgroup namespace
 * (its /sys/fs/cgroup is empty); in that namespace each hierarchy's root is the container's cgroup.
 */
const MOUNT_CGROUPS = 'mount -t tmpfs cgroups /sys/fs/cgroup && for c in memory pids cpu cpuset; do busybox mkdir /sys/fs/cgroup/$c && mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c || exit 9; done';

async function start(target: string, lxcpath: string, script: string) {
  return startOnDevice({ target, lxcpath, name: 'Container', env: { ...THUNDER_ENVIRONMENT }, command: ['/bin/sh', '-c', `${MOUNT_CGROUPS}; ${script}`], timeoutMs: 60_000 });
}

describe('limits under cgroup v1, started as on the device', () => {
  it('memory 32M: 64 MB is OOM-killed inside, the limits show in the container, the host is untouched', async () => {
    const { target, lxcpath, config } = await prepared('{ memory: 32M, memory-swap: 32M, cpu: { weight: 50, cpus: "0" } }');
    expect(config).toContain('lxc.cgroup.memory.limit_in_bytes = 33554432\n');
    expect(config).toContain('lxc.cgroup.memory.memsw.limit_in_bytes = 33554432\n');
    expect(config).toContain('lxc.cgroup.cpu.shares = 512\n');
    const r = await start(target, lxcpath, [
      'echo "limit $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"',
      'echo "memsw $(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes)"',
      'echo "shares $(cat /sys/fs/cgroup/cpu/cpu.shares)"',
      'echo "cpuset $(cat /sys/fs/cgroup/cpuset/cpuset.cpus)"',
      'grep Cpus_allowed_list /proc/self/status',
      '/usr/bin/alloc 16; echo "small status $?"',
      '/usr/bin/alloc 64; echo "big status $?"',
    ].join('; '));
    expect(r.started, r.error).toBe(true);
    expect(r.output).toContain('limit 33554432\n');
    expect(r.output).toContain('memsw 33554432\n');
    expect(r.output).toContain('shares 512\n');
    expect(r.output).toContain('cpuset 0\n');
    expect(r.output).toMatch(/Cpus_allowed_list:\s+0\n/);
    // under the limit it runs through; over it the kernel kills it (SIGKILL: 128 + 9)
    expect(r.output).toContain('alloc done\nsmall status 0\n');
    expect(r.output).toContain('big status 137\n');
    expect(r.output).not.toMatch(/alloc 64\n/);
    // the same program on the host, outside the limit, allocates all of it
    const host = await execa(path.join(target, 'usr/share/Thunder', path.basename(lxcpath), 'Container/rootfs/usr/bin/alloc'), ['64'], { reject: false });
    expect(host.exitCode).toBe(0);
    expect(host.stdout).toContain('alloc done');
  }, 120_000);

  it('pids 32: a fork loop stops at the limit; nofile 1024 is ulimit -n', async () => {
    const { target, lxcpath, config } = await prepared('{ pids: 32, nofile: 1024 }');
    expect(config).toContain('lxc.cgroup.pids.max = 32\n');
    expect(config).toContain('lxc.prlimit.nofile = 1024\n');
    const r = await start(target, lxcpath, 'echo "pids.max $(cat /sys/fs/cgroup/pids/pids.max)"; echo "nofile $(ulimit -n) $(ulimit -Hn)"; /usr/bin/forker');
    expect(r.started, r.error).toBe(true);
    expect(r.output).toContain('pids.max 32\n');
    expect(r.output).toContain('nofile 1024 1024\n');
    // the shell runs its last command by exec: forker is init, 1 of the 32 tasks
    expect(r.output).toContain('forked 31 errno EAGAIN\n');
  }, 120_000);

  it('an image that mounts no cgroups: v1 keys with a warning saying so', async () => {
    const { config, stderr } = await prepared('{ pids: 64 }', 'none');
    expect(config).toContain('# resource limits, for cgroup v1 (assumed)\n');
    expect(stderr).toContain('warning[CGROUP_LAYOUT_UNKNOWN]');
  }, 60_000);
});

describe('keys of the other layout', () => {
  it('v2 keys (an image that mounts v2, started on this v1 host): liblxc starts the container without the limit, with a warning only', async () => {
    const dir = tmpDir();
    const target = await deviceImage(dir);
    fs.mkdirSync(path.join(target, 'etc/init.d'), { recursive: true });
    fs.writeFileSync(path.join(target, 'etc/init.d/S30cgroupfs2'), '#!/bin/sh\n', { mode: 0o755 });
    const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'));
    const c = cs('LimX');
    const p = await tbx(['prepare', c, rootfs, '--target', target, '--no-plugin-json', '--no-doctor', '--memory', '32M']);
    expect(p.code, p.stderr).toBe(0);
    expect(fs.readFileSync(path.join(target, 'usr/share/Thunder', c, 'Container/config'), 'utf8')).toContain('lxc.cgroup2.memory.max = 33554432\n');
    const r = await start(target, `/usr/share/Thunder/${c}`, 'echo "limit $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"');
    expect(r.started, r.error).toBe(true);
    // no limit: the page-rounded LONG_MAX the kernel shows for "unlimited"
    expect(r.output).toBe('limit 9223372036854771712\n');
    expect(r.lxcLog).toContain('Ignoring cgroup2 limits on legacy cgroup system');
    // the doctor sees the same from the image: a warning per dropped key, no error (it starts)
    fs.rmSync(path.join(target, 'etc/init.d/S30cgroupfs2'));
    fs.writeFileSync(path.join(target, 'usr/bin/cgroupfs-mount'), '#!/bin/sh\n', { mode: 0o755 });
    const d = await runDoctor({ target, callsign: c, pluginJson: null });
    expect(d.ruleErrors['cgroup-limits'] ?? 0).toBe(0);
    expect(d.findings.filter((x) => x.code.startsWith('CGROUP_')).map((x) => `${x.severity} ${x.code} ${x.line}`)).toEqual([`warning CGROUP_LIMIT_IGNORED ${config(target, c).split('\n').indexOf('lxc.cgroup2.memory.max = 33554432') + 1}`]);
  }, 60_000);

  it('the doctor on a v2 image: the v1 keys are dropped there; Thunder\'s figures need v1 (a note)', async () => {
    const { target, callsign } = await prepared('{ memory: 32M }', 'v1');
    fs.rmSync(path.join(target, 'usr/bin/cgroupfs-mount'));
    fs.mkdirSync(path.join(target, 'etc/init.d'), { recursive: true });
    fs.writeFileSync(path.join(target, 'etc/init.d/S30cgroupfs2'), '#!/bin/sh\n', { mode: 0o755 });
    const d = await runDoctor({ target, callsign, pluginJson: null });
    expect(d.findings.filter((x) => x.code.startsWith('CGROUP_')).map((x) => `${x.severity} ${x.code}`)).toEqual(['warning CGROUP_LIMIT_IGNORED', 'note CGROUP_V2_THUNDER_FIGURES']);
    // prepared again, the keys follow the image
    const again = await prepared('{ memory: 32M }', 'v2');
    const d2 = await runDoctor({ target: again.target, callsign: again.callsign, pluginJson: null });
    expect(d2.findings.filter((x) => x.code.startsWith('CGROUP_')).map((x) => `${x.severity} ${x.code}`)).toEqual(['note CGROUP_V2_THUNDER_FIGURES']);
  }, 60_000);
});
