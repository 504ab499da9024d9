import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ThunderboxError, fail } from '../core/errors.js';
import { acquireLock } from '../core/lock.js';

// One start of a container (lxcpath + name) at a time on this host. liblxc's command socket is
// the abstract unix socket "@<lxcpath>/<name>/command", and abstract sockets belong to the
// network namespace, not the mount namespace: a second start of /usr/share/Thunder/OCDM/Container
// from another image, while the first runs, fails with "Container is already running" (measured).
// Starts in this process queue on a promise; other processes on a lock file (core/lock.ts, which
// takes over the lock of a process that died).

const queues = new Map<string, Promise<unknown>>();

export async function withStartLock<T>(lxcpath: string, name: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const key = createHash('sha256').update(`${lxcpath}\0${name}`).digest('hex').slice(0, 24);
  const before = queues.get(key) ?? Promise.resolve();
  const mine = before.catch(() => undefined).then(() => underFileLock(key, `${lxcpath}/${name}`, waitMs, fn));
  queues.set(key, mine);
  try {
    return await mine;
  } finally {
    if (queues.get(key) === mine) queues.delete(key);
  }
}

/** One place per host, whatever TMPDIR says: /run/thunderbox (root), else the temp dir. */
function lockRoot(): string {
  const run = '/run/thunderbox/start-locks';
  try {
    fs.mkdirSync(run, { recursive: true, mode: 0o700 });
    return run;
  } catch {
    return path.join(os.tmpdir(), 'thunderbox-start-locks');
  }
}

async function underFileLock<T>(key: string, what: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const dir = path.join(lockRoot(), key);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const until = Date.now() + waitMs;
  for (;;) {
    let release: (() => void) | undefined;
    try {
      release = acquireLock(dir, what);
    } catch (err) {
      if (!(err instanceof ThunderboxError && err.code === 'LOCKED')) throw err;
      if (Date.now() > until) fail('CONTAINER_BUSY', `another thunderbox is starting ${what} on this host`, 'wait for it to finish: liblxc runs one container of that lxcpath and name at a time');
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
