import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfigText } from '../../src/lxc/check.js';
import { CORPUS } from '../helpers/lxc-corpus.js';
import { lxcAccepts } from '../helpers/lxc.js';
import { tmpDir } from '../helpers/tmp.js';

// `lxc check` against the real parser: for every case that liblxc checks when it loads a
// config, liblxc's verdict (lxc-info accepts or refuses) equals `lxc check`'s (no error or
// error). Cases liblxc meets only at start must still be errors for `lxc check`.
// The host's liblxc is 5.0.2, so the checker runs with --lxc-version 5.

describe('lxc check agrees with liblxc', () => {
  it(`on a corpus of ${CORPUS.length} configs`, async () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(100);
    const dir = tmpDir();
    const results: { name: string; liblxc: boolean; ours: boolean; start: boolean; warns: boolean; warned: boolean; codes: string[] }[] = [];
    const batch = 8;
    for (let i = 0; i < CORPUS.length; i += batch) {
      await Promise.all(
        CORPUS.slice(i, i + batch).map(async (k, j) => {
          const file = path.join(dir, `case-${i + j}.conf`);
          const text = ['lxc.uts.name = corpus', ...k.lines].join('\n') + '\n';
          fs.writeFileSync(file, text);
          const ds = checkConfigText(text, file, { version: 5, sysroot: '/' });
          const errors = ds.filter((d) => d.severity === 'error');
          const lib = await lxcAccepts(file);
          results.push({ name: k.name, liblxc: lib.ok, ours: errors.length === 0, start: k.start === true, warns: k.warns === true, warned: ds.some((d) => d.severity === 'warning'), codes: errors.map((d) => d.code) });
        }),
      );
    }
    const parse = results.filter((r) => !r.start);
    const disagree = parse.filter((r) => r.liblxc !== r.ours).map((r) => `${r.name}: liblxc ${r.liblxc ? 'accepts' : 'refuses'}, lxc check ${r.ours ? 'accepts' : `refuses (${r.codes.join(', ')})`}`);
    expect(disagree).toEqual([]);
    // loads and starts, surely not as meant: a warning
    const warns = results.filter((r) => r.warns);
    expect(warns.map((r) => [r.name, r.liblxc, r.ours, r.warned])).toEqual(warns.map((r) => [r.name, true, true, true]));
    const start = results.filter((r) => r.start);
    // liblxc loads these and fails later; lxc check says so now
    expect(start.map((r) => [r.name, r.liblxc, r.ours])).toEqual(start.map((r) => [r.name, true, false]));
    process.stdout.write(`lxc check vs liblxc 5.0.2: ${parse.length - disagree.length}/${parse.length} load-time verdicts agree; ${start.length} start-time errors found\n`);
  });

  it('an include cycle is an error (liblxc crashes on it)', async () => {
    const dir = tmpDir();
    const a = path.join(dir, 'a.conf');
    const b = path.join(dir, 'b.conf');
    fs.writeFileSync(a, `lxc.uts.name = x\nlxc.include = ${b}\n`);
    fs.writeFileSync(b, `lxc.include = ${a}\n`);
    const ds = checkConfigText(fs.readFileSync(a, 'utf8'), a, { version: 5 });
    expect(ds.map((d) => d.code)).toContain('LXC_INCLUDE_CYCLE');
    expect((await lxcAccepts(a)).ok).toBe(false);
  });
});

// (a rootfs backend cannot be tried this way: `thunderbox try` points lxc.rootfs.path at the tree)
describe('what liblxc only meets at start, lxc check reports at once: the container does not start', () => {
  it.each([
    ['a mount entry with create=dirr', 'lxc.mount.entry = /nonexistent-tbx mnt none bind,create=dirr 0 0'],
    ['overlapping idmap ranges', 'lxc.idmap = u 10 300000 10'],
    ['prlimit nofile with an empty soft part (soft 0)', 'lxc.prlimit.nofile = :1024'],
    ['prlimit nofile -1 (unlimited)', 'lxc.prlimit.nofile = -1'],
    ['prlimit soft over hard', 'lxc.prlimit.core = 5:3'],
    ['an environment line without a name', 'lxc.environment = =x'],
  ])('%s', async (_name, line) => {
    const { tbx } = await import('../helpers/cli.js');
    const { target, cs, config } = await preparedBusybox('Start');
    expect((await tbx(['try', '--host', cs, '--target', target, '--', '/bin/true'])).code).toBe(0);
    fs.appendFileSync(config, `${line}\n`);
    const errors = checkConfigText(fs.readFileSync(config, 'utf8'), config, { version: 5 }).filter((d) => d.severity === 'error');
    expect(errors.length).toBeGreaterThan(0);
    expect((await lxcAccepts(config)).ok).toBe(true); // liblxc loads it ...
    expect((await tbx(['try', '--host', cs, '--target', target, '--', '/bin/true'])).code).not.toBe(0); // ... and fails to start it
  });
});

