import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildHostRootfs, type HostRootfs } from '../helpers/host-rootfs.js';
import { execa } from 'execa';
import { tbx } from '../helpers/cli.js';
import { parsePostScriptArgs } from '../../src/buildroot/post-build.js';
import { publicBin } from '../helpers/public-repo.js';
import { tmpDir } from '../helpers/tmp.js';

// A minimised container rootfs (--minimize): the closure of ThunderPlugin, the plugin library,
// the proxy stubs and glibc's modules, made from a Debian-like rootfs built from this host's
// own programs, and started for real with `thunderbox try`.

const cs = (p: string) => `${p}${randomBytes(3).toString('hex')}`;

/** The rootfs and a target with OCDM-like plugin JSON (Local mode, locator = the stand-in). */
function setup(opts: { programs?: string[]; standIn?: string } = {}): { dir: string; target: string; rootfs: HostRootfs; pluginJson: (callsign: string) => string } {
  const dir = tmpDir();
  const rootfs = buildHostRootfs(path.join(dir, 'rootfs'), { thunderStandIn: opts.standIn ? { program: opts.standIn } : true, programs: opts.programs ?? ['/usr/bin/bash', '/usr/bin/ls', '/usr/bin/cat', '/usr/bin/env', '/usr/bin/lxc-info'], tar: path.join(dir, 'rootfs.tar') });
  const target = path.join(dir, 'target');
  deviceBasics(target);
  const pluginJson = (callsign: string) => {
    const f = path.join(target, 'etc/Thunder/plugins', `${callsign}.json`);
    fs.writeFileSync(f, JSON.stringify({ callsign, locator: 'libThunderTest.so', classname: callsign, configuration: { root: { mode: 'Local' } } }, null, 2) + '\n');
    return f;
  };
  return { dir, target, rootfs, pluginJson };
}

/** What the device image has besides the container: LXC's config files (the host's), /tmp, Thunder's plugin dir. */
function deviceBasics(target: string): void {
  fs.mkdirSync(path.join(target, 'etc/Thunder/plugins'), { recursive: true });
  // Thunder's config, which prepare edits so that an unprivileged container's messages arrive
  fs.writeFileSync(path.join(target, 'etc/Thunder/config.json'), '{}\n');
  fs.cpSync('/usr/share/lxc/config', path.join(target, 'usr/share/lxc/config'), { recursive: true, verbatimSymlinks: true });
  fs.mkdirSync(path.join(target, 'tmp'), { recursive: true, mode: 0o1777 });
  fs.mkdirSync(path.join(target, 'run'), { recursive: true });
}

/** An image that is its own rootfs (prepare's `target` source, or the tree an archive is made of), with a Local-mode plugin JSON. */
function imageAsRootfs(prefix: string): { dir: string; name: string; target: string } {
  const dir = tmpDir();
  const name = cs(prefix);
  const target = buildHostRootfs(path.join(dir, 'image'), { thunderStandIn: true }).dir;
  deviceBasics(target);
  fs.writeFileSync(path.join(target, 'etc/Thunder/plugins', `${name}.json`), JSON.stringify({ locator: 'libThunderTest.so', classname: name, configuration: { root: { mode: 'Local' } } }));
  return { dir, name, target };
}

