import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { JOURNAL_NAME, backupName, recover, stagedName } from '../../src/core/transaction.js';
import { writeArchive } from '../../src/rootfs/archive-writer.js';
import { writeSample } from '../../src/thunder/sample.js';
import { bigArchive } from '../helpers/big-archive.js';
import { BIN, tbx } from '../helpers/cli.js';
import { comparable } from '../helpers/tree.js';
import { publicBin } from '../helpers/public-repo.js';
import { tmpDir } from '../helpers/tmp.js';

// The transaction: a failure at any point leaves the image root as it was.

const C = (target: string) => path.join(target, 'usr/share/Thunder/OCDM/Container');

async function preparedSample(): Promise<{ dir: string; target: string; archive: string; before: ReturnType<typeof comparable> }> {
  const dir = tmpDir();
  const s = writeSample(dir, 1700000000);
  const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '-q']);
  expect(r.code).toBe(0);
  // a second plugin JSON edit would be part of the next run too
  fs.writeFileSync(path.join(s.target, 'etc/Thunder/plugins/OCDM.json'), '{"classname":"OCDM","configuration":{"root":{"mode":"Local"}}}\n');
  return { dir, target: s.target, archive: s.archive, before: comparable(s.target, { hash: true }) };
}

/** Start a prepare of a big archive and send `signal` once it is extracting. */
async function interrupted(target: string, archive: string, signal: NodeJS.Signals) {
  const child = execa(process.execPath, [BIN, 'prepare', '--no-doctor', 'OCDM', archive, '--target', target, '-q'], { reject: false, env: { MESSAGE_DISPATCHER_CONFIG: 'x' } });
  const staged = stagedName(C(target));
  const t0 = Date.now();
  while (!fs.existsSync(path.join(staged, 'rootfs', 'd29')) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 5));
  expect(fs.existsSync(staged)).toBe(true); // it was caught in the middle
  child.kill(signal);
  return await child;
}

