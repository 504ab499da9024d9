import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { renderTemplate } from '../../src/core/template.js';
import { startOnDevice, type DeviceStartRequest } from '../../src/lxc/device-start.js';
import { THUNDER_ENVIRONMENT } from '../../src/thunder/environment.js';
import { IMAGE_COMMON_CONF_MARK, IMAGE_INCLUDE_MARK, commClient, imageWithContainer } from '../helpers/device-image.js';
import { tmpDir } from '../helpers/tmp.js';

// Real starts, as Thunder's LXC backend starts a container on the device (src/lxc/device-start.ts):
// the image is the root, this host lends lxc-start and the kernel. Every case is the verdict of
// such a start; none is asserted by hand.

const cs = (p: string) => `${p}${randomBytes(3).toString('hex')}`;

async function start(over: Partial<DeviceStartRequest> & Pick<DeviceStartRequest, 'target' | 'lxcpath' | 'command'>) {
  // the engine's temporary directories go to a directory of their own, so that the test sees
  // exactly what the start left behind (vitest gives each file its own worker and environment)
  const engineTmp = tmpDir('tbx-engine-tmp-');
  process.env.TMPDIR = engineTmp;
  try {
    const r = await startOnDevice({ name: 'Container', env: { ...THUNDER_ENVIRONMENT }, timeoutMs: 20_000, ...over });
    // nothing of the start is left: run dir, overlay, the device /tmp it made
    expect(fs.readdirSync(engineTmp)).toEqual([]);
    return r;
  } finally {
    delete process.env.TMPDIR;
  }
}

