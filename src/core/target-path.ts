import path from 'node:path';
import { ThunderboxError, fail } from './errors.js';
import { DirView, resolve } from '../rootfs/tree-view.js';

// A path on the device, resolved inside the image root the way the device will see it:
// symlinks in the image are followed as if the root were '/', so an absolute link such as
// usr/share -> /data/share stays inside the image and '..' never climbs above the root.
// This is what keeps every write of thunderbox under --target. What does not exist yet
// resolves to where it will be.

export function resolveInTarget(target: string, devicePath: string): string {
  const root = path.resolve(target);
  const r = resolve(new DirView(root), devicePath, true, true);
  if (r.rel === null) fail('TARGET_SYMLINK_LOOP', `too many symbolic links resolving ${devicePath} in ${root}`, 'fix the symlink loop in the image');
  return path.join(root, r.rel);
}

/** resolveInTarget, with a symlink loop in the image as null (for readers that report it themselves). */
export function resolveInTargetOrNull(target: string, devicePath: string): string | null {
  try {
    return resolveInTarget(target, devicePath);
  } catch (e) {
    if (e instanceof ThunderboxError) return null;
    throw e;
  }
}
