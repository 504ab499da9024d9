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
    const results: { name: string; liblxc: boolean; ours: boolean; start: boolean; codes: string[] }[] = [];
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
          results.push({ name: k.name, liblxc: lib.ok, ours: errors.length === 0, start: k.start === true, codes: errors.map((d) => d.code) });
        }),
      );
    }
    const parse = results.filter((r) => !r.start);
    const disagree = parse.filter((r) => r.liblxc !== r.ours).map((r) => `${r.name}: liblxc ${r.liblxc ? 'accepts' : 'refuses'}, lxc check ${r.ours ? 'accepts' : `refuses (${r.codes.join(', ')})`}`);
    expect(disagree).toEqual([]);
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
  ])('%s', async (_name, line) => {
    const { hostBusyboxArchive } = await import('../helpers/busybox.js');
    const { tbx } = await import('../helpers/cli.js');
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    const cs = `Start${Math.random().toString(36).slice(2, 8)}`;
    expect((await tbx(['prepare', '--no-doctor', cs, hostBusyboxArchive(path.join(dir, 'r.tar')), '--target', target, '--no-plugin-json', '-q'])).code).toBe(0);
    const config = path.join(target, 'usr/share/Thunder', cs, 'Container/config');
    expect((await tbx(['try', '--host', cs, '--target', target, '--', '/bin/true'])).code).toBe(0);
    fs.appendFileSync(config, `${line}\n`);
    const errors = checkConfigText(fs.readFileSync(config, 'utf8'), config, { version: 5 }).filter((d) => d.severity === 'error');
    expect(errors.length).toBeGreaterThan(0);
    expect((await lxcAccepts(config)).ok).toBe(true); // liblxc loads it ...
    expect((await tbx(['try', '--host', cs, '--target', target, '--', '/bin/true'])).code).not.toBe(0); // ... and fails to start it
  });
});
