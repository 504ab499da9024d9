import { createHash, type Hash } from 'node:crypto';
import type { EntryMeta, EntrySink, FileSink } from './entry.js';
import { isElf, readElf, type ElfResult } from './elf.js';
import type { TreeNode, TreeView } from './tree-view.js';

// The first pass over an archive for a minimised container: every entry's metadata, the ELF
// facts of every ELF file (read from its bytes as they stream by, one file in memory at a
// time), the first bytes of every file (a "#!" line) and the whole of small configuration
// files under etc/. Nothing is written. A later entry for the same path replaces the earlier
// one, as it does when tar extracts.

const HEAD = 256;
const SMALL_ETC = 256 * 1024;

interface Indexed extends TreeNode {
  /** A hard link: the file it shares, as it was when the link was read. */
  target?: Indexed;
  head?: Buffer;
  whole?: Buffer;
  elf?: ElfResult | null;
  sha256?: string;
}

export interface IndexOptions {
  /** Hash every regular file (sha256), for --dedupe-with-host. */
  hash: boolean;
}

export class ArchiveIndex implements TreeView, EntrySink {
  private readonly nodes = new Map<string, Indexed>([['', { kind: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 }]]);
  private readonly children = new Map<string, Set<string>>();
  constructor(private readonly o: IndexOptions) {}

  private add(p: string, node: Indexed): void {
    this.nodes.set(p, node);
    // parents the archive does not list exist once extracted (implicit directories)
    let child = p;
    while (child !== '') {
      const slash = child.lastIndexOf('/');
      const parent = slash === -1 ? '' : child.slice(0, slash);
      let set = this.children.get(parent);
      if (!set) this.children.set(parent, (set = new Set()));
      const name = child.slice(slash + 1);
      if (set.has(name)) break;
      set.add(name);
      if (parent !== '' && !this.nodes.has(parent)) this.nodes.set(parent, { kind: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
      child = parent;
    }
  }

  entry(meta: EntryMeta): FileSink | null {
    const node: Indexed = { kind: meta.kind, mode: meta.mode, uid: meta.uid, gid: meta.gid, size: meta.kind === 'file' ? meta.size : 0 };
    if (meta.linkpath !== undefined) node.linkpath = meta.linkpath;
    // a hard link is to the file as it is now: a later entry for that path does not change it
    if (meta.kind === 'hardlink') node.target = this.file(meta.linkpath ?? '');
    if (meta.path === '') {
      if (meta.kind === 'dir') this.nodes.set('', node);
      return null;
    }
    this.add(meta.path, node);
    if (meta.kind !== 'file') return null;
    const keepWhole = meta.path.startsWith('etc/') && meta.size <= SMALL_ETC;
    const hash: Hash | null = this.o.hash ? createHash('sha256') : null;
    // the whole file while it may be ELF (known from its first 4 bytes, which a decompressor's
    // chunk boundary can split) or is a small etc file
    let parts: Buffer[] | null = [];
    let got = 0;
    let head = Buffer.alloc(0);
    return {
      write: (chunk: Buffer) => {
        hash?.update(chunk);
        if (head.length < HEAD) head = Buffer.concat([head, chunk.subarray(0, HEAD - head.length)]); // copies: the chunk is the reader's buffer
        if (parts && !keepWhole && head.length >= 4 && !isElf(head)) parts = null;
        if (parts) parts.push(Buffer.from(chunk));
        got += chunk.length;
      },
      end: () => {
        node.head = head;
        if (hash) node.sha256 = hash.digest('hex');
        if (parts) {
          const whole = Buffer.concat(parts, got);
          if (isElf(whole)) node.elf = readElf(whole, { imports: true });
          if (keepWhole) node.whole = whole;
        }
        parts = null;
      },
    };
  }

  copy(): void {
    throw new Error('ArchiveIndex reads archives only');
  }

  async backpressure(): Promise<void> {}

  private file(rel: string): Indexed | undefined {
    const n = this.nodes.get(rel);
    const f = n?.kind === 'hardlink' ? n.target : n;
    return f?.kind === 'file' ? f : undefined;
  }

  get(rel: string): TreeNode | undefined {
    return this.nodes.get(rel);
  }

  list(rel: string): string[] {
    return [...(this.children.get(rel) ?? [])].sort();
  }

  read(rel: string, limit: number): Buffer | null {
    const n = this.file(rel);
    if (!n) return null;
    if (n.whole) return n.whole.subarray(0, limit);
    if (n.head && (limit <= n.head.length || n.head.length === n.size)) return n.head.subarray(0, limit);
    return null;
  }

  elf(rel: string): ElfResult | null {
    return this.file(rel)?.elf ?? null;
  }

  sha256(rel: string): string | undefined {
    return this.file(rel)?.sha256;
  }

  /** Regular files and their bytes (hard links counted once). */
  totals(): { files: number; bytes: number } {
    let files = 0;
    let bytes = 0;
    for (const n of this.nodes.values()) {
      if (n.kind !== 'file') continue;
      files++;
      bytes += n.size;
    }
    return { files, bytes };
  }
}
