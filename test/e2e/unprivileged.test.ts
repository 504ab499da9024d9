import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { execa } from 'execa';
import { list } from 'tar';
import { describe, expect, it } from 'vitest';
import { writeArchive, type ArchiveEntry } from '../../src/rootfs/archive-writer.js';
import { busyboxEntries } from '../helpers/busybox.js';
import { tbx } from '../helpers/cli.js';
import { snapshot } from '../helpers/tree.js';
import { publicBin } from '../helpers/public-repo.js';
import { tmpDir } from '../helpers/tmp.js';

// Unprivileged containers that start: the rootfs shifted by the idmap, as root and through
// Buildroot's non-root + fakeroot flow, and the wiki's shared folder with a shared uid.

function rootfsArchive(dir: string): string {
  const entries: ArchiveEntry[] = busyboxEntries(fs.readFileSync('/bin/busybox'));
  const passwd = entries.find((e) => e.path === 'etc/passwd')!;
  passwd.data = 'root:x:0:0:root:/:/bin/sh\nthunder:x:1000:1000::/:/bin/sh\n';
  entries.find((e) => e.path === 'etc/group')!.data = 'root:x:0:\nthunder:x:1000:\n';
  entries.push(
    { path: 'usr', type: 'Directory' },
    { path: 'usr/bin', type: 'Directory' },
    { path: 'usr/bin/suid', type: 'File', mode: 0o4755, data: 'setuid stays' },
    { path: 'home', type: 'Directory' },
    { path: 'home/thunder', type: 'Directory', mode: 0o700, uid: 1000, gid: 1000 },
    { path: 'home/thunder/.profile', type: 'File', mode: 0o600, uid: 1000, gid: 1000, data: 'x' },
    { path: 'dev', type: 'Directory' },
    { path: 'dev/null', type: 'CharacterDevice', mode: 0o666, devmaj: 1, devmin: 3 },
  );
  const f = path.join(dir, 'rootfs.tar');
  writeArchive(f, entries);
  return f;
}

const cs = () => `U${randomBytes(3).toString('hex')}`;
const C = (target: string, callsign: string) => path.join(target, 'usr/share/Thunder', callsign, 'Container');

