import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { REPO } from './cli.js';

// Tests that run thunderbox as a normal user (setpriv) need a checkout that user can reach.
// A checkout in /root/... (0700) is not: then the parts a run reads (the launcher, the build,
// the templates, the board scripts and the tree Buildroot loads) are copied once per test file
// to a world-readable temporary directory, removed after the file's tests.

const PARTS = ['bin', 'dist', 'templates', 'board', 'overlays', 'defconfigs', 'configs', 'package.json', 'external.desc', 'external.mk', 'Config.in'];

let copy: string | undefined;

/** Whether every directory above `p` lets others through. */
export function reachableByOthers(p: string): boolean {
  for (let d = path.resolve(p); ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

/** The repository, or a world-readable copy of what a run needs when other users cannot reach it. */
export function publicRepo(): string {
  if (reachableByOthers(REPO)) return REPO;
  if (copy) return copy;
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tbx-public-repo-'));
  fs.chmodSync(d, 0o755);
  for (const part of PARTS) {
    const from = path.join(REPO, part);
    if (fs.lstatSync(from, { throwIfNoEntry: false })) fs.cpSync(from, path.join(d, part), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
  copy = d;
  return d;
}

/** bin/thunderbox.js in publicRepo(). */
export function publicBin(): string {
  return path.join(publicRepo(), 'bin', 'thunderbox.js');
}

afterAll(() => {
  if (copy) fs.rmSync(copy, { recursive: true, force: true });
  copy = undefined;
});
