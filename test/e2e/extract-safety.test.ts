import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Header } from 'tar';
import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { archiveBuffer, type ArchiveEntry } from '../../src/rootfs/archive-writer.js';
import { listing, prepareIn } from '../helpers/prepare.js';
import { tmpDir } from '../helpers/tmp.js';

// Hostile and broken archives, generated here. Each must be refused with its code, and the
// image root must be exactly as before: the earlier container intact, no staging left,
// nothing written outside.

const D = (p: string): ArchiveEntry => ({ path: p, type: 'Directory' });
const F = (p: string, data = 'x'): ArchiveEntry => ({ path: p, type: 'File', data });
const L = (p: string, to: string): ArchiveEntry => ({ path: p, type: 'SymbolicLink', linkpath: to });
const H = (p: string, to: string): ArchiveEntry => ({ path: p, type: 'Link', linkpath: to });

/** A file whose pax header gives `mtime` (as text), made block by block. */
function paxMtime(mtime: string): Buffer {
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
  const rec = (k: string, v: string) => {
    const body = ` ${k}=${v}\n`;
    let n = body.length + 1;
    while (`${n}${body}`.length !== n) n = `${n}${body}`.length;
    return `${n}${body}`;
  };
  const pax = Buffer.from(rec('mtime', mtime));
  const header = (o: ConstructorParameters<typeof Header>[0]) => {
    const h = new Header(o);
    h.encode();
    return h.block!;
  };
  return Buffer.concat([
    header({ path: './', type: 'Directory', mode: 0o755, size: 0, mtime: new Date(0) }),
    header({ path: 'PaxHeader/f', type: 'ExtendedHeader', size: pax.length, mode: 0o644, mtime: new Date(0) }),
    pad(pax),
    header({ path: 'f', type: 'File', size: 2, mode: 0o644, mtime: new Date(0) }),
    pad(Buffer.from('x\n')),
    Buffer.alloc(1024),
  ]);
}

const good = archiveBuffer([D('./'), D('bin'), F('bin/busybox', 'old'), D('etc'), F('etc/passwd', 'root:x:0:0::/:/bin/sh\n')]);