/** Names, modes, owners, sizes, mtimes and contents' digests of everything below root. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(path.join(root, r));
      const data = st.isFile() ? fs.readFileSync(path.join(root, r)).toString('base64').slice(0, 64) + st.size : st.isSymbolicLink() ? fs.readlinkSync(path.join(root, r)) : '';
      out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${data}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

describe('startOnDevice: a start as on the device', () => {
  it('privileged: the command runs as init with exactly Thunder\'s environment, its status passes through, the image\'s includes are read, the image is unchanged', async () => {
    const dir = tmpDir();
    const c = cs('Priv');
    const { target, lxcpath } = await imageWithContainer(dir, c, { idmap: { kind: 'none' } });
    const before = snapshot(target);
    const r = await start({ target, lxcpath, command: ['sh', '-c', 'echo "marker pid=$$"; env | sort; touch /etc/written-by-the-container; exit 3'] });
    expect(r).toMatchObject({ started: true, exitCode: 3, timedOut: false });
    expect(r.output).toContain('marker pid=1\n');
    const env = r.output.split('\n').filter((l) => /^[A-Z_a-z]+=/.test(l));
    // liblxc sets container=lxc; the shell adds PWD and SHLVL; the rest is what the config inherits
    expect(env.filter((l) => !/^(PWD|SHLVL)=/.test(l))).toEqual([IMAGE_COMMON_CONF_MARK, IMAGE_INCLUDE_MARK, `MESSAGE_DISPATCHER_CONFIG=${THUNDER_ENVIRONMENT.MESSAGE_DISPATCHER_CONFIG}`, `PATH=${THUNDER_ENVIRONMENT.PATH}`, 'container=lxc'].sort());
    // the marks are the image's: this host's LXC has neither file content
    expect(fs.readFileSync('/usr/share/lxc/config/common.conf', 'utf8')).not.toContain('TBX_IMAGE');
    expect(fs.existsSync('/usr/share/lxc/config/common.conf.d/50-image.conf')).toBe(false);
    expect(snapshot(target)).toEqual(before);
  });

  it('unprivileged (prepare\'s default idmap): root inside is host uid 100000', async () => {
    const dir = tmpDir();
    const { target, lxcpath } = await imageWithContainer(dir, cs('Unpriv'));
    const r = await start({ target, lxcpath, command: ['/bin/sh', '-c', 'echo marker; cat /proc/self/uid_map; id -u'] });
    expect(r.started, r.error).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(r.output).toMatch(/^marker\n\s+0\s+100000\s+65536\n0\n$/);
  });

  it('an unprivileged container whose mapped root cannot enter the container dir does not start', async () => {
    const dir = tmpDir();
    const { target, lxcpath, dir: cdir } = await imageWithContainer(dir, cs('Closed'));
    fs.chmodSync(cdir, 0o700);
    const r = await start({ target, lxcpath, command: ['/bin/sh', '-c', 'echo marker'] });
    expect(r.started).toBe(false);
    expect(r.error).toMatch(/^Permission denied - Failed to open ".*\/Container\/rootfs"$/);
    expect(r.output).not.toContain('marker');
  });

  it('/tmp is the device\'s: deviceTmp at the image\'s /tmp, not this host\'s /tmp', async () => {
    const dir = tmpDir();
    const { target, lxcpath } = await imageWithContainer(dir, cs('Tmp'), { idmap: { kind: 'none' } });
    const deviceTmp = path.join(dir, 'device-tmp');
    fs.mkdirSync(deviceTmp, { mode: 0o1777 });
    fs.writeFileSync(path.join(deviceTmp, 'on-the-device'), 'device');
    const hostMark = `/tmp/tbx-host-${randomBytes(4).toString('hex')}`;
    fs.writeFileSync(hostMark, 'host');
    try {
      const r = await start({ target, lxcpath, deviceTmp, command: ['/bin/sh', '-c', `cat /tmp/on-the-device; echo; test -e ${hostMark} && echo host-tmp-seen; echo left > /tmp/from-the-container`] });
      expect(r.output).toBe('device\n');
    } finally {
      fs.rmSync(hostMark);
    }
    expect(fs.readFileSync(path.join(deviceTmp, 'from-the-container'), 'utf8')).toBe('left\n');
    expect(fs.existsSync(path.join(target, 'tmp/from-the-container'))).toBe(false);
  });

  it.each([
    ['no loader', false, /^No such file or directory - Failed to exec "dyntrue"$/],
    ['a loader but no libc', true, /^dyntrue: error while loading shared libraries: libc\.so\.6/],
  ])('a dynamically linked command with %s did not run (lxc-start -F exits 0 for it)', async (_what, withLoader, error) => {
    const dir = tmpDir();
    const interp = '/lib64/ld-linux-x86-64.so.2';
    const extra = [
      { path: 'bin/dyntrue', type: 'File' as const, mode: 0o755, data: fs.readFileSync('/usr/bin/true') },
      ...(withLoader ? [{ path: 'lib64', type: 'Directory' as const, mode: 0o755 }, { path: interp.slice(1), type: 'File' as const, mode: 0o755, data: fs.readFileSync(fs.realpathSync(interp)) }] : []),
    ];
    const { target, lxcpath } = await imageWithContainer(dir, cs('Libc'), { idmap: { kind: 'none' } }, { extra });
    const r = await start({ target, lxcpath, command: ['dyntrue'] });
    expect(r.started).toBe(false);
    expect(r.exitCode).toBeNull();
    expect(r.error).toMatch(error);
  });

  it.each([
    ['exits 1', '#!/bin/sh\nexit 1\n', 0o755, 'Script exited with status 1'],
    ['is not executable', '#!/bin/sh\nexit 0\n', 0o644, 'Script exited with status 126'],
    // this host has /bin/bash; the image has not: the hook runs with the image's programs
    ['names an interpreter the image lacks', '#!/bin/bash\nexit 0\n', 0o755, 'Script exited with status 127'],
  ])('a pre-start hook that %s: the container did not start, the error names the hook', async (_what, text, mode, status) => {
    const dir = tmpDir();
    const { target, lxcpath, dir: cdir } = await imageWithContainer(dir, cs('Hook'), { idmap: { kind: 'none' } });
    fs.writeFileSync(path.join(target, 'etc/tbx-hook'), text, { mode });
    fs.appendFileSync(path.join(cdir, 'config'), 'lxc.hook.pre-start = /etc/tbx-hook\n');
    const r = await start({ target, lxcpath, command: ['/bin/sh', '-c', 'echo marker'] });
    expect(r.started).toBe(false);
    expect(r.error).toBe(`lxc.hook.pre-start "/etc/tbx-hook" failed: ${status}`);
    expect(r.output).not.toContain('marker');
  });

  it('the seccomp profile is the image\'s: a broken one in the image stops the start', async () => {
    const dir = tmpDir();
    const { target, lxcpath } = await imageWithContainer(dir, cs('Seccomp'), { idmap: { kind: 'none' } });
    fs.writeFileSync(path.join(target, 'usr/share/lxc/config/common.seccomp'), '2\nnot a policy\n');
    const r = await start({ target, lxcpath, command: ['/bin/sh', '-c', 'echo marker'] });
    expect(r.started).toBe(false);
    expect(r.error).toBe('Bad seccomp policy style "not a policy'); // liblxc logs the line with its newline
  });

  it('the image\'s newuidmap maps the ids (liblxc takes it when it is setuid root), this host\'s is not used', async () => {
    const dir = tmpDir();
    const { target, lxcpath } = await imageWithContainer(dir, cs('Newuid'));
    for (const n of ['newuidmap', 'newgidmap']) {
      fs.writeFileSync(path.join(target, 'usr/bin', n), `#!/bin/sh\necho "$0 $*" >> /tmp/idmap-calls\nexit 1\n`);
      fs.chmodSync(path.join(target, 'usr/bin', n), 0o4755);
    }
    const deviceTmp = path.join(dir, 'device-tmp');
    fs.mkdirSync(deviceTmp, { mode: 0o1777 });
    const r = await start({ target, lxcpath, deviceTmp, command: ['/bin/sh', '-c', 'echo marker'] });
    expect(r.started).toBe(false);
    expect(r.error).toMatch(/^newuidmap failed to write mapping "": newuidmap \d+ 0 100000 65536$/);
    // the PATH is the device's: /sbin:/usr/sbin:/bin:/usr/bin finds the image's /usr/bin/newuidmap
    expect(fs.readFileSync(path.join(deviceTmp, 'idmap-calls'), 'utf8')).toMatch(/^\/usr\/bin\/newuidmap \d+ 0 100000 65536\n$/);
  });

  it('an lxc.environment name the launcher does not have: liblxc refuses the config, nothing starts', async () => {
    const dir = tmpDir();
    const { target, lxcpath, dir: cdir } = await imageWithContainer(dir, cs('Env'), { idmap: { kind: 'none' } });
    fs.appendFileSync(path.join(cdir, 'config'), 'lxc.environment = TBX_NOT_IN_THUNDER\n');
    const r = await start({ target, lxcpath, command: ['/bin/sh', '-c', 'echo marker'], env: { ...THUNDER_ENVIRONMENT } });
    expect(r.started).toBe(false);
    expect(r.error).toBe(`Failed to parse config file "${lxcpath}/Container/config" at line "lxc.environment = TBX_NOT_IN_THUNDER"`);
    const ok = await start({ target, lxcpath, command: ['/bin/sh', '-c', 'echo "[$TBX_NOT_IN_THUNDER]"'], env: { ...THUNDER_ENVIRONMENT, TBX_NOT_IN_THUNDER: 'given' } });
    expect(ok.output).toBe('[given]\n');
  });

  it('a timeout stops the container (lxc-stop -k in its namespace) and says so', async () => {
    const dir = tmpDir();
    const { target, lxcpath } = await imageWithContainer(dir, cs('Slow'), { idmap: { kind: 'none' } });
    const r = await start({ target, lxcpath, command: ['/bin/sh', '-c', 'echo up; sleep 30'], timeoutMs: 1000 });
    expect(r).toMatchObject({ started: true, exitCode: null, timedOut: true, output: 'up\n' });
    // lxc-stop -k did it (lxc-start lived to log init's end), not the fallback kill of the namespace
    expect(r.lxcLog).toMatch(/ended on signal Killed\(9\)/);
  });

  describe('the communicator: a socket Thunder makes as root in the device\'s /tmp', () => {
    it.each([
      ['privileged', { idmap: { kind: 'none' as const } }],
      ['unprivileged', {}],
    ])('%s: the container\'s process connects to /tmp/communicator (mode 0777) and gets its bytes back', async (_what, input) => {
      const dir = tmpDir();
      const client = await commClient(dir);
      const { target, lxcpath } = await imageWithContainer(dir, cs('Comm'), input, { extra: [{ path: 'bin/comm-client', type: 'File', mode: 0o755, data: client }] });
      const msg = `hello-${randomBytes(4).toString('hex')}`;
      const r = await start({ target, lxcpath, communicator: true, command: ['comm-client', '/tmp/communicator', msg] });
      expect(r.started, r.error).toBe(true);
      expect(r.output).toBe(`${msg}\n`);
      expect(r.communicator).toEqual({ connected: true, bytes: msg, path: '/tmp/communicator', mode: 0o777 });
    });

    it('unprivileged with a socket not writable for others (0775): EACCES, the wiki\'s caveat', async () => {
      const dir = tmpDir();
      const client = await commClient(dir);
      const { target, lxcpath } = await imageWithContainer(dir, cs('Comm'), {}, { extra: [{ path: 'bin/comm-client', type: 'File', mode: 0o755, data: client }] });
      const r = await start({ target, lxcpath, communicator: '/tmp/communicator|0775', command: ['comm-client', '/tmp/communicator', 'x'] });
      expect(r).toMatchObject({ started: true, exitCode: 1, output: 'connect: Permission denied\n' });
      expect(r.communicator).toEqual({ connected: false, path: '/tmp/communicator', mode: 0o775 });
    });
  });

  it('an armhf image starts through qemu-user: its hooks run with its own (ARM) shell', async () => {
    const dir = tmpDir();
    const { target, lxcpath, dir: cdir } = await imageWithContainer(dir, cs('Arm'), { idmap: { kind: 'none' } }, { arch: 'armhf' });
    fs.writeFileSync(path.join(target, 'etc/tbx-hook'), '#!/bin/sh\necho "hook on $(uname -m)" > /tmp/hook-ran\n', { mode: 0o755 });
    fs.appendFileSync(path.join(cdir, 'config'), 'lxc.hook.pre-start = /etc/tbx-hook\n');
    const deviceTmp = path.join(dir, 'device-tmp');
    fs.mkdirSync(deviceTmp, { mode: 0o1777 });
    const r = await start({ target, lxcpath, deviceTmp, command: ['uname', '-m'] });
    expect(r.started, r.error).toBe(true);
    expect(r.output).toBe('armv7l\n');
    // the hook is the image's ARM busybox, run by qemu-arm (which reports armv7l) outside the container
    expect(fs.readFileSync(path.join(deviceTmp, 'hook-ran'), 'utf8')).toBe('hook on armv7l\n');
  });

  it('the device-root script is shellcheck-clean, with paths that need quoting', async () => {
    const script = renderTemplate('device-root.ejs', {
      header: 'test',
      run: "/tmp/run dir/it's",
      image: '/images/with space',
      dirs: ['proc', 'usr/lib/x86_64-linux-gnu/lxc/rootfs', '.thunderbox-host'],
      mounts: [{ type: 'proc', at: 'proc' }, { type: 'rbind', at: 'sys', from: '/sys' }, { type: 'tmpfs', at: 'run' }, { type: 'bind', at: 'var/tmp dir', from: '/tmp/device tmp' }],
      host: '/.thunderbox-host',
      argv: ['/.thunderbox-host/lib/ld.so', '--library-path', '/a:/b', 'X=a b', '--', 'sh', '-c', "echo 'it''s'"],
    });
    const file = path.join(tmpDir(), 'device-root.sh');
    fs.writeFileSync(file, script);
    const r = await execa('shellcheck', ['-s', 'sh', file], { reject: false });
    expect(r.stdout).toBe('');
  });
});
