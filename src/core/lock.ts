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

/**
 * The pid in a lock file. An empty one is another run between its open() and its write():
 * read again for up to a second before taking it as the lock of a run that died there.
 */
function readOwner(file: string): number {
  for (let i = 0; ; i++) {
    const text = fs.readFileSync(file, 'utf8');
    if (text !== '' || i === 20) return Number.parseInt(text, 10);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

/**
 * One run per root. The lock file holds the owner's pid; a lock whose owner is gone
 * (killed run) is taken over, and the caller then recovers that run's journal.
 */
export function acquireLock(root: string): () => void {
  const file = path.join(root, LOCK_NAME);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
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
    fs.rmSync(file, { force: true });
  }
  fail('LOCKED', `could not take the lock ${file}`, 'retry; if it persists, remove the file', { file });
}
