import type { Diagnostic } from '../core/diagnostic.js';
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

// Reading a table back: post-fakeroot applies it, the doctor checks the owners in it.

export interface TableLine {
  file: string;
  line: number;
  name: string;
  /** makedevs types, and 'l': a symlink's owner from a `# thunderbox:symlink` line. */
  type: 'd' | 'f' | 'c' | 'b' | 'p' | 'l';
  mode: number;
  uid: number;
  gid: number;
  major: number;
  minor: number;
}

const SYMLINK_LINE = new RegExp(`^${SYMLINK_MARK} (\\S+) (\\d+) (\\d+)$`);

export function parseTable(text: string, file: string): { lines: TableLine[]; diagnostics: Diagnostic[] } {
  const lines: TableLine[] = [];
  const diagnostics: Diagnostic[] = [];
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    const link = SYMLINK_LINE.exec(t);
    if (link) {
      lines.push({ file, line: i + 1, name: link[1]!, type: 'l', mode: 0o777, uid: Number(link[2]), gid: Number(link[3]), major: 0, minor: 0 });
      return;
    }
    if (t === '' || t.startsWith('#')) return;
    const f = t.split(/\s+/);
    const bad = (message: string) => diagnostics.push({ code: 'TABLE_LINE', severity: 'error', file, line: i + 1, col: 1, message, hint: 'write <name> <type> <mode> <uid> <gid> <major> <minor> <start> <inc> <count>, "-" for unused fields' });
    if (f.length !== 10) return void bad(`expected 10 fields, found ${f.length}`);
    const [name, type, mode, uid, gid, major, minor, , , count] = f as [string, string, string, string, string, string, string, string, string, string];
    if (!['d', 'f', 'c', 'b', 'p'].includes(type)) return void bad(`unknown type "${type}" (thunderbox applies d, f, c, b, p)`);
    if (!/^[0-7]{1,4}$/.test(mode)) return void bad(`mode "${mode}" is not octal`);
    if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid)) return void bad('uid and gid must be numbers');
    if (count !== '-' && count !== '0') return void bad('device ranges (count) are not supported');
    if (!name.startsWith('/')) return void bad(`"${name}" is not an absolute path on the device`);
    const num = (v: string) => (v === '-' ? 0 : Number(v));
    lines.push({ file, line: i + 1, name, type: type as TableLine['type'], mode: parseInt(mode, 8), uid: Number(uid), gid: Number(gid), major: num(major), minor: num(minor) });
  });
  return { lines, diagnostics };
}
