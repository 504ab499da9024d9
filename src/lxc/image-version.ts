import fs from 'node:fs';
import path from 'node:path';
import { resolveInTargetOrNull } from '../core/target-path.js';
import type { LxcVersion } from './keys.js';

// The LXC release an image carries, from its liblxc: the library holds its version as a string
// (LXC_VERSION, e.g. "5.0.2" in Debian 12's liblxc.so.1.7.0, "6.0.4" in LXC 6's). The doctor
// checks a config against that release's grammar unless told otherwise (--lxc-version).

const LIB_DIRS = ['/usr/lib', '/lib', '/usr/lib64', '/lib64'];
const READ_LIMIT = 16 * 1024 * 1024;

export interface ImageLxc {
  /** the release as the library says it, e.g. "5.0.2" */
  version: string;
  /** the grammar the checks know: LXC 3 and 4 read configs as 5 does */
  grammar: LxcVersion;
  /** device path of the library */
  file: string;
}

function candidates(target: string): { device: string; host: string }[] {
  const out: { device: string; host: string }[] = [];
  for (const d of LIB_DIRS) {
    const host = resolveInTargetOrNull(target, d);
    if (!host) continue;
    let names: string[];
    try {
      names = fs.readdirSync(host);
    } catch {
      continue;
    }
    const dirs = [{ device: d, host, names }];
    // Debian-style multiarch directories (usr/lib/<triplet>)
    for (const n of names) if (/^[a-z0-9_]+-linux-gnu[a-z]*$/.test(n)) {
      try {
        dirs.push({ device: `${d}/${n}`, host: path.join(host, n), names: fs.readdirSync(path.join(host, n)) });
      } catch {
        // unreadable: skipped
      }
    }
    for (const x of dirs) for (const n of x.names.filter((f) => /^liblxc\.so/.test(f)).sort()) out.push({ device: `${x.device}/${n}`, host: path.join(x.host, n) });
  }
  return out;
}

/** The image's LXC release, or null when it has no liblxc that says one. */
export function imageLxcVersion(target: string): ImageLxc | null {
  for (const c of candidates(target)) {
    let buf: Buffer;
    try {
      const st = fs.statSync(c.host);
      if (!st.isFile() || st.size > READ_LIMIT) continue;
      buf = fs.readFileSync(c.host);
    } catch {
      continue;
    }
    // NUL-terminated strings of the form MAJOR.MINOR.PATCH, LXC's majors
    for (const m of buf.toString('latin1').matchAll(/\0([3-9])\.(\d{1,2})\.(\d{1,3})(?:~[a-z0-9]+)?\0/g)) {
      const major = Number(m[1]);
      return { version: `${m[1]}.${m[2]}.${m[3]}`, grammar: (major <= 5 ? 5 : major >= 7 ? 7 : 6) as LxcVersion, file: c.device };
    }
  }
  return null;
}
