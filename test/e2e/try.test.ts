import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeArchive } from '../../src/rootfs/archive-writer.js';
import { armhfBusybox, busyboxEntries, hostBusyboxArchive } from '../helpers/busybox.js';
import { BIN, REPO, tbx } from '../helpers/cli.js';
import { imageWithContainer } from '../helpers/device-image.js';
import { THUNDER_ENVIRONMENT } from '../../src/thunder/environment.js';
import { tmpDir } from '../helpers/tmp.js';

// Real containers: `thunderbox prepare` then `thunderbox try`: by default as Thunder starts them on
// the device (the image is the root; test/e2e/device-start.test.ts covers the engine), with
// --host on this build host with lxc-execute (as root). Unprivileged is the default: the rootfs
// is owned by 100000+.

async function prepared(archive: string, callsign: string, extra: string[] = []): Promise<string> {
  const target = path.join(path.dirname(archive), 'target');
  fs.mkdirSync(target, { recursive: true });
  const r = await tbx(['prepare', '--no-doctor', callsign, archive, '--target', target, '--no-plugin-json', '-q', ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return target;
}

describe('thunderbox try --host starts the container on this build host', () => {
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
      const r = await tbx(['try', cs, '--host', '--target', target, '--', '/bin/sh', '-c', script], { env: { INHERITED: 'from thunder', MESSAGE_DISPATCHER_CONFIG: '/tmp/md.json' } });
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
    const r = await tbx(['try', cs, '--host', '--target', target, '--json', '--', '/bin/sh', '-c', 'cat /mnt/share/f; touch /mnt/share/g 2>/dev/null && echo writable || echo read-only']);
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
    const r = await tbx(['try', cs, '--host', '--start', '--target', target, '-q', '--', '/bin/sh', '-c', 'echo "pid=$$ uid=$(id -u)"']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('pid=1 uid=0'); // under lxc-execute, lxc-init is pid 1
    const e = await tbx(['try', cs, '--host', '--target', target, '-q', '--', '/bin/sh', '-c', 'echo "pid=$$"']);
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
    const r = await tbx(['try', cs, '--host', '--target', target]);
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
    const r = await tbx(['try', cs, '--host', '--target', target, '--', '/bin/uname', '-m']);
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
    const missing = await tbx(['try', cs, '--host', '--target', target, '--', '/usr/bin/nope']);
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
    const viaLink = await tbx(['try', cs, '--host', '--target', t2, '--', 'ls']);
    expect(viaLink.stderr).toContain(`error[TRY_COMMAND_MISSING]: ls is not in the rootfs of ${cs}`);
    // a bind mount whose source is missing on this host (not optional): liblxc gives up
    fs.appendFileSync(path.join(target, 'usr/share/Thunder', cs, 'Container/config'), `lxc.mount.entry = /nonexistent-tbx-${randomBytes(4).toString('hex')} opt none bind,create=dir 0 0\n`);
    const broken = await tbx(['try', cs, '--host', '--target', target, '--', '/bin/true']);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toContain('Failed to spawn container');
    expect(broken.stderr).toContain(`thunderbox: ${cs}: the container did not start (liblxc's errors above); /bin/true did not run`);
    // liblxc's errors once: lxc-execute prints them itself; its log file (the same lines) is not printed again
    expect(broken.stderr.match(/Failed to spawn container/g)).toHaveLength(1);
    const quoted = await tbx(['try', cs, '--host', '--target', target, '--', '/bin/sh', '-c', "echo 'a  b'"]);
    expect(quoted.stderr).toContain(`the container did not start (liblxc's errors above); /bin/sh -c 'echo '\\''a  b'\\''' did not run`);
  });

  it('--timeout stops a start that never ends (shmounts: without a path: lxc-execute waits for ever): exit 124, nothing left', async () => {
    const dir = tmpDir();
    const cs = `Try${randomBytes(3).toString('hex')}`;
    const target = await prepared(hostBusyboxArchive(path.join(dir, 'rootfs.tar')), cs);
    fs.appendFileSync(path.join(target, 'usr/share/Thunder', cs, 'Container/config'), 'lxc.mount.auto = shmounts:\n');
    const t0 = Date.now();
    const r = await tbx(['try', cs, '--host', '--timeout', '3', '--target', target, '--', '/bin/true']);
    expect(r.code).toBe(124);
    expect(r.stderr).toContain('TRY_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect((await execa('pgrep', ['-f', `tbx-${cs}-`], { reject: false })).stdout).toBe('');
  });
});

describe('thunderbox try: the device-faithful start (the default)', () => {
  it('names the container, prints the console, passes the status through; --json has the verdict and the communicator', async () => {
    const dir = tmpDir();
    const cs = `Dev${randomBytes(3).toString('hex')}`;
    const { target } = await imageWithContainer(dir, cs);
    const r = await tbx(['try', cs, '--target', target, '--', 'sh', '-c', 'echo "marker $PATH"; exit 5']);
    expect(r.stdout).toBe(`marker ${THUNDER_ENVIRONMENT.PATH}`); // (the helper drops the last newline)
    expect(r.stderr).toBe(`thunderbox: ${cs}: container /usr/share/Thunder/${cs}/Container\nthunderbox: ${cs}: started; sh -c 'echo "marker $PATH"; exit 5' exited with status 5`); // quoted as typed
    expect(r.code).toBe(5);
    const j = await tbx(['try', cs, '--target', target, '--json', '--', 'sh', '-c', 'ls -l /tmp/communicator']);
    expect(j.code).toBe(0);
    const v = JSON.parse(j.stdout);
    expect(v).toMatchObject({ ok: true, callsign: cs, container: `/usr/share/Thunder/${cs}/Container`, started: true, exitCode: 0, timedOut: false, communicator: { connected: false, path: '/tmp/communicator', mode: 0o777 } });
    expect(v.output).toMatch(/^srwxrwxrwx .* \/tmp\/communicator\n$/);
  });

  it('the default command is ThunderPlugin by bare name, found by liblxc in Thunder\'s PATH', async () => {
    const dir = tmpDir();
    const cs = `TP${randomBytes(3).toString('hex')}`;
    const extra = [{ path: 'usr', type: 'Directory' as const }, { path: 'usr/bin', type: 'Directory' as const }, { path: 'usr/bin/ThunderPlugin', type: 'File' as const, mode: 0o755, data: '#!/bin/sh\necho "ThunderPlugin ran as $0"\nexit 3\n' }];
    const { target } = await imageWithContainer(dir, cs, {}, { extra });
    const r = await tbx(['try', cs, '--target', target]);
    expect(r.stdout).toBe('ThunderPlugin ran as /usr/bin/ThunderPlugin');
    expect(r.stderr).toContain('started; ThunderPlugin exited with status 3');
    expect(r.code).toBe(3);
  });

  it('a container that does not start: liblxc\'s first specific error, exit 1', async () => {
    const dir = tmpDir();
    const cs = `Bad${randomBytes(3).toString('hex')}`;
    const { target, dir: cdir } = await imageWithContainer(dir, cs);
    fs.writeFileSync(path.join(target, 'etc/tbx-hook'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    fs.appendFileSync(path.join(cdir, 'config'), 'lxc.hook.pre-start = /etc/tbx-hook\n');
    const r = await tbx(['try', cs, '--target', target, '--', 'sh', '-c', 'echo marker']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`thunderbox: ${cs}: did not start: lxc.hook.pre-start "/etc/tbx-hook" failed: Script exited with status 1`);
    const j = JSON.parse((await tbx(['try', cs, '--target', target, '--json', '--', 'sh', '-c', 'echo marker'])).stdout);
    expect(j).toMatchObject({ ok: false, started: false, exitCode: null, error: 'lxc.hook.pre-start "/etc/tbx-hook" failed: Script exited with status 1', output: '' });
  });

  it('a plugin JSON whose containertype names another backend, or not in Container mode: Thunder never starts this LXC container, and neither does try', async () => {
    const dir = tmpDir();
    const cs = `Ct${randomBytes(3).toString('hex')}`;
    const { target } = await imageWithContainer(dir, cs);
    fs.mkdirSync(path.join(target, 'etc/Thunder/plugins'), { recursive: true });
    fs.writeFileSync(path.join(target, `etc/Thunder/plugins/${cs}.json`), `{\n  "callsign": "${cs}",\n  "classname": "${cs}",\n  "configuration": {\n    "root": { "mode": "Container", "configuration": { "containertype": "crun" } }\n  }\n}\n`);
    const r = await tbx(['try', cs, '--target', target, '--', 'sh', '-c', 'echo marker']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`error[PLUGIN_CONTAINER_TYPE]: /etc/Thunder/plugins/${cs}.json:5: configuration.root.configuration.containertype is "crun", not "lxc"`);
    const j = JSON.parse((await tbx(['try', cs, '--target', target, '--json', '--', 'sh', '-c', 'echo marker'])).stdout);
    expect(j).toMatchObject({ ok: false, diagnostics: [{ code: 'PLUGIN_CONTAINER_TYPE' }] });
    // a plugin JSON in Local mode: Thunder runs the plugin outside the container
    fs.writeFileSync(path.join(target, `etc/Thunder/plugins/${cs}.json`), `{\n  "callsign": "${cs}",\n  "classname": "${cs}",\n  "configuration": {\n    "root": { "mode": "Local" }\n  }\n}\n`);
    const l = await tbx(['try', cs, '--target', target, '--', 'sh', '-c', 'echo marker']);
    expect(l.code).toBe(1);
    expect(l.stdout).toBe('');
    expect(l.stderr).toContain(`error[PLUGIN_MODE]: /etc/Thunder/plugins/${cs}.json:5: configuration.root.mode is "Local", not "Container"`);
    // the doctor says the same
    const d = await tbx(['doctor', cs, '--target', target]);
    expect(d.code).toBe(1);
    expect(`${d.stdout}${d.stderr}`).toContain('PLUGIN_MODE');
  });

  it('SIGTERM stops the container and cleans up: exit 143, no process of it left', async () => {
    const dir = tmpDir();
    const cs = `Sig${randomBytes(3).toString('hex')}`;
    const { target } = await imageWithContainer(dir, cs);
    const mark = `tbx-sig-${randomBytes(4).toString('hex')}`;
    const engineTmp = tmpDir('tbx-engine-tmp-'); // where its run directory and device /tmp go
    const child = execa(process.execPath, [BIN, 'try', cs, '--target', target, '--', 'sh', '-c', 'echo up; while :; do sleep 1; done', mark], { reject: false, env: { TMPDIR: engineTmp } });
    await new Promise<void>((resolve) => child.stdout!.on('data', (b: Buffer) => b.toString().includes('up') && resolve()));
    expect(processesWith(mark).length).toBeGreaterThan(0);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(r.stderr).toContain('interrupted by SIGTERM');
    expect(processesWith(mark)).toEqual([]);
    expect(fs.readdirSync(engineTmp)).toEqual([]);
  });

  it('thunderbox killed (SIGKILL): the namespace dies with it, and the next start removes what it left', async () => {
    const dir = tmpDir();
    const cs = `Kill${randomBytes(3).toString('hex')}`;
    const { target } = await imageWithContainer(dir, cs);
    const mark = `tbx-kill-${randomBytes(4).toString('hex')}`;
    const engineTmp = tmpDir('tbx-engine-tmp-');
    const child = execa(process.execPath, [BIN, 'try', cs, '--target', target, '--', 'sh', '-c', 'echo up; while :; do sleep 1; done', mark], { reject: false, env: { TMPDIR: engineTmp } });
    await new Promise<void>((resolve) => child.stdout!.on('data', (b: Buffer) => b.toString().includes('up') && resolve()));
    child.kill('SIGKILL');
    await child;
    for (let i = 0; i < 30 && processesWith(mark).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(processesWith(mark)).toEqual([]);
    expect(fs.readdirSync(engineTmp)).toHaveLength(1); // its run directory
    const next = await tbx(['try', cs, '--target', target, '-q', '--', '/bin/true'], { env: { TMPDIR: engineTmp } });
    expect(next.code).toBe(0);
    expect(fs.readdirSync(engineTmp)).toEqual([]);
  });

  it('--fix-host-subids is for --host only; there, as a normal user, it is a coded error naming the fix', async () => {
    const dir = tmpDir();
    const cs = `Sub${randomBytes(3).toString('hex')}`;
    const { target } = await imageWithContainer(dir, cs);
    const r = await tbx(['try', cs, '--target', target, '--fix-host-subids']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error[TRY_HOST_ONLY]: --fix-host-subids applies to --host only');
    // nobody cannot enter a checkout under /root: run a copy of the built CLI
    const copy = tmpDir();
    for (const d of ['bin', 'dist', 'templates', 'package.json']) fs.cpSync(path.join(REPO, d), path.join(copy, d), { recursive: true });
    const n = await execa('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, path.join(copy, 'bin/thunderbox.js'), 'try', cs, '--host', '--fix-host-subids', '--target', target, '--', '/bin/true'], { reject: false, env: { MESSAGE_DISPATCHER_CONFIG: 'x' } });
    expect(n.stderr).toMatch(/error\[SUBID_FIX_DENIED\]: cannot add \/etc\/subuid: nobody:100000:65536.*: EACCES writing \/etc\/subuid as nobody/);
    expect(n.stderr).toContain('run it as root');
    expect(n.exitCode).toBe(1);
  });
});

/** pids whose command line holds `mark` (this test's own processes only: the mark is random) */
function processesWith(mark: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(mark)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

describe('thunderbox try --classname: a container prepared without a plugin JSON', () => {
  it('is found where Thunder looks for its class (LXC, --host and runc); without --classname the callsign is looked for, and not found', async () => {
    const dir = tmpDir();
    const c = `Cls${randomBytes(3).toString('hex')}`;
    const klass = `Klass${randomBytes(2).toString('hex')}`;
    const { target } = await imageWithContainer(dir, c, { runtime: 'both', classname: klass });
    expect(fs.existsSync(path.join(target, 'usr/share/Thunder', klass, 'Container/config.json'))).toBe(true);
    const missing = await tbx(['try', c, '--target', target, '--', '/bin/sh', '-c', 'echo ran']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error[CONTAINER_MISSING]');
    for (const extra of [[], ['--host'], ['--runtime', 'runc']]) {
      const r = await tbx(['try', c, '--target', target, '--classname', klass, ...extra, '--', '/bin/sh', '-c', 'echo ran']);
      expect([extra, r.code, r.stdout]).toEqual([extra, 0, expect.stringMatching(/^ran$/m)]);
    }
  }, 120_000);
});
