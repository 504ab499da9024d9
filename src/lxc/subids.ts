import fs from 'node:fs';
import type { FileOp, KeepOp } from '../core/plan.js';
import { resolveInTarget } from '../core/target-path.js';
import type { IdKind, IdMapLine } from './idmap.js';

// /etc/subuid and /etc/subgid (shadow's subordinate ids): `user:start:count` per line.
// When newuidmap/newgidmap are installed, liblxc writes the maps through them, even as root,
// and they refuse any host range the files do not give to the user. A map that includes host
// id 0 is written directly instead (liblxc's lxc_map_ids), so it needs no lines.

export interface SubidRange {
  start: number;
  count: number;
}

export function parseSubids(text: string): { user: string; start: number; count: number }[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(':'))
    .filter((f) => f.length === 3 && /^\d+$/.test(f[1]!) && /^\d+$/.test(f[2]!))
    .map((f) => ({ user: f[0]!, start: Number(f[1]), count: Number(f[2]) }));
}

/** Host ranges of one kind that the user must be given. */
export function neededRanges(maps: readonly IdMapLine[][], kind: IdKind): SubidRange[] {
  const out: SubidRange[] = [];
  for (const map of maps) {
    const lines = map.filter((l) => l.kind === kind);
    if (lines.some((l) => l.hostid === 0)) continue;
    for (const l of lines) if (!out.some((r) => r.start === l.hostid && r.count === l.range)) out.push({ start: l.hostid, count: l.range });
  }
  return out;
}

/** The ranges `text` does not give to any of `users`. */
export function missingRanges(text: string, users: string[], ranges: SubidRange[]): SubidRange[] {
  const have = parseSubids(text).filter((e) => users.includes(e.user));
  return ranges.filter((r) => !have.some((h) => r.start >= h.start && r.start + r.count <= h.start + h.count));
}

/** `text` with a line per missing range appended; every other line stays. */
export function withRanges(text: string, user: string, missing: SubidRange[]): string {
  if (missing.length === 0) return text;
  const base = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return base + missing.map((r) => `${user}:${r.start}:${r.count}\n`).join('');
}

const NEWUIDMAP = ['/usr/bin/newuidmap', '/bin/newuidmap', '/usr/sbin/newuidmap', '/sbin/newuidmap'];

/**
 * For the image: when it has newuidmap, the lines root needs in its /etc/subuid and
 * /etc/subgid (Thunder, as root, starts the containers), as edits of those files.
 */
export function subidEdits(target: string, maps: IdMapLine[][], mtime: number): (FileOp | KeepOp)[] {
  if (maps.every((m) => m.length === 0)) return [];
  if (!NEWUIDMAP.some((p) => fs.existsSync(resolveInTarget(target, p)))) return [];
  const out: (FileOp | KeepOp)[] = [];
  for (const kind of ['u', 'g'] as const) {
    const file = resolveInTarget(target, subidFile(kind));
    const st = fs.statSync(file, { throwIfNoEntry: false });
    const before = st ? fs.readFileSync(file, 'utf8') : null;
    const missing = missingRanges(before ?? '', ['root', '0'], neededRanges(maps, kind));
    if (missing.length === 0) {
      out.push({ kind: 'keep', path: file, reason: `root already has the ${kind === 'u' ? 'uid' : 'gid'} ranges the idmaps need` });
      continue;
    }
    out.push({
      kind: 'file',
      path: file,
      reason: `the image has newuidmap, so liblxc needs root's ranges here: add ${missing.map((r) => `root:${r.start}:${r.count}`).join(', ')}`,
      before,
      after: withRanges(before ?? '', 'root', missing),
      mode: st ? st.mode & 0o7777 : 0o644,
      uid: st?.uid ?? 0,
      gid: st?.gid ?? 0,
      mtime,
    });
  }
  return out;
}

/** /etc/subuid or /etc/subgid (a device path, or this host's file). */
export function subidFile(kind: IdKind): string {
  return kind === 'u' ? '/etc/subuid' : '/etc/subgid';
}