describe('unprivileged containers', () => {
  it('root flow: the default idmap shifts the rootfs, the container starts as root inside, 100000 outside', async () => {
    const dir = tmpDir();
    const name = cs();
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    const p = await tbx(['prepare', '--no-doctor', name, rootfsArchive(dir), '--target', target, '--no-plugin-json']);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain('1 device nodes left out: an unprivileged container cannot use them');
    const rootfs = path.join(C(target, name), 'rootfs');
    expect(fs.statSync(path.join(rootfs, 'bin/busybox')).uid).toBe(100000);
    expect(fs.statSync(path.join(rootfs, 'home/thunder')).uid).toBe(101000);
    expect(fs.statSync(path.join(rootfs, 'usr/bin/suid')).mode & 0o7777).toBe(0o4755);
    expect(fs.lstatSync(path.join(rootfs, 'bin/sh')).uid).toBe(100000);
    expect(fs.existsSync(path.join(rootfs, 'dev/null'))).toBe(false);
    const r = await tbx(['try', '--host', name, '--target', target, '--', '/bin/sh', '-c', 'id -u; cat /proc/self/uid_map; cat /proc/self/gid_map']);
    expect(r.code).toBe(0);
    const [uid, ...maps] = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(uid).toBe('0');
    expect(maps).toEqual(['0 100000 65536', '0 100000 65536']);
  });

  it('without the shift, root in the container does not own its rootfs; with it, it does', async () => {
    // (the issue saw such a rootfs fail to start at all with lxc-start; with lxc-execute on
    // this kernel it starts, but container root cannot write its own /etc)
    const dir = tmpDir();
    const archive = rootfsArchive(dir);
    const script = ['/bin/sh', '-c', 'touch /etc/written-by-container-root && echo wrote'];
    const unshifted = cs();
    const t1 = path.join(dir, 't1');
    fs.mkdirSync(t1);
    expect((await tbx(['prepare', '--no-doctor', unshifted, archive, '--target', t1, '--no-plugin-json', '--idmap', 'none', '-q'])).code).toBe(0);
    fs.appendFileSync(path.join(C(t1, unshifted), 'config'), 'lxc.include = /usr/share/lxc/config/userns.conf\nlxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n');
    const r1 = await tbx(['try', '--host', unshifted, '--target', t1, '--', ...script]);
    expect(r1.code).not.toBe(0);
    expect(r1.stdout).not.toContain('wrote');
    const shifted = cs();
    const t2 = path.join(dir, 't2');
    fs.mkdirSync(t2);
    expect((await tbx(['prepare', '--no-doctor', shifted, archive, '--target', t2, '--no-plugin-json', '-q'])).code).toBe(0);
    const r2 = await tbx(['try', '--host', shifted, '--target', t2, '--', ...script]);
    expect(r2.stdout).toContain('wrote');
    expect(r2.code).toBe(0);
  });

  it("the wiki's shared folder: container uid 1000 writes, the host sees uid 1000", async () => {
    const dir = tmpDir();
    const name = cs();
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    const p = await tbx(['prepare', '--no-doctor', name, rootfsArchive(dir), '--target', target, '--no-plugin-json', '--share-uid', '1000', '--mount', '/testshare:TestLogging:rw:0770:1000']);
    expect(p.code).toBe(0);
    const config = fs.readFileSync(path.join(C(target, name), 'config'), 'utf8');
    expect(config).toContain('lxc.idmap = u 0 100000 1000\nlxc.idmap = g 0 100000 1000\nlxc.idmap = u 1000 1000 1\nlxc.idmap = g 1000 1000 1\nlxc.idmap = u 1001 101001 64535\nlxc.idmap = g 1001 101001 64535\n');
    const host = fs.statSync(path.join(target, 'testshare'));
    expect([host.uid, host.gid, host.mode & 0o7777]).toEqual([1000, 1000, 0o770]);
    const mp = fs.statSync(path.join(C(target, name), 'rootfs/TestLogging'));
    expect([mp.uid, mp.gid, mp.mode & 0o7777]).toEqual([1000, 1000, 0o770]);
    // the hole-punched map needs root:1000:1 on this host (newuidmap); add it for the test
    const r = await tbx(['try', '--host', name, '--target', target, '--fix-host-subids', '--', '/bin/su', 'thunder', '-s', '/bin/sh', '-c', 'id -u; echo hi > /TestLogging/from-container']);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('1000');
    const f = fs.statSync(path.join(target, 'testshare/from-container'));
    expect([f.uid, f.gid]).toEqual([1000, 1000]);
  });

  it('missing host subuid lines are named, and added only with --fix-host-subids', async () => {
    const dir = tmpDir();
    const name = cs();
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    const odd = 40000 + randomInt(20000);
    // /etc/subuid is this host's, and other test files (useradd) change it meanwhile: only our line is looked at
    const lines = (f: string) => fs.readFileSync(f, 'utf8').split('\n');
    try {
      expect((await tbx(['prepare', '--no-doctor', name, rootfsArchive(dir), '--target', target, '--no-plugin-json', '--share-uid', String(odd), '-q'])).code).toBe(0);
      const r = await tbx(['try', '--host', name, '--target', target, '--', '/bin/true']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`error[SUBID_MISSING]`);
      expect(r.stderr).toContain(`/etc/subuid: root:${odd}:1`);
      expect(r.stderr).toContain(`/etc/subgid: root:${odd}:1`);
      expect(lines('/etc/subuid')).not.toContain(`root:${odd}:1`);
      expect(lines('/etc/subgid')).not.toContain(`root:${odd}:1`);
      const fixed = await tbx(['try', '--host', name, '--target', target, '--fix-host-subids', '--', '/bin/true']);
      expect(fixed.code).toBe(0);
      expect(fixed.stderr).toContain(`note[SUBIDS_ADDED]: added to this host: /etc/subuid: root:${odd}:1; /etc/subgid: root:${odd}:1`);
      expect(lines('/etc/subuid').filter((l) => l === `root:${odd}:1`)).toHaveLength(1);
      expect(lines('/etc/subgid').filter((l) => l === `root:${odd}:1`)).toHaveLength(1);
    } finally {
      // put back only our line (other tests may have added theirs meanwhile)
      for (const f of ['/etc/subuid', '/etc/subgid']) fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace(`root:${odd}:1\n`, ''));
    }
  });

  it("the image's /etc/subuid and /etc/subgid get root's ranges when it has newuidmap", async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    fs.mkdirSync(path.join(target, 'usr/bin'), { recursive: true });
    fs.mkdirSync(path.join(target, 'etc'));
    fs.writeFileSync(path.join(target, 'usr/bin/newuidmap'), '');
    fs.writeFileSync(path.join(target, 'etc/subuid'), 'builder:200000:65536\n');
    const archive = rootfsArchive(dir);
    const args = ['prepare', '--no-doctor', 'OCDM', archive, '--target', target, '--no-plugin-json', '--share-uid', '1000'];
    const r = await tbx(args);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(target, 'etc/subuid'), 'utf8')).toBe('builder:200000:65536\nroot:100000:1000\nroot:1000:1\nroot:101001:64535\n');
    expect(fs.readFileSync(path.join(target, 'etc/subgid'), 'utf8')).toBe('root:100000:1000\nroot:1000:1\nroot:101001:64535\n');
    const again = await tbx(args);
    expect(again.stdout).toContain('nothing to do');
  });

  it('a locked rootfs top (0700) is a warning, fixed with --fix-root-mode; unmapped owners fail, or go to nobody', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    const archive = path.join(dir, 'locked.tar');
    writeArchive(archive, [
      { path: './', type: 'Directory', mode: 0o700 },
      { path: 'etc', type: 'Directory' },
      { path: 'etc/far', type: 'File', uid: 70000, gid: 70000, data: 'x' },
    ]);
    const refused = await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', target, '--no-plugin-json']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error[IDMAP_UNMAPPED_OWNER]: OCDM: 1 rootfs entries are owned by ids the idmap does not cover: etc/far (uid 70000, gid 70000)');
    const warned = await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', target, '--no-plugin-json', '--unmapped-to-nobody']);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain('warning[ROOT_MODE_LOCKED]');
    const rootfs = path.join(C(target, 'OCDM'), 'rootfs');
    expect(fs.statSync(path.join(rootfs, 'etc/far')).uid).toBe(165534);
    expect(fs.statSync(rootfs).mode & 0o777).toBe(0o700);
    const fixed = await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', target, '--no-plugin-json', '--unmapped-to-nobody', '--fix-root-mode']);
    expect(fixed.stderr).not.toContain('ROOT_MODE_LOCKED');
    expect(fs.statSync(rootfs).mode & 0o777).toBe(0o755);
  });

  it('as a normal user, a path with white space (which the permission table cannot name) is a warning', async () => {
    const dir = tmpDir();
    const archive = path.join(dir, 'ws.tar');
    writeArchive(archive, [
      { path: './', type: 'Directory', mode: 0o755 },
      { path: './etc', type: 'Directory', mode: 0o755 },
      { path: './etc/a b', type: 'File', mode: 0o4755, uid: 5, gid: 5, data: 'x' },
      { path: './etc/null2', type: 'CharacterDevice', mode: 0o666, devmaj: 1, devmin: 3 },
      { path: './etc/null-link', type: 'Link', linkpath: './etc/null2' },
    ]);
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    fs.chownSync(target, 65534, 65534);
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, publicBin(), 'prepare', '--no-doctor', 'OCDM', archive, '--target', target, '--no-plugin-json', '--keep-devices'], { reject: false, env: { HOME: '/nonexistent', MESSAGE_DISPATCHER_CONFIG: 'x', PATH: process.env.PATH } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain("warning[TABLE_NAME_WHITESPACE]: OCDM: 1 paths with white space cannot be listed in device_table.txt (makedevs reads names with %s), so the image will not give them their owners: /usr/share/Thunder/OCDM/Container/rootfs/etc/a b");
    // a device node (not root: only recorded for the table) and a hard link to it: both listed
    const table = fs.readFileSync(path.join(C(target, 'OCDM'), 'device_table.txt'), 'utf8');
    for (const n of ['null2', 'null-link']) expect(table).toContain(`/usr/share/Thunder/OCDM/Container/rootfs/etc/${n} c 666 100000 100000 1 3 0 0 -\n`);
  });

  it('non-root flow: prepare as a normal user, post-fakeroot in real fakeroot, tar like Buildroot: the same image as the root flow, and it starts', async () => {
    const dir = tmpDir();
    const archive = rootfsArchive(dir);
    // a real unprivileged user, like the one that runs Buildroot
    const user = 20000 + randomInt(20000);
    const login = `tbx${user}`;
    // no subordinate ids: useradd would add them to this host's /etc/subuid, which other tests read
    await execa('useradd', ['-M', '-N', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', '-u', String(user), '-g', 'nogroup', '-s', '/usr/sbin/nologin', login]);
    try {
      await nonRootFlow(dir, archive, user);
    } finally {
      await execa('userdel', [login], { reject: false });
    }
  });
});

