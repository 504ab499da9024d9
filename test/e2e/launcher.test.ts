import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

// bin/thunderbox.js compiles dist/cli/main.cjs with the V8 code cache that `npm run build` made
// (scripts/build.mjs). What matters: the cache is really used, and never runs stale code.

const BUNDLE = path.join(REPO, 'dist', 'cli', 'main.cjs');

/** A copy of the built CLI (bin/, dist/, package.json) that a test may change. */
function copyCli(): string {
  const dir = tmpDir();
  for (const p of ['bin', 'dist', 'package.json']) fs.cpSync(path.join(REPO, p), path.join(dir, p), { recursive: true, preserveTimestamps: true });
  return dir;
}

const help = async (dir: string) => (await execa(process.execPath, [path.join(dir, 'bin', 'thunderbox.js'), '--help'])).stdout;

describe('launcher', () => {
  it('V8 accepts the code cache the build made for this Node', async () => {
    // a process of its own: V8 rejects a cache made under other V8 flags, and the test runner's may differ
    const probe = `
      const fs = require('node:fs'), vm = require('node:vm');
      const src = fs.readFileSync(${JSON.stringify(BUNDLE)}, 'latin1');
      const s = new vm.Script('(function (exports, require, module, __filename, __dirname) {' + src + '\\n})', { filename: ${JSON.stringify(BUNDLE)}, cachedData: fs.readFileSync(${JSON.stringify(BUNDLE + '.v8')}).subarray(32) });
      process.stdout.write(String(s.cachedDataRejected));`;
    const r = await execa(process.execPath, ['-e', probe]);
    expect(r.stdout).toBe('false');
    expect(fs.statSync(BUNDLE + '.v8').size).toBeGreaterThan(10_000);
  });

  it('a bundle changed after the build runs as changed, not from the cache', async () => {
    const dir = copyCli();
    const bundle = path.join(dir, 'dist', 'cli', 'main.cjs');
    const text = 'Prepare Thunder (WPEFramework) plugin LXC containers';
    expect(await help(dir)).toContain(text);
    // same length: V8's own check (the source's length) cannot tell the two apart; and the same
    // mtimes on both files, as npm pack gives them
    const changed = fs.readFileSync(bundle, 'latin1').replace(text, text.toUpperCase());
    fs.writeFileSync(bundle, changed, 'latin1');
    const packed = new Date('1985-10-26T08:15:00Z');
    for (const f of [bundle, `${bundle}.v8`]) fs.utimesSync(f, packed, packed);
    expect(await help(dir)).toContain(text.toUpperCase());
  });

  it('runs without the cache, and with a damaged one', async () => {
    const dir = copyCli();
    const cache = path.join(dir, 'dist', 'cli', 'main.cjs.v8');
    const good = fs.readFileSync(cache);
    // bytes flipped inside V8's payload: V8 would abort the process on some; the digest keeps it out
    const flipped = Buffer.from(good);
    for (let i = 0; i < 64; i++) flipped[1000 + i * 97] ^= 0xff;
    for (const damaged of [good.subarray(0, 64), Buffer.from('not a code cache'), Buffer.alloc(good.length, 0xa5), flipped]) {
      fs.writeFileSync(cache, damaged);
      expect(await help(dir)).toContain('Usage: thunderbox');
    }
    fs.rmSync(cache);
    const r = await execa(process.execPath, [path.join(dir, 'bin', 'thunderbox.js'), 'demo', '--dir', path.join(dir, 'demo')]);
    expect(r.stdout).toContain('lxc.rootfs.path = dir:/usr/share/Thunder/OCDM/Container/rootfs');
  });

  it('says what to do when the CLI is not built', async () => {
    const dir = copyCli();
    fs.rmSync(path.join(dir, 'dist'), { recursive: true });
    const r = await execa(process.execPath, [path.join(dir, 'bin', 'thunderbox.js'), '--help'], { reject: false });
    expect(r.exitCode).toBe(70);
    expect(r.stderr).toBe('thunderbox: not built yet; run `npm run build` first');
  });
});
