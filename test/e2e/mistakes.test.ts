import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeSample } from '../../src/thunder/sample.js';
import { BIN, tbx } from '../helpers/cli.js';
import { publicBin } from '../helpers/public-repo.js';
import { snapshot } from '../helpers/tree.js';
import { tmpDir } from '../helpers/tmp.js';

// Ordinary mistakes (issue 14): each one a coded error naming the path and the fix, the right
// exit status, and nothing written.

const EPOCH = 1700000000;

describe('an image root thunderbox cannot write', () => {
  it('read-only (EROFS): READ_ONLY_FS naming the root and the fix, exit 1, nothing written', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    await execa('mount', ['--bind', s.target, ro]);
    try {
      await execa('mount', ['-o', 'remount,bind,ro', ro]);
      const before = snapshot(s.target, { hash: true });
      const r = await tbx(['prepare', 'OCDM', s.archive, '--target', ro]);
      expect(r.stderr).not.toContain('internal error');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${ro}: error[READ_ONLY_FS]: the image root ${ro} is on a read-only filesystem`);
      expect(r.stderr).toContain('hint: remount it read-write');
      expect(snapshot(s.target, { hash: true })).toEqual(before);
    } finally {
      await execa('umount', [ro]);
    }
  });

  it('not writable by this user (EACCES): PERMISSION_DENIED naming the root, its owner and the fix, exit 1, nothing written', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    const before = snapshot(s.target, { hash: true });
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, publicBin(), 'prepare', 'OCDM', s.archive, '--target', s.target], { reject: false, env: { HOME: '/nonexistent' } });
    expect(r.stderr).not.toContain('internal error');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`error[PERMISSION_DENIED]: the image root ${s.target}, owned by 0:0, mode 755, is not writable by this user (uid 65534; EACCES`);
    expect(r.stderr).toContain('hint: run as the user who owns it');
    expect(snapshot(s.target, { hash: true })).toEqual(before);
  });
});

describe('demo --dir', () => {
  it('run twice, as in its help: the second run prepares the same sample again and changes nothing', async () => {
    const dir = path.join(tmpDir(), 'demo');
    const first = await tbx(['demo', '--dir', dir]);
    expect(first.code).toBe(0);
    const before = snapshot(dir, { hash: true });
    const second = await tbx(['demo', '--dir', dir]);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`${dir} holds the sample of an earlier demo: prepare runs on it again`);
    expect(second.stdout).toContain('nothing to do: everything is up to date');
    expect(snapshot(dir, { hash: true })).toEqual(before);
  });

  it('a file, or a directory holding something else: a coded error, exit 1, nothing written', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, 'x');
    const f = await tbx(['demo', '--dir', file]);
    expect(f.code).toBe(1);
    expect(f.stderr).toContain(`${file}: error[DEMO_DIR_NOT_DIR]`);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
    const d = await tbx(['demo', '--dir', dir]);
    expect(d.code).toBe(1);
    expect(d.stderr).toContain(`${dir}: error[DEMO_DIR_NOT_EMPTY]`);
    expect(fs.readdirSync(dir)).toEqual(['file']);
  });

  it('without --dir: it says where the sample stays and why', async () => {
    // TMPDIR: the run's temporary directory goes below the test's own, removed also on failure
    const tmp = tmpDir();
    const r = await tbx(['demo'], { env: { TMPDIR: tmp } });
    expect(r.code).toBe(0);
    const m = /The sample stays in (\S+) for thunderbox try OCDM --target \S+; remove it with rm -rf (\S+) /.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(m![2]).toBe(m![1]);
    expect(path.dirname(m![1]!)).toBe(tmp);
    expect(fs.existsSync(path.join(m![1]!, 'target/usr/share/Thunder/OCDM/Container/config'))).toBe(true);
  });
});

describe('--seccomp default after --seccomp off-common-conf', () => {
  const conf = (target: string) => fs.readFileSync(path.join(target, 'usr/share/lxc/config/common.conf'), 'utf8');

  it('puts back what the earlier run commented out, in the transaction, shown in the plan and the dry-run diff', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    const original = conf(s.target);
    const off = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--seccomp', 'off-common-conf', '-q']);
    expect(off.code).toBe(0);
    expect(conf(s.target)).toContain('\n# lxc.seccomp.profile = ');
    const dry = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--seccomp', 'default', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('common.conf: put back lxc.seccomp.profile (line 21), commented out by an earlier --seccomp off-common-conf for OCDM');
    expect(dry.stdout).toContain('\n-# lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp\n+lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp\n');
    expect(conf(s.target)).toContain('\n# lxc.seccomp.profile = ');
    const on = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--seccomp', 'default']);
    expect(on.code).toBe(0);
    expect(on.stdout).toContain('put back lxc.seccomp.profile (line 21)');
    expect(conf(s.target)).toBe(original);
  });

  it('while another container still uses off-common-conf, the line stays commented out and a warning says why', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    for (const cs of ['OCDM', 'Other']) {
      expect((await tbx(['prepare', '--no-doctor', cs, s.archive, '--target', s.target, '--no-plugin-json', '--seccomp', 'off-common-conf', '-q'])).code).toBe(0);
    }
    const one = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--no-plugin-json', '--seccomp', 'default']);
    expect(one.code).toBe(0);
    expect(one.stderr).toContain('warning[SECCOMP_RESTORE_KEPT]: OCDM no longer uses --seccomp off-common-conf, but Other in the image still does');
    expect(conf(s.target)).toContain('\n# lxc.seccomp.profile = ');
    const last = await tbx(['prepare', '--no-doctor', 'Other', s.archive, '--target', s.target, '--no-plugin-json', '--seccomp', 'default']);
    expect(last.code).toBe(0);
    expect(conf(s.target)).toContain('\nlxc.seccomp.profile = ');
  });

  it('a profile commented out by hand is not touched, and --seccomp default says seccomp is off', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    const f = path.join(s.target, 'usr/share/lxc/config/common.conf');
    fs.writeFileSync(f, conf(s.target).replace('\nlxc.seccomp.profile = ', '\n# lxc.seccomp.profile = '));
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--seccomp', 'default']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning[SECCOMP_COMMON_CONF_OFF]: --seccomp default, but common.conf\'s lxc.seccomp.profile is commented out (line 21 of /usr/share/lxc/config/common.conf)');
    expect(conf(s.target)).toContain('\n# lxc.seccomp.profile = ');
  });
});

describe('--dry-run of a change to an existing container', () => {
  it('diffs the config against the one there, not against /dev/null', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    expect((await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '-q'])).code).toBe(0);
    const config = path.join(s.target, 'usr/share/Thunder/OCDM/Container/config');
    const dry = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--env', 'LOG_LEVEL=3', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).not.toContain('/dev/null');
    expect(dry.stdout).toContain(`--- ${config}\n+++ ${config}\n`);
    expect(dry.stdout).toContain('\n+lxc.environment = LOG_LEVEL=3\n');
    // only the changed line and its context, not every line of the file
    expect(dry.stdout.split('\n').filter((l) => /^[+-][^+-]/.test(l))).toEqual(['+lxc.environment = LOG_LEVEL=3']);
    // a forced rebuild with the same config says so
    const same = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--force', '--dry-run']);
    expect(same.stdout).toContain(`    ${config}: unchanged`);
  });
});

describe('a mistyped callsign', () => {
  it('doctor OCMD, try OCMD and prepare ocdm suggest OCDM, from its plugin JSON and its container; prepare does not suggest --no-plugin-json then', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    expect((await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '-q'])).code).toBe(0);
    const d = await tbx(['doctor', 'OCMD', '--target', s.target]);
    expect(d.code).toBe(1);
    expect(d.stdout).toContain('error[CONTAINER_MISSING]: no prepared container for OCMD');
    expect(d.stdout).toContain('fix: did you mean OCDM (/etc/Thunder/plugins/OCDM.json, /usr/share/Thunder/OCDM/Container)? If OCMD is another plugin, make its container first: thunderbox prepare OCMD');
    // try, as Thunder starts it and with --host, the same
    for (const host of [[], ['--host']]) {
      const t = await tbx(['try', 'OCMD', ...host, '--target', s.target]);
      expect(t.code).toBe(1);
      expect(t.stderr).toContain('error[CONTAINER_MISSING]: no prepared container for OCMD');
      expect(t.stderr).toContain('hint: did you mean OCDM (/etc/Thunder/plugins/OCDM.json, /usr/share/Thunder/OCDM/Container)?');
    }
    const before = snapshot(s.target, { hash: true });
    const p = await tbx(['prepare', '--no-doctor', 'ocdm', s.archive, '--target', s.target]);
    expect(p.code).toBe(1);
    expect(p.stderr).toContain('error[PLUGIN_JSON_NOT_FOUND]: no plugin config for ocdm');
    expect(p.stderr).toContain('hint: did you mean OCDM (/etc/Thunder/plugins/OCDM.json, /usr/share/Thunder/OCDM/Container)? the callsign is the plugin JSON\'s "callsign" (else its file name)');
    expect(p.stderr).not.toContain('--no-plugin-json');
    expect(snapshot(s.target, { hash: true })).toEqual(before);
    // nothing near: the other ways out are named
    const far = await tbx(['prepare', '--no-doctor', 'Netflix', s.archive, '--target', s.target]);
    expect(far.code).toBe(1);
    expect(far.stderr).not.toContain('did you mean');
    expect(far.stderr).toContain('--no-plugin-json builds a container Thunder only finds by the classname you give with --classname');
  });

  it('prepare --manifest with a callsign the manifest does not have suggests the near one', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    const m = path.join(dir, 'thunderbox.yaml');
    fs.writeFileSync(m, `containers:\n  OCDM:\n    rootfs: ${s.archive}\n`);
    const r = await tbx(['prepare', 'OCMD', '--manifest', m, '--target', s.target]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`OCMD is not in ${m}: did you mean OCDM?`);
  });
});

describe('usage errors', () => {
  it.each([
    [['prepare', 'OCDM', 'x.tar', '--net', 'veth'], 'USAGE', '--net veth needs --link BRIDGE', 'e.g. --net veth --link lxcbr0'],
    [['prepare', 'OCDM', 'x.tar', '--bogus'], 'USAGE', "unknown option '--bogus'", 'run with --help for usage'],
    [['nosuch'], 'USAGE', "unknown command 'nosuch'", 'run with --help for usage'],
    [['prepare', 'OCDM', 'x.tar', '--mount', 'bad'], 'MOUNT_FLAG', '--mount "bad" is not HOST:PATH', 'e.g. --mount /testshare'],
    [['doctor', 'a/b'], 'USAGE', '"a/b" is not a usable callsign', 'use letters, digits'],
  ])('%j: error[CODE] and a hint, exit 2', async (args, code, message, hint) => {
    const r = await tbx(args);
    expect(r.code).toBe(2);
    const [first, second] = r.stderr.split('\n');
    expect(first).toMatch(new RegExp(`^error\\[${code}\\]: `));
    expect(first).toContain(message);
    expect(second).toMatch(/^ {2}hint: /);
    expect(second).toContain(hint);
    expect(r.stderr).not.toMatch(/^thunderbox: /m);
  });
});

describe('--help', () => {
  it('every command\'s help fits 80 columns when not on a terminal, and on an 80-column terminal', async () => {
    const { program, register } = await import('../../src/cli/main.js');
    const p = program();
    await register(p, ['node', 'thunderbox']);
    const paths: string[][] = [[]];
    const walk = (c: Command, at: string[]) => {
      for (const sub of c.commands) {
        paths.push([...at, sub.name()]);
        walk(sub, [...at, sub.name()]);
      }
    };
    walk(p, []);
    expect(paths.length).toBeGreaterThan(15);
    for (const at of paths) {
      const r = await tbx([...at, '--help'], { env: { COLUMNS: '80' } });
      expect(r.code).toBe(0);
      const long = r.stdout.split('\n').filter((l) => l.length > 80);
      expect({ command: at.join(' '), long }).toEqual({ command: at.join(' '), long: [] });
    }
    // no COLUMNS, not a terminal: 80 too
    const plain = await tbx(['prepare', '--help']);
    expect(Math.max(...plain.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    // a long option stands on its own line, its description below, aligned with the others
    expect(plain.stdout).toMatch(/\n {2}--mount <HOST:PATH\[:ro\|rw\[:MODE\[:UID\[:GID\]\]\]\]>\n {30}share a device directory/);
    const tty = await execa('script', ['-qec', `stty cols 80; ${process.execPath} ${BIN} prepare --help`, '/dev/null']);
    const lines = tty.stdout.split(/\r?\n/);
    expect(lines.length).toBeGreaterThan(40);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(80);
  });
});

describe('what prepare makes', () => {
  it('created mount points get SOURCE_DATE_EPOCH, else the run\'s time, not 1970', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    const mountPoints = (target: string) => ['sys', 'dev', 'tmp', 'shared'].map((m) => fs.statSync(path.join(target, 'usr/share/Thunder/OCDM/Container/rootfs', m)).mtimeMs / 1000);
    const t0 = Math.floor(Date.now() / 1000);
    expect((await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--mount', '/srv/x:shared', '-q'])).code).toBe(0);
    const t1 = Math.ceil(Date.now() / 1000);
    for (const t of mountPoints(s.target)) {
      expect(t).toBeGreaterThanOrEqual(t0);
      expect(t).toBeLessThanOrEqual(t1);
    }
    const d2 = path.join(dir, 'epoch');
    fs.mkdirSync(d2);
    const s2 = writeSample(d2, EPOCH);
    expect((await tbx(['prepare', '--no-doctor', 'OCDM', s2.archive, '--target', s2.target, '--mount', '/srv/x:shared', '-q'], { env: { SOURCE_DATE_EPOCH: '1600000000' } })).code).toBe(0);
    expect(mountPoints(s2.target)).toEqual([1600000000, 1600000000, 1600000000, 1600000000]);
  });

  it('a plugin JSON\'s edit is told once, with its container', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.includes('OCDM.json'))).toEqual([`  plugin config ${path.join(s.target, 'etc/Thunder/plugins/OCDM.json')}: configuration.root.mode "Local" -> "Container"; configuration.root.configuration.containertype set to "lxc"`]);
  });
});

describe('a filesystem error no command foresaw', () => {
  it('is a coded error naming the file (exit 1), not an internal error: lxc migrate --write and demo --dir on a read-only filesystem', async () => {
    const dir = tmpDir();
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    const conf = path.join(ro, 'old.conf');
    fs.writeFileSync(conf, 'lxc.utsname = x\n');
    await execa('mount', ['--bind', ro, ro]);
    try {
      await execa('mount', ['-o', 'remount,bind,ro', ro]);
      const m = await tbx(['lxc', 'migrate', conf, '--write']);
      expect(m.stderr).not.toContain('internal error');
      expect(m.code).toBe(1);
      // the temporary file's name is not shown: the file it was for is
      expect(m.stderr).toContain(`${conf}.bak: error[READ_ONLY_FS]: ${conf}.bak is on a read-only filesystem: open failed with EROFS`);
      const d = await tbx(['demo', '--dir', path.join(ro, 'demo'), '--json']);
      expect(d.code).toBe(1);
      expect(JSON.parse(d.stdout)).toMatchObject({ ok: false, diagnostics: [{ code: 'PATH_NOT_FOUND', file: path.join(ro, 'demo') }] });
    } finally {
      await execa('umount', [ro]);
    }
  });
});
