import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tbx } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

// Ordinary mistakes on the command line and in the files it names end in a coded error
// (exit 1), never an internal error (70) or a hang (issue 14).

describe('lxc check on files that are not configs', () => {
  it('a file that does not exist: CONFIG_UNREADABLE naming it, exit 1, and the other files are still checked', async () => {
    const d = tmpDir();
    const good = path.join(d, 'good.conf');
    fs.writeFileSync(good, 'lxc.uts.name = x\nlxc.bogus = 1\n');
    const r = await tbx(['lxc', 'check', path.join(d, 'nonexistent.conf'), good]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${path.join(d, 'nonexistent.conf')}: error[CONFIG_UNREADABLE]: cannot read ${path.join(d, 'nonexistent.conf')}: it does not exist`);
    expect(r.stdout).toContain(`${good}:2:1: error[LXC_UNKNOWN_KEY]`);
    expect(r.stderr).not.toContain('internal error');
  });

  it.each([
    ['/dev/zero', 'a character device'],
    ['FIFO', 'a FIFO'],
    ['BIG', 'larger than 1 MiB'],
  ])('lxc.include = %s without --sysroot: LXC_INCLUDE_UNREADABLE at once (%s)', async (what, says) => {
    const d = tmpDir();
    let inc = what;
    if (what === 'FIFO') {
      inc = path.join(d, 'fifo.conf');
      execFileSync('mkfifo', [inc]);
    } else if (what === 'BIG') {
      inc = path.join(d, 'big.conf');
      fs.writeFileSync(inc, '# padding\n'.repeat(120_000));
    }
    const cfg = path.join(d, 'config');
    fs.writeFileSync(cfg, `lxc.uts.name = x\nlxc.include = ${inc}\n`);
    const t0 = Date.now();
    const r = await tbx(['lxc', 'check', cfg], { timeout: 20_000 });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${cfg}:2:15: error[LXC_INCLUDE_UNREADABLE]: lxc.include ${inc} cannot be read: it is ${says}`);
  });

  it('a directory include whose *.conf member is a FIFO names the include line', async () => {
    const d = tmpDir();
    fs.mkdirSync(path.join(d, 'conf.d'));
    execFileSync('mkfifo', [path.join(d, 'conf.d', 'a.conf')]);
    const cfg = path.join(d, 'config');
    fs.writeFileSync(cfg, `lxc.include = ${path.join(d, 'conf.d')}\n`);
    const r = await tbx(['lxc', 'check', cfg], { timeout: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${cfg}:1:15: error[LXC_INCLUDE_UNREADABLE]: lxc.include ${path.join(d, 'conf.d', 'a.conf')} cannot be read: it is a FIFO`);
  });
});

describe('the other readers of files a user names read only regular files, bounded', () => {
  it.each([
    [['lxc', 'migrate', '/dev/zero'], 'CONFIG_UNREADABLE'],
    [['kconfig', 'lint', '/dev/zero'], 'KCONFIG_UNREADABLE'],
    [['prepare', 'OCDM', '--manifest', '/dev/zero', '--target', '/nonexistent-tbx'], 'MANIFEST_UNREADABLE'],
  ])('%j: %s, exit 1', async (args, code) => {
    const r = await tbx(args, { timeout: 20_000 });
    expect(r.stdout + r.stderr).toContain(`error[${code}]: cannot read /dev/zero: it is a character device, not a regular file`);
    expect(r.code).toBe(1);
  });
});

describe('buildroot apply-table on what is not a table or not an image root', () => {
  // (as root: apply-table refuses to run as anyone else, before it reads anything)
  it.each([
    ['a table that does not exist', 'missing', 'TABLE_UNREADABLE', 'it does not exist'],
    ['a directory as the table', 'dir', 'TABLE_UNREADABLE', 'it is a directory, not a regular file'],
    ['a FIFO as the table', 'fifo', 'TABLE_UNREADABLE', 'it is a FIFO, not a regular file'],
    ['an image root that does not exist', 'no-target', 'TARGET_MISSING', 'does not exist'],
  ])('%s: %s, exit 1', async (_name, what, code, says) => {
    const d = tmpDir();
    const target = path.join(d, 'target');
    fs.mkdirSync(target);
    const table = path.join(d, 'table.txt');
    fs.writeFileSync(table, '/etc d 755 0 0 - - - - -\n');
    const args = { missing: [target, path.join(d, 'nope.txt')], dir: [target, d], fifo: [target, path.join(d, 'fifo')], 'no-target': [path.join(d, 'nope'), table] }[what]!;
    if (what === 'fifo') execFileSync('mkfifo', [path.join(d, 'fifo')]);
    const r = await tbx(['buildroot', 'apply-table', ...args], { timeout: 20_000 });
    expect(r.stderr).toContain(`error[${code}]`);
    expect(r.stderr).toContain(says);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(1);
  });
});

describe('a path longer than the system allows (ENAMETOOLONG) is a coded error wherever it is given', () => {
  const long = 'x'.repeat(5000);
  it.each([
    ['demo --dir', (d: string) => ['demo', '--dir', path.join(d, long)]],
    ['net render --target', (d: string) => ['net', 'render', '--manifest', path.join(d, 'm.yaml'), '--target', path.join(d, long)]],
    ['buildroot post-fakeroot', (d: string) => ['buildroot', 'post-fakeroot', path.join(d, long)]],
  ])('%s: PATH_TOO_LONG, exit 1', async (_name, args) => {
    const d = tmpDir();
    fs.writeFileSync(path.join(d, 'm.yaml'), 'containers: {}\n');
    const r = await tbx(args(d), { timeout: 20_000 });
    expect(r.stderr).toContain('error[PATH_TOO_LONG]');
    expect(r.stderr).toContain('(5');
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(1);
  });
});

describe('the includes prepare and the doctor follow in the image', () => {
  it('only regular files up to 1 MiB are read: a FIFO, a device and a huge file are passed over', async () => {
    const { includedConfigs } = await import('../../src/lxc/includes.js');
    const target = tmpDir();
    fs.mkdirSync(path.join(target, 'etc/lxc/conf.d'), { recursive: true });
    fs.mkdirSync(path.join(target, 'dev'));
    execFileSync('mkfifo', [path.join(target, 'etc/lxc/conf.d/a.conf')]);
    fs.writeFileSync(path.join(target, 'etc/lxc/conf.d/b.conf'), 'lxc.tty.max = 1\n');
    fs.writeFileSync(path.join(target, 'etc/lxc/conf.d/c.conf'), '# padding\n'.repeat(120_000));
    execFileSync('mknod', [path.join(target, 'dev/zero'), 'c', '1', '5']);
    const main = path.join(target, 'etc/lxc/common.conf');
    const text = 'lxc.include = /etc/lxc/conf.d\nlxc.include = /dev/zero\n';
    const t0 = Date.now();
    const got = includedConfigs(target, main, text).map((c) => path.relative(target, c.file));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(got).toEqual(['etc/lxc/common.conf', 'etc/lxc/conf.d/b.conf']);
  });
});

describe('an option given an empty value (an unset shell variable) is a usage error, never the current directory', () => {
  it.each([
    ['prepare', 'OCDM', 'rootfs.tar', '--target', ''],
    ['demo', '--dir', ''],
    ['try', 'OCDM', '--target', ''],
    ['doctor', 'OCDM', '--datapath', ''],
    ['prepare', 'OCDM', 'rootfs.tar', '--target', 'x', '--mount', ''],
    ['net', 'render', '--manifest', ''],
  ])('%s %s ...', async (...args) => {
    const dir = tmpDir();
    const r = await tbx(args, { cwd: dir });
    expect(r.code).toBe(2);
    const opt = args[args.length - 2]!;
    expect(r.stderr).toContain(`error[USAGE]: ${opt} was given an empty value`);
    // nothing was written where it would have gone
    expect(fs.readdirSync(dir)).toEqual([]);
    const j = await tbx([...args, '--json'], { cwd: dir });
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, diagnostics: [{ code: 'USAGE', message: `${opt} was given an empty value` }] });
  });
});
