import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

const made: string[] = [];

/** A fresh directory, removed after the test (also when it fails). Mode 0755: a container's mapped root must traverse it. */
export function tmpDir(prefix = 'tbx-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o755);
  made.push(d);
  return d;
}

afterEach(() => {
  for (const d of made.splice(0)) {
    spawnChmod(d);
    fs.rmSync(d, { recursive: true, force: true });
  }
});

function spawnChmod(d: string): void {
  // trees written as another user or with 0555 dirs: make them removable
  try {
    for (const ent of fs.readdirSync(d, { withFileTypes: true, recursive: true })) {
      if (ent.isDirectory()) fs.chmodSync(path.join(ent.parentPath, ent.name), 0o755);
    }
  } catch {
    // best effort
  }
}