// values liblxc loads and starts with, surely not as meant: lxc check warns and does not call
// them errors (the container starts, and the limit is what the warning says)
describe('values liblxc loads and starts with are warnings, not errors', () => {
  it.each([
    ['no signal 65', 'lxc.signal.halt = 65', '', ''],
    ['an environment name with a blank', 'lxc.environment = A B=1', '', ''],
    ['prlimit core with an empty soft part: soft 0', 'lxc.prlimit.core = :1024', 'Max core file size', '0 1024'],
    ['prlimit nofile with an empty hard part: hard = soft', 'lxc.prlimit.nofile = 1024:', 'Max open files', '1024 1024'],
    ['prlimit core -1: unlimited', 'lxc.prlimit.core = -1', 'Max core file size', 'unlimited unlimited'],
  ])('%s', async (_name, line, limit, values) => {
    const { tbx } = await import('../helpers/cli.js');
    const { target, cs, config } = await preparedBusybox('Warn');
    fs.appendFileSync(config, `${line}\n`);
    const ds = checkConfigText(fs.readFileSync(config, 'utf8'), config, { version: 5 });
    expect(ds.filter((d) => d.severity === 'error')).toEqual([]);
    expect(ds.filter((d) => d.severity === 'warning' && d.line === fs.readFileSync(config, 'utf8').split('\n').length - 1).map((d) => d.code)).toContain('LXC_VALUE');
    expect((await lxcAccepts(config)).ok).toBe(true);
    const r = await tbx(['try', '--host', cs, '--target', target, '--', '/bin/cat', '/proc/self/limits']);
    expect(r.code, r.stderr).toBe(0); // it started
    if (limit) expect(r.stdout.split('\n').find((x) => x.startsWith(limit))?.slice(limit.length).trim().split(/\s+/).slice(0, 2).join(' ')).toBe(values);
  });
});

// liblxc reads a mount entry with getmntent(3): fields after the options that are not numbers
// are taken as 0, and more than six are ignored. lxc check warns, and does not call it an error.
describe('mount entries liblxc loads and mounts are warnings, not errors', () => {
  it.each([
    ['an inline comment after dump and pass', '0 0  # share it', ['LXC_INLINE_COMMENT']],
    ['an inline comment instead of dump and pass', '# share it', ['LXC_INLINE_COMMENT']],
    ['dump and pass that are not numbers', 'x y', ['LXC_MOUNT_FIELDS']],
    ['more than six fields', '0 0 extra more', ['LXC_MOUNT_FIELDS']],
  ])('%s', async (_name, tail, codes) => {
    const { tbx } = await import('../helpers/cli.js');
    const { dir, target, cs, config } = await preparedBusybox('Mnt');
    const share = path.join(dir, 'share');
    fs.mkdirSync(share);
    fs.writeFileSync(path.join(share, 'marker'), 'mounted\n');
    fs.appendFileSync(config, `lxc.mount.entry = ${share} mnt none rbind,create=dir ${tail}\n`);
    const ds = checkConfigText(fs.readFileSync(config, 'utf8'), config, { version: 5 });
    expect(ds.filter((d) => d.severity === 'error')).toEqual([]);
    expect(ds.filter((d) => d.severity === 'warning').map((d) => d.code)).toEqual(codes);
    expect((await lxcAccepts(config)).ok).toBe(true);
    const r = await tbx(['try', '--host', cs, '--target', target, '--', '/bin/cat', '/mnt/marker']);
    expect(r.stdout).toContain('mounted'); // liblxc mounted it
    expect(r.code).toBe(0);
  });
});

// a veth NIC's MAC is set when the container starts: in a network namespace of the test's own
describe('lxc.net.0.hwaddr: lxc check says what the start does', () => {
  it.each([
    ['00:16:3e:zz:00:01', 'LXC_VALUE', false],
    ['00-16-3e-12-00-01', 'LXC_VALUE', false],
    ['01:16:3e:12:00:01', 'LXC_VALUE', false], // multicast
    ['00:16:3e:xx:00:01', 'LXC_HWADDR_RANDOM', true],
    ['00:16:3e:12:00', 'LXC_HWADDR_LENGTH', true],
  ])('%s: %s, starts: %s', async (mac, code, starts) => {
    const { execa } = await import('execa');
    const { BIN, tbx } = await import('../helpers/cli.js');
    const { target, cs, config } = await preparedBusybox('Mac');
    const text = fs.readFileSync(config, 'utf8').replace(/^lxc\.net\.0\..*\n/gm, '') + `lxc.net.0.type = veth\nlxc.net.0.name = eth0\nlxc.net.0.hwaddr = ${mac}\n`;
    fs.writeFileSync(config, text);
    const ds = checkConfigText(text, config, { version: 5 });
    expect(ds.filter((d) => d.line === text.split('\n').length - 1).map((d) => [d.code, d.severity])).toEqual([[code, starts ? 'warning' : 'error']]);
    expect((await lxcAccepts(config)).ok).toBe(true);
    const r = await execa('unshare', ['--net', process.execPath, BIN, 'try', '--host', cs, '--target', target, '--', '/bin/cat', '/sys/class/net/eth0/address'], { reject: false });
    expect(r.exitCode === 0, String(r.stderr)).toBe(starts);
  });
});

/** A busybox container, callsign `prefix` and a random tail, prepared (no doctor, no plugin JSON) in a target of its own. */
async function preparedBusybox(prefix: string): Promise<{ dir: string; target: string; cs: string; config: string }> {
  const { hostBusyboxArchive } = await import('../helpers/busybox.js');
  const { tbx } = await import('../helpers/cli.js');
  const dir = tmpDir();
  const target = path.join(dir, 'target');
  fs.mkdirSync(target);
  const cs = `${prefix}${Math.random().toString(36).slice(2, 8)}`;
  expect((await tbx(['prepare', '--no-doctor', cs, hostBusyboxArchive(path.join(dir, 'r.tar')), '--target', target, '--no-plugin-json', '-q'])).code).toBe(0);
  return { dir, target, cs, config: path.join(target, 'usr/share/Thunder', cs, 'Container/config') };
}
