import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeArchive } from '../../src/rootfs/archive-writer.js';
import { armhfBusybox, busyboxEntries, hostBusyboxArchive } from '../helpers/busybox.js';
import { tbx } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

// Real containers: `thunderbox prepare` then `thunderbox try`, which starts them with
// lxc-execute (as root). Unprivileged is the default: the rootfs is owned by 100000+.

async function prepared(archive: string, callsign: string, extra: string[] = []): Promise<string> {
  const target = path.join(path.dirname(archive), 'target');
  fs.mkdirSync(target, { recursive: true });
  const r = await tbx(['prepare', '--no-doctor', callsign, archive, '--target', target, '--no-plugin-json', '-q', ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return target;
}

describe('thunderbox try starts the container', () => {
  it('unprivileged (default idmap): environment arrives, /tmp is bind-mounted, exit status passes through', async () => {
    const dir = tmpDir();
    const cs = `Try${randomBytes(3).toString('hex')}`;
    const target = await prepared(hostBusyboxArchive(path.join(dir, 'rootfs.tar')), cs, ['--env', 'GREETING=hello world', '--env', 'INHERITED']);
    const marker = `/tmp/tbx-marker-${randomBytes(6).toString('hex')}`;
    fs.writeFileSync(marker, 'from the host');
    // a mount below /tmp: a plain `bind` of /tmp then fails in a user namespace (EINVAL)
    const sub = path.join(dir, 'submount');
    fs.mkdirSync(sub);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tbx-test', sub]);
    try {
      const script = `echo "G=$GREETING"; echo "I=$INHERITED"; echo "M=$MESSAGE_DISPATCHER_CONFIG"; cat ${marker}; echo; id -u; exit 42`;
      const r = await tbx(['try', cs, '--target', target, '--', '/bin/sh', '-c', script], { env: { INHERITED: 'from thunder', MESSAGE_DISPATCHER_CONFIG: '/tmp/md.json' } });
      expect(r.code).toBe(42);
      expect(r.stdout).toContain('G=hello world');
      expect(r.stdout).toContain('I=from thunder');
      expect(r.stdout).toContain('M=/tmp/md.json');
      expect(r.stdout).toContain('from the host');
      expect(r.stdout.trim().split('\n').pop()).toBe('0'); // root inside, 100000 outside
      expect(r.stderr).toContain('exited with status 42');
    } finally {
      fs.rmSync(marker, { force: true });
      await execa('umount', [sub]);
    }
    const rootfs = path.join(target, 'usr/share/Thunder', cs, 'Container/rootfs');
    expect(fs.statSync(path.join(rootfs, 'bin/busybox')).uid).toBe(100000);
    expect(fs.lstatSync(path.join(rootfs, 'proc')).isDirectory()).toBe(true);
  });

  it('privileged (--idmap none), a read-only shared directory, and --json', async () => {
    const dir = tmpDir();
    const cs = `Priv${randomBytes(3).toString('hex')}`;
    // /srv/share is a device path: prepare makes it in the image, try mounts the image's copy
    const target = await prepared(hostBusyboxArchive(path.join(dir, 'rootfs.tar')), cs, ['--idmap', 'none', '--mount', '/srv/share:mnt/share:ro']);
    const share = path.join(target, 'srv/share');
    fs.writeFileSync(path.join(share, 'f'), 'shared');
    const r = await tbx(['try', cs, '--target', target, '--json', '--', '/bin/sh', '-c', 'cat /mnt/share/f; touch /mnt/share/g 2>/dev/null && echo writable || echo read-only']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: true, callsign: cs, exitCode: 0 });
    expect(j.stdout).toContain('shared');
    expect(j.stdout).toContain('read-only');
    expect(fs.existsSync(path.join(share, 'g'))).toBe(false);
  });

  it('--start uses lxc-start: the command is the container\'s init (pid 1), its console output is printed', async () => {
    const dir = tmpDir();
    const cs = `Start${randomBytes(3).toString('hex')}`;
    const target = await prepared(hostBusyboxArchive(path.join(dir, 'rootfs.tar')), cs);
    const r = await tbx(['try', cs, '--start', '--target', target, '-q', '--', '/bin/sh', '-c', 'echo "pid=$$ uid=$(id -u)"']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('pid=1 uid=0'); // under lxc-execute, lxc-init is pid 1
    const e = await tbx(['try', cs, '--target', target, '-q', '--', '/bin/sh', '-c', 'echo "pid=$$"']);
    expect(e.stdout).toMatch(/^pid=\d+$/);
    expect(e.stdout).not.toBe('pid=1');
  });

  it('the default command is ThunderPlugin when the rootfs has it', async () => {
    const dir = tmpDir();
    const bb = fs.readFileSync('/bin/busybox');
    const entries = busyboxEntries(bb);
    entries.push({ path: 'usr', type: 'Directory' }, { path: 'usr/bin', type: 'Directory' }, { path: 'usr/bin/ThunderPlugin', type: 'File', mode: 0o755, data: '#!/bin/sh\necho ThunderPlugin ran\nexit 3\n' });
    writeArchive(path.join(dir, 'rootfs.tar'), entries);
    const cs = `TP${randomBytes(3).toString('hex')}`;
    const target = await prepared(path.join(dir, 'rootfs.tar'), cs);
    const r = await tbx(['try', cs, '--target', target]);
    expect(r.stdout).toContain('ThunderPlugin ran');
    expect(r.code).toBe(3);
  });

  it.each([[[]], [['--arch', 'linux32']], [['--arch', 'armv7l']]])('an armhf rootfs runs through qemu-user: uname -m says armv7l (prepared with %j)', async (arch) => {
    const dir = tmpDir();
    writeArchive(path.join(dir, 'rootfs.tar'), busyboxEntries(await armhfBusybox()));
    const cs = `Arm${randomBytes(3).toString('hex')}`;
    const target = await prepared(path.join(dir, 'rootfs.tar'), cs, arch);
    const config = fs.readFileSync(path.join(target, 'usr/share/Thunder', cs, 'Container/config'), 'utf8');
    expect(config).toContain(`lxc.arch = ${arch[1] ?? 'linux32'}\n`);
    const r = await tbx(['try', cs, '--target', target, '--', '/bin/uname', '-m']);
    expect(r.stdout.trim(), r.stderr).toBe('armv7l');
    expect(r.code).toBe(0);
  });

  it('a container that was never prepared is a clear error', async () => {
    const dir = tmpDir();
    const r = await tbx(['try', 'Nope', '--target', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error\[CONTAINER_MISSING\]: no prepared container for Nope/);
  });

  it('a command the rootfs does not have, and a container liblxc cannot start, are said as such', async () => {
    const dir = tmpDir();
    const cs = `Try${randomBytes(3).toString('hex')}`;
    const target = await prepared(hostBusyboxArchive(path.join(dir, 'rootfs.tar')), cs);
    const missing = await tbx(['try', cs, '--target', target, '--', '/usr/bin/nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`error[TRY_COMMAND_MISSING]: /usr/bin/nope is not in the rootfs of ${cs}`);
    // looked up inside the rootfs: its bin -> /usr/bin is not this host's /usr/bin (which has ls)
    const linked = path.join(dir, 'linked');
    fs.mkdirSync(linked);
    writeArchive(path.join(linked, 'rootfs.tar'), [
      { path: './', type: 'Directory', mode: 0o755 },
      { path: './usr', type: 'Directory', mode: 0o755 },
      { path: './usr/bin', type: 'Directory', mode: 0o755 },
      { path: './bin', type: 'SymbolicLink', linkpath: '/usr/bin', mode: 0o777 },
    ]);
    const t2 = await prepared(path.join(linked, 'rootfs.tar'), cs);
    const viaLink = await tbx(['try', cs, '--target', t2, '--', 'ls']);
    expect(viaLink.stderr).toContain(`error[TRY_COMMAND_MISSING]: ls is not in the rootfs of ${cs}`);
    // a bind mount whose source is missing on this host (not optional): liblxc gives up
    fs.appendFileSync(path.join(target, 'usr/share/Thunder', cs, 'Container/config'), `lxc.mount.entry = /nonexistent-tbx-${randomBytes(4).toString('hex')} opt none bind,create=dir 0 0\n`);
    const broken = await tbx(['try', cs, '--target', target, '--', '/bin/true']);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toContain('Failed to spawn container');
    expect(broken.stderr).toContain(`thunderbox: ${cs}: the container did not start (liblxc's errors above); /bin/true did not run`);
  });
});
