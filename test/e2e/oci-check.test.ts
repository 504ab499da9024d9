import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkOciConfig } from '../../src/oci/check.js';
import { startOciOnDevice } from '../../src/oci/device-start.js';
import { THUNDER_ENVIRONMENT } from '../../src/thunder/environment.js';
import { imageWithContainer } from '../helpers/device-image.js';
import { tbx } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

// oci check's runc rules against real runc: for each broken bundle, the check's error and
// runc create's own words, from a start as Thunder makes it (src/oci/device-start.ts).

/** A prepared image with one OCI container of a fresh callsign, and the bundle's config.json on this host. */
async function runcBundle(input: Parameters<typeof imageWithContainer>[2]) {
  const c = `OciChk${randomBytes(3).toString('hex')}`;
  const { target, lxcpath } = await imageWithContainer(tmpDir(), c, input);
  return { c, target, lxcpath, file: path.join(target, lxcpath.slice(1), 'Container', 'config.json') };
}

type Cfg = { process: { args: string[]; terminal: boolean }; mounts: { destination: string }[]; linux?: unknown; root: { path: string } };

const CASES: { name: string; code: string; runc: RegExp; edit: (c: Cfg) => void }[] = [
  { name: 'empty args', code: 'OCI_ARGS_EMPTY', runc: /args must not be empty/, edit: (c) => (c.process.args = []) },
  { name: 'terminal true', code: 'OCI_TERMINAL', runc: /cannot allocate tty if runc will detach without setting console socket/, edit: (c) => (c.process.terminal = true) },
  { name: 'no /proc', code: 'OCI_NO_PROC', runc: /\/proc/, edit: (c) => (c.mounts = c.mounts.filter((m) => m.destination !== '/proc')) },
  { name: 'args[0] not in the rootfs', code: 'OCI_ARGS_MISSING', runc: /no such file or directory/, edit: (c) => (c.process.args = ['/usr/bin/NoSuchPlugin']) },
  { name: 'rootfs missing', code: 'OCI_ROOTFS_MISSING', runc: /no such file or directory|rootfs/, edit: (c) => (c.root.path = 'no-rootfs') },
];

