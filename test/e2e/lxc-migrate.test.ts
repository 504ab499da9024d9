import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfigText } from '../../src/lxc/check.js';
import { migrateConfig } from '../../src/lxc/migrate.js';
import { writeSample } from '../../src/thunder/sample.js';
import { tbx } from '../helpers/cli.js';
import { lxcAccepts } from '../helpers/lxc.js';
import { tmpDir } from '../helpers/tmp.js';

const LEGACY = `# legacy config from a wiki
lxc.utsname = old
lxc.rootfs.backend = btrfs
lxc.rootfs = /var/lib/lxc/old/rootfs
lxc.network.type = veth
lxc.network.link = lxcbr0
lxc.network.flags = up
lxc.network.ipv4 = 10.0.3.5/24
lxc.network.ipv4.gateway = 10.0.3.1
lxc.network.type = empty
lxc.id_map = u 0 100000 65536
lxc.id_map = g 0 100000 65536
lxc.limit.nofile = 1024
lxc.pts = 1024
  lxc.tty   =   4
lxc.kmsg = 0
# lxc.utsname = comments stay as they are
lxc.aa_profile = unconfined
`;

describe('lxc migrate', () => {
  it('converts a legacy config into one liblxc loads, fixing lxc-update-config\'s bugs', async () => {
    const m = migrateConfig(LEGACY, 'old.conf', 5);
    expect(m.after).toBe(`# legacy config from a wiki
lxc.uts.name = old
lxc.rootfs.path = btrfs:/var/lib/lxc/old/rootfs
lxc.net.0.type = veth
lxc.net.0.link = lxcbr0
lxc.net.0.flags = up
lxc.net.0.ipv4.address = 10.0.3.5/24
lxc.net.0.ipv4.gateway = 10.0.3.1
lxc.net.1.type = empty
lxc.idmap = u 0 100000 65536
lxc.idmap = g 0 100000 65536
lxc.prlimit.nofile = 1024
lxc.pty.max = 1024
  lxc.tty.max   =   4
# lxc.utsname = comments stay as they are
lxc.apparmor.profile = unconfined
`);
    expect(m.notes.filter((n) => n.message.startsWith('dropped')).map((n) => n.line)).toEqual([3, 16]);
    expect(checkConfigText(m.after, 'new.conf', { version: 5 }).filter((d) => d.severity === 'error')).toEqual([]);
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'old.conf'), LEGACY);
    fs.writeFileSync(path.join(dir, 'new.conf'), m.after);
    expect((await lxcAccepts(path.join(dir, 'old.conf'))).ok).toBe(false);
    expect(await lxcAccepts(path.join(dir, 'new.conf'))).toMatchObject({ ok: true, utsname: 'old' });
  });

  it.each([
    ['an indexed lxc.network.0.ipv4 gets .address', 'lxc.network.0.type = veth\nlxc.network.0.ipv4 = 10.0.0.2/24\n', 'lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.0.0.2/24\n'],
    ["lxc-update-config's own lxc.net.0.ipv4 output is mended", 'lxc.net.0.type = veth\nlxc.net.0.ipv4 = 10.0.0.2/24\n', 'lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.0.0.2/24\n'],
    ['a rootfs that has a driver keeps it', 'lxc.rootfs = overlayfs:/a:/b\n', 'lxc.rootfs.path = overlayfs:/a:/b\n'],
    ['the backend counts wherever it stands', 'lxc.rootfs.backend = zfs\nlxc.rootfs = tank/x\nlxc.uts.name = a\n', 'lxc.rootfs.path = zfs:tank/x\nlxc.uts.name = a\n'],
    ['a current config is left alone', 'lxc.uts.name = a\n# lxc.network.type = veth\n', 'lxc.uts.name = a\n# lxc.network.type = veth\n'],
  ])('%s', (_n, before, after) => {
    expect(migrateConfig(before, 'f', 6).after).toBe(after);
  });

  it('for LXC 7, cgroup v1 lines without a v2 form are commented out with a note', () => {
    const m = migrateConfig('lxc.cgroup.blkio.weight = 500\nlxc.cgroup.dir = x\n', 'f', 7);
    expect(m.after).toBe('# lxc.cgroup.blkio.weight = 500   # removed in LXC 7 (cgroup v1): write it as lxc.cgroup2.*\nlxc.cgroup.dir = x\n');
    expect(m.notes[0]!.message).toContain('LXC 7 has no cgroup v1 keys');
  });

  it('for LXC 7, the limits become their cgroup v2 form, which liblxc loads', async () => {
    const before = [
      'lxc.cgroup.memory.limit_in_bytes = 128M',
      'lxc.cgroup.memory.memsw.limit_in_bytes = 192M',
      'lxc.cgroup.pids.max = 256',
      'lxc.cgroup.cpu.shares = 512',
      'lxc.cgroup.cpuset.cpus = 0-1',
      'lxc.cgroup.devices.allow = c 1:3 rwm',
      '',
    ].join('\n');
    const m = migrateConfig(before, 'f', 7);
    expect(m.after).toBe(['lxc.cgroup2.memory.max = 128M', 'lxc.cgroup2.memory.swap.max = 67108864', 'lxc.cgroup2.pids.max = 256', 'lxc.cgroup2.cpu.weight = 50', 'lxc.cgroup2.cpuset.cpus = 0-1', 'lxc.cgroup2.devices.allow = c 1:3 rwm', ''].join('\n'));
    expect(m.notes.map((n) => n.line)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(checkConfigText(m.after, 'f', { version: 7 }).filter((d) => d.severity !== 'note')).toEqual([]);
    const dir = tmpDir();
    const f = path.join(dir, 'config');
    fs.writeFileSync(f, `lxc.uts.name = m\n${m.after}`);
    expect((await lxcAccepts(f)).ok).toBe(true);
  });

  it('memory-swap without a memory line to subtract stays commented out', () => {
    expect(migrateConfig('lxc.cgroup.memory.memsw.limit_in_bytes = 192M\n', 'f', 7).after).toMatch(/^# lxc.cgroup.memory.memsw/);
  });

  it('--write replaces the file and keeps FILE.bak; a second run has nothing to do', async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'config');
    fs.writeFileSync(f, LEGACY);
    const r = await tbx(['lxc', 'migrate', f, '--write', '--lxc-version', '5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\n-lxc.utsname = old\n');
    expect(r.stdout).toContain('\n+lxc.uts.name = old\n');
    expect(fs.readFileSync(`${f}.bak`, 'utf8')).toBe(LEGACY);
    expect(fs.readFileSync(f, 'utf8')).toBe(migrateConfig(LEGACY, f, 5).after);
    const again = await tbx(['lxc', 'migrate', f, '--lxc-version', '5']);
    expect(again.stdout).toContain('nothing to convert');
  });

  it('what is left is reported at the lines and columns of the file as written, not of the converted text', async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'old.conf');
    fs.writeFileSync(f, 'lxc.utsname = old\nlxc.kmsg = 0\nlxc.pivotdir = x\nlxc.network.type = veth\n  lxc.network.ipv4 = 10.0.0.300/24\nlxc.bogus = 1\n');
    const r = await tbx(['lxc', 'migrate', f, '--lxc-version', '5']);
    expect(r.stderr).toContain(`${f}:5:22: error[LXC_VALUE]: lxc.net.0.ipv4.address: "10.0.0.300/24" is not an IPv4 address`);
    expect(r.stderr).toContain(`${f}:6:1: error[LXC_UNKNOWN_KEY]`);
    expect(r.code).toBe(1);
  });

  it('--write exits 0 when what is left are warnings: a mount entry with an inline comment (liblxc mounts it)', async () => {
    const dir = tmpDir();
    const f = path.join(dir, 'config');
    fs.writeFileSync(f, 'lxc.utsname = old\nlxc.mount.entry = /tmp tmp none rbind 0 0  # share tmp\n');
    const r = await tbx(['lxc', 'migrate', f, '--write', '--lxc-version', '5']);
    expect(r.stderr).toContain(`${f}:2:19: warning[LXC_INLINE_COMMENT]`);
    expect(r.stderr).not.toContain('error[');
    expect(r.code).toBe(0);
  });
});

describe('lxc check on what prepare writes', () => {
  it.each([
    [[]],
    [['--idmap', 'none', '--seccomp', 'off', '--mount', '/testshare:TestLogging:rw:0770:1000', '--env', 'A=b']],
    [['--share-uid', '1000', '--net', 'veth', '--link', 'lxcbr0', '--ipv4', '10.0.3.10/24', '--ipv6', 'fd00::10/64', '--veth-pair', 'veth-ocdm']],
  ])('no findings with flags %j', async (flags) => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    expect((await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '-q', ...flags])).code).toBe(0);
    const r = await tbx(['lxc', 'check', path.join(s.target, 'usr/share/Thunder/OCDM/Container/config'), '--sysroot', s.target, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, diagnostics: [] });
  });

  it('exit status: 1 on errors, 2 on usage', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'bad.conf'), 'lxc.utsname = x\n');
    const bad = await tbx(['lxc', 'check', path.join(dir, 'bad.conf')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`${path.join(dir, 'bad.conf')}:1:1: error[LXC_LEGACY_KEY]: lxc.utsname was removed in LXC 3.0`);
    expect((await tbx(['lxc', 'check', path.join(dir, 'bad.conf'), '--lxc-version', '4'])).code).toBe(2);
  });
});