function files(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(root, rel))) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (fs.lstatSync(path.join(root, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  return out.sort();
}

describe('prepare --minimize', () => {
  it('keeps the closure of the Thunder roots only, reports the size, and the container runs ThunderPlugin', async () => {
    const { target, rootfs, pluginJson } = setup();
    const name = cs('Min');
    pluginJson(name);
    const r = await tbx(['prepare', name, rootfs.archive!, '--target', target, '--minimize', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout).containers[0];
    const tree = path.join(target, 'usr/share/Thunder', name, 'Container/rootfs');
    const have = files(tree);
    // the roots and what they need
    for (const p of ['usr/bin/ThunderPlugin', 'usr/lib/thunder/plugins/libThunderTest.so', 'usr/lib/thunder/proxystubs/libThunderTestProxyStubs.so', 'usr/lib64/ld-linux-x86-64.so.2', 'lib64', 'usr/lib/x86_64-linux-gnu/libc.so.6', 'usr/lib/x86_64-linux-gnu/libtinfo.so.6', 'etc/passwd', 'etc/group', 'etc/nsswitch.conf', 'etc/ld.so.conf', 'etc/ld.so.conf.d/x86_64-linux-gnu.conf', 'proc', 'sys', 'dev', 'tmp']) {
      expect(have).toContain(p);
    }
    // and nothing else: other programs and their libraries stay out
    for (const p of ['usr/bin/ls', 'usr/bin/lxc-info', 'usr/bin/cat', 'usr/bin/bash', 'usr/lib/x86_64-linux-gnu/liblxc.so.1', 'usr/lib/x86_64-linux-gnu/libselinux.so.1', 'etc/hostname']) {
      expect(have).not.toContain(p);
    }
    expect(report.size.files).toBeLessThan(report.size.fullFiles);
    expect(report.size.bytes).toBeLessThan(report.size.fullBytes);
    expect(report.size.percent).toBe(Math.round((report.size.bytes / report.size.fullBytes) * 1000) / 10);
    expect(report.size.percent).toBeLessThan(70);
    // counted against the real tree
    const regular = have.filter((p) => fs.lstatSync(path.join(tree, p)).isFile());
    expect(report.size.files).toBe(regular.length);
    expect(report.size.bytes).toBe(regular.reduce((n, p) => n + fs.statSync(path.join(tree, p)).size, 0));

    // it starts: ThunderPlugin (bash here) runs from PATH as the container's root, mapped to 100000
    const run = await tbx(['try', '--host', name, '--target', target, '--', 'ThunderPlugin', '-c', 'echo "running as $(id -u 2>/dev/null || echo uid-unknown) in $PWD"; exit 9']);
    expect(run.stdout).toContain('running as');
    expect(run.code).toBe(9);

    // the human summary prints the size line; a second run changes nothing
    const again = await tbx(['prepare', name, rootfs.archive!, '--target', target, '--minimize']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('unchanged');
    expect(again.stdout).toMatch(/size: \d+ files, .*% of the full rootfs/);
  });

  it('--keep and --root add files with their libraries; hard links inside the tree stay hard links', async () => {
    const { target, rootfs, pluginJson } = setup();
    // a second name for ThunderPlugin (as WPEProcess is on some images)
    fs.linkSync(path.join(rootfs.dir, 'usr/bin/ThunderPlugin'), path.join(rootfs.dir, 'usr/bin/WPEProcess'));
    const name = cs('Keep');
    pluginJson(name);
    const r = await tbx(['prepare', name, rootfs.dir, '--target', target, '--keep', 'usr/bin/ls', '--keep', 'etc/host*', '--root', '/usr/bin/WPEProcess', '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const tree = path.join(target, 'usr/share/Thunder', name, 'Container/rootfs');
    const have = files(tree);
    for (const p of ['usr/bin/ls', 'usr/lib/x86_64-linux-gnu/libselinux.so.1', 'etc/hostname', 'usr/bin/WPEProcess']) expect(have).toContain(p);
    expect(have).not.toContain('usr/bin/lxc-info');
    expect(fs.statSync(path.join(tree, 'usr/bin/WPEProcess')).ino).toBe(fs.statSync(path.join(tree, 'usr/bin/ThunderPlugin')).ino);
    const run = await tbx(['try', '--host', name, '--target', target, '--', '/usr/bin/ls', '/usr/bin']);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n').filter(Boolean).sort()).toEqual(['ThunderPlugin', 'WPEProcess', 'ls']);
  });

  it('is reproducible: the same inputs give the same tree (names, modes, owners, sizes, mtimes, bytes) in another image', async () => {
    const { dir, target, rootfs, pluginJson } = setup({ programs: ['/usr/bin/bash', '/usr/bin/ls'] });
    const name = cs('Rep');
    pluginJson(name);
    const other = path.join(dir, 'other');
    fs.cpSync(target, other, { recursive: true, verbatimSymlinks: true });
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    for (const t of [target, other]) {
      const r = await tbx(['prepare', name, rootfs.archive!, '--target', t, '--minimize', '--keep', 'usr/bin/ls', '-q'], { env });
      expect(r.code).toBe(0);
    }
    const describeTree = (t: string) => {
      const root = path.join(t, 'usr/share/Thunder', name, 'Container');
      return files(root).map((p) => {
        const st = fs.lstatSync(path.join(root, p));
        const content = st.isFile() ? createHash('sha256').update(fs.readFileSync(path.join(root, p))).digest('hex') : st.isSymbolicLink() ? fs.readlinkSync(path.join(root, p)) : '';
        return `${p} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? '-' : st.size} ${st.mtimeMs} ${content}`;
      });
    };
    const a = describeTree(target);
    expect(a.length).toBeGreaterThan(20);
    expect(describeTree(other)).toEqual(a);
  });

  it('from an xz archive: decompressed once, the same tree as from the plain tar, nothing left over', async () => {
    const { dir, target, rootfs, pluginJson } = setup({ programs: ['/usr/bin/bash'] });
    const name = cs('Xz');
    pluginJson(name);
    const other = path.join(dir, 'other');
    fs.cpSync(target, other, { recursive: true, verbatimSymlinks: true });
    await execa('xz', ['-k', '-T1', '-0', rootfs.archive!]);
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const plain = await tbx(['prepare', name, rootfs.archive!, '--target', target, '--minimize', '-q'], { env });
    expect(plain.code).toBe(0);
    // xz runs once: a PATH whose xz counts its runs
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    const count = path.join(dir, 'xz-runs');
    fs.writeFileSync(path.join(bin, 'xz'), `#!/bin/sh\necho run >> ${count}\nexec /usr/bin/xz "$@"\n`, { mode: 0o755 });
    const xz = await tbx(['prepare', name, `${rootfs.archive!}.xz`, '--target', other, '--minimize', '-q'], { env: { ...env, PATH: `${bin}:${process.env.PATH}` } });
    expect(xz.stderr).toBe('');
    expect(xz.code).toBe(0);
    expect(fs.readFileSync(count, 'utf8')).toBe('run\n');
    const tree = (t: string) => files(path.join(t, 'usr/share/Thunder', name, 'Container'));
    expect(tree(other)).not.toContain('.thunderbox.pass1.tar');
    expect(tree(other)).toEqual(tree(target));
    expect(fs.readdirSync(path.join(other, 'usr/share/Thunder', name)).sort()).toEqual(['Container']);
  });

  it('an xz archive needs room on the target for the minimised result only: the decompressed copy goes to TMPDIR, or the archive is decompressed again', async () => {
    const { dir, target, rootfs, pluginJson } = setup({ programs: ['/usr/bin/bash'] });
    const name = cs('Big');
    pluginJson(name);
    fs.mkdirSync(path.join(rootfs.dir, 'usr/share/big'), { recursive: true });
    fs.writeFileSync(path.join(rootfs.dir, 'usr/share/big/zeros'), Buffer.alloc(100 << 20)); // minimize leaves it out
    const tar = path.join(dir, 'big.tar');
    await execa('tar', ['-C', rootfs.dir, '-cf', tar, '.']);
    await execa('xz', ['-T1', '-0', tar]);
    const small = path.join(dir, 'small');
    const tmp = path.join(dir, 'tmp');
    const spool = path.join(dir, 'spool');
    for (const d of [small, tmp, spool]) fs.mkdirSync(d);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=60m', 'tbx-small', small]);
    try {
      await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tbx-tmp', tmp]);
      try {
        fs.cpSync(target, small, { recursive: true, verbatimSymlinks: true });
        const env = { SOURCE_DATE_EPOCH: '1700000000' };
        const r = await tbx(['prepare', name, `${tar}.xz`, '--target', small, '--minimize'], { env: { ...env, TMPDIR: spool } });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout + r.stderr).toContain(`the xz archive was decompressed once, into ${spool}/thunderbox-pass1-`);
        const rootfsDir = path.join(small, 'usr/share/Thunder', name, 'Container/rootfs');
        expect(fs.existsSync(path.join(rootfsDir, 'usr/bin/ThunderPlugin'))).toBe(true);
        expect(fs.existsSync(path.join(rootfsDir, 'usr/share/big'))).toBe(false);
        expect(fs.readdirSync(spool)).toEqual([]);
        // a temporary directory without room: the archive is decompressed a second time
        const r2 = await tbx(['prepare', name, `${tar}.xz`, '--target', small, '--minimize', '--force'], { env: { ...env, TMPDIR: tmp } });
        expect(r2.code, r2.stderr).toBe(0);
        expect(r2.stdout + r2.stderr).toContain(`no room in ${tmp} for the decompressed archive`);
        expect(fs.readdirSync(tmp)).toEqual([]);
        expect(fs.existsSync(path.join(rootfsDir, 'usr/bin/ThunderPlugin'))).toBe(true);
      } finally {
        await execa('umount', [tmp]);
      }
    } finally {
      await execa('umount', [small]);
    }
  });

  it('a missing library or a missing ThunderPlugin stops prepare before anything is written, naming what is missing', async () => {
    const { target, rootfs, pluginJson } = setup({ programs: ['/usr/bin/bash'] });
    const name = cs('Bad');
    pluginJson(name);
    fs.rmSync(path.join(rootfs.dir, 'usr/lib/x86_64-linux-gnu/libtinfo.so.6'));
    const r = await tbx(['prepare', name, rootfs.dir, '--target', target, '--minimize']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('LIB_UNRESOLVED');
    expect(r.stderr).toContain('libtinfo.so.6, needed by /usr/bin/ThunderPlugin');
    expect(fs.existsSync(path.join(target, 'usr/share/Thunder', name))).toBe(false);
    expect(fs.readFileSync(path.join(target, 'etc/Thunder/plugins', `${name}.json`), 'utf8')).toContain('"Local"');

    fs.rmSync(path.join(rootfs.dir, 'usr/bin/ThunderPlugin'));
    const r2 = await tbx(['prepare', name, rootfs.dir, '--target', target, '--minimize']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('THUNDERPLUGIN_MISSING');
    expect(fs.existsSync(path.join(target, 'usr/share/Thunder', name))).toBe(false);
  });

  it('a library of another architecture is an error naming the file and both architectures', async () => {
    const { target, rootfs, pluginJson } = setup({ programs: ['/usr/bin/bash'] });
    const name = cs('Arch');
    pluginJson(name);
    const lib = path.join(rootfs.dir, 'usr/lib/x86_64-linux-gnu/libtinfo.so.6');
    const real = fs.realpathSync(lib);
    fs.copyFileSync(path.join(process.cwd(), 'test/.cache/busybox-armhf'), real);
    const r = await tbx(['prepare', name, rootfs.dir, '--target', target, '--minimize']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('LIB_WRONG_ARCH');
    expect(r.stderr).toContain('ELF 32-bit LSB ARM');
    expect(r.stderr).toContain('x86-64');
  });

  it("glibc's dlopen()ed modules: the NSS modules nsswitch.conf names, and gconv when iconv_open is used; they work in the container", async () => {
    const gconv = '/usr/lib/x86_64-linux-gnu/gconv';
    // ThunderPlugin is env here: unlike bash, it does not use iconv
    const { target, rootfs, pluginJson } = setup({ programs: ['/usr/bin/bash', '/usr/bin/iconv'], standIn: '/usr/bin/env' });
    // extra host files: gconv (part of it) and one NSS module
    for (const f of ['gconv-modules', 'gconv-modules.d/gconv-modules-extra.conf', 'CP1252.so', 'CP1250.so']) {
      fs.mkdirSync(path.dirname(path.join(rootfs.dir, gconv, f)), { recursive: true });
      fs.copyFileSync(path.join(gconv, f), path.join(rootfs.dir, gconv, f));
    }
    fs.copyFileSync('/usr/lib/x86_64-linux-gnu/libnss_compat.so.2', path.join(rootfs.dir, 'usr/lib/x86_64-linux-gnu/libnss_compat.so.2'));
    fs.writeFileSync(path.join(rootfs.dir, 'etc/nsswitch.conf'), 'passwd: compat files\ngroup: files [NOTFOUND=return] mymissing\nhosts: files dns\n');
    const name = cs('Nss');
    pluginJson(name);
    const without = await tbx(['prepare', name, rootfs.dir, '--target', target, '--minimize', '-q']);
    expect(without.code).toBe(0);
    const tree = path.join(target, 'usr/share/Thunder', name, 'Container/rootfs');
    expect(files(tree)).toContain('usr/lib/x86_64-linux-gnu/libnss_compat.so.2');
    expect(files(tree)).not.toContain('usr/lib/x86_64-linux-gnu/gconv'); // nothing uses iconv yet

    const r = await tbx(['prepare', name, rootfs.dir, '--target', target, '--root', '/usr/bin/iconv', '--root', '/usr/bin/dash']);
    expect(r.code).toBe(0);
    // a service without a module (and not built into glibc) is a warning
    expect(r.stderr).toContain('warning[NSS_MODULE_MISSING]');
    expect(r.stderr).toContain('libnss_mymissing.so.2');
    expect(r.stdout).toContain(`kept /usr/lib/x86_64-linux-gnu/gconv: iconv_open is used`);
    const have = files(tree);
    for (const f of ['gconv-modules', 'gconv-modules.d/gconv-modules-extra.conf', 'CP1252.so', 'CP1250.so']) expect(have).toContain(`usr/lib/x86_64-linux-gnu/gconv/${f}`);
    const run = await tbx(['try', '--host', name, '--target', target, '--', '/usr/bin/dash', '-c', "printf 'caf\\351' | iconv -f CP1252 -t UTF-8; echo; echo ~root"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('café');
    expect(run.stdout).toContain('/root'); // getpwnam() through NSS
  });

  it('--dedupe-with-host hard-links the files the image already has, leaves their owners alone, and the container runs', async () => {
    // the image root is the rootfs itself (rootfs: target), as when TARGET_DIR is the source
    const { name, target } = imageAsRootfs('Dup');
    const r = await tbx(['prepare', name, 'target', '--target', target, '--minimize', '--dedupe-with-host', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const size = JSON.parse(r.stdout).containers[0].size;
    expect(size.sharedFiles).toBeGreaterThan(3);
    const tree = path.join(target, 'usr/share/Thunder', name, 'Container/rootfs');
    const libc = 'usr/lib/x86_64-linux-gnu/libc.so.6';
    expect(fs.statSync(path.join(tree, libc)).ino).toBe(fs.statSync(path.join(target, libc)).ino);
    expect(fs.statSync(path.join(target, libc)).uid).toBe(0); // not shifted to 100000 through the link
    // directories are the container's own, owned by its root
    expect(fs.statSync(path.join(tree, 'etc')).uid).toBe(100000);
    const run = await tbx(['try', '--host', name, '--target', target, '--', 'ThunderPlugin', '-c', 'exit 3']);
    expect(run.code).toBe(3);
  });

  it('--dedupe-with-host from an archive: links what is the same, a second run changes nothing, a changed image file makes the next run rebuild', async () => {
    const { dir, name, target } = imageAsRootfs('DupA'); // the image is what the archive is made from
    const archive = path.join(dir, 'rootfs.tar');
    await execa('tar', ['--numeric-owner', '-cf', archive, '-C', target, '.']);
    // the plugin JSON is kept too: the same bytes as the image's, but this run rewrites the image's, so it is not shared
    const run = () => tbx(['prepare', name, archive, '--target', target, '--minimize', '--dedupe-with-host', '--keep', 'etc/Thunder/**', '--json']);
    const first = await run();
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const c1 = JSON.parse(first.stdout).containers[0];
    expect(c1.size.sharedFiles).toBeGreaterThan(3);
    expect(c1.doctor).toEqual(expect.objectContaining({ errors: 0, warnings: 0 })); // shared files are not "unmapped owners"
    const tree = path.join(target, 'usr/share/Thunder', name, 'Container/rootfs');
    const libc = 'usr/lib/x86_64-linux-gnu/libc.so.6';
    expect(fs.statSync(path.join(tree, libc)).ino).toBe(fs.statSync(path.join(target, libc)).ino);
    // every ELF file of this tree is shared, and still counts for lxc.arch
    expect(fs.readFileSync(path.join(tree, '../config'), 'utf8')).toContain('lxc.arch = x86_64\n');
    const json = `etc/Thunder/plugins/${name}.json`;
    expect(fs.statSync(path.join(tree, json)).ino).not.toBe(fs.statSync(path.join(target, json)).ino);
    const again = JSON.parse((await run()).stdout).containers[0];
    expect(again.status).toBe('unchanged');
    // the image's copy changes in place (same inode): the container no longer matches its archive
    const t = fs.statSync(path.join(target, libc));
    fs.utimesSync(path.join(target, libc), t.atime, new Date(t.mtimeMs + 5000));
    const third = JSON.parse((await run()).stdout).containers[0];
    expect(third.status).toBe('replace');
    expect(JSON.parse((await run()).stdout).containers[0].status).toBe('unchanged');
    // so does a chmod (the container's file is the same inode)
    fs.chmodSync(path.join(target, 'usr/lib/thunder/proxystubs/libThunderTestProxyStubs.so'), 0o640);
    expect(JSON.parse((await run()).stdout).containers[0].status).toBe('replace');
  });

  it('--dedupe-with-host shares nothing a container could change or that is setuid, and is refused as a normal user', async () => {
    const { dir, name, target } = imageAsRootfs('DupS');
    fs.chmodSync(path.join(target, 'etc/group'), 0o666);
    fs.chmodSync(path.join(target, 'usr/lib/thunder/plugins/libThunderTest.so'), 0o4755);
    // read-only, but its owner is a uid the container maps (--share-uid): that process could chmod it
    fs.chownSync(path.join(target, 'etc/nsswitch.conf'), 1000, 1000);
    fs.chmodSync(path.join(target, 'etc/nsswitch.conf'), 0o444);
    const r = await tbx(['prepare', name, 'target', '--target', target, '--minimize', '--dedupe-with-host', '--share-uid', '1000', '-q']);
    expect(r.code).toBe(0);
    const tree = path.join(target, 'usr/share/Thunder', name, 'Container/rootfs');
    for (const p of ['etc/group', 'usr/lib/thunder/plugins/libThunderTest.so', 'etc/nsswitch.conf']) expect(fs.statSync(path.join(tree, p)).ino).not.toBe(fs.statSync(path.join(target, p)).ino);
    expect(fs.statSync(path.join(tree, 'etc/passwd')).ino).toBe(fs.statSync(path.join(target, 'etc/passwd')).ino);
    // a privileged container's root is the device's: it never shares
    const priv = await tbx(['prepare', cs('DupP'), 'target', '--target', target, '--minimize', '--dedupe-with-host', '--idmap', 'none', '--no-plugin-json', '--no-thunder-roots', '--root', '/usr/bin/bash']);
    expect(priv.code).toBe(1);
    expect(priv.stderr).toContain('DEDUPE_PRIVILEGED');

    fs.chmodSync(dir, 0o755);
    const nobody = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, publicBin(), 'prepare', cs('DupN'), 'target', '--target', target, '--minimize', '--dedupe-with-host', '--no-plugin-json'], { reject: false, env: { HOME: '/nonexistent' } });
    expect(nobody.exitCode).toBe(1);
    expect(nobody.stderr).toContain('DEDUPE_NEEDS_ROOT');
  });
});

describe('prepare runs the doctor', () => {
  it('an error fails prepare, also on the next run that changes nothing, until it is fixed; a clean container is not checked again', async () => {
    const { target, rootfs, pluginJson } = setup({ programs: ['/usr/bin/bash'] });
    const name = cs('Doc');
    pluginJson(name);
    const seccomp = path.join(target, 'usr/share/lxc/config/common.seccomp');
    const saved = fs.readFileSync(seccomp);
    fs.rmSync(seccomp);
    const run = (...extra: string[]) => tbx(['prepare', name, rootfs.dir, '--target', target, '--minimize', ...extra]);
    const first = await run('--json');
    expect(first.code).toBe(1);
    const j = JSON.parse(first.stdout);
    expect(j.ok).toBe(false);
    expect(j.containers[0].doctor.errors).toBe(1);
    expect(j.containers[0].doctor.findings.map((f: { code: string }) => f.code)).toContain('SECCOMP_PROFILE_MISSING');
    // the tree was written (doctor and try can look at it), the next run has nothing to do but still fails
    const second = await run();
    expect(second.stdout).toContain('unchanged');
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('error[SECCOMP_PROFILE_MISSING]: doctor: ');
    fs.writeFileSync(seccomp, saved);
    const third = await run();
    expect(third.code).toBe(0);
    expect(third.stdout).toContain(`${name}: doctor: no problems found`);
    const fourth = await run();
    expect(fourth.code).toBe(0);
    expect(fourth.stdout).not.toContain('doctor');
    // the image changes under an unchanged container: what the doctor read differs, so it checks again
    fs.rmSync(seccomp);
    const fifth = await run();
    expect(fifth.stdout).toContain('unchanged');
    expect(fifth.code).toBe(1);
    expect(fifth.stderr).toContain('SECCOMP_PROFILE_MISSING');
    // --no-doctor skips it; post-build passes it on
    expect((await run('--no-doctor')).code).toBe(0);
    expect(parsePostScriptArgs(['--manifest', 'm.yaml', '--no-doctor', '--other']).noDoctor).toBe(true);
  });
});

describe('minimised containers of the Pi architectures: Debian armhf and arm64, run through qemu-user', () => {
  const cases = [
    { arch: 'armhf', triplet: 'arm-linux-gnueabihf', interp: 'lib/ld-linux-armhf.so.3', lxcArch: 'linux32', bits: '32' },
    { arch: 'arm64', triplet: 'aarch64-linux-gnu', interp: 'lib/ld-linux-aarch64.so.1', lxcArch: 'arm64', bits: '64' },
  ];
  for (const k of cases) {
    it(`${k.arch}: only what getconf (as ThunderPlugin), the plugin and the proxy stub need; it runs`, async () => {
      const dir = tmpDir();
      const rootfs = path.join(dir, 'rootfs');
      // Debian's libc6 and libc-bin for the architecture, unpacked (scripts/test-host-setup.sh)
      fs.cpSync(path.join(process.cwd(), 'test/.cache', `deb-${k.arch}`), rootfs, { recursive: true, verbatimSymlinks: true });
      const lib = `lib/${k.triplet}`;
      const put = (from: string, to: string) => {
        fs.mkdirSync(path.dirname(path.join(rootfs, to)), { recursive: true });
        fs.copyFileSync(path.join(rootfs, from), path.join(rootfs, to));
        fs.chmodSync(path.join(rootfs, to), 0o755);
      };
      put('usr/bin/getconf', 'usr/bin/ThunderPlugin');
      put(`${lib}/libanl.so.1`, 'usr/lib/thunder/plugins/libThunderTest.so');
      put(`${lib}/libutil.so.1`, 'usr/lib/thunder/proxystubs/libThunderTestProxyStubs.so');
      fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
      fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\n');
      for (const d of ['proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
      fs.rmSync(path.join(rootfs, '.done-2'));
      const archive = path.join(dir, 'rootfs.tar');
      await execa('tar', ['--numeric-owner', '-cf', archive, '-C', rootfs, '.']);
      const target = path.join(dir, 'target');
      deviceBasics(target);
      const name = cs(`Pi${k.arch}`);
      fs.writeFileSync(path.join(target, 'etc/Thunder/plugins', `${name}.json`), JSON.stringify({ locator: 'libThunderTest.so', classname: name, configuration: { root: { mode: 'Local' } } }));

      const r = await tbx(['prepare', name, archive, '--target', target, '--minimize', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const c = JSON.parse(r.stdout).containers[0];
      expect(c.arch).toBe(k.lxcArch);
      const tree = path.join(target, 'usr/share/Thunder', name, 'Container/rootfs');
      const have = files(tree);
      for (const p of ['usr/bin/ThunderPlugin', k.interp, `${lib}/libc.so.6`, 'usr/lib/thunder/plugins/libThunderTest.so', 'usr/lib/thunder/proxystubs/libThunderTestProxyStubs.so', 'etc/ld.so.conf', `etc/ld.so.conf.d/${k.triplet}.conf`]) {
        expect(have).toContain(p);
      }
      for (const p of ['usr/bin/getconf', 'usr/bin/iconv', 'usr/bin/locale', `${lib}/libm.so.6`, `${lib}/gconv`]) expect(have).not.toContain(p);
      expect(c.size.percent).toBeLessThan(25);

      const run = await tbx(['try', '--host', name, '--target', target, '--', 'ThunderPlugin', 'LONG_BIT']);
      expect(run.stdout.trim()).toBe(k.bits);
      expect(run.code).toBe(0);
    });
  }
});
