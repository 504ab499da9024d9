import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The nearest directory at or above `moduleUrl`'s directory for which `test` holds, or null.
 * thunderbox finds its package root (package.json, templates/, dist/, external.desc) this way,
 * bundled into a chunk or run from src/ alike.
 */
export function findUp(moduleUrl: string, test: (dir: string) => boolean): string | null {
  for (let dir = path.dirname(fileURLToPath(moduleUrl)); ; dir = path.dirname(dir)) {
    if (test(dir)) return dir;
    if (dir === path.dirname(dir)) return null;
  }
}
