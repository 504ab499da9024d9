import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeArchive } from '../../src/rootfs/archive-writer.js';
import { richEntries } from '../helpers/archives.js';
import { tbx } from '../helpers/cli.js';
import { comparable } from '../helpers/tree.js';
import { tmpDir } from '../helpers/tmp.js';

// The extracted tree must match GNU tar's extraction of the same archive: every path, type,
// mode, owner, size, link target, mtime and byte. Privileged (--idmap none) so that owners
// are the archive's, as with `tar -xpf --numeric-owner` run as root.

async function prepared(dir: string, archive: string, name: string): Promise<string> {
  const target = path.join(dir, name);
  fs.mkdirSync(target);
  const r = await tbx(['prepare', '--no-doctor', 'X', archive, '--target', target, '--idmap', 'none', '--no-plugin-json', '-q']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return path.join(target, 'usr/share/Thunder/X/Container/rootfs');
}

describe('extraction matches GNU tar', () => {
  it('device numbers from GNU tar\'s own format (Buildroot\'s rootfs.tar), not only from POSIX ustar', async () => {
    const dir = tmpDir();
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'dev'), { recursive: true });
    await execa('mknod', [path.join(src, 'dev/null'), 'c', '1', '3']);
    await execa('mknod', [path.join(src, 'dev/mmcblk0'), 'b', '179', '0']);
    for (const format of ['gnu', 'ustar', 'posix']) {
      const archive = path.join(dir, `${format}.tar`);
      await execa('tar', ['-C', src, `--format=${format}`, '-cf', archive, '.']);
      const gnu = path.join(dir, `gnu-${format}`);
      fs.mkdirSync(gnu);
      await execa('tar', ['-xpf', archive, '-C', gnu, '--numeric-owner']);
      const ours = await prepared(dir, archive, `t-${format}`);
      for (const p of ['dev/null', 'dev/mmcblk0']) {
        expect(fs.lstatSync(path.join(ours, p)).rdev, `${format} ${p}`).toBe(fs.lstatSync(path.join(gnu, p)).rdev);
      }
      expect(fs.lstatSync(path.join(ours, 'dev/mmcblk0')).rdev).toBe(fs.lstatSync(path.join(src, 'dev/mmcblk0')).rdev);
    }
  });

  it('mtimes before 1970 stay (fs.utimes would make a negative one "now")', async () => {
    const dir = tmpDir();
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(src, 'etc/old'), 'x\n');
    fs.symlinkSync('old', path.join(src, 'etc/old-link'));
    await execa('touch', ['-h', '-d', '@-100', path.join(src, 'etc/old'), path.join(src, 'etc/old-link'), path.join(src, 'etc')]);
    const archive = path.join(dir, 'old.tar');
    await execa('tar', ['-C', src, '-cf', archive, '.']);
    const gnu = path.join(dir, 'gnu');
    fs.mkdirSync(gnu);
    await execa('tar', ['-xpf', archive, '-C', gnu, '--numeric-owner']);
    const ours = await prepared(dir, archive, 't');
    for (const p of ['etc', 'etc/old', 'etc/old-link']) {
      expect(fs.lstatSync(path.join(gnu, p)).mtimeMs, p).toBe(-100_000);
      expect(fs.lstatSync(path.join(ours, p)).mtimeMs, p).toBe(-100_000);
    }
  });

  it('a pax archive\'s sub-second mtimes stay (to the nearest microsecond, all libuv keeps; node-tar alone keeps milliseconds)', async () => {
    const dir = tmpDir();
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(src, 'etc/f'), 'x\n');
    await execa('touch', ['-d', '@1700000000.123456789', path.join(src, 'etc/f')]);
    fs.writeFileSync(path.join(src, 'etc/g'), 'x\n');
    await execa('touch', ['-d', '@1700000000.000001', path.join(src, 'etc/g')]);
    const archive = path.join(dir, 'pax.tar');
    await execa('tar', ['-C', src, '--format=posix', '-cf', archive, '.']);
    const gnu = path.join(dir, 'gnu');
    fs.mkdirSync(gnu);
    await execa('tar', ['-xpf', archive, '-C', gnu, '--numeric-owner']);
    const ours = await prepared(dir, archive, 't');
    const want = fs.statSync(path.join(gnu, 'etc/f'), { bigint: true }).mtimeNs;
    expect(want).toBe(1700000000123456789n);
    const got = fs.statSync(path.join(ours, 'etc/f'), { bigint: true }).mtimeNs;
    // to the nearest microsecond: libuv's utimes keeps no more
    expect(got).toBe(1700000000123457000n);
    expect(fs.statSync(path.join(ours, 'etc/g'), { bigint: true }).mtimeNs).toBe(1700000000000001000n);
  });

  it('every path, type, mode, owner, size, link target, mtime and content', async () => {
    const dir = tmpDir();
    const archive = path.join(dir, 'rich.tar');
    writeArchive(archive, richEntries({ devices: true }));
    const gnu = path.join(dir, 'gnu');
    fs.mkdirSync(gnu);
    await execa('tar', ['-xpf', archive, '-C', gnu, '--numeric-owner']);
    const ours = await prepared(dir, archive, 't');
    const want = comparable(gnu, { hash: true });
    const got = comparable(ours, { hash: true });
    expect(Object.keys(got)).toEqual(Object.keys(want));
    expect(got).toEqual(want);
    expect(Object.keys(want).length).toBeGreaterThan(30);
    // hard links share one inode, as GNU tar makes them
    const ino = (p: string) => fs.statSync(path.join(ours, p)).ino;
    expect(new Set([ino('lib/libbig.so.1.2.3'), ino('lib/hard1'), ino('lib/hard2')]).size).toBe(1);
  });

  it.each([
    ['gzip', ['gzip', '-n', '-c']],
    ['bzip2', ['bzip2', '-c']],
    ['xz', ['xz', '-c']],
    ['zstd', ['zstd', '-q', '-c']],
  ])('a %s-compressed archive gives the same tree (detected by magic, not by name)', async (_codec, cmd) => {
    const dir = tmpDir();
    const archive = path.join(dir, 'rich.tar');
    writeArchive(archive, richEntries({ devices: false }));
    const compressed = path.join(dir, 'rootfs.bin'); // no telling extension
    const c = await execa(cmd[0]!, [...cmd.slice(1), archive], { encoding: 'buffer' });
    fs.writeFileSync(compressed, c.stdout);
    const plain = await prepared(dir, archive, 'plain');
    const other = await prepared(dir, compressed, 'comp');
    expect(comparable(other, { hash: true })).toEqual(comparable(plain, { hash: true }));
  });

  it('a missing decompressor is named, with the package to install', async () => {
    const dir = tmpDir();
    const archive = path.join(dir, 'rich.tar');
    writeArchive(archive, richEntries({ devices: false }));
    await execa('xz', ['-k', archive]);
    fs.mkdirSync(path.join(dir, 'target'));
    fs.mkdirSync(path.join(dir, 'bin'));
    // a PATH with node but without xz
    fs.symlinkSync(process.execPath, path.join(dir, 'bin', 'node'));
    const r = await tbx(['prepare', '--no-doctor', 'X', `${archive}.xz`, '--target', path.join(dir, 'target'), '--no-plugin-json'], { env: { PATH: path.join(dir, 'bin') }, extendEnv: false });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error\[TOOL_MISSING\]: .*xz-compressed and the `xz` command is not installed/);
    expect(r.stderr).toContain('apt-get install xz-utils');
    expect(fs.readdirSync(path.join(dir, 'target'))).toEqual([]);
  });

  it('a corrupt compressed archive is an error naming the tool, and nothing is left', async () => {
    const dir = tmpDir();
    const archive = path.join(dir, 'rich.tar');
    writeArchive(archive, richEntries({ devices: false }));
    await execa('xz', ['-k', archive]);
    const bytes = fs.readFileSync(`${archive}.xz`);
    bytes[Math.floor(bytes.length / 2)] ^= 0x55;
    fs.writeFileSync(`${archive}.xz`, bytes);
    fs.mkdirSync(path.join(dir, 'target'));
    const r = await tbx(['prepare', '--no-doctor', 'X', `${archive}.xz`, '--target', path.join(dir, 'target'), '--no-plugin-json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error\[ARCHIVE_CORRUPT\]/);
    expect(fs.readdirSync(path.join(dir, 'target'))).toEqual([]);
  });
});
