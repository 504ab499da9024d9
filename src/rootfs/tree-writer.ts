import fs from 'node:fs';
import { ThunderboxError } from '../core/errors.js';
import { toHost, type IdMapLine } from '../lxc/idmap.js';
import { decideEntry } from './decide.js';
import { elfIdent, type ElfIdent } from './elf.js';
import type { EntryKind, EntryMeta, EntrySink, FileSink } from './entry.js';
import { WriteThread } from './write-thread.js';

// The one place that decides how a rootfs tree is written. Benchmark before editing (npm run
// bench): this is the hot path. Design, from measurements on a 176 MB / 6,195-entry rootfs:
//   - the main thread parses and decides; the syscalls (open O_EXCL, write, fchown, futimes,
//     close per file) run in order on one writer thread (write-thread.ts), so the kernel's
//     work overlaps with parsing;
//   - no lstat: `written` (what this run created in its new staging directory) answers
//     every "is this a symlink / does it exist" question (see decide.ts);
//   - directories are made 0700 and get their real owner, mode and times in finish(), after
//     their children are written (a 0555 directory could not be filled otherwise);
//   - chown before chmod: chown clears setuid/setgid.
// Ownership: archive ids are container ids; with an idmap they become host ids (toHost).
// As root they are applied; otherwise they are recorded for a permission table.

export interface OwnershipRecord {
  kind: EntryKind;
  mode: number;
  uid: number;
  gid: number;
  devmajor?: number;
  devminor?: number;
}

export interface TreeStats {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  fifos: number;
  bytes: number;
}

export interface TreeWriterOptions {
  /** The (new, empty) directory the tree goes into. */
  root: string;
  /** Name of the input, for messages. */
  source: string;
  /** Apply ownership with chown (root only). */
  chown: boolean;
  /** mknod device nodes (root only); otherwise they are recorded. */
  canMknod: boolean;
  /** Container -> host id map; empty means ids are kept as they are. */
  idmap: IdMapLine[];
  /** mtime for directories the input does not list. */
  implicitMtime: number;
  /** Decide everything, write nothing (--dry-run). */
  dryRun?: boolean;
  onElf?: (id: ElfIdent, path: string) => void;
}

interface DirMeta {
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
}

