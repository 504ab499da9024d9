import fs from 'node:fs';
import path from 'node:path';
import { errnoCode, fail } from './errors.js';

export const LOCK_NAME = '.thunderbox.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * The pid in a lock file. An empty one is another run between its open() and its write():
 * read again for up to a second before taking it as the lock of a run that died there.
 */
function readOwner(file: string): number {
  for (let i = 0; ; i++) {
    const text = fs.readFileSync(file, 'utf8');
    if (text !== '' || i === 20) return Number.parseInt(text, 10);
    sleep(50);
  }
}

/**
 * Remove a stale lock (its owner `stale` is gone) under a second lock, so that of two runs that
 * both saw it stale only one removes it: the other would remove the fresh lock the first just
 * made. Returns false when another run is taking it over right now (try again). A takeover file
 * older than 10 s is from a run killed in these few lines.
 */
function takeOver(file: string, stale: number): boolean {
  const guard = `${file}.takeover`;
  try {
    fs.writeFileSync(guard, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
    const st = fs.lstatSync(guard, { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs > 10_000) fs.rmSync(guard, { force: true });
    return false;
  }
  try {
    let now: number;
    try {
      now = readOwner(file);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return true; // gone already: create it
      throw err;
    }
    // still the lock that was seen stale (not one another run made since)
    if (now === stale || (Number.isNaN(now) && Number.isNaN(stale))) fs.rmSync(file, { force: true });
    return true;
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

/**
 * The lock is the first thing a run writes into the root: a root it cannot write is named
 * here, with the fix, before anything else is touched. Anything else passes through.
 */
function refuseUnwritable(root: string, file: string, err: unknown): never {
  const code = errnoCode(err);
  if (code === 'EROFS') {
    fail('READ_ONLY_FS', `the image root ${root} is on a read-only filesystem (EROFS creating ${file}); nothing was changed`, `remount it read-write (mount -o remount,rw <mount point>), or copy the image root to a writable place and pass that as --target`, { file: root });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    const uid = process.getuid?.();
    let owner = '';
    try {
      const st = fs.statSync(root);
      owner = `, owned by ${st.uid}:${st.gid}, mode ${(st.mode & 0o7777).toString(8)},`;
    } catch {
      // the message stays without the owner
    }
    fail('PERMISSION_DENIED', `the image root ${root}${owner} is not writable by this user (uid ${uid}; ${code} creating ${file}); nothing was changed`, `run as the user who owns it (Buildroot: the building user) or as root, or give this user write access (chown ${uid} ${root})`, { file: root });
  }
  throw err;
}

/**
 * One run per root. The lock file holds the owner's pid (and the caller's note after it); a lock
 * whose owner is gone (killed run) is taken over, and the caller then recovers that run's journal.
 */
export function acquireLock(root: string, note = ''): () => void {
  const file = path.join(root, LOCK_NAME);
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      // one write: the pid on the first line, then what the caller wants a later run to know
      fs.writeSync(fd, `${process.pid}\n${note}`);
      fs.closeSync(fd);
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') refuseUnwritable(root, file, err);
    }
    let owner = NaN;
    try {
      owner = readOwner(file);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      fail('LOCKED', `another thunderbox run (pid ${owner}) is working on ${root}`, `wait for it to finish; if no such run exists, remove ${file}`, { file });
    }
    if (!takeOver(file, owner)) sleep(20);
  }
  fail('LOCKED', `could not take the lock ${file}`, 'retry; if it persists, remove the file', { file });
}
