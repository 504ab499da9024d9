import { resolve, type TreeView } from '../../rootfs/tree-view.js';
import { neededRanges, parseSubids, type SubidRange } from '../../lxc/subids.js';
import type { Findings } from './findings.js';
import { pathDirs, type DeviceView } from './view.js';

// With an idmap, liblxc writes the container's uid and gid maps through newuidmap/newgidmap
// when it finds them on PATH with the privileges they need (setuid root, or file
// capabilities), even when it runs as root; otherwise it writes the maps itself. Measured with
// liblxc 5.0.2 and shadow's newuidmap: the image's /etc/passwd must name uid 0 ("Cannot
// determine your user name"), and /etc/subuid and /etc/subgid must give that user every mapped
// host range (by name or uid; several lines may add up to one range): otherwise "newuidmap
// failed to write mapping" and nothing starts. A map that includes host id 0 is written
// directly (subids.ts). File capabilities cannot be seen here, and Buildroot's TARGET_DIR holds
// shadow's newuidmap without its setuid bit (the permission table adds it in fakeroot): such a
// newuidmap, which liblxc passes over as it is, is a warning naming that assumption.

const TOOLS = { u: 'newuidmap', g: 'newgidmap' } as const;

/** The tool liblxc finds first on PATH, and whether it is setuid root on disk. */
function findTool(tree: TreeView, dirs: string[], name: string): { path: string; setuid: boolean } | null {
  for (const d of dirs) {
    const r = resolve(tree, `${d}/${name}`);
    const n = r.rel === null ? undefined : tree.get(r.rel);
    if (n?.kind === 'file') return { path: `${d}/${name}`, setuid: n.uid === 0 && (n.mode & 0o4000) !== 0 };
  }
  return null;
}

/** Do the lines for `users` cover [start, start+count)? */
function covered(have: { start: number; count: number }[], r: SubidRange): boolean {
  let at = r.start;
  const end = r.start + r.count;
  for (let moved = true; moved && at < end; ) {
    moved = false;
    for (const h of have) if (h.start <= at && h.start + h.count > at) { at = h.start + h.count; moved = true; }
  }
  return at >= end;
}

function read(tree: TreeView, p: string): string | null {
  const r = resolve(tree, p);
  if (r.rel === null) return null;
  return tree.read(r.rel, 1 << 20)?.toString('utf8') ?? null;
}

export function checkSubids(v: DeviceView, f: Findings): void {
  if (v.idmap.length === 0) return;
  const dirs = pathDirs(v.thunderEnv.PATH);
  for (const kind of ['u', 'g'] as const) {
    const found = findTool(v.image, dirs, TOOLS[kind]);
    if (!found) continue;
    const ranges = neededRanges([v.idmap], kind);
    if (ranges.length === 0) continue;
    const tool = found.path;
    // not setuid here: liblxc passes it over, unless the device gives it the bit or file
    // capabilities (Buildroot's shadow package does, through its permission table)
    const fatal = found.setuid;
    const report = (code: string, message: string, hint: string, where?: { file: string }) =>
      fatal ? f.error(code, message, hint, where) : f.warning(code, `${message.replace(' (setuid)', ' (not setuid in the image: if the device makes it setuid, or gives it file capabilities, as Buildroot\'s permission table for shadow does)')}`, hint, where);
    const passwd = read(v.image, '/etc/passwd') ?? '';
    const rootName = passwd.split('\n').map((l) => l.split(':')).find((x) => x[2] === '0')?.[0];
    if (!rootName) {
      report('SUBID_NO_ROOT_NAME', `the image has ${tool} (setuid), so liblxc maps the container's ids through it, and its /etc/passwd names no user with uid 0: "Cannot determine your user name", the start fails`, 'give the image an /etc/passwd with root (Buildroot\'s skeleton has one)');
      return;
    }
    const file = kind === 'u' ? '/etc/subuid' : '/etc/subgid';
    const have = parseSubids(read(v.image, file) ?? '').filter((e) => e.user === rootName || e.user === '0');
    const missing = ranges.filter((r) => !covered(have, r));
    if (missing.length) {
      const lines = missing.map((r) => `${rootName}:${r.start}:${r.count}`).join(', ');
      report('SUBID_MISSING', `the image has ${tool} (setuid), so liblxc maps the container's ${kind === 'u' ? 'uids' : 'gids'} through it, even as root, and the image's ${file} does not give ${rootName} ${missing.map((r) => `${r.start}-${r.start + r.count - 1}`).join(', ')}: "${TOOLS[kind]} failed to write mapping", the start fails`, `add ${lines} to ${file} in the image (thunderbox prepare does when it sees newuidmap)`, { file: `${v.target}${file}` });
    }
  }
}
