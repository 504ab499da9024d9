import fs from 'node:fs';
import { ThunderboxError } from '../core/errors.js';
import { utime } from '../core/mtime.js';
import { toHost, type IdMapLine } from '../lxc/idmap.js';
import { decideEntry } from './decide.js';
import { PATH_MAX, shortName } from './entry-path.js';
import { elfIdent, type ElfIdent } from './elf.js';
import type { EntryKind, EntryMeta, EntrySink, FileSink } from './entry.js';
import { WriterPool } from './write-thread.js';

// The one place that decides how a rootfs tree is written. Benchmark before editing (npm run
// bench): this is the hot path. Design, from measurements on a 176 MB / 6,195-entry rootfs:
//   - the main thread parses, decides and makes directories; the per-file syscalls (open
//     O_EXCL, write, fchown, futimes, close) run on writer threads (write-thread.ts), so the
//     kernel's work overlaps with parsing and files are created in parallel;
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
  /** Device nodes left out (skipDevices). */
  devicesSkipped: number;
  /** Entries whose owner was outside the idmap and became nobody. */
  toNobody: number;
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
  /** Owners outside the idmap become the container's nobody (65534) instead of an error. */
  unmappedToNobody?: boolean;
  /** Leave device nodes out (unprivileged containers cannot use them; lxc.autodev provides /dev). */
  skipDevices?: boolean;
  onElf?: (id: ElfIdent, path: string) => void;
}

interface DirMeta {
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
}

/** The container's nobody/nogroup (the kernel's overflow id). */
const NOBODY = 65534;

/** Two writer threads: measured on a 2-core machine, a third gained nothing. */
const WRITER_THREADS = 2;

/** The writer thread for a new entry: by its directory (FNV-1a of the parent path). */
function threadFor(p: string, n: number): number {
  const end = p.lastIndexOf('/');
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ p.charCodeAt(i), 0x01000193);
  return (h >>> 0) % n;
}

/** A directory the container config mounts onto. `explicit`: mode/owner given by the user. */
export interface MountPoint {
  path: string;
  mode: number;
  owner?: { uid: number; gid: number };
  explicit?: boolean;
  /** A --mount path (not proc, sys, dev, tmp): a symlink there is refused, not replaced. */
  user?: boolean;
}

export class TreeWriter implements EntrySink {
  readonly written = new Map<string, EntryKind>([['', 'dir']]);
  /** Ownership and mode of every entry, for the permission table (kept only when not chowning). */
  readonly records = new Map<string, OwnershipRecord>();
  /** Device nodes not made on disk: left out (unprivileged default) or recorded for the table (not root). */
  private readonly notOnDisk = new Map<string, 'skipped' | 'recorded'>();
  readonly unmapped: string[] = [];
  readonly stats: TreeStats = { entries: 0, devicesSkipped: 0, toNobody: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devices: 0, fifos: 0, bytes: 0 };
  private readonly dirs = new Map<string, DirMeta>();
  private readonly o: TreeWriterOptions;

  private readonly savedUmask: number | null;
  private readonly io: WriterPool | null;
  /** Which writer thread made each non-directory path (later operations on it go there too). */
  private readonly creator = new Map<string, number>();