const cases: [string, Buffer, string][] = [
  ['../x (CVE-2001-1267 style traversal)', archiveBuffer([D('./'), F('../x')]), 'ENTRY_DOTDOT'],
  ['a/../../x', archiveBuffer([D('a'), F('a/../../x')]), 'ENTRY_DOTDOT'],
  ['/abs', archiveBuffer([F('/tmp/tbx-evil')]), 'ENTRY_ABSOLUTE'],
  ['a symlink, then a file through it', archiveBuffer([L('up', '../../../../../../tmp'), F('up/tbx-evil')]), 'ENTRY_THROUGH_SYMLINK'],
  ['a symlink to /etc, then a write into it', archiveBuffer([L('etc', '/etc'), F('etc/tbx-evil')]), 'ENTRY_THROUGH_SYMLINK'],
  ['a symlink, then a directory of the same name, then a file (CVE-2021-32803 style)', archiveBuffer([L('d', '/tmp'), D('d'), F('d/tbx-evil')]), 'ENTRY_DIR_OVER_NONDIR'],
  ['a hard link out (CVE-2021-37701 style)', archiveBuffer([H('shadow', '../../../../etc/shadow')]), 'LINK_OUTSIDE'],
  ['a hard link to an absolute path', archiveBuffer([H('shadow', '/etc/shadow')]), 'LINK_OUTSIDE'],
  ['a hard link to a file not in the archive', archiveBuffer([H('shadow', 'etc/shadow')]), 'LINK_TARGET_MISSING'],
  ['a hard link through a symlink', archiveBuffer([L('e', '/etc'), H('x', 'e/shadow')]), 'LINK_TARGET_MISSING'],
  ['a file replacing a directory', archiveBuffer([D('bin'), F('bin/sh'), F('bin')]), 'ENTRY_NONDIR_OVER_DIR'],
  ['truncated in a file body', archiveBuffer([F('big', 'y'.repeat(5000))]).subarray(0, 512 + 1000), 'ARCHIVE_CORRUPT'],
  ['cut inside a header', archiveBuffer([F('a'), F('b')]).subarray(0, 1024 + 300), 'ARCHIVE_CORRUPT'],
  ['cut at a header boundary: no end-of-archive blocks', archiveBuffer([F('a'), F('b')]).subarray(0, 1024), 'ARCHIVE_CORRUPT'],
  ['a pax mtime no file can have', paxMtime('100000000000000000000'), 'ARCHIVE_CORRUPT'],
  ['corrupt header checksum', (() => { const b = archiveBuffer([F('a'), F('b')]); b[1024 + 10] ^= 0xff; return b; })(), 'ARCHIVE_CORRUPT'],
  ['not an archive', Buffer.from('this is not a tar file\n'.repeat(40)), 'ARCHIVE_FORMAT'],
  ['empty file', Buffer.alloc(0), 'ARCHIVE_EMPTY'],
  // names no filesystem holds: the open()/mkdir() would fail with ENAMETOOLONG
  ['a pax path over PATH_MAX (20 components of 200 characters)', archiveBuffer([D('./'), F(Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(200, 'p')).join('/'))]), 'ENTRY_PATH_TOO_LONG'],
  ['a name over NAME_MAX (256 bytes)', archiveBuffer([D('./'), F(`d/${'n'.repeat(256)}`)]), 'ENTRY_NAME_TOO_LONG'],
  ['a name of 128 two-byte characters (256 bytes)', archiveBuffer([D('./'), F('\u00e9'.repeat(128))]), 'ENTRY_NAME_TOO_LONG'],
  ['a path within PATH_MAX, but not under the image root', archiveBuffer([D('./'), F(Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(202, 'q')).join('/'))]), 'ENTRY_PATH_TOO_LONG'],
  ['a symlink to a name over PATH_MAX', archiveBuffer([D('./'), L('l', 'x/'.repeat(2100))]), 'ENTRY_PATH_TOO_LONG'],
];

