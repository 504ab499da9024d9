import fs from 'node:fs';
import path from 'node:path';
import { fail } from './errors.js';
import { lstatOrNull } from './fsutil.js';

// A path on the device, resolved inside the image root the way the device will see it:
// symlinks in the image are followed as if the root were '/', so an absolute link such as
// usr/share -> /data/share stays inside the image and '..' never climbs above the root.
// This is what keeps every write of thunderbox under --target.

const MAX_LINKS = 40;

export function resolveInTarget(target: string, devicePath: string): string {
  const root = path.resolve(target);
  const pending = devicePath.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = path.join(root, ...done, part);
    const st = lstatOrNull(host);
    if (st?.isSymbolicLink()) {
      if (++links > MAX_LINKS) fail('TARGET_SYMLINK_LOOP', `too many symbolic links resolving ${devicePath} in ${root}`, 'fix the symlink loop in the image');
      const to = fs.readlinkSync(host);
      if (to.startsWith('/')) done.length = 0;
      pending.unshift(...to.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return path.join(root, ...done);
}
