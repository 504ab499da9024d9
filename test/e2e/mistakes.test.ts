import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeSample } from '../../src/thunder/sample.js';
import { tbx } from '../helpers/cli.js';
import { publicBin } from '../helpers/public-repo.js';
import { snapshot } from '../helpers/tree.js';
import { tmpDir } from '../helpers/tmp.js';

// Ordinary mistakes (issue 14): each one a coded error naming the path and the fix, the right
// exit status, and nothing written.

const EPOCH = 1700000000;

describe('an image root thunderbox cannot write', () => {
  it('read-only (EROFS): READ_ONLY_FS naming the root and the fix, exit 1, nothing written', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    await execa('mount', ['--bind', s.target, ro]);
    try {
      await execa('mount', ['-o', 'remount,bind,ro', ro]);
      const before = snapshot(s.target, { hash: true });
      const r = await tbx(['prepare', 'OCDM', s.archive, '--target', ro]);
      expect(r.stderr).not.toContain('internal error');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${ro}: error[READ_ONLY_FS]: the image root ${ro} is on a read-only filesystem`);
      expect(r.stderr).toContain('hint: remount it read-write');
      expect(snapshot(s.target, { hash: true })).toEqual(before);
    } finally {
      await execa('umount', [ro]);
    }
  });

  it('not writable by this user (EACCES): PERMISSION_DENIED naming the root, its owner and the fix, exit 1, nothing written', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, EPOCH);
    const before = snapshot(s.target, { hash: true });
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, publicBin(), 'prepare', 'OCDM', s.archive, '--target', s.target], { reject: false, env: { HOME: '/nonexistent' } });
    expect(r.stderr).not.toContain('internal error');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`error[PERMISSION_DENIED]: the image root ${s.target}, owned by 0:0, mode 755, is not writable by this user (uid 65534; EACCES`);
    expect(r.stderr).toContain('hint: run as the user who owns it');
    expect(snapshot(s.target, { hash: true })).toEqual(before);
  });
});
