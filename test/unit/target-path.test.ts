import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { resolveInTarget } from '../../src/core/target-path.js';
import { tmpDir } from '../helpers/tmp.js';

// A device path resolved inside the image root: whatever the image's links say, the result is
// under the root (this is what keeps every write of thunderbox under --target).

function image(): string {
  const t = tmpDir();
  fs.mkdirSync(path.join(t, 'usr'), { recursive: true });
  fs.mkdirSync(path.join(t, 'data/share'), { recursive: true });
  fs.symlinkSync('/data/share', path.join(t, 'usr/share')); // absolute: the image's /data/share
  fs.symlinkSync('../../../..', path.join(t, 'usr/up')); // climbs above the root
  fs.writeFileSync(path.join(t, 'usr/file'), 'x');
  fs.symlinkSync('loop-b', path.join(t, 'loop-a'));
  fs.symlinkSync('loop-a', path.join(t, 'loop-b'));
  return t;
}

describe('resolveInTarget', () => {
  it('follows the image\'s links as the device would, never out of the root', () => {
    const t = image();
    expect(resolveInTarget(t, '/usr/share/x')).toBe(path.join(t, 'data/share/x'));
    expect(resolveInTarget(t, '/usr/up/etc/passwd')).toBe(path.join(t, 'etc/passwd'));
    expect(resolveInTarget(t, '/../../etc/passwd')).toBe(path.join(t, 'etc/passwd'));
    expect(resolveInTarget(t, '/')).toBe(t);
  });

  it('a path that does not exist yet resolves to where it will be; after a ".." back into the image, links count again', () => {
    const t = image();
    expect(resolveInTarget(t, '/new/dir/file')).toBe(path.join(t, 'new/dir/file'));
    expect(resolveInTarget(t, '/missing/../usr/share/x')).toBe(path.join(t, 'data/share/x'));
    expect(resolveInTarget(t, '/usr/file/x')).toBe(path.join(t, 'usr/file/x'));
    expect(resolveInTarget(t, '/usr/file/../share/y')).toBe(path.join(t, 'data/share/y'));
  });

  it('a symlink loop is an error naming the path', () => {
    const t = image();
    expect(() => resolveInTarget(t, '/loop-a/x')).toThrow(ThunderboxError);
    try {
      resolveInTarget(t, '/loop-a/x');
    } catch (e) {
      expect((e as ThunderboxError).diagnostics[0]!.code).toBe('TARGET_SYMLINK_LOOP');
    }
  });
});