describe('extraction refuses hostile and broken archives, changing nothing', () => {
  it.each(cases.map(([n, b, c]) => ({ name: `${n} -> ${c}`, bytes: b, code: c })))('$name', async ({ bytes, code }) => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(dir, 'good.tar'), good);
    await prepareIn(target, 'OCDM', { rootfs: path.join(dir, 'good.tar'), idmap: { kind: 'none' } });
    const before = listing(dir);
    fs.writeFileSync(path.join(dir, 'evil.tar'), bytes);
    for (const p of ['/tmp/tbx-evil', '/etc/tbx-evil']) fs.rmSync(p, { force: true });
    const err = await prepareIn(target, 'OCDM', { rootfs: path.join(dir, 'evil.tar'), idmap: { kind: 'none' } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ThunderboxError);
    expect((err as ThunderboxError).code).toBe(code);
    expect((err as ThunderboxError).diagnostics[0]!.hint).toBeTruthy();
    fs.rmSync(path.join(dir, 'evil.tar'));
    expect(listing(dir)).toEqual(before.filter((l) => !l.startsWith('evil.tar')));
    expect(fs.existsSync('/tmp/tbx-evil')).toBe(false);
    expect(fs.existsSync('/etc/tbx-evil')).toBe(false);
    expect(fs.readFileSync(path.join(target, 'usr/share/Thunder/OCDM/Container/rootfs/bin/busybox'), 'utf8')).toBe('old');
  });

  it('sparse files (GNU and the pax formats) are refused, not lost; extended attributes are reported', async () => {
    const dir = tmpDir();
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(src, 'etc/plain'), 'x\n');
    const fd = fs.openSync(path.join(src, 'etc/sparse'), 'w');
    fs.writeSync(fd, 'hello', 10 << 20); // 10 MB of hole, then data
    fs.closeSync(fd);
    for (const format of [['--format=gnu'], ['--format=pax', '--sparse-version=0.0'], ['--format=pax', '--sparse-version=0.1'], ['--format=pax', '--sparse-version=1.0']]) {
      const archive = path.join(dir, 'sparse.tar');
      await execa('tar', ['-C', src, '-S', ...format, '-cf', archive, '.']);
      const target = path.join(dir, `t${format.join('')}`);
      fs.mkdirSync(target);
      const err = await prepareIn(target, 'OCDM', { rootfs: archive, idmap: { kind: 'none' } }).then(() => null, (e: unknown) => e);
      expect((err as ThunderboxError).code, format.join(' ')).toBe('ARCHIVE_SPARSE');
      expect((err as ThunderboxError).message).toMatch(/etc\/(GNUSparseFile\.\d+\/)?sparse is stored as a sparse file/);
      expect(fs.readdirSync(target)).toEqual([]);
    }
    // a file capability in a --xattrs archive: thunderbox cannot set it, and says so
    fs.rmSync(path.join(src, 'etc/sparse'));
    await execa('setcap', ['cap_net_raw=ep', path.join(src, 'etc/plain')]);
    await execa('tar', ['-C', src, '--xattrs', '--format=posix', '-cf', path.join(dir, 'xattr.tar'), '.']);
    const target = path.join(dir, 'tx');
    fs.mkdirSync(target);
    const r = await prepareIn(target, 'OCDM', { rootfs: path.join(dir, 'xattr.tar'), idmap: { kind: 'none' } });
    const w = r.reports[0]!.facts!.warnings.find((d) => d.code === 'XATTRS_NOT_SET');
    expect(w?.message).toContain('/etc/plain (security.capability)');
  });

  it('names that are not UTF-8 (a latin-1 tree) are refused, in an archive and in a directory, instead of merged', async () => {
    const dir = tmpDir();
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
    // caf\xe9 and caf\xe8: both would decode to "caf\uFFFD"
    for (const [b, data] of [[0xe9, 'a'], [0xe8, 'b']] as const) fs.writeFileSync(Buffer.concat([Buffer.from(`${src}/etc/caf`), Buffer.from([b])]), data);
    await execa('tar', ['-C', src, '-cf', path.join(dir, 'latin1.tar'), '.']);
    // and a symlink whose target is such a name, in a directory source
    const linkSrc = path.join(dir, 'linksrc');
    fs.mkdirSync(linkSrc);
    fs.symlinkSync(Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9])]), path.join(linkSrc, 'lnk'));
    for (const rootfs of [path.join(dir, 'latin1.tar'), src, linkSrc]) {
      const target = path.join(dir, `t-${path.basename(rootfs)}`);
      fs.mkdirSync(target);
      const err = await prepareIn(target, 'OCDM', { rootfs, idmap: { kind: 'none' } }).then(() => null, (e: unknown) => e);
      expect((err as ThunderboxError).code, rootfs).toBe('ENTRY_NAME_ENCODING');
      expect(fs.readdirSync(target)).toEqual([]);
    }
  });

  it('a hard link to a device node goes with it: left out when the node is, linked when it is made', async () => {
    const dir = tmpDir();
    const archive = path.join(dir, 'dev.tar');
    fs.writeFileSync(archive, archiveBuffer([D('./'), D('dev'), { path: 'dev/null2', type: 'CharacterDevice', mode: 0o666, devmaj: 1, devmin: 3 }, H('dev/null-link', 'dev/null2')]));
    for (const t of ['a', 'b']) fs.mkdirSync(path.join(dir, t));
    // the default idmap leaves device nodes out (lxc.autodev makes /dev): the link goes too
    await prepareIn(path.join(dir, 'a'), 'OCDM', { rootfs: archive });
    const rootfs = (t: string) => path.join(dir, t, 'usr/share/Thunder/OCDM/Container/rootfs/dev');
    expect(fs.readdirSync(rootfs('a'))).toEqual([]);
    await prepareIn(path.join(dir, 'b'), 'OCDM', { rootfs: archive, idmap: { kind: 'none' } });
    const st = fs.lstatSync(path.join(rootfs('b'), 'null-link'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.ino).toBe(fs.lstatSync(path.join(rootfs('b'), 'null2')).ino);
  });

  it('duplicate entries: the last one wins, as with GNU tar', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'dup.tar'), archiveBuffer([D('./'), F('a', 'first'), H('b', 'a'), F('a', 'second'), L('c', 'x'), F('c', 'file now')]));
    const { dir: c } = await prepareIn(dir, 'X', { rootfs: path.join(dir, 'dup.tar'), idmap: { kind: 'none' } });
    expect(fs.readFileSync(path.join(c, 'rootfs/a'), 'utf8')).toBe('second');
    expect(fs.readFileSync(path.join(c, 'rootfs/b'), 'utf8')).toBe('first'); // the link kept the old inode
    expect(fs.lstatSync(path.join(c, 'rootfs/c')).isFile()).toBe(true);
  });

  it('a symlink already in the image does not redirect the container', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    fs.mkdirSync(path.join(target, 'usr/share/Thunder/OCDM'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'outside'));
    fs.symlinkSync(path.join(dir, 'outside'), path.join(target, 'usr/share/Thunder/OCDM/Container'));
    fs.writeFileSync(path.join(dir, 'good.tar'), good);
    const err = await prepareIn(target, 'OCDM', { rootfs: path.join(dir, 'good.tar') }).catch((e: unknown) => e);
    expect((err as ThunderboxError).code).toBe('CONTAINER_DIR_SYMLINK');
    expect(fs.readdirSync(path.join(dir, 'outside'))).toEqual([]);
  });

  it('an absolute symlink in the image resolves inside the image', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    fs.mkdirSync(path.join(target, 'data/share'), { recursive: true });
    fs.mkdirSync(path.join(target, 'usr'), { recursive: true });
    fs.symlinkSync('/data/share', path.join(target, 'usr/share'));
    fs.writeFileSync(path.join(dir, 'good.tar'), good);
    await prepareIn(target, 'OCDM', { rootfs: path.join(dir, 'good.tar'), idmap: { kind: 'none' } });
    expect(fs.existsSync(path.join(target, 'data/share/Thunder/OCDM/Container/config'))).toBe(true);
    expect(fs.existsSync('/data/share/Thunder')).toBe(false);
  });
});

describe('a gzip archive that inflates over 1000:1', () => {
  it('a rootfs with a large zero-filled file is extracted (node-tar would refuse it as damaged)', async () => {
    const { gzipSync } = await import('node:zlib');
    const dir = tmpDir();
    const zeros = Buffer.alloc(24 << 20);
    const tar = archiveBuffer([D('./'), D('var'), { path: 'var/swapfile', type: 'File', data: zeros }, F('etc-hostname', 'box\n')]);
    const gz = gzipSync(tar, { level: 9 });
    expect(tar.length / gz.length).toBeGreaterThan(1000); // over node-tar's default ratio
    fs.writeFileSync(path.join(dir, 'rootfs.tar.gz'), gz);
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    await prepareIn(target, 'OCDM', { rootfs: path.join(dir, 'rootfs.tar.gz'), idmap: { kind: 'none' } });
    const rootfs = path.join(target, 'usr/share/Thunder/OCDM/Container/rootfs');
    expect(fs.statSync(path.join(rootfs, 'var/swapfile')).size).toBe(zeros.length);
    expect(fs.readFileSync(path.join(rootfs, 'etc-hostname'), 'utf8')).toBe('box\n');
  });
});
