import fs from 'node:fs';
import path from 'node:path';
import type { EntryKind } from './entry.js';
import { isElf, readElf, type ElfResult } from './elf.js';

// A read-only view of a rootfs as the device will see it: a directory on this host, or the
// index of an archive (rootfs/archive-index.ts). Paths are relative to the rootfs top, '' is
// the top itself. Symlinks are resolved inside the view, never on this host: an absolute
// link target starts again at the rootfs top, and '..' stops there, as it does for a
// process chrooted into it.

export interface TreeNode {
  kind: EntryKind;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Symlink target as stored; for a hard link the path of the file it shares. */
  linkpath?: string;
}

export interface TreeView {
  /** The node at a path whose parents are real directories (see resolve()), without following it. */
  get(rel: string): TreeNode | undefined;
  /** Names in a directory (sorted). */
  list(rel: string): string[];
  /** Up to `limit` bytes of a regular file (a hard link reads its file); null when unknown. */
  read(rel: string, limit: number): Buffer | null;
  /** The parsed ELF of a regular file, null when it is not ELF (cached). */
  elf(rel: string): ElfResult | null;
}

export interface Resolved {
  /** The real path reached, or null when it does not exist. */
  rel: string | null;
  /** Every symlink passed on the way (these must be in a tree for the path to work there). */
  chain: string[];
  /** Why the path does not resolve: a loop, a dangling link, a file used as a directory. */
  error?: string;
}

const MAX_LINKS = 40; // the kernel's limit (ELOOP)
/** ELF files are read whole (program headers, dynamic section, .dynsym): up to this size. */
const MAX_ELF = 1 << 30;

function split(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

/**
 * Resolve `p` (absolute or relative to the top) inside the view, like the kernel would in a
 * process whose root is the rootfs. `followLast`: follow a symlink in the last component too.
 * `partial`: a path whose rest does not exist (yet) resolves to where it would be, as a file
 * about to be written there (the rest is taken as it is).
 */
export function resolve(view: TreeView, p: string, followLast = true, partial = false): Resolved {
  const chain: string[] = [];
  let done: string[] = [];
  let todo = split(p);
  let links = 0;
  while (todo.length) {
    const name = todo.shift()!;
    if (name === '..') {
      done.pop();
      continue;
    }
    const rel = [...done, name].join('/');
    const node = view.get(rel);
    if (!node || (todo.length > 0 && node.kind !== 'dir' && node.kind !== 'symlink')) {
      if (!partial) return { rel: null, chain, error: node ? `/${rel} is not a directory` : `/${rel} does not exist` };
      // taken as it is; a later '..' comes back to what exists, and links there are followed again
      done.push(name);
      continue;
    }
    if (node.kind === 'symlink' && (todo.length > 0 || followLast)) {
      if (++links > MAX_LINKS) return { rel: null, chain, error: `too many levels of symbolic links at /${rel}` };
      if (!chain.includes(rel)) chain.push(rel);
      const target = node.linkpath ?? '';
      if (target.startsWith('/')) done = [];
      todo = [...split(target), ...todo];
      continue;
    }
    done.push(name);
  }
  return { rel: done.join('/'), chain };
}

/** A rootfs directory on this host. Nothing here follows a symlink on the host. */
export class DirView implements TreeView {
  private readonly elfs = new Map<string, ElfResult | null>();
  constructor(readonly root: string) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  get(rel: string): TreeNode | undefined {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.abs(rel));
    } catch {
      return undefined;
    }
    const kind: EntryKind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'fifo';
    const node: TreeNode = { kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: kind === 'file' ? st.size : 0 };
    if (kind === 'symlink') node.linkpath = fs.readlinkSync(this.abs(rel));
    return node;
  }

  list(rel: string): string[] {
    try {
      return fs.readdirSync(this.abs(rel)).sort();
    } catch {
      return [];
    }
  }

  read(rel: string, limit: number): Buffer | null {
    let fd: number;
    try {
      fd = fs.openSync(this.abs(rel), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch {
      return null;
    }
    try {
      const size = Math.min(fs.fstatSync(fd).size, limit);
      const buf = Buffer.allocUnsafe(size);
      let n = 0;
      while (n < size) {
        const r = fs.readSync(fd, buf, n, size - n, n);
        if (r === 0) break;
        n += r;
      }
      return buf.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
  }

  elf(rel: string): ElfResult | null {
    if (this.elfs.has(rel)) return this.elfs.get(rel)!;
    const head = this.read(rel, 4);
    let r: ElfResult | null = null;
    if (head && isElf(head)) {
      const size = this.get(rel)?.size ?? 0;
      r = size > MAX_ELF ? { ok: false, error: `/${rel} is ${size} bytes, more than the ${MAX_ELF >> 20} MiB an ELF file is read up to` } : readElf(this.read(rel, MAX_ELF) ?? Buffer.alloc(0), { imports: true });
    }
    this.elfs.set(rel, r);
    return r;
  }
}
