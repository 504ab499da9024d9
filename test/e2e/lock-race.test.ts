import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

// The lock under real concurrency: separate processes started together on a root whose lock is
// stale (its owner is gone). Each that gets the lock holds it a while and counts the holders.

describe('lock', () => {
  it('of runs that all find a stale lock, one at a time holds it', async () => {
    const dir = tmpDir();
    const harness = path.join(dir, 'harness.mjs');
    await build({
      stdin: {
        contents: `
          import fs from 'node:fs';
          import { acquireLock } from './src/core/lock.ts';
          const [root, start] = process.argv.slice(2);
          while (Date.now() < Number(start)) {} // all at once
          let release;
          try { release = acquireLock(root); } catch { process.exit(0); }
          const me = root + '/held-' + process.pid;
          fs.writeFileSync(me, '');
          const t = Date.now(); while (Date.now() - t < 150) {}
          const holders = fs.readdirSync(root).filter((n) => n.startsWith('held-')).length;
          fs.rmSync(me);
          release();
          process.stdout.write(String(holders));`,
        resolveDir: REPO,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: harness,
      logLevel: 'error',
    });
    for (let round = 0; round < 8; round++) {
      const root = path.join(dir, `r${round}`);
      fs.mkdirSync(root);
      fs.writeFileSync(path.join(root, '.thunderbox.lock'), '999999999\n'); // no such process
      const start = String(Date.now() + 400);
      const runs = await Promise.all(Array.from({ length: 4 }, () => execa(process.execPath, [harness, root, start])));
      const held = runs.map((r) => r.stdout).filter((o) => o !== '');
      expect(held.length, `round ${round}`).toBeGreaterThanOrEqual(1);
      expect(held.every((n) => n === '1'), `round ${round}: holders seen ${held.join(',')}`).toBe(true);
      expect(fs.readdirSync(root)).toEqual([]); // no lock, no takeover file left
    }
  });
});
