import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';

export interface NodeInfo {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  link?: string;
  sha?: string;
  ino: number;
}

/** Every path below root (relative, sorted) with what `ls -l` and a checksum would tell. */
export function snapshot(root: string, opts: { hash?: boolean } = {}): Map<string, NodeInfo> {
  const out = new Map<string, NodeInfo>();
  const walk = (rel: string) => {
    const abs = rel ? path.join(root, rel) : root;
    const st = fs.lstatSync(abs);
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'other';
    const info: NodeInfo = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'file' ? st.size : 0, mtime: Math.floor(st.mtimeMs / 1000), ino: st.ino };
    if (type === 'symlink') info.link = fs.readlinkSync(abs);
    if (type === 'file' && opts.hash) info.sha = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
    out.set(rel || '.', info);
    if (type === 'dir') for (const n of fs.readdirSync(abs).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return out;
}

/** Snapshot without inode numbers (for comparing two trees). */
export function comparable(root: string, opts: { hash?: boolean; skipTimesOf?: string[] } = {}): Record<string, Omit<NodeInfo, 'ino'>> {
  const o: Record<string, Omit<NodeInfo, 'ino'>> = {};
  for (const [p, { ino: _ino, ...rest }] of snapshot(root, opts)) o[p] = rest;
  return o;
}
