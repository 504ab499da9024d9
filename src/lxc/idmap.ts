import type { Diagnostic } from '../core/diagnostic.js';

// lxc.idmap = u|g <nsid> <hostid> <range>: container ids nsid..nsid+range-1 are host ids
// hostid..hostid+range-1. The kernel wants, per map: range > 0, no overlap on either side,
// at most 340 lines (since 4.15). liblxc wants container root (nsid 0) mapped for a rootfs.

export type IdKind = 'u' | 'g';

export interface IdMapLine {
  kind: IdKind;
  nsid: number;
  hostid: number;
  range: number;
}

export interface IdMapPlan {
  base: number;
  size: number;
  /** Container ids mapped 1:1 to the same host id (the wiki's shared-folder recipe). */
  share: { uid: number; gid: number }[];
}

export const DEFAULT_IDMAP: IdMapPlan = { base: 100000, size: 65536, share: [] };

/**
 * Hole-punched maps: 0..size-1 -> base.., except each shared id, mapped to itself.
 * The wiki's example (base 100000, size 65536, share 1000) gives
 * u 0 100000 1000 / u 1000 1000 1 / u 1001 101001 64535 (and the same for g).
 */
export function planIdmap(p: IdMapPlan): IdMapLine[] {
  const out: IdMapLine[] = [];
  for (const kind of ['u', 'g'] as const) {
    const holes = [...new Set(p.share.map((s) => (kind === 'u' ? s.uid : s.gid)))].filter((id) => id < p.size).sort((a, b) => a - b);
    let next = 0;
    for (const h of holes) {
      if (h > next) out.push({ kind, nsid: next, hostid: p.base + next, range: h - next });
      out.push({ kind, nsid: h, hostid: h, range: 1 });
      next = h + 1;
    }
    if (next < p.size) out.push({ kind, nsid: next, hostid: p.base + next, range: p.size - next });
  }
  // LXC convention (and the wiki): u then g for each segment
  return out.sort((a, b) => a.nsid - b.nsid || (a.kind === b.kind ? 0 : a.kind === 'u' ? -1 : 1));
}

export function formatIdmapLine(l: IdMapLine): string {
  return `${l.kind} ${l.nsid} ${l.hostid} ${l.range}`;
}

/** Parse the value of one lxc.idmap line the way liblxc's parse_idmaps() does. */
export function parseIdmapValue(value: string): IdMapLine | { error: string } {
  const fields = value.trim().split(/[ \t\r]+/);
  if (fields.length !== 4) return { error: `expected "u|g NSID HOSTID RANGE", got "${value}"` };
  const [kind, ...nums] = fields as [string, string, string, string];
  if (kind !== 'u' && kind !== 'g') return { error: `id mapping type must be u or g, got "${kind}"` };
  const vals: number[] = [];
  for (const n of nums) {
    if (!/^\d+$/.test(n)) return { error: `"${n}" is not an unsigned number` };
    vals.push(Number(n));
  }
  return { kind, nsid: vals[0]!, hostid: vals[1]!, range: vals[2]! };
}

/** Container id -> host id, or undefined when the map does not cover it. */
export function toHost(map: readonly IdMapLine[], kind: IdKind, id: number): number | undefined {
  for (const l of map) if (l.kind === kind && id >= l.nsid && id < l.nsid + l.range) return l.hostid + (id - l.nsid);
  return undefined;
}

/** Host id -> container id, or undefined. */
export function toContainer(map: readonly IdMapLine[], kind: IdKind, hostId: number): number | undefined {
  for (const l of map) if (l.kind === kind && hostId >= l.hostid && hostId < l.hostid + l.range) return l.nsid + (hostId - l.hostid);
  return undefined;
}

/** The semantic rules the kernel and liblxc apply at start time. */
export function checkIdmap(map: readonly IdMapLine[]): Omit<Diagnostic, 'file' | 'line' | 'col'>[] {
  const out: Omit<Diagnostic, 'file' | 'line' | 'col'>[] = [];
  for (const kind of ['u', 'g'] as const) {
    const lines = map.filter((l) => l.kind === kind);
    if (lines.length > 340) out.push({ code: 'IDMAP_TOO_MANY', severity: 'error', message: `${lines.length} ${kind} map lines; the kernel takes at most 340`, hint: 'merge adjacent ranges' });
    // the whole map in one write of less than a page (user_namespace.c map_write: count >= PAGE_SIZE is EINVAL; 4096 on the Pi)
    const bytes = lines.reduce((n, l) => n + `${l.nsid} ${l.hostid} ${l.range}\n`.length, 0);
    if (lines.length <= 340 && bytes >= 4096) out.push({ code: 'IDMAP_TOO_LONG', severity: 'error', message: `the ${kind} map is ${bytes} bytes (${lines.length} lines); the kernel takes a map written at once in less than a page (4096 bytes)`, hint: 'merge adjacent ranges, or share fewer ids' });
    for (const l of lines) {
      if (l.range === 0) out.push({ code: 'IDMAP_RANGE_ZERO', severity: 'error', message: `${kind} map line "${formatIdmapLine(l)}" has range 0`, hint: 'the kernel rejects empty ranges: give a range of at least 1' });
      // ids are 32-bit, and (uid_t)-1 is "no id": the kernel refuses a range that reaches it
      for (const side of ['nsid', 'hostid'] as const) {
        if (l[side] + l.range > 0xffffffff) out.push({ code: 'IDMAP_RANGE_OVERFLOW', severity: 'error', message: `${kind} map line "${formatIdmapLine(l)}" goes past id 4294967294 on the ${side === 'nsid' ? 'container' : 'host'} side`, hint: 'ids are 32-bit: lower the start or the range' });
      }
    }
    for (const side of ['nsid', 'hostid'] as const) {
      const sorted = [...lines].sort((a, b) => a[side] - b[side]);
      for (let i = 1; i < sorted.length; i++) {
        const a = sorted[i - 1]!;
        const b = sorted[i]!;
        if (a[side] + a.range > b[side]) {
          out.push({ code: 'IDMAP_OVERLAP', severity: 'error', message: `${kind} map lines "${formatIdmapLine(a)}" and "${formatIdmapLine(b)}" overlap on the ${side === 'nsid' ? 'container' : 'host'} side`, hint: 'ranges must not overlap on either side' });
        }
      }
    }
    if (lines.length > 0 && toHost(lines, kind, 0) === undefined) {
      out.push({ code: 'IDMAP_ROOT_UNMAPPED', severity: 'error', message: `container root is not in the ${kind} map`, hint: `add a line mapping container id 0, e.g. "${kind} 0 100000 65536"` });
    }
  }
  if (map.length > 0 && !map.some((l) => l.kind === 'u')) out.push({ code: 'IDMAP_NO_UID_MAP', severity: 'error', message: 'idmap has g lines but no u lines', hint: 'add u lines matching the g lines' });
  if (map.length > 0 && !map.some((l) => l.kind === 'g')) out.push({ code: 'IDMAP_NO_GID_MAP', severity: 'error', message: 'idmap has u lines but no g lines', hint: 'add g lines matching the u lines' });
  return out;
}
