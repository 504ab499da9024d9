import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ThunderboxError } from '../core/errors.js';
import { resolveInTarget } from '../core/target-path.js';
import { entries, parseConfig } from '../lxc/document.js';
import { fstabUnescape, mountFields } from '../lxc/mount-entry.js';
import { pluginJsonCandidates } from './layout.js';

// What the doctor reads from the image outside the container tree, as one signature: the files
// the config includes (and theirs), the seccomp profiles they name, the mount sources, the
// plugin JSON and the image's own programs that tell its architecture. `prepare` keeps the
// signature with the doctor's verdict, and checks an unchanged container again when it differs
// (the image lost its LXC configuration, a mount source went away, ...). Cheap: a few small
// reads and stats, no rootfs walk.

/** The image's programs the doctor reads the device's architecture from. */
export const TARGET_PROBES = ['/usr/bin/WPEFramework', '/usr/bin/Thunder', '/bin/busybox', '/bin/sh', '/sbin/init', '/usr/bin/env'];

/** A file as the doctor sees it, by its path in the image: reproducible (no inode, no mtime), so two images made from the same inputs get the same stamp. */
function describe(target: string, file: string): string {
  const rel = path.relative(target, file);
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!st) return `${rel} -`;
  const own = `${st.mode.toString(8)} ${st.uid}:${st.gid}`;
  if (st.isDirectory()) return `${rel} d ${own} [${fs.readdirSync(file).sort().join('/')}]`;
  if (st.isSymbolicLink()) return `${rel} l ${fs.readlinkSync(file)}`;
  const small = st.isFile() && st.size <= 256 << 10; // configuration files; a program is known by its size
  return `${rel} f ${own} ${st.size}${small ? ` ${createHash('sha256').update(fs.readFileSync(file)).digest('hex')}` : ''}`;
}

/** resolveInTarget, with a symlink loop in the image as null (the doctor reports it). */
export function inImage(target: string, p: string): string | null {
  try {
    return resolveInTarget(target, p);
  } catch (e) {
    if (e instanceof ThunderboxError) return null;
    throw e;
  }
}

export function doctorInputs(target: string, containerDir: string, callsign: string): string {
  const files = new Set<string>();
  const configs = [path.join(containerDir, 'config')];
  const seen = new Set<string>();
  while (configs.length && seen.size < 64) {
    const file = configs.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const l of entries(parseConfig(text, file).doc)) {
      const v = l.value ?? '';
      if (!v.startsWith('/') && l.key !== 'lxc.mount.entry') continue;
      if (l.key === 'lxc.include') {
        const host = inImage(target, v);
        if (host === null) continue;
        files.add(host);
        if (fs.statSync(host, { throwIfNoEntry: false })?.isDirectory()) {
          for (const n of fs.readdirSync(host).filter((x) => x.endsWith('.conf')).sort()) configs.push(path.join(host, n));
        } else configs.push(host);
      } else if (l.key === 'lxc.seccomp.profile' || l.key === 'lxc.mount.entry') {
        const src = l.key === 'lxc.seccomp.profile' ? v : fstabUnescape(mountFields(v)[0]!);
        const host = src.startsWith('/') ? inImage(target, src) : null;
        if (host !== null) files.add(host);
      }
    }
  }
  for (const p of [...pluginJsonCandidates('', callsign), ...TARGET_PROBES]) {
    const host = inImage(target, p);
    if (host !== null) files.add(host);
  }
  const h = createHash('sha256');
  for (const f of [...files].sort()) h.update(describe(target, f) + '\n');
  return h.digest('hex');
}