describe('oci check agrees with runc create', () => {
  it('the bundle prepare writes: no findings but OCI_NO_RUNC, and none once the image has /usr/bin/runc', async () => {
    const dir = tmpDir();
    const c = `OciChk${randomBytes(3).toString('hex')}`;
    const { target, lxcpath } = await imageWithContainer(dir, c, { runtime: 'runc', idmap: { kind: 'none' } });
    // Thunder runs the image's /usr/bin/runc
    const file = path.join(target, lxcpath.slice(1), 'Container', 'config.json');
    expect(checkOciConfig(file, { sysroot: target }).map((d) => d.code)).toEqual(['OCI_NO_RUNC']);
    fs.copyFileSync('/usr/sbin/runc', path.join(target, 'usr/bin/runc'));
    fs.chmodSync(path.join(target, 'usr/bin/runc'), 0o755);
    expect(checkOciConfig(file, { sysroot: target })).toEqual([]);
  }, 60_000);

  it.each(CASES)('$name: $code, and runc create fails', async ({ code, runc, edit }) => {
    const { c, target, lxcpath, file } = await runcBundle({ runtime: 'runc', idmap: { kind: 'none' } });
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as Cfg;
    edit(cfg);
    fs.writeFileSync(file, `${JSON.stringify(cfg, null, 2)}\n`);
    const found = checkOciConfig(file, { sysroot: target });
    expect(found.filter((d) => d.severity === 'error').map((d) => d.code)).toContain(code);
    const d = found.find((x) => x.code === code)!;
    expect(d.line).toBeGreaterThan(1);
    const r = await startOciOnDevice({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime: 'runc', command: ['sh', '-c', 'echo ran'], env: { ...THUNDER_ENVIRONMENT } });
    expect(r.started).toBe(false);
    expect(r.error).toMatch(runc);
    const cli = await tbx(['oci', 'check', file, '--sysroot', target]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`${file}:${d.line}:${d.col}: error[${code}]`);
  }, 60_000);

  // unprivileged: the namespaces config.json joins by path are the boot's (S39thunderbox-userns)
  type ImageEdit = { target: string; c: string; file: string; script: string };
  const BOOT: { name: string; code: string; edit: (e: ImageEdit) => void; start: (r: Awaited<ReturnType<typeof startOciOnDevice>>) => void }[] = [
    { name: 'the boot script removed', code: 'OCI_NAMESPACE_NOT_MADE', edit: (e) => fs.rmSync(e.script), start: (r) => expect(r.error).toMatch(/namespace path: lstat \/var\/run\/thunderbox\/userns\/tbx-\w+: no such file or directory/) },
    { name: 'the boot script not executable', code: 'OCI_BOOT_SCRIPT_MODE', edit: (e) => fs.chmodSync(e.script, 0o644), start: (r) => expect(r.error).toMatch(/namespace path: lstat .*: no such file or directory/) },
    {
      name: 'a network namespace made outside its user namespace (ip netns add)',
      code: 'OCI_NETNS_NOT_OWNED',
      edit: (e) => {
        const cfg = JSON.parse(fs.readFileSync(e.file, 'utf8')) as { linux: { namespaces: { type: string; path?: string }[] } };
        cfg.linux.namespaces = cfg.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network', path: `/var/run/netns/tbx-${e.c}` } : n));
        fs.writeFileSync(e.file, `${JSON.stringify(cfg, null, 2)}\n`);
        fs.writeFileSync(path.join(e.target, 'etc/init.d/S40thunderbox-net'), `#!/bin/sh\n[ -e /var/run/netns/tbx-${e.c} ] || ip netns add tbx-${e.c}\n`, { mode: 0o755 });
      },
      start: (r) => expect(r.error).toMatch(/^runc create failed .*can't get final child's PID from pipe: EOF/),
    },
  ];

  it('the bundle of an unprivileged container and its boot script: no findings but OCI_NO_RUNC', async () => {
    const { target, file } = await runcBundle({ runtime: 'runc' });
    expect(checkOciConfig(file, { sysroot: target }).map((d) => d.code)).toEqual(['OCI_NO_RUNC']);
  }, 60_000);

  it.each(BOOT)('unprivileged, $name: $code, and the start fails as it says', async ({ code, edit, start }) => {
    const { c, target, lxcpath, file } = await runcBundle({ runtime: 'runc' });
    const script = path.join(target, `etc/init.d/S39thunderbox-userns-${c}`);
    expect(fs.statSync(script).mode & 0o777).toBe(0o755);
    edit({ target, c, file, script });
    const found = checkOciConfig(file, { sysroot: target });
    expect(found.filter((d) => d.severity === 'error').map((d) => d.code)).toEqual(['OCI_NO_RUNC', code]);
    const d = found.find((x) => x.code === code)!;
    expect(d.line).toBeGreaterThan(1);
    const r = await startOciOnDevice({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime: 'runc', command: ['sh', '-c', 'cat /proc/self/uid_map'], env: { ...THUNDER_ENVIRONMENT } });
    start(r);
    const cli = await tbx(['oci', 'check', file, '--sysroot', target]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`${file}:${d.line}:${d.col}: error[${code}]`);
  }, 60_000);

  it('unprivileged, the boot script\'s map is not the bundle\'s: OCI_USERNS_MAP_DIFFERS, a warning: it starts, with the script\'s ids, and try says so', async () => {
    const { c, target, lxcpath, file } = await runcBundle({ runtime: 'runc' });
    const script = path.join(target, `etc/init.d/S39thunderbox-userns-${c}`);
    fs.writeFileSync(script, fs.readFileSync(script, 'utf8').replace("printf '%s\\n' '0 100000 65536' > \"$map\" && cat \"$map\" > /proc/$pid/uid_map", "printf '%s\\n' '0 200000 65536' > \"$map\" && cat \"$map\" > /proc/$pid/uid_map"));
    const found = checkOciConfig(file, { sysroot: target });
    expect(found.map((d) => [d.code, d.severity])).toEqual([['OCI_NO_RUNC', 'error'], ['OCI_USERNS_MAP_DIFFERS', 'warning']]);
    const r = await startOciOnDevice({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime: 'runc', command: ['sh', '-c', 'cat /proc/self/uid_map'], env: { ...THUNDER_ENVIRONMENT } });
    expect(r.error).toBeUndefined();
    expect(r.output).toMatch(/^\s+0\s+200000\s+65536$/m);
    expect(r.notes.join('\n')).toContain(`/etc/init.d/S39thunderbox-userns-${c} writes the maps "0 200000 65536" (uid), "0 100000 65536" (gid), not config.json's`);
  }, 60_000);

  it('unprivileged, no unshare in the image: OCI_NO_UNSHARE, a warning (this host\'s BusyBox shell still runs its applet, so the start works here)', async () => {
    const { c, target, lxcpath, file } = await runcBundle({ runtime: 'runc' });
    fs.rmSync(path.join(target, 'bin/unshare'));
    const found = checkOciConfig(file, { sysroot: target });
    expect(found.map((d) => [d.code, d.severity])).toEqual([['OCI_NO_RUNC', 'error'], ['OCI_NO_UNSHARE', 'warning']]);
    expect(found[1]!.message).toContain(`/etc/init.d/S39thunderbox-userns-${c} makes /var/run/thunderbox/userns/tbx-${c} with unshare`);
    const r = await startOciOnDevice({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime: 'runc', command: ['sh', '-c', 'cat /proc/self/uid_map'], env: { ...THUNDER_ENVIRONMENT } });
    expect(r.error).toBeUndefined();
  }, 60_000);

  it('unprivileged with a veth but no S40thunderbox-net (prepare without a manifest): OCI_NETNS_NO_VETH, and the container starts with loopback only', async () => {
    const { c, target, lxcpath, file } = await runcBundle({ runtime: 'runc', net: [{ type: 'veth', link: 'tbxbr0', ipv4: '198.18.9.2/24' }] });
    const found = checkOciConfig(file, { sysroot: target });
    expect(found.map((d) => [d.code, d.severity])).toEqual([['OCI_NO_RUNC', 'error'], ['OCI_NETNS_NO_VETH', 'warning']]);
    const r = await startOciOnDevice({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime: 'runc', command: ['sh', '-c', 'ls /sys/class/net'], env: { ...THUNDER_ENVIRONMENT } });
    expect(r.error).toBeUndefined();
    expect(r.output.trim()).toBe('lo');
    // a boot script that moves a veth in: no warning
    fs.writeFileSync(path.join(target, 'etc/init.d/S40thunderbox-net'), `#!/bin/sh\nip link set dev p netns tbx-${c}\n`, { mode: 0o755 });
    expect(checkOciConfig(file, { sysroot: target }).map((d) => d.code)).toEqual(['OCI_NO_RUNC']);
  }, 60_000);

  it('an armhf image holding this build host\'s x86_64 runc: the doctor\'s OCI_RUNC_ARCH; try does not start it, as the device would not', async () => {
    const dir = tmpDir();
    const c = `OciChk${randomBytes(3).toString('hex')}`;
    const { target } = await imageWithContainer(dir, c, { runtime: 'runc', idmap: { kind: 'none' } }, { arch: 'armhf' });
    fs.copyFileSync('/usr/sbin/runc', path.join(target, 'usr/bin/runc'));
    fs.chmodSync(path.join(target, 'usr/bin/runc'), 0o755);
    const d = await tbx(['doctor', c, '--target', target, '--json']);
    const e = (JSON.parse(d.stdout) as { findings: { code: string; severity: string; message: string }[] }).findings.filter((x) => x.severity === 'error');
    // (the busybox rootfs has no ThunderPlugin: THUNDERPLUGIN_MISSING is the other error)
    expect(e.map((x) => x.code).sort()).toEqual(['OCI_RUNC_ARCH', 'THUNDERPLUGIN_MISSING']);
    expect(e.find((x) => x.code === 'OCI_RUNC_ARCH')!.message).toMatch(/^the image's \/usr\/bin\/runc is .*x86-64.*, but its \/bin\/busybox is .*ARM/);
    // not started, as on the device (with its libraries it would run on this build host)
    const t = await tbx(['try', c, '--target', target, '--runtime', 'runc', '--json', '--', 'sh', '-c', 'echo ran']);
    expect(t.code).toBe(1);
    const doc = JSON.parse(t.stdout) as { ok: boolean; diagnostics: { code: string; severity: string; message: string }[] };
    expect(doc.ok).toBe(false);
    expect(doc.diagnostics.map((x) => [x.code, x.severity])).toEqual([['TRY_RUNC_ARCH', 'error']]);
    expect(doc.diagnostics[0]!.message).toContain('so the bundle does not start there, and try does not start it here');
  }, 120_000);

  it('privileged with a veth and nothing that makes its network namespace (prepare without a manifest; a script that only names the path): OCI_NAMESPACE_NOT_MADE, and the start fails so', async () => {
    const { c, target, lxcpath, file } = await runcBundle({ runtime: 'runc', idmap: { kind: 'none' }, net: [{ type: 'veth', link: 'tbxbr0', ipv4: '198.18.9.3/24' }] });
    fs.mkdirSync(path.join(target, 'etc/init.d'), { recursive: true });
    fs.writeFileSync(path.join(target, 'etc/init.d/S40thunderbox-net'), `#!/bin/sh\n[ -e /var/run/netns/tbx-${c} ] || echo "no namespace" >&2\n`, { mode: 0o755 });
    expect(checkOciConfig(file, { sysroot: target }).filter((d) => d.severity === 'error').map((d) => d.code)).toEqual(['OCI_NO_RUNC', 'OCI_NAMESPACE_NOT_MADE']);
    const r = await startOciOnDevice({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime: 'runc', command: ['sh', '-c', 'echo ran'], env: { ...THUNDER_ENVIRONMENT } });
    expect(r.started).toBe(false);
    expect(r.error).toMatch(new RegExp(`namespace path: lstat /var/run/netns/tbx-${c}: no such file or directory`));
    // made by ip netns add at boot: a stand-in here, and it starts
    fs.writeFileSync(path.join(target, 'etc/init.d/S40thunderbox-net'), `#!/bin/sh\n[ -e /var/run/netns/tbx-${c} ] || ip netns add tbx-${c}\n`, { mode: 0o755 });
    expect(checkOciConfig(file, { sysroot: target }).filter((d) => d.severity === 'error').map((d) => d.code)).toEqual(['OCI_NO_RUNC']);
    const ok = await startOciOnDevice({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime: 'runc', command: ['sh', '-c', 'echo ran'], env: { ...THUNDER_ENVIRONMENT } });
    expect(ok.error).toBeUndefined();
    expect(ok.output).toContain('ran');
  }, 60_000);

  it('not JSON: its line and column; a schema error at its field', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'config.json'), '{\n  "ociVersion": "1.1.0",\n  "process": {\n');
    expect(checkOciConfig(path.join(dir, 'config.json'))[0]).toMatchObject({ code: 'OCI_JSON_SYNTAX', line: 4 });
    fs.writeFileSync(path.join(dir, 'config.json'), '{\n  "ociVersion": "1.1.0",\n  "root": {"path": 7},\n  "linux": {"namespaces": [{"type": "bogus"}]}\n}\n');
    const d = checkOciConfig(path.join(dir, 'config.json'));
    expect(d.filter((x) => x.code === 'OCI_SCHEMA').map((x) => [x.line, x.message])).toEqual([
      [3, 'root.path must be string'],
      [4, 'linux.namespaces.0.type is not one of "mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time"'],
    ]);
  });
});
