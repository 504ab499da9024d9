import type { OwnershipRecord } from '../rootfs/tree-writer.js';

// Buildroot permission (makedevs) table, for BR2_ROOTFS_DEVICE_TABLE:
//   <name> <type> <mode> <uid> <gid> <major> <minor> <start> <inc> <count>
// types: f file, d directory, c char device, b block device, p fifo ('-' for unused fields).
// makedevs reads the name with scanf("%s"), so a path with white space cannot be listed.
// A symlink has no type (makedevs would chown and chmod what it points to); its owner goes on
// a comment line, `# thunderbox:symlink <name> <uid> <gid>`, which makedevs skips and
// `thunderbox buildroot post-fakeroot` applies with lchown.

const TYPE: Record<string, string | undefined> = { file: 'f', dir: 'd', char: 'c', block: 'b', fifo: 'p' };

export const SYMLINK_MARK = '# thunderbox:symlink';

export interface TableResult {
  text: string;
  lines: number;
  /** Paths that could not be listed (white space in the name). */
  skipped: string[];
}

/**
 * `records`: paths relative to `devicePrefix` (the rootfs on the device); `extra`: absolute
 * device paths outside it (the host side of shared directories), listed first.
 */
export function permissionTable(devicePrefix: string, records: ReadonlyMap<string, OwnershipRecord>, extra: { path: string; record: OwnershipRecord }[], header: string[]): TableResult {
  const out = header.map((h) => `# ${h}`);
  const skipped: string[] = [];
  const rows: [string, OwnershipRecord][] = [...extra.map((e): [string, OwnershipRecord] => [e.path, e.record]), ...[...records.keys()].sort().map((p): [string, OwnershipRecord] => [p === '' ? devicePrefix : `${devicePrefix}/${p}`, records.get(p)!])];
  let lines = 0;
  for (const [name, r] of rows) {
    if (r.kind === 'symlink') {
      if (/\s/.test(name)) skipped.push(name);
      else out.push(`${SYMLINK_MARK} ${name} ${r.uid} ${r.gid}`);
      continue;
    }
    const t = TYPE[r.kind];
    if (!t) continue;
    if (/\s/.test(name)) {
      skipped.push(name);
      continue;
    }
    const dev = t === 'c' || t === 'b' ? `${r.devmajor ?? 0} ${r.devminor ?? 0} 0 0 -` : '- - - - -';
    out.push(`${name} ${t} ${(r.mode & 0o7777).toString(8)} ${r.uid} ${r.gid} ${dev}`);
    lines++;
  }
  return { text: out.join('\n') + '\n', lines, skipped };
}
