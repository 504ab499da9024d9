import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { cgroupMountCheck } from '../../src/buildroot/cgroup-mount.js';
import { checkConfigText } from '../../src/lxc/check.js';
import { cgroupV2Form, limitKeys } from '../../src/lxc/limits.js';
import { mergeInputs } from '../../src/profile/input.js';
import { parseCpuList, parseSize, resolveLimits, weightToShares } from '../../src/profile/limits.js';
import { parseManifest } from '../../src/profile/manifest.js';
import { resolveContainer } from '../../src/profile/resolve.js';
import { chooseCgroupLayout, detectCgroupLayout } from '../../src/thunder/cgroup-layout.js';
import { tmpDir } from '../helpers/tmp.js';

describe('sizes', () => {
  it.each([
    ['128M', 134217728],
    ['128m', 134217728],
    ['128MiB', 134217728],
    ['64K', 65536],
    ['1G', 2 ** 30],
    ['2T', 2 * 2 ** 40],
    ['4096', 4096],
    [1048576, 1048576],
    [' 32M ', 32 * 2 ** 20],
  ] as const)('%s is %d bytes', (v, bytes) => {
    expect(parseSize(v)).toEqual({ ok: true, value: bytes });
  });
  it.each(['128MB', '1GB', '1.5G', '-1', 'M', '12X', '', '9999999T', 1.5])('%s is refused', (v) => {
    expect(parseSize(v).ok).toBe(false);
  });
});

describe('cpu lists', () => {
  it.each(['0', '0-1', '0,2-3', '1,3'])('%s is a CPU list', (v) => expect(parseCpuList(v)).toEqual({ ok: true, value: v }));
  it.each(['', '1-0', 'a', '0-', '0,,1', '9000', '-1'])('%s is refused', (v) => expect(parseCpuList(v).ok).toBe(false));
});

describe('cpu.weight to cpu.shares (systemd\'s conversion)', () => {
  it.each([
    [100, 1024],
    [1, 10],
    [50, 512],
    [10000, 102400],
  ])('weight %d is %d shares', (w, s) => expect(weightToShares(w)).toBe(s));
});

describe('resolveLimits', () => {
  const none = () => undefined;
  it('the issue\'s example', () => {
    expect(resolveLimits({ memory: '128M', memorySwap: '128M', pids: 256, cpuWeight: 100, cpus: '0-1', nofile: 1024 }, none)).toEqual({ errors: [], limits: { memory: 134217728, memorySwap: 134217728, pids: 256, cpu: { weight: 100, cpus: '0-1' }, nofile: 1024 } });
  });
  it.each([
    [{ memory: '2K' }, '--memory: 2048 bytes is less than one page'],
    [{ memory: '64M', memorySwap: '32M' }, '--memory-swap: memory-swap 32M is below memory 64M'],
    [{ memorySwap: '32M' }, 'needs memory as well'],
    [{ pids: 0 }, '--pids: 0 is not a number of tasks'],
    [{ pids: '5000000' }, 'not a number of tasks'],
    [{ cpuWeight: 0 }, '--cpu-weight: 0 is not a CPU weight'],
    [{ cpuWeight: 10001 }, 'not a CPU weight'],
    [{ nofile: 2000000 }, '--nofile: 2000000 is not a number of open files'],
    [{ nofile: '1e3' }, 'not a number of open files'],
  ])('%j: %s', (input, message) => {
    const r = resolveLimits(input, none);
    expect(r.limits).toBeUndefined();
    expect(r.errors.map((e) => e.message).join('\n')).toContain(message);
  });
});

