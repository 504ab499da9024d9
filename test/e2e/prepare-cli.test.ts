import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { program, register } from '../../src/cli/main.js';
import { ensureBinfmt } from '../../src/lxc/binfmt.js';
import { writeArchive } from '../../src/rootfs/archive-writer.js';
import { SAMPLE_PLUGIN_JSON, writeSample } from '../../src/thunder/sample.js';
import { richEntries } from '../helpers/archives.js';
import { tbx } from '../helpers/cli.js';
import { lxcAccepts } from '../helpers/lxc.js';
import { comparable, snapshot } from '../helpers/tree.js';
import { tmpDir } from '../helpers/tmp.js';

const C = (target: string, cs = 'OCDM') => path.join(target, 'usr/share/Thunder', cs, 'Container');

describe('thunderbox prepare (CLI)', () => {
  it("does the wiki's OCDM recipe in one command; liblxc accepts the config", async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive], { cwd: s.target });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`image root: ${s.target} (from the current directory)`);
    expect(r.stdout).toMatch(/OCDM: created .*Container \(\d+ entries, .* armhf -> lxc\.arch linux32\)/);
    const config = fs.readFileSync(path.join(C(s.target), 'config'), 'utf8');
    const accepted = await lxcAccepts(path.join(C(s.target), 'config'));
    expect(accepted.stderr).toBe('');
    expect(accepted).toMatchObject({ ok: true, utsname: 'OCDM' });
    expect(config).toContain('lxc.rootfs.path = dir:/usr/share/Thunder/OCDM/Container/rootfs\n');
    const json = fs.readFileSync(path.join(s.target, 'etc/Thunder/plugins/OCDM.json'), 'utf8');
    // the mode, and the backend by name (R5 starts nothing without it when several are built)
    expect(json).toBe(SAMPLE_PLUGIN_JSON.replace('"mode":"Local" }', '"mode":"Container", "configuration":{"containertype":"lxc"} }'));
    // mount targets are real directories (the sample's /proc is a symlink)
    for (const d of ['proc', 'sys', 'dev', 'tmp']) expect(fs.lstatSync(path.join(C(s.target), 'rootfs', d)).isDirectory()).toBe(true);
  });

  it.each([
    ['privileged, seccomp off, mounts, env, veth', ['--idmap', 'none', '--seccomp', 'off', '--mount', '/testshare:TestLogging:rw', '--mount', '/opt/data:/var/lib/data', '--env', 'LOG_LEVEL=3', '--net', 'veth', '--link', 'lxcbr0', '--ipv4', '10.0.3.10/24', '--veth-pair', 'veth-ocdm']],
    ['shared uid (the wiki\'s hole-punched map)', ['--share-uid', '1000']],
    ['custom idmap lines, no /tmp', ['--idmap', 'u 0 200000 65536,g 0 200000 65536', '--no-tmp', '--arch', 'arm64']],
  ])('liblxc accepts the config: %s', async (_n, flags) => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '-q', ...flags]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const a = await lxcAccepts(path.join(C(s.target), 'config'));
    expect(a.stderr).toBe('');
    expect(a.ok).toBe(true);
    if (flags.includes('/opt/data:/var/lib/data')) expect(fs.lstatSync(path.join(C(s.target), 'rootfs/var/lib/data')).isDirectory()).toBe(true);
    if (flags.includes('--share-uid')) expect(fs.readFileSync(path.join(C(s.target), 'config'), 'utf8')).toContain('lxc.idmap = u 1000 1000 1\n');
  });

  it('a second run changes nothing; --force rebuilds the same tree; SOURCE_DATE_EPOCH makes two images identical', async () => {
    const dir = tmpDir();
    // a shared directory the run creates on the host side is part of the image too
    const mount = ['--mount', '/data/shared:shared:rw'];
    const env = { SOURCE_DATE_EPOCH: '1712345678' };
    const archive = path.join(dir, 'rich.tar');
    writeArchive(archive, richEntries({ devices: true }));
    const t1 = path.join(dir, 't1');
    const t2 = path.join(dir, 't2');
    for (const t of [t1, t2]) {
      fs.mkdirSync(t);
      writeSample(t, 1700000000); // a plugin JSON and common.conf at t/target
      expect((await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', path.join(t, 'target'), ...mount, '-q'], { env })).code).toBe(0);
    }
    const first = snapshot(path.join(t1, 'target'), { hash: true });
    const again = await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', path.join(t1, 'target'), ...mount], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to do');
    expect(snapshot(path.join(t1, 'target'), { hash: true })).toEqual(first); // same inodes: not even rewritten
    expect(comparable(path.join(t2, 'target'), { hash: true })).toEqual(comparable(path.join(t1, 'target'), { hash: true }));
    expect(fs.statSync(path.join(C(path.join(t1, 'target')), 'config')).mtimeMs).toBe(1712345678000);
    expect(fs.statSync(path.join(t1, 'target/etc/Thunder/plugins/OCDM.json')).mtimeMs).toBe(1712345678000);
    expect(fs.statSync(path.join(t1, 'target/data/shared')).mtimeMs).toBe(1712345678000);
    const forced = await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', path.join(t1, 'target'), ...mount, '--force', '-q'], { env });
    expect(forced.code).toBe(0);
    expect(comparable(path.join(t1, 'target'), { hash: true })).toEqual(comparable(path.join(t2, 'target'), { hash: true }));
  });

  it('--dry-run prints the plan and diffs and changes nothing', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const before = comparable(s.target, { hash: true });
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--dry-run', '--seccomp', 'off-common-conf']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('+++ ' + path.join(C(s.target), 'config'));
    expect(r.stdout).toContain('+lxc.uts.name = OCDM');
    expect(r.stdout).toContain('+lxc.arch = linux32');
    expect(r.stdout).toContain('-  "root":{ "mode":"Local" }');
    expect(r.stdout).toContain('+# lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp');
    expect(r.stderr).toContain('warning[SECCOMP_GLOBAL]');
    expect(comparable(s.target, { hash: true })).toEqual(before);
  });

  it('--seccomp off-common-conf edits common.conf once, idempotently, and the files it includes', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const cc = path.join(s.target, 'usr/share/lxc/config/common.conf');
    // a profile set in common.conf.d/ (which LXC's common.conf includes as a directory: its *.conf)
    expect(fs.readFileSync(cc, 'utf8')).toContain('\nlxc.include = /usr/share/lxc/config/common.conf.d/\n');
    const d = path.join(s.target, 'usr/share/lxc/config/common.conf.d');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, '10-seccomp.conf'), 'lxc.seccomp.profile = /usr/share/lxc/config/other.seccomp\n');
    fs.writeFileSync(path.join(d, 'notes.txt'), 'lxc.seccomp.profile = not read by LXC\n');
    // a member that is an absolute symlink: resolved inside the image, the link kept; the build
    // host's own file of that name is neither read nor copied in
    fs.mkdirSync(path.join(s.target, 'etc/lxc'), { recursive: true });
    fs.writeFileSync(path.join(s.target, 'etc/lxc/extra.conf'), 'lxc.seccomp.profile = /etc/lxc/extra.seccomp\n');
    fs.symlinkSync('/etc/lxc/extra.conf', path.join(d, '20-extra.conf'));
    const before = fs.readFileSync(cc, 'utf8');
    for (let i = 0; i < 2; i++) expect((await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--seccomp', 'off-common-conf', '-q'])).code).toBe(0);
    expect(fs.readFileSync(cc, 'utf8')).toBe(before.replace('\nlxc.seccomp.profile', '\n# lxc.seccomp.profile'));
    expect(fs.readFileSync(path.join(d, '10-seccomp.conf'), 'utf8')).toBe('# lxc.seccomp.profile = /usr/share/lxc/config/other.seccomp\n');
    expect(fs.readFileSync(path.join(d, 'notes.txt'), 'utf8')).toBe('lxc.seccomp.profile = not read by LXC\n');
    expect(fs.readlinkSync(path.join(d, '20-extra.conf'))).toBe('/etc/lxc/extra.conf');
    expect(fs.readFileSync(path.join(s.target, 'etc/lxc/extra.conf'), 'utf8')).toBe('# lxc.seccomp.profile = /etc/lxc/extra.seccomp\n');
  });

  it('--json summary', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: true, target: s.target, targetFrom: '--target', containers: [{ callsign: 'OCDM', status: 'create', arch: 'linux32', archName: 'armhf', config: path.join(C(s.target), 'config') }] });
    expect(j.changed).toEqual([C(s.target), path.join(s.target, 'etc/Thunder/plugins/OCDM.json'), path.join(s.target, 'etc/Thunder/config.json')]);
    expect(j.containers[0].counts.files).toBeGreaterThan(3);
  });

  it('$TARGET_DIR is the default image root; / is refused unless given with --target', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '-q'], { env: { TARGET_DIR: s.target } });
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(C(s.target), 'config'))).toBe(true);
    const slash = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive], { env: { TARGET_DIR: '/' } });
    expect(slash.code).toBe(2); // a usage error: the command line must say --target
    expect(slash.stderr).toContain('error[TARGET_IS_ROOT]');
    const cwdSlash = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive], { cwd: '/' });
    expect(cwdSlash.code).toBe(2);
    expect(cwdSlash.stderr).toContain('error[TARGET_IS_ROOT]');
    // / by another name: a symlink in $TARGET_DIR, or .. in --target
    fs.symlinkSync('/', path.join(dir, 'root-link'));
    const viaLink = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--dry-run'], { env: { TARGET_DIR: path.join(dir, 'root-link') } });
    expect(viaLink.code).toBe(2);
    expect(viaLink.stderr).toContain(`error[TARGET_IS_ROOT]: the image root would be / (the build host itself) (${path.join(dir, 'root-link')} from $TARGET_DIR resolves to /)`);
    const dotdot = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--dry-run', '--target', '/tmp/..']);
    expect(dotdot.code).toBe(2);
    // --target / itself is the way to mean it (a dry run here: it gets past the check to the plan)
    const meant = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--dry-run', '--no-plugin-json', '--target', '/']);
    expect(meant.stderr).not.toContain('TARGET_IS_ROOT');
    expect(meant.stdout).toContain('image root: / (from --target)');
    expect(fs.existsSync('/usr/share/Thunder/OCDM')).toBe(false);
    expect(fs.existsSync('/.thunderbox.lock')).toBe(false);
    expect(fs.existsSync('/usr/share/Thunder/OCDM')).toBe(false);
  });

  it('a directory source (the image\'s own root) is copied without the containers in it', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    await execa('tar', ['-xf', s.archive, '-C', s.target]);
    const r1 = await tbx(['prepare', '--no-doctor', 'OCDM', 'target', '--target', s.target, '-q']);
    expect(r1.stderr).toBe('');
    const rootfs = path.join(C(s.target), 'rootfs');
    expect(fs.existsSync(path.join(rootfs, 'bin/busybox'))).toBe(true);
    expect(fs.existsSync(path.join(rootfs, 'usr/share/Thunder/OCDM/Container'))).toBe(false);
    // the copy shows the image as it is after this run
    expect(fs.readFileSync(path.join(rootfs, 'etc/Thunder/plugins/OCDM.json'), 'utf8')).toContain('"mode":"Container"');
    const snap = snapshot(s.target, { hash: true });
    const r2 = await tbx(['prepare', '--no-doctor', 'OCDM', 'target', '--target', s.target]);
    expect(r2.stdout).toContain('nothing to do');
    expect(snapshot(s.target, { hash: true })).toEqual(snap);
  });

  it('a directory source at or inside the datapath leaves every container out, its own too', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    expect((await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '-q'])).code).toBe(0);
    const data = path.join(s.target, 'usr/share/Thunder');
    fs.writeFileSync(path.join(data, 'OCDM/notes.txt'), 'kept\n');
    fs.mkdirSync(path.join(data, 'Empty/Container'), { recursive: true });
    const cases: [string, string, string[], string[]][] = [
      // source, callsign, in the new rootfs, not in it
      [path.join(data, 'OCDM'), 'Inside', ['notes.txt'], ['Container']],
      [data, 'AtData', ['OCDM/notes.txt'], ['OCDM/Container', 'Empty', 'Inside']],
    ];
    for (const [source, cs, present, absent] of cases) {
      const r = await tbx(['prepare', '--no-doctor', cs, source, '--target', s.target, '--no-plugin-json', '-q']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const rootfs = path.join(C(s.target, cs), 'rootfs');
      for (const p of present) expect(fs.existsSync(path.join(rootfs, p)), p).toBe(true);
      for (const p of absent) expect(fs.existsSync(path.join(rootfs, p)), p).toBe(false);
      // its own new container is not an input either: the same command again has nothing to do
      const again = await tbx(['prepare', '--no-doctor', cs, source, '--target', s.target, '--no-plugin-json']);
      expect(again.stdout).toContain('nothing to do');
    }
  });

  it('--manifest without a callsign prepares every container', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    fs.writeFileSync(path.join(s.target, 'etc/Thunder/plugins/Netflix.json'), '{"locator":"libThunderNetflix.so","classname":"Netflix"}\n');
    fs.writeFileSync(
      path.join(dir, 'thunderbox.yaml'),
      `containers:\n  OCDM:\n    rootfs: rootfs.tar\n    seccomp: off\n  Netflix:\n    rootfs: rootfs.tar\n    idmap: none\n    environment: [PATH, MESSAGE_DISPATCHER_CONFIG, "NF=1"]\n`,
    );
    const r = await tbx(['prepare', '--no-doctor', '--manifest', path.join(dir, 'thunderbox.yaml'), '--target', s.target]);
    expect(r.stderr).toBe('warning[PRIVILEGED]: Netflix runs privileged (--idmap none): root in the container is root on the device\n  hint: leave the idmap at its default unless the plugin needs host root');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(C(s.target), 'config'), 'utf8')).toContain('lxc.seccomp.profile =\n');
    const nf = fs.readFileSync(path.join(C(s.target, 'Netflix'), 'config'), 'utf8');
    expect(nf).toContain('lxc.environment = NF=1\n');
    expect(nf).not.toContain('lxc.idmap');
    expect(JSON.parse(fs.readFileSync(path.join(s.target, 'etc/Thunder/plugins/Netflix.json'), 'utf8'))).toEqual({ locator: 'libThunderNetflix.so', classname: 'Netflix', configuration: { root: { mode: 'Container', configuration: { containertype: 'lxc' } } } });
  });

  it.each([
    [['prepare'], 2, /give a callsign and a rootfs/],
    [['prepare', '--no-doctor', 'OCDM', 'x.tar', '--bogus'], 2, /unknown option '--bogus'/],
    [['prepare', '--no-doctor', 'OCDM', 'x.tar', '--seccomp', 'maybe'], 2, /Allowed choices are default, off, off-common-conf/],
    [['prepare', '--no-doctor', 'OCDM', 'x.tar', '--net', 'veth'], 2, /--net veth needs --link BRIDGE/],
    [['prepare', '--no-doctor', 'OCDM'], 2, /error\[ROOTFS_MISSING\]/],
    [['prepare', '--no-doctor', 'OCDM', 'rootfs.tar', '--mount', 'just-one-part'], 2, /error\[MOUNT_FLAG\]/],
    [['prepare', '--no-doctor', 'OCDM', 'rootfs.tar', '--share-uid', 'me'], 2, /error\[SHARE_FLAG\]/],
    [['prepare', '--no-doctor', 'OCDM', 'rootfs.tar', '--idmap', 'u 0 x 65536'], 2, /error\[IDMAP_SYNTAX\]: --idmap line "u 0 x 65536"/],
    [['prepare', '--no-doctor', 'OCDM', 'rootfs.tar', '--mount', '/x:etc/passwd'], 1, /error\[MOUNT_TARGET_NOT_DIR\]: the mount target \/etc\/passwd is a file in the rootfs/],
    [['prepare', '--no-doctor', 'OCDM', 'rootfs.tar', '--env', 'FOO=a\nlxc.mount.entry = / host none rbind,create=dir 0 0'], 1, /error\[ENV_VALUE_INVALID\]: OCDM: the value of FOO has a line break/],
    [['prepare', '--no-doctor', 'OCDM', '/dev/null'], 1, /error\[ROOTFS_NOT_FILE\]: rootfs \/dev\/null for OCDM is a device/],
    [['prepare', '--no-doctor', 'OCDM', 'rootfs.tar', '--mount', '/x:bin/sh'], 1, /error\[MOUNT_TARGET_NOT_DIR\]: the mount target \/bin\/sh is a symlink in the rootfs/],
    [['prepare', '--no-doctor', 'OC/DM', 'rootfs.tar'], 1, /error\[CALLSIGN_INVALID\]/],
    [['prepare', '--no-doctor', 'OCDM', 'missing.tar'], 1, /error\[ROOTFS_UNREADABLE\]/],
    [['prepare', '--no-doctor', 'OCDM', 'rootfs.tar', '--idmap', 'u 0 100000 0'], 1, /error\[IDMAP_RANGE_ZERO\]/],
    [['prepare', '--no-doctor', 'OCDM', 'rootfs.tar', '--mount', 'relative:x'], 1, /error\[MOUNT_HOST_RELATIVE\]/],
    [['prepare', '--no-doctor', 'OCDM', 'rootfs.tar', '--veth-pair', 'a-very-long-veth-name', '--link', 'br0'], 1, /error\[NET_VETH_PAIR_INVALID\]/],
    [['prepare', '--no-doctor', 'Netflix', 'rootfs.tar'], 1, /error\[PLUGIN_JSON_NOT_FOUND\]: no plugin config for Netflix: no Netflix\.json, and no file with "callsign": "Netflix", in .*etc\/Thunder\/plugins, .*etc\/Thunder\/plugin, .*etc\/WPEFramework\/plugins/],
  ])('%j exits %i', async (args, code, re) => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const before = comparable(s.target, { hash: true });
    const r = await tbx([...args, '--target', s.target], { cwd: dir });
    expect(r.stderr).toMatch(re);
    expect(r.code).toBe(code);
    expect(comparable(s.target, { hash: true })).toEqual(before);
  });

  it('malformed plugin JSON: file, line and column; nothing changed', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const f = path.join(s.target, 'etc/Thunder/plugins/OCDM.json');
    fs.writeFileSync(f, '{\n "configuration": {\n  "root": { "mode": Local }\n }\n}\n');
    const before = comparable(s.target, { hash: true });
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}:3:21: error[PLUGIN_JSON_INVALID]`);
    expect(comparable(s.target, { hash: true })).toEqual(before);
  });

  it('--help shows examples for every command and subcommand', async () => {
    // the whole tree, as main.ts declares it: no command left out of the check
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
    const results = await Promise.all(paths.map((at) => tbx([...at, '--help'])));
    results.forEach((r, i) => {
      expect(r.code, paths[i]!.join(' ')).toBe(0);
      expect(r.stdout, paths[i]!.join(' ')).toMatch(/\nExamples?[^\n]*:\n(?:  [^\n]*\n)*?  [^\n]*thunderbox [a-z]/);
    });
  });

  it('npm run demo works with no input, and its container starts (the stand-in is real armhf code)', async () => {
    // no --dir, as `npm run demo` runs it: a new temporary directory, named in the output
    const r = await tbx(['demo']);
    const dir = /^sample rootfs: (.*)\/rootfs\.tar$/m.exec(r.stdout)?.[1];
    expect(dir).toMatch(/thunderbox-demo-/);
    try {
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('lxc.uts.name = OCDM');
      expect(r.stdout).toContain('+  "root":{ "mode":"Container", "configuration":{"containertype":"lxc"} }');
      expect(r.stdout).toMatch(/4755 100000:100000 bin\/busybox\n/);
      expect(r.stdout).toMatch(/0777 100000:100000 bin\/sh -> busybox\n/);
      expect(r.stdout).toMatch(/0755 100000:100000 usr\/bin\/WPEProcess \(2 links\)\n/);
      expect(r.stdout).toMatch(/0555 100000:100000 proc\/\n/);
      // what `thunderbox demo --help` suggests next
      await ensureBinfmt('armhf');
      const t = await tbx(['try', '--host', 'OCDM', '--target', `${dir}/target`]);
      expect(t.stdout, t.stderr).toBe('ThunderPlugin stand-in (thunderbox demo), running on armv7l'); // execa strips the last newline
      expect(t.code).toBe(0);
    } finally {
      fs.rmSync(dir!, { recursive: true, force: true });
    }
  });
});