  constructor(o: TreeWriterOptions) {
    this.o = o;
    this.savedUmask = o.dryRun ? null : process.umask(0);
    this.io = o.dryRun ? null : new WriterPool(WRITER_THREADS);
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
    if ((hu === undefined || hg === undefined) && this.o.unmappedToNobody) {
      const nu = toHost(this.o.idmap, 'u', NOBODY);
      const ng = toHost(this.o.idmap, 'g', NOBODY);
      if (nu !== undefined && ng !== undefined) {
        this.stats.toNobody++;
        return { uid: hu ?? nu, gid: hg ?? ng };
      }
    }
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
      if (this.io) fs.mkdirSync(this.abs(d), 0o700);
      this.written.set(d, 'dir');
      const own = this.owner(d, 0, 0);
      this.dirs.set(d, { mode: 0o755, mtime: this.o.implicitMtime, ...own });
      this.record(d, { kind: 'dir', mode: 0o755, ...own });
    }
  }

  /** Decide, make parents, clear a replaced entry. Returns false if the entry is only recorded. */
  private prepare(meta: EntryMeta): boolean {
    this.stats.entries++;
    if (this.o.skipDevices && (meta.kind === 'char' || meta.kind === 'block')) {
      this.stats.devicesSkipped++;
      this.notOnDisk.set(meta.path, 'skipped');
      return false;
    }
    // a hard link to a device node that was left out, or only recorded for the table: the same
    // for the link (GNU tar would link the node; there is no node on disk here to link)
    // (the readers hand over linkpath normalised, as an entry path)
    const was = meta.kind === 'hardlink' ? this.notOnDisk.get(meta.linkpath ?? '') : undefined;
    if (was === 'skipped') {
      this.stats.devicesSkipped++;
      this.notOnDisk.set(meta.path, 'skipped');
      return false;
    }
    const device = was === 'recorded' ? this.records.get(meta.linkpath!) : undefined;
    if (device) {
      this.stats.devices++;
      this.notOnDisk.set(meta.path, 'recorded');
      this.record(meta.path, { ...device });
      return false;
    }
    // the entry fits PATH_MAX (entry-path.ts); under the staging directory it may not
    if (this.o.root.length + meta.path.length * 3 + 2 > PATH_MAX && Buffer.byteLength(this.abs(meta.path)) + 1 > PATH_MAX) {
      this.refuse('ENTRY_PATH_TOO_LONG', `entry ${shortName(meta.path)} is ${Buffer.byteLength(meta.path)} bytes long; under ${this.o.root} it would be longer than PATH_MAX (${PATH_MAX} bytes)`, 'leave it out of the rootfs, or use an image root with a shorter path; nothing was changed');
    }
    const d = decideEntry(meta, this.written, this.o.canMknod);
    switch (d.action) {
      case 'refuse':
        this.refuse(d.code, d.message, 'the archive is unsafe or inconsistent; rebuild it (nothing was changed)');
      case 'record':
        this.stats.devices++;
        this.notOnDisk.set(meta.path, 'recorded');
        this.record(meta.path, { kind: meta.kind, mode: meta.mode, ...this.owner(meta.path, meta.uid, meta.gid), devmajor: meta.devmajor ?? 0, devminor: meta.devminor ?? 0 });
        return false;
      case 'create':
        this.makeImplicit(d.implicitDirs);
        return true;
      case 'replace':
        this.io?.push(this.creator.get(meta.path) ?? 0, ['unlink', this.abs(meta.path)]);
        this.records.delete(meta.path);
        return true;
      case 'update-dir':
        return true;
    }
  }

  /** The thread for a non-directory entry, remembered for later operations on the same path. */
  private threadOf(meta: EntryMeta): number {
    if (!this.io || meta.kind === 'dir') return 0;
    const t =
      this.creator.get(meta.path) ?? // a replaced entry: after the unlink, on the same thread
      (meta.kind === 'hardlink' ? (this.creator.get(meta.linkpath ?? '') ?? 0) : threadFor(meta.path, this.io.size)); // a link after its target
    this.creator.set(meta.path, t);
    return t;
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
    const t = this.threadOf(meta);
    switch (meta.kind) {
      case 'dir':
        if (!this.dirs.has(meta.path)) {
          if (this.io) fs.mkdirSync(abs, 0o700);
          this.stats.dirs++;
        }
        this.written.set(meta.path, 'dir');
        this.dirs.set(meta.path, { mode: meta.mode, mtime: meta.mtime, ...own });
        this.record(meta.path, { kind: 'dir', mode: meta.mode, ...own });
        return null;
      case 'file':
        return this.fileSink(meta, own, t);
      case 'symlink':
        this.io?.push(t, ['symlink', meta.linkpath ?? '', abs, uid, gid, meta.mtime]);
        this.stats.symlinks++;
        this.written.set(meta.path, 'symlink');
        this.record(meta.path, { kind: 'symlink', mode: 0o777, ...own });
        return null;
      case 'hardlink': {
        const target = meta.linkpath ?? '';
        this.io?.push(t, ['link', this.abs(target), abs]);
        this.stats.hardlinks++;
        this.written.set(meta.path, this.written.get(target) === 'symlink' ? 'symlink' : 'hardlink');
        return null;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const type = meta.kind === 'fifo' ? 'p' : meta.kind === 'char' ? 'c' : 'b';
        this.io?.push(t, ['node', type, abs, meta.devmajor ?? 0, meta.devminor ?? 0, this.o.chown ? own.uid : -1, this.o.chown ? own.gid : -1, meta.mode, meta.mtime]);
        if (meta.kind === 'fifo') this.stats.fifos++;
        else this.stats.devices++;
        this.written.set(meta.path, meta.kind);
        this.record(meta.path, { kind: meta.kind, mode: meta.mode, ...own, devmajor: meta.devmajor ?? 0, devminor: meta.devminor ?? 0 });
        return null;
      }
    }
  }

  private fileSink(meta: EntryMeta, own: { uid: number; gid: number }, t: number): FileSink {
    this.stats.files++;
    this.written.set(meta.path, 'file');
    this.record(meta.path, { kind: 'file', mode: meta.mode, ...own });
    // With umask 0 (set in the constructor) a file is created with its final mode and needs
    // no fchmod, unless it has setuid/setgid/sticky bits: chown clears those, so they are set after it.
    const special = (meta.mode & 0o7000) !== 0;
    const io = this.io;
    const fd = io ? io.newFd() : -1;
    io?.push(t, ['open', fd, this.abs(meta.path), special ? 0o600 : meta.mode]);
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
        if (io && chunk.length) io.write(t, fd, chunk);
      },
      end: () => {
        io?.push(t, ['close', fd, uid, gid, special ? meta.mode : -1, meta.mtime]);
      },
    };
  }

  /** A file whose bytes the writer does not see (copied by the kernel, or shared): its ELF header for --arch auto. */
  private voteElf(p: string, file: string): void {
    if (!this.o.onElf) return;
    const head = Buffer.alloc(64);
    const fd = fs.openSync(file, 'r');
    const n = fs.readSync(fd, head, 0, 64, 0);
    fs.closeSync(fd);
    const id = elfIdent(head.subarray(0, n));
    if (id) this.o.onElf(id, p);
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
    const t = this.threadOf(meta);
    this.stats.files++;
    this.stats.bytes += meta.size;
    this.written.set(meta.path, 'file');
    this.record(meta.path, { kind: 'file', mode: meta.mode, ...own });
    if (meta.size >= 52) this.voteElf(meta.path, from);
    // Directory sources: the kernel copies the bytes (copy_file_range), on the writer thread.
    const [uid, gid] = this.ids(own);
    this.io?.push(t, ['copy', from, this.abs(meta.path), uid, gid, meta.mode, meta.mtime]);
  }

  /**
   * A regular file that is the same as a file of the image outside the container
   * (--dedupe-with-host): a hard link to that file instead of a copy. Its owner, mode and
   * mtime are the image file's and are left alone (they are shared), so it is not recorded.
   */
  linkHost(meta: EntryMeta, hostFile: string): void {
    if (!this.prepare(meta)) return;
    this.voteElf(meta.path, hostFile);
    const t = this.threadOf(meta);
    this.stats.files++;
    this.written.set(meta.path, 'file');
    this.io?.push(t, ['link', hostFile, this.abs(meta.path)]);
  }

  /**
   * Make each path a real directory (mount targets). A symlink at proc, sys, dev or tmp is
   * replaced, since LXC refuses to mount onto a symlink ("... was a symbolic link"); anything
   * else that is not a directory is refused. Runs after the
   * writer threads are idle, on this thread. Returns notes for what it changed.
   */
  async ensureDirs(targets: readonly MountPoint[]): Promise<string[]> {
    await this.io?.settle();
    const notes: string[] = [];
    for (const { path: p, mode, owner, explicit, user } of targets) {
      const k = this.written.get(p);
      if (k === 'dir') {
        if (explicit) {
          // the manifest says how the mount point must be: it wins over the archive
          const own = this.owner(p, owner?.uid ?? 0, owner?.gid ?? 0);
          const cur = this.dirs.get(p)!;
          if (cur.mode !== mode || cur.uid !== own.uid || cur.gid !== own.gid) {
            this.dirs.set(p, { ...cur, mode, ...own });
            this.record(p, { kind: 'dir', mode, ...own });
            notes.push(`set /${p} to mode ${mode.toString(8)}, owner ${owner?.uid ?? 0}:${owner?.gid ?? 0} in the container (mount point)`);
          }
        }
        continue;
      }
      let note = `created /${p} (mount target)`;
      // decided as if p were not there yet (it is replaced below), without copying the map
      if (k !== undefined) this.written.delete(p);
      const d = decideEntry({ path: p, kind: 'dir' }, this.written, this.o.canMknod);
      if (k !== undefined) this.written.set(p, k);
      if (d.action === 'refuse') {
        this.refuse('MOUNT_TARGET_BLOCKED', `the mount target /${p} cannot be made a directory: ${d.message}`, 'choose a mount path whose parents are real directories in the rootfs');
      }
      if (k !== undefined && (k !== 'symlink' || user)) {
        // a symlink at proc, sys, dev or tmp (real trees have /proc -> ...) is replaced; anything
        // else is the rootfs's own content (--mount ...:etc/passwd or ...:bin/sh would delete it)
        this.refuse('MOUNT_TARGET_NOT_DIR', `the mount target /${p} is a ${k} in the rootfs; making it a directory would delete it`, k === 'symlink' ? 'mount at the directory the link points to, or at another path' : 'mount at another path, or take that entry out of the rootfs');
      }
      if (k !== undefined) {
        note = `replaced the ${k} /${p} with a directory: LXC refuses to mount onto a ${k}`;
        if (this.io) fs.unlinkSync(this.abs(p));
        this.written.delete(p);
        this.records.delete(p);
      }
      if (d.action === 'create') this.makeImplicit(d.implicitDirs);
      if (this.io) fs.mkdirSync(this.abs(p), 0o700);
      const own = this.owner(p, owner?.uid ?? 0, owner?.gid ?? 0);
      this.written.set(p, 'dir');
      this.dirs.set(p, { mode, mtime: this.o.implicitMtime, ...own });
      this.record(p, { kind: 'dir', mode, ...own });
      this.stats.dirs++;
      notes.push(note);
    }
    return notes;
  }

  /**
   * The rootfs top must be traversable by the container's non-root users: an archive made
   * from a `mktemp -d` directory has a 0700 top. Returns 'ok', 'fixed' (0755 bits added) or 'locked'.
   */
  checkTopMode(fix: boolean): 'ok' | 'fixed' | 'locked' {
    const top = this.dirs.get('')!;
    if ((top.mode & 0o005) === 0o005) return 'ok';
    if (!fix) return 'locked';
    const mode = top.mode | 0o755;
    this.dirs.set('', { ...top, mode });
    this.record('', { kind: 'dir', mode, uid: top.uid, gid: top.gid });
    return 'fixed';
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

  /** Wait for the writer threads, then set directory owners, modes and times (nothing more goes into them). */
  async finish(): Promise<void> {
    try {
      if (this.io) {
        await this.io.settle();
        for (const [p, m] of this.dirs) {
          const abs = this.abs(p);
          if (this.o.chown) fs.chownSync(abs, m.uid, m.gid);
          fs.chmodSync(abs, m.mode);
          fs.utimesSync(abs, utime(m.mtime), utime(m.mtime));
        }
      }
    } finally {
      await this.abort();
    }
  }
}