export class TreeWriter implements EntrySink {
  readonly written = new Map<string, EntryKind>([['', 'dir']]);
  /** Ownership and mode of every entry, for the permission table (kept only when not chowning). */
  readonly records = new Map<string, OwnershipRecord>();
  readonly unmapped: string[] = [];
  readonly stats: TreeStats = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devices: 0, fifos: 0, bytes: 0 };
  readonly notes: string[] = [];
  private readonly dirs = new Map<string, DirMeta>();
  private readonly o: TreeWriterOptions;

  private readonly savedUmask: number | null;
  private readonly io: WriteThread | null;

  constructor(o: TreeWriterOptions) {
    this.o = o;
    this.savedUmask = o.dryRun ? null : process.umask(0);
    this.io = o.dryRun ? null : new WriteThread();
    this.dirs.set('', { mode: 0o755, mtime: o.implicitMtime, ...this.owner('', 0, 0) });
  }

  private record(p: string, r: OwnershipRecord): void {
    if (!this.o.chown) this.records.set(p, r); // as root the owners are applied, not listed
  }

  private abs(p: string): string {
    // entry paths are normalised (no '.', '..', '//'): plain concatenation is exact
    return p === '' ? this.o.root : `${this.o.root}/${p}`;
  }

  private owner(p: string, uid: number, gid: number): { uid: number; gid: number } {
    if (this.o.idmap.length === 0) return { uid, gid };
    const hu = toHost(this.o.idmap, 'u', uid);
    const hg = toHost(this.o.idmap, 'g', gid);
    if (hu === undefined || hg === undefined) {
      this.unmapped.push(`${p === '' ? '.' : p} (uid ${uid}, gid ${gid})`);
      return { uid: hu ?? 65534, gid: hg ?? 65534 };
    }
    return { uid: hu, gid: hg };
  }

  private refuse(code: string, message: string, hint: string): never {
    throw new ThunderboxError({ code, severity: 'error', file: this.o.source, message, hint });
  }

  private makeImplicit(dirs: string[]): void {
    for (const d of dirs) {
      this.io?.push(['mkdir', this.abs(d)]);
      this.written.set(d, 'dir');
      const own = this.owner(d, 0, 0);
      this.dirs.set(d, { mode: 0o755, mtime: this.o.implicitMtime, ...own });
      this.record(d, { kind: 'dir', mode: 0o755, ...own });
    }
  }

  /** Decide, make parents, clear a replaced entry. Returns false if the entry is only recorded. */
  private prepare(meta: EntryMeta): boolean {
    const d = decideEntry(meta, this.written, this.o.canMknod);
    this.stats.entries++;
    switch (d.action) {
      case 'refuse':
        this.refuse(d.code, d.message, 'the archive is unsafe or inconsistent; rebuild it (nothing was changed)');
      case 'record':
        this.stats.devices++;
        this.record(meta.path, { kind: meta.kind, mode: meta.mode, ...this.owner(meta.path, meta.uid, meta.gid), devmajor: meta.devmajor ?? 0, devminor: meta.devminor ?? 0 });
        return false;
      case 'create':
        this.makeImplicit(d.implicitDirs);
        return true;
      case 'replace':
        this.io?.push(['unlink', this.abs(meta.path)]);
        this.records.delete(meta.path);
        return true;
      case 'update-dir':
        return true;
    }
  }

  /** Owner argument for the writer thread: -1 leaves it (not root, or already root:root). */
  private ids(own: { uid: number; gid: number }): [number, number] {
    return this.o.chown && (own.uid !== 0 || own.gid !== 0) ? [own.uid, own.gid] : [-1, -1];
  }

  entry(meta: EntryMeta): FileSink | null {
    if (!this.prepare(meta)) return null;
    const abs = this.abs(meta.path);
    const own = meta.kind === 'hardlink' ? { uid: 0, gid: 0 } : this.owner(meta.path, meta.uid, meta.gid);
    const [uid, gid] = this.ids(own);
    switch (meta.kind) {
      case 'dir':
        if (!this.dirs.has(meta.path)) {
          this.io?.push(['mkdir', abs]);
          this.stats.dirs++;
        }
        this.written.set(meta.path, 'dir');
        this.dirs.set(meta.path, { mode: meta.mode, mtime: meta.mtime, ...own });
        this.record(meta.path, { kind: 'dir', mode: meta.mode, ...own });
        return null;
      case 'file':
        return this.fileSink(meta, own);
      case 'symlink':
        this.io?.push(['symlink', meta.linkpath ?? '', abs, uid, gid, meta.mtime]);
        this.stats.symlinks++;
        this.written.set(meta.path, 'symlink');
        return null;
      case 'hardlink': {
        const target = meta.linkpath ?? '';
        this.io?.push(['link', this.abs(target), abs]);
        this.stats.hardlinks++;
        this.written.set(meta.path, this.written.get(target) === 'symlink' ? 'symlink' : 'hardlink');
        return null;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const type = meta.kind === 'fifo' ? 'p' : meta.kind === 'char' ? 'c' : 'b';
        this.io?.push(['node', type, abs, meta.devmajor ?? 0, meta.devminor ?? 0, this.o.chown ? own.uid : -1, this.o.chown ? own.gid : -1, meta.mode, meta.mtime]);
        if (meta.kind === 'fifo') this.stats.fifos++;
        else this.stats.devices++;
        this.written.set(meta.path, meta.kind);
        this.record(meta.path, { kind: meta.kind, mode: meta.mode, ...own, devmajor: meta.devmajor ?? 0, devminor: meta.devminor ?? 0 });
        return null;
      }
    }
  }

  private fileSink(meta: EntryMeta, own: { uid: number; gid: number }): FileSink {
    this.stats.files++;
    this.written.set(meta.path, 'file');
    this.record(meta.path, { kind: 'file', mode: meta.mode, ...own });
    // With umask 0 (set in the constructor) a file is created with its final mode and needs
    // no fchmod, unless it has setuid/setgid/sticky bits: chown clears those, so they are set after it.
    const special = (meta.mode & 0o7000) !== 0;
    const io = this.io;
    const fd = io ? io.newFd() : -1;
    io?.push(['open', fd, this.abs(meta.path), special ? 0o600 : meta.mode]);
    const [uid, gid] = this.ids(own);
    let first = true;
    return {
      write: (chunk: Buffer) => {
        if (first) {
          first = false;
          const id = this.o.onElf ? elfIdent(chunk) : null;
          if (id) this.o.onElf!(id, meta.path);
        }
        this.stats.bytes += chunk.length;
        if (io && chunk.length) io.write(fd, chunk);
      },
      end: () => {
        io?.push(['close', fd, uid, gid, special ? meta.mode : -1, meta.mtime]);
      },
    };
  }

  copy(meta: EntryMeta, from: string | Buffer): void {
    if (Buffer.isBuffer(from) || meta.kind !== 'file') {
      const sink = this.entry(meta);
      if (sink && Buffer.isBuffer(from)) sink.write(from);
      sink?.end();
      return;
    }
    if (!this.prepare(meta)) return;
    const own = this.owner(meta.path, meta.uid, meta.gid);
    this.stats.files++;
    this.stats.bytes += meta.size;
    this.written.set(meta.path, 'file');
    this.record(meta.path, { kind: 'file', mode: meta.mode, ...own });
    if (this.o.onElf && meta.size >= 52) {
      const head = Buffer.alloc(64);
      const rfd = fs.openSync(from, 'r');
      const n = fs.readSync(rfd, head, 0, 64, 0);
      fs.closeSync(rfd);
      const id = elfIdent(head.subarray(0, n));
      if (id) this.o.onElf(id, meta.path);
    }
    // Directory sources: the kernel copies the bytes (copy_file_range), on the writer thread.
    const [uid, gid] = this.ids(own);
    this.io?.push(['copy', from, this.abs(meta.path), uid, gid, meta.mode, meta.mtime]);
  }

  /**
   * Make `p` a real directory (a mount target). A symlink or file there is replaced, since
   * LXC refuses to mount onto a symlink ("... was a symbolic link"). Returns a note or null.
   */
  ensureDir(p: string, mode: number): string | null {
    const k = this.written.get(p);
    if (k === 'dir') return null;
    let note = `created /${p} (mount target)`;
    const d = decideEntry({ path: p, kind: 'dir' }, new Map([...this.written].filter(([q]) => q !== p)), this.o.canMknod);
    if (d.action === 'refuse') {
      this.refuse('MOUNT_TARGET_BLOCKED', `the mount target /${p} cannot be made a directory: ${d.message}`, 'choose a mount path whose parents are real directories in the rootfs');
    }
    if (k !== undefined) {
      note = `replaced the ${k} /${p} with a directory: LXC refuses to mount onto a ${k}`;
      this.io?.push(['unlink', this.abs(p)]);
      this.written.delete(p);
      this.records.delete(p);
    }
    if (d.action === 'create') this.makeImplicit(d.implicitDirs);
    this.io?.push(['mkdir', this.abs(p)]);
    const own = this.owner(p, 0, 0);
    this.written.set(p, 'dir');
    this.dirs.set(p, { mode, mtime: this.o.implicitMtime, ...own });
    this.record(p, { kind: 'dir', mode, ...own });
    this.stats.dirs++;
    return note;
  }

  /** Between input chunks: lets the writer thread catch up (bounded memory), reports its errors. */
  async backpressure(): Promise<void> {
    await this.io?.backpressure();
  }

  /** Give up half-way: stop the writer thread (nothing runs after this) and restore the umask. */
  async abort(): Promise<void> {
    await this.io?.close();
    this.restoreUmask();
  }

  private restoreUmask(): void {
    if (this.savedUmask !== null) process.umask(this.savedUmask);
  }

  /** Directory owners, modes and times, now that nothing more is written into them; then wait for it all. */
  async finish(): Promise<void> {
    try {
      if (this.io) {
        for (const [p, m] of this.dirs) {
          const [uid, gid] = this.o.chown ? [m.uid, m.gid] : [-1, -1];
          this.io.push(['meta', this.abs(p), uid, gid, m.mode, m.mtime]);
        }
        await this.io.settle();
      }
    } finally {
      await this.abort();
    }
  }
}
