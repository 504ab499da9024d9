import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** thunderbox's own version, from its package.json (found upwards from this file, bundled or not). */
function readVersion(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'thunderbox' && pkg.version) return pkg.version;
    } catch {
      // not here
    }
    if (dir === path.dirname(dir)) return '0.0.0';
  }
}

export const VERSION: string = readVersion();
