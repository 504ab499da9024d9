import fs from 'node:fs';
import path from 'node:path';
import { readTextFile } from '../core/read-text.js';
import { resolveInTargetOrNull } from '../core/target-path.js';
import { parseConfig } from './document.js';

/**
 * A config file and every file its lxc.include lines bring in, in LXC's order (a directory: its
 * *.conf files, sorted), each once. Include paths are the device's, resolved inside the image,
 * a directory's members too (a symlinked member is followed there, never on the build host); one
 * that cannot be resolved (a symlink loop) or read (not a regular file, over 1 MiB) is passed
 * over. `onInclude` gets each include
 * as found in the image (a directory too).
 */
export function includedConfigs(target: string, file: string, text: string, onInclude?: (host: string) => void, seen = new Set<string>()): { file: string; text: string }[] {
  if (seen.has(file)) return [];
  seen.add(file);
  const out = [{ file, text }];
  for (const l of parseConfig(text, file).doc.lines) {
    if (l.kind !== 'entry' || l.key !== 'lxc.include' || !l.value?.startsWith('/')) continue;
    const inc = resolveInTargetOrNull(target, l.value);
    if (inc === null) continue;
    onInclude?.(inc);
    const st = fs.lstatSync(inc, { throwIfNoEntry: false });
    const devicePaths = st?.isDirectory() ? fs.readdirSync(inc).filter((n) => n.endsWith('.conf')).sort().map((n) => path.posix.join(l.value!, n)) : [l.value];
    for (const dp of devicePaths) {
      const f = resolveInTargetOrNull(target, dp);
      if (f === null || !fs.lstatSync(f, { throwIfNoEntry: false })?.isFile()) continue;
      const r = readTextFile(f);
      if (r.ok) out.push(...includedConfigs(target, f, r.text, onInclude, seen));
    }
  }
  return out;
}