describe('limits in the manifest', () => {
  const text = `containers:
  OCDM:
    rootfs: .
    limits:
      memory: 128MB
      memory-swap: 64M
      pids: 0
      cpu: { weight: 0, cpus: "3-1" }
      nofile: 1024
`;
  it('every bad value at its line and column', () => {
    const m = parseManifest(text, 'thunderbox.yaml');
    let e: unknown;
    try {
      resolveContainer('OCDM', m.containers[0]!.input, { target: '/' });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ThunderboxError);
    const d = (e as ThunderboxError).diagnostics.map((x) => `${x.line}:${x.col} ${x.message.split(':').slice(0, 2).join(':')}`);
    expect(d).toEqual(['5:15 OCDM: limits.memory', '7:13 OCDM: limits.pids', '8:22 OCDM: limits.cpu.weight', '8:31 OCDM: limits.cpu.cpus']);
  });
  it('an unknown key, with its neighbour', () => {
    let e: unknown;
    try {
      parseManifest('containers:\n  OCDM:\n    limits: { memroy: 1M }\n', 'thunderbox.yaml');
    } catch (x) {
      e = x;
    }
    expect((e as ThunderboxError).diagnostics[0]).toMatchObject({ code: 'MANIFEST_UNKNOWN_KEY', line: 3, col: 15, hint: 'did you mean memory?' });
  });
  it('a flag replaces one limit, the others stay with their positions', () => {
    const m = parseManifest('containers:\n  OCDM:\n    rootfs: .\n    limits: { memory: 1K, pids: 0 }\n', 'thunderbox.yaml');
    const merged = mergeInputs(m.containers[0]!.input, { limits: { memory: '64M' } });
    expect(merged.limits).toEqual({ memory: '64M', pids: 0 });
    let e: unknown;
    try {
      resolveContainer('OCDM', merged, { target: '/' });
    } catch (x) {
      e = x;
    }
    expect((e as ThunderboxError).diagnostics.map((x) => [x.line, x.col, x.message.includes('limits.pids')])).toEqual([[4, 33, true]]);
  });
});

describe('LXC keys per cgroup layout', () => {
  const l = { memory: 128 * 2 ** 20, memorySwap: 192 * 2 ** 20, pids: 256, cpu: { weight: 50, cpus: '0-1' }, nofile: 1024 };
  it('v1', () => {
    expect(limitKeys(l, 'v1').map((k) => `${k.key} = ${k.value}`)).toEqual([
      'lxc.cgroup.memory.limit_in_bytes = 134217728',
      'lxc.cgroup.memory.memsw.limit_in_bytes = 201326592',
      'lxc.cgroup.pids.max = 256',
      'lxc.cgroup.cpu.shares = 512',
      'lxc.cgroup.cpuset.cpus = 0-1',
      'lxc.prlimit.nofile = 1024',
    ]);
  });
  it('v2: swap.max is the swap alone', () => {
    expect(limitKeys(l, 'v2').map((k) => `${k.key} = ${k.value}`)).toEqual([
      'lxc.cgroup2.memory.max = 134217728',
      'lxc.cgroup2.memory.swap.max = 67108864',
      'lxc.cgroup2.pids.max = 256',
      'lxc.cgroup2.cpu.weight = 50',
      'lxc.cgroup2.cpuset.cpus = 0-1',
      'lxc.prlimit.nofile = 1024',
    ]);
  });
});

describe('the image\'s cgroup layout', () => {
  const image = (files: string[]) => {
    const t = tmpDir();
    for (const f of files) {
      fs.mkdirSync(path.join(t, path.dirname(f)), { recursive: true });
      fs.writeFileSync(path.join(t, f), '#!/bin/sh\n');
    }
    return t;
  };
  it.each([
    [['usr/bin/cgroupfs-mount', 'etc/init.d/S30cgroupfs'], 'v1', '/usr/bin/cgroupfs-mount'],
    [['etc/init.d/S30cgroupfs'], 'v1', '/etc/init.d/S30cgroupfs'],
    [['etc/init.d/S30cgroupfs2'], 'v2', '/etc/init.d/S30cgroupfs2'],
    [['usr/lib/systemd/systemd'], 'v2', '/usr/lib/systemd/systemd'],
  ])('%j: %s', (files, layout, from) => {
    expect(detectCgroupLayout(image(files)).found).toEqual({ layout, from });
  });
  it('nothing mounts cgroups: v1 assumed, with a warning', () => {
    const c = chooseCgroupLayout(image(['etc/init.d/S01syslogd']), {});
    expect(c).toMatchObject({ layout: 'v1', from: 'assumed' });
    expect(c.diagnostics.map((d) => [d.code, d.severity])).toEqual([['CGROUP_LAYOUT_UNKNOWN', 'warning']]);
  });
  it('Buildroot\'s config: BR2_INIT_SYSTEMD and the mount packages', () => {
    const t = image([]);
    const cfg = path.join(t, '.config');
    fs.writeFileSync(cfg, 'BR2_INIT_SYSTEMD=y\n# BR2_PACKAGE_CGROUPFS_MOUNT is not set\n');
    expect(detectCgroupLayout(t, cfg).found).toEqual({ layout: 'v2', from: 'BR2_INIT_SYSTEMD=y' });
    fs.writeFileSync(cfg, 'BR2_INIT_BUSYBOX=y\nBR2_PACKAGE_CGROUPFS_MOUNT=y\n');
    expect(detectCgroupLayout(t, cfg).found).toEqual({ layout: 'v1', from: 'BR2_PACKAGE_CGROUPFS_MOUNT=y' });
  });
  it('both ways: an error unless --cgroup says', () => {
    const t = image(['usr/bin/cgroupfs-mount', 'etc/init.d/S30cgroupfs2']);
    expect(chooseCgroupLayout(t, {}).diagnostics.map((d) => d.code)).toEqual(['CGROUP_LAYOUT_AMBIGUOUS']);
    expect(chooseCgroupLayout(t, { override: 'v2' })).toEqual({ layout: 'v2', from: '--cgroup', diagnostics: [] });
  });
});

