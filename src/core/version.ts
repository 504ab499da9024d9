import fs from 'node:fs';
import path from 'node:path';
import { findUp } from './find-up.js';

/** thunderbox's own version, from its package.json (found upwards from this file, bundled or not). */
function readVersion(): string {
  let version = '0.0.0';
  findUp(import.meta.url, (dir) => {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'thunderbox' && pkg.version) version = pkg.version;
    } catch {
      // not here
    }
    return version !== '0.0.0';
  });
  return version;
}

export const VERSION: string = readVersion();