describe('transactions', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s during extraction: exit %i, everything as before, nothing left over', async (signal, code) => {
    const { dir, target, before } = await preparedSample();
    const big = path.join(dir, 'big.tar');
    bigArchive(big);
    const r = await interrupted(target, big, signal);
    expect(r.exitCode).toBe(code);
    expect(r.stderr).toContain(`interrupted by ${signal}; nothing was changed`);
    expect(comparable(target, { hash: true })).toEqual(before);
  });

  it('SIGKILL during extraction: the old container stays; the next run cleans up, puts the directory times back and succeeds', async () => {
    const { dir, target, before } = await preparedSample();
    const big = path.join(dir, 'big.tar');
    bigArchive(big);
    const times = () => [target, path.join(target, 'usr/share/Thunder/OCDM')].map((d) => fs.statSync(d).mtimeMs);
    const timesBefore = times();
    const r = await interrupted(target, big, 'SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    // the previous container and files are untouched; the leftovers are thunderbox's own
    // (directory mtimes aside: a killed run cannot put back those of the root and the callsign dir)
    const now = comparable(target, { hash: true });
    for (const [p, v] of Object.entries(before)) {
      if (v.type === 'dir') expect({ ...now[p], mtime: 0 }).toEqual({ ...v, mtime: 0 });
      else expect(now[p]).toEqual(v);
    }
    expect(fs.existsSync(path.join(target, '.thunderbox.lock'))).toBe(true);
    const again = await tbx(['prepare', '--no-doctor', 'OCDM', big, '--target', target]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('recovered: an interrupted earlier run was rolled back first');
    expect(fs.readdirSync(path.join(target, 'usr/share/Thunder/OCDM'))).toEqual(['Container']);
    expect(fs.existsSync(path.join(target, '.thunderbox.lock'))).toBe(false);
    expect(fs.existsSync(path.join(target, JOURNAL_NAME))).toBe(false);
    expect(fs.existsSync(path.join(C(target), 'rootfs/d29/f29'))).toBe(true);
    // the killed run's lock, journal and staging changed these; the journal had their times
    // (back to the microsecond: fs.utimes takes seconds as a double)
    times().forEach((t, i) => expect(t).toBeCloseTo(timesBefore[i]!, 2));
  });

  it('a run killed in its commit is rolled back before the next run plans, also when that run has nothing to do', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const args = ['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target];
    expect((await tbx([...args, '-q'])).code).toBe(0);
    const config = path.join(C(s.target), 'config');
    const made = fs.readFileSync(config, 'utf8');
    // what a run killed between its two renames leaves: the container it replaced (here an older
    // one) as the backup, its own in place, the journal in state "commit", the lock of a dead pid
    fs.cpSync(C(s.target), backupName(C(s.target)), { recursive: true, verbatimSymlinks: true });
    fs.writeFileSync(path.join(backupName(C(s.target)), 'config'), `${made}# older\n`);
    fs.writeFileSync(path.join(s.target, JOURNAL_NAME), JSON.stringify({ version: 1, state: 'commit', entries: [{ dest: C(s.target), staged: stagedName(C(s.target)), backup: backupName(C(s.target)), existed: true, tree: true }], createdDirs: [] }));
    const dead = (await execa('true')).pid!;
    fs.writeFileSync(path.join(s.target, '.thunderbox.lock'), `${dead}\n`);
    // and the temporary file of a journal write it was killed in
    fs.writeFileSync(path.join(s.target, `..thunderbox.journal.tbx-tmp-${dead}-0badf00d`), '{');
    const r = await tbx(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('recovered: an interrupted earlier run was rolled back first');
    // planned after the roll-back: the older container is what it found, so it replaced it
    expect(r.stdout).toMatch(/OCDM: replaced /);
    expect(fs.readFileSync(config, 'utf8')).toBe(made);
    expect(fs.readdirSync(s.target).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(fs.readdirSync(path.join(s.target, 'usr/share/Thunder/OCDM'))).toEqual(['Container']);
    const again = await tbx(args);
    expect(again.stdout).toContain('nothing to do');
    expect(again.stdout).not.toContain('recovered');
  });

  it('a run killed before its first journal write: the next one puts the root\'s time back from the lock', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const args = ['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '-q'];
    expect((await tbx(args)).code).toBe(0);
    fs.utimesSync(s.target, 1600000000, 1600000000);
    // what such a run leaves: its lock (which changed the root's mtime), with the times from before
    const dead = (await execa('true')).pid!;
    fs.writeFileSync(path.join(s.target, '.thunderbox.lock'), `${dead}\nroot-times 1600000000 1600000000\n`);
    expect(fs.statSync(s.target).mtimeMs).not.toBe(1600000000000);
    expect((await tbx(args)).code).toBe(0);
    expect(fs.readdirSync(s.target).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(fs.statSync(s.target).mtimeMs).toBe(1600000000000);
  });

  it('a full disk (ENOSPC) fails cleanly', async () => {
    const { dir, archive } = await preparedSample();
    const small = path.join(dir, 'small');
    fs.mkdirSync(small);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tbx-enospc', small]);
    try {
      writeSample(small, 1700000000);
      const t = path.join(small, 'target');
      expect((await tbx(['prepare', '--no-doctor', 'OCDM', path.join(small, 'rootfs.tar'), '--target', t, '-q'])).code).toBe(0);
      const before = comparable(t, { hash: true });
      const big = path.join(dir, 'big.tar');
      bigArchive(big, 200, 40_000); // 8 MB: does not fit
      const r = await tbx(['prepare', '--no-doctor', 'OCDM', big, '--target', t]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('error[DISK_FULL]');
      expect(comparable(t, { hash: true })).toEqual(before);
      expect(archive).toBeTruthy();
    } finally {
      await execa('umount', [small]);
    }
  });

  it('a lock stops a second run on the same root; a stale lock is taken over', async () => {
    const { target, archive } = await preparedSample();
    const lock = path.join(target, '.thunderbox.lock');
    fs.writeFileSync(lock, `${process.pid}\n`); // a live process holds it
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error[LOCKED]: another thunderbox run (pid ${process.pid}) is working on ${target}`);
    // an empty lock: another run between its open() and its write(); its pid comes 300 ms later
    fs.writeFileSync(lock, '');
    const timer = setTimeout(() => fs.writeFileSync(lock, `${process.pid}\n`), 300);
    const r1 = await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', target]);
    clearTimeout(timer);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toContain(`error[LOCKED]: another thunderbox run (pid ${process.pid})`);
    fs.writeFileSync(lock, '999999999\n'); // no such process
    const r2 = await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', target, '-q']);
    expect(r2.code).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);
    // an empty lock that stays empty: a run killed between open() and write(), taken over
    fs.writeFileSync(lock, '');
    const r3 = await tbx(['prepare', '--no-doctor', 'OCDM', archive, '--target', target, '-q', '--force']);
    expect(r3.code).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('two runs at once on one root: one works, the other is refused, the result is whole', async () => {
    const { dir, target } = await preparedSample();
    const big = path.join(dir, 'big.tar');
    bigArchive(big, 1500); // about a second of work: the two runs overlap
    const [a, b] = await Promise.all([tbx(['prepare', '--no-doctor', 'OCDM', big, '--target', target, '-q']), tbx(['prepare', '--no-doctor', 'OCDM', big, '--target', target, '-q'])]);
    expect([a.code, b.code].sort()).toEqual([0, 1]);
    expect([a.stderr, b.stderr].join('')).toContain('error[LOCKED]');
    expect(fs.readdirSync(path.join(C(target), 'rootfs')).length).toBe(34); // d0..d29, proc, sys, dev, tmp
  });

  it.each(['staging', 'commit', 'done'] as const)('recovery from a journal left in state "%s"', (state) => {
    const root = tmpDir();
    const dest = path.join(root, 'tree');
    const file = path.join(root, 'file');
    fs.mkdirSync(dest);
    fs.writeFileSync(path.join(dest, 'old'), 'old tree');
    fs.writeFileSync(file, 'old file');
    const entries = [
      { dest, staged: stagedName(dest), backup: backupName(dest), existed: true, tree: true },
      { dest: file, staged: stagedName(file), backup: backupName(file), existed: true, tree: false },
      { dest: path.join(root, 'new'), staged: stagedName(path.join(root, 'new')), backup: backupName(path.join(root, 'new')), existed: false, tree: false },
    ];
    fs.mkdirSync(entries[0]!.staged);
    fs.writeFileSync(entries[1]!.staged, 'new file');
    fs.writeFileSync(entries[2]!.staged, 'new');
    if (state !== 'staging') {
      // killed between the two renames of the tree, after the file was committed
      fs.renameSync(dest, entries[0]!.backup);
      fs.linkSync(file, entries[1]!.backup);
      fs.renameSync(entries[1]!.staged, file);
      fs.renameSync(entries[2]!.staged, entries[2]!.dest);
    }
    if (state === 'done') fs.renameSync(entries[0]!.staged, dest);
    fs.writeFileSync(path.join(root, JOURNAL_NAME), JSON.stringify({ version: 1, state, entries, createdDirs: [] }));
    expect(recover(root)).toBe(true);
    if (state === 'done') {
      expect(fs.readFileSync(file, 'utf8')).toBe('new file');
      expect(fs.readdirSync(dest)).toEqual([]);
    } else {
      expect(fs.readFileSync(path.join(dest, 'old'), 'utf8')).toBe('old tree');
      expect(fs.readFileSync(file, 'utf8')).toBe('old file');
      expect(fs.existsSync(path.join(root, 'new'))).toBe(false);
    }
    expect(fs.readdirSync(root).sort()).toEqual(state === 'done' ? ['file', 'new', 'tree'] : ['file', 'tree']);
  });

  it.each([
    ['default: device nodes left out', [], false],
    ['--keep-devices: device nodes listed', ['--keep-devices'], true],
  ] as const)('as a normal user: ownership goes to a Buildroot permission table (%s)', async (_n, flags, devices) => {
    const dir = tmpDir();
    writeArchive(path.join(dir, 'rootfs.tar'), [
      { path: './', type: 'Directory' },
      { path: 'bin', type: 'Directory' },
      { path: 'bin/su', type: 'File', mode: 0o4755, data: 'x' },
      { path: 'bin/sh', type: 'SymbolicLink', linkpath: 'su' },
      { path: 'home', type: 'Directory' },
      { path: 'home/user', type: 'Directory', mode: 0o700, uid: 1000, gid: 1000 },
      { path: 'dev', type: 'Directory' },
      { path: 'dev/console', type: 'CharacterDevice', mode: 0o600, devmaj: 5, devmin: 1 },
      { path: 'dev/fifo', type: 'FIFO', mode: 0o644 },
    ]);
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    fs.chownSync(target, 65534, 65534);
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, publicBin(), 'prepare', '--no-doctor', 'OCDM', path.join(dir, 'rootfs.tar'), '--target', target, '--no-plugin-json', ...flags], { reject: false, env: { HOME: '/nonexistent' } });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(devices ? '1 device nodes recorded in device_table.txt' : '1 device nodes left out');
    const c = C(target);
    expect(fs.statSync(path.join(c, 'rootfs/bin/su')).uid).toBe(65534); // not chowned
    expect(fs.statSync(path.join(c, 'rootfs/bin/su')).mode & 0o7777).toBe(0o4755);
    expect(fs.existsSync(path.join(c, 'rootfs/dev/console'))).toBe(false); // needs root
    const table = fs.readFileSync(path.join(c, 'device_table.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    const R = '/usr/share/Thunder/OCDM/Container/rootfs';
    expect(table).toEqual([
      `${R} d 755 100000 100000 - - - - -`,
      `${R}/bin d 755 100000 100000 - - - - -`,
      `${R}/bin/su f 4755 100000 100000 - - - - -`,
      `${R}/dev d 755 100000 100000 - - - - -`,
      ...(devices ? [`${R}/dev/console c 600 100000 100000 5 1 0 0 -`] : []),
      `${R}/dev/fifo p 644 100000 100000 - - - - -`,
      `${R}/home d 755 100000 100000 - - - - -`,
      `${R}/home/user d 700 101000 101000 - - - - -`,
      `${R}/proc d 555 100000 100000 - - - - -`,
      `${R}/sys d 555 100000 100000 - - - - -`,
      `${R}/tmp d 1777 100000 100000 - - - - -`,
    ]);
  });
});

describe('the doctor\'s verdict in the stamp', () => {
  /** A sample prepared, then prepared again, and the tree (hashed) as those clean runs leave it. */
  async function preparedTwice() {
    const s = writeSample(tmpDir(), 1700000000);
    const env = { MESSAGE_DISPATCHER_CONFIG: 'x', SOURCE_DATE_EPOCH: '1700000000' };
    const args = ['prepare', 'OCDM', s.archive, '--target', s.target, '-q'];
    expect((await tbx(args, { env })).code).toBe(0);
    expect((await tbx(args, { env })).code).toBe(0);
    return { s, env, args, clean: comparable(s.target, { hash: true }) };
  }

  // The last write of a prepare: the doctor ran on the tree in place, and its verdict goes into
  // thunderbox.stamp. strace's fault injection kills the run at exactly that syscall (-P limits
  // it to the syscalls whose first path is the one given): the commit's link of the old stamp
  // aside, or the rename of the new one into its place.
  it.each(['link', 'rename'] as const)('a run killed at the %s of the stamp: the next run leaves the tree a clean run leaves', async (syscall) => {
    const { s, env, args, clean } = await preparedTwice();
    const stamp = path.join(C(s.target), 'thunderbox.stamp');
    expect(JSON.parse(fs.readFileSync(stamp, 'utf8'))).toHaveProperty('doctor');
    const calls = syscall === 'link' ? 'link,linkat' : 'rename,renameat,renameat2';
    const first = syscall === 'link' ? stamp : stagedName(stamp);
    const killed = await execa('strace', ['-f', '-qq', '-o', '/dev/null', '-P', first, '-e', `trace=${calls}`, '-e', `inject=${calls}:signal=SIGKILL:when=1`, process.execPath, BIN, ...args, '--force'], { reject: false, env });
    expect(killed.exitCode === 137 || killed.signal === 'SIGKILL').toBe(true);
    expect(fs.existsSync(path.join(s.target, '.thunderbox.lock'))).toBe(true);
    const again = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('recovered: an interrupted earlier run was rolled back first');
    expect(again.stdout).toContain('OCDM: doctor: no problems found');
    expect(comparable(s.target, { hash: true })).toEqual(clean);
  });

  // versions before the stamp's write went into the transaction wrote it in place with
  // writeFileAtomic: killed there, they left Container/.thunderbox.stamp.tbx-tmp-PID-RANDOM
  it('a stray stamp temporary an older version left: the next run makes the container again, as a clean run does', async () => {
    const { s, env, args, clean } = await preparedTwice();
    const stray = path.join(C(s.target), '.thunderbox.stamp.tbx-tmp-4242-0badf00d');
    fs.writeFileSync(stray, '{"fingerprint":');
    const again = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('nothing to do');
    expect(fs.existsSync(stray)).toBe(false);
    expect(comparable(s.target, { hash: true })).toEqual(clean);
    expect((await tbx(['prepare', 'OCDM', s.archive, '--target', s.target], { env })).stdout).toContain('nothing to do');
  });
});