describe('lxc check: cgroup layouts', () => {
  const codes = (text: string, version: 5 | 6 | 7 = 5) => checkConfigText(text, 'config', { version }).map((d) => `${d.line}:${d.code}`);
  it('v1 and v2 limits in one config: a warning at the later', () => {
    expect(codes('lxc.cgroup.memory.limit_in_bytes = 128M\nlxc.cgroup2.pids.max = 10\n')).toEqual(['2:LXC_CGROUP_MIXED']);
  });
  it('devices for both layouts (as common.conf has them) and limits of one: nothing', () => {
    expect(codes('lxc.cgroup.devices.allow = c 1:3 rwm\nlxc.cgroup2.devices.allow = c 1:3 rwm\nlxc.cgroup2.memory.max = 1G\n')).toEqual([]);
  });
  it('a v1 limit against LXC 7: an error whose hint is the v2 form', () => {
    const d = checkConfigText('lxc.cgroup.cpu.shares = 2048\n', 'config', { version: 7 });
    expect(d).toMatchObject([{ code: 'LXC_KEY_VERSION', severity: 'error', line: 1 }]);
    expect(d[0]!.hint).toContain('write lxc.cgroup2.cpu.weight = 200');
  });
  it.each([
    ['lxc.cgroup.memory.limit_in_bytes', '-1', undefined, 'lxc.cgroup2.memory.max = max'],
    ['lxc.cgroup.memory.memsw.limit_in_bytes', '256M', '128M', 'lxc.cgroup2.memory.swap.max = 134217728'],
    ['lxc.cgroup.memory.memsw.limit_in_bytes', '64M', '128M', null],
    ['lxc.cgroup.cpu.shares', '1024', undefined, 'lxc.cgroup2.cpu.weight = 100'],
    ['lxc.cgroup.cpu.shares', '2', undefined, 'lxc.cgroup2.cpu.weight = 1'],
    ['lxc.cgroup.cpuset.mems', '0', undefined, 'lxc.cgroup2.cpuset.mems = 0'],
    ['lxc.cgroup.blkio.weight', '500', undefined, null],
  ])('%s = %s (memory %s): %s', (key, value, memory, want) => {
    const r = cgroupV2Form(key, value, memory);
    expect(r && `${r.key} = ${r.value}`).toBe(want);
  });
});

describe('the build\'s cgroup mount package (buildroot check, post-build)', () => {
  it.each([
    [['BR2_PACKAGE_CGROUPFS_MOUNT'], ['X'], ['note BR_CGROUP_LAYOUT']],
    [['BR2_PACKAGE_CGROUPFS_V2_MOUNT'], ['X'], ['note BR_CGROUP_LAYOUT']],
    [['BR2_PACKAGE_CGROUPFS_MOUNT'], [], []],
    [['BR2_PACKAGE_CGROUPFS_MOUNT', 'BR2_PACKAGE_CGROUPFS_V2_MOUNT'], [], ['warning BR_CGROUP_BOTH']],
    [['BR2_PACKAGE_CGROUPFS_MOUNT', 'BR2_INIT_SYSTEMD'], ['X'], ['warning BR_CGROUP_BOTH']],
    [[], ['X'], ['warning BR_CGROUP_NONE']],
    [[], [], []],
  ])('%j, limits in %j: %j', (set, limited, want) => {
    const c = new Map(set.map((k) => [k, 'y']));
    expect(cgroupMountCheck(c, '.config', limited).map((d) => `${d.severity} ${d.code}`)).toEqual(want);
  });
});