describe('the doctor of a container prepared without root', () => {
  it('reads owners as the device will have them (device_table.txt, the rest root\'s): a 0700 rootfs top owned by the container\'s root is no traversal error, and the image starts', async () => {
    const dir = tmpDir();
    // the top of the archive at 0700, as from a mktemp -d directory
    const entries = busyboxEntries(fs.readFileSync('/bin/busybox')).map((e) => (e.path === './' ? { ...e, mode: 0o700 } : e));
    const archive = path.join(dir, 'rootfs.tar');
    writeArchive(archive, entries);
    const user = 20000 + randomInt(20000);
    const login = `tbx${user}`;
    await execa('useradd', ['-M', '-N', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', '-u', String(user), '-g', 'nogroup', '-s', '/usr/sbin/nologin', login]);
    try {
      const target = path.join(dir, 'target');
      // the image's own shell and /tmp, for a start as on the device
      fs.mkdirSync(path.join(target, 'bin'), { recursive: true });
      fs.mkdirSync(path.join(target, 'tmp'), { mode: 0o1777 });
      fs.chmodSync(path.join(target, 'tmp'), 0o1777);
      fs.mkdirSync(path.join(target, 'run'));
      fs.copyFileSync('/bin/busybox', path.join(target, 'bin/busybox'));
      fs.symlinkSync('busybox', path.join(target, 'bin/sh'));
      fs.mkdirSync(path.join(target, 'usr/share/lxc'), { recursive: true });
      fs.cpSync('/usr/share/lxc/config', path.join(target, 'usr/share/lxc/config'), { recursive: true, verbatimSymlinks: true });
      await execa('chown', ['-R', `${user}:${user}`, target]);
      const as = (cmd: string[]) => execa('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', ...cmd], { reject: false, env: { HOME: '/nonexistent', MESSAGE_DISPATCHER_CONFIG: 'x', PATH: process.env.PATH } });
      const prep = await as([process.execPath, publicBin(), 'prepare', '--no-doctor', 'OCDM', archive, '--target', target, '--no-plugin-json', '--classname', 'OCDM']);
      expect(prep.exitCode).toBe(0);
      expect(prep.stderr).toContain('warning[ROOT_MODE_LOCKED]');
      const top = fs.statSync(path.join(C(target, 'OCDM'), 'rootfs'));
      expect([top.uid, top.mode & 0o777]).toEqual([user, 0o700]);
      const doc = await tbx(['doctor', 'OCDM', '--target', target, '--json']);
      const findings = (JSON.parse(doc.stdout) as { findings: { code: string; severity: string }[] }).findings;
      expect(findings.filter((f) => f.code === 'TRAVERSE_DENIED')).toEqual([]);
      // ground truth: the image as Buildroot makes it (fakeroot: chown 0:0, the table, tar), started
      const img = path.join(dir, 'out');
      fs.mkdirSync(img);
      fs.chownSync(img, user, user);
      const fr = await as(['fakeroot', '--', 'sh', '-c', `chown -h -R 0:0 ${target} && ${process.execPath} ${publicBin()} buildroot post-fakeroot ${target} && tar --numeric-owner --sort=name -cf ${img}/rootfs.tar -C ${target} .`]);
      expect(fr.exitCode).toBe(0);
      const x = path.join(dir, 'extracted');
      fs.mkdirSync(x);
      await execa('tar', ['-xpf', `${img}/rootfs.tar`, '-C', x, '--numeric-owner']);
      const xt = fs.statSync(path.join(C(x, 'OCDM'), 'rootfs'));
      expect([xt.uid, xt.mode & 0o777]).toEqual([100000, 0o700]);
      const r = await tbx(['try', 'OCDM', '--target', x, '--', '/bin/sh', '-c', 'id -u']);
      expect(r.stdout).toMatch(/^0$/m);
      expect(r.code).toBe(0);
      // and the doctor of the extracted image (owners on disk now) agrees
      expect((JSON.parse((await tbx(['doctor', 'OCDM', '--target', x, '--json'])).stdout) as { findings: { code: string }[] }).findings.filter((f) => f.code === 'TRAVERSE_DENIED')).toEqual([]);
    } finally {
      await execa('userdel', [login], { reject: false });
    }
  }, 120_000);
});

async function nonRootFlow(dir: string, archive: string, user: number): Promise<void> {
  {
    const flags = ['--no-plugin-json', '--share-uid', '1000', '--mount', '/testshare:TestLogging:rw:0770:1000'];
    // root flow, for reference
    const ref = path.join(dir, 'ref');
    fs.mkdirSync(ref);
    expect((await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', ref, '-q', ...flags])).code).toBe(0);
    // Buildroot's flow: the build runs as a normal user ...
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    fs.chownSync(target, user, user);
    const as = (cmd: string[]) => execa('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', ...cmd], { reject: false, env: { HOME: '/nonexistent', MESSAGE_DISPATCHER_CONFIG: 'x', PATH: process.env.PATH } });
    const prep = await as([process.execPath, publicBin(), 'prepare', '--no-doctor', 'OCDM', archive, '--target', target, '-q', ...flags]);
    expect(prep.stderr).toBe('');
    expect(prep.exitCode).toBe(0);
    // ... and makes the filesystem image inside fakeroot: chown -R 0:0, the hooks, tar
    const img = path.join(dir, 'out');
    fs.mkdirSync(img);
    fs.chownSync(img, user, user);
    const script = `chown -h -R 0:0 ${target} && ${process.execPath} ${publicBin()} buildroot post-fakeroot ${target} && tar --numeric-owner --sort=name -cf ${img}/rootfs.tar -C ${target} .`;
    const fr = await as(['fakeroot', '--', 'sh', '-c', script]);
    expect(fr.stderr).toBe('');
    expect(fr.exitCode).toBe(0);
    expect(fr.stdout).toMatch(/applied \d+ permission lines from 1 table/);
    // every entry of the image has the root flow's owner and mode
    const got = new Map<string, [number, number, number]>();
    await list({ file: `${img}/rootfs.tar`, onReadEntry: (e) => got.set(e.path.replace(/^\.\//, '').replace(/\/$/, ''), [e.uid ?? -1, e.gid ?? -1, (e.mode ?? 0) & 0o7777]) });
    const want = snapshot(ref);
    let compared = 0;
    for (const [p, v] of want) {
      if (!p.startsWith('usr/share/Thunder/OCDM/Container/rootfs') && !p.startsWith('testshare')) continue;
      expect([p, ...got.get(p)!]).toEqual([p, v.uid, v.gid, v.type === 'symlink' ? got.get(p)![2] : v.mode]);
      compared++;
    }
    expect(compared).toBeGreaterThan(25);
    // the image, extracted as root, starts
    const x = path.join(dir, 'extracted');
    fs.mkdirSync(x);
    await execa('tar', ['-xpf', `${img}/rootfs.tar`, '-C', x, '--numeric-owner']);
    const r = await tbx(['try', '--host', 'OCDM', '--target', x, '--', '/bin/sh', '-c', 'id -u; ls -ln /TestLogging/.. | grep TestLogging']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^0\n.* 1000 +1000 .*TestLogging/);

    // the same image root prepared as root once, then as the user again: refused before anything
    // is moved (the user could not remove the root-owned tree it would replace)
    expect((await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', target, '-q', '--force', ...flags])).code).toBe(0);
    const again = await as([process.execPath, publicBin(), 'prepare', '--no-doctor', 'OCDM', archive, '--target', target, '--force', ...flags]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain('error[CONTAINER_NOT_OURS]: OCDM: the container in');
    expect(fs.readdirSync(path.join(target, 'usr/share/Thunder/OCDM'))).toEqual(['Container']);
    expect(fs.readdirSync(target).filter((n) => n.startsWith('.'))).toEqual([]);
  }
}
