import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ThunderboxError } from '../core/errors.js';
import { toHost, type IdMapLine } from '../lxc/idmap.js';
import { decideEntry } from './decide.js';
import { elfIdent, type ElfIdent } from './elf.js';
import type { EntryKind, EntryMeta, EntrySink, FileSink } from './entry.js';

// The one place that writes a rootfs tree. Benchmark before editing (npm run bench): this is
// the hot path. Design, from measurements on a 176 MB / 6,195-entry rootfs:
//   - synchronous syscalls per file (open O_EXCL, write, fchown, fchmod, futimes, close);
//     no lstat: `written` (what this run created in its new staging directory) answers
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
  /** Ownership and mode of every entry, for the permission table (non-root runs). */
  readonly records = new Map<string, OwnershipRecord>();
  readonly unmapped: string[] = [];
  readonly stats: TreeStats = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devices: 0, fifos: 0, bytes: 0 };
  readonly notes: string[] = [];
  private readonly dirs = new Map<string, DirMeta>();
  private readonly o: TreeWriterOptions;

  private readonly savedUmask: number | null;

  constructor(o: TreeWriterOptions) {
    this.o = o;
    this.savedUmask = o.dryRun ? null : process.umask(0);
    this.dirs.set('', { mode: 0o755, mtime: o.implicitMtime, ...this.owner('', 0, 0) });
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
      if (!this.o.dryRun) fs.mkdirSync(this.abs(d), 0o700);
      this.written.set(d, 'dir');
      const own = this.owner(d, 0, 0);
      this.dirs.set(d, { mode: 0o755, mtime: this.o.implicitMtime, ...own });
      this.records.set(d, { kind: 'dir', mode: 0o755, ...own });
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
        this.records.set(meta.path, { kind: meta.kind, mode: meta.mode, ...this.owner(meta.path, meta.uid, meta.gid), devmajor: meta.devmajor ?? 0, devminor: meta.devminor ?? 0 });
        return false;
      case 'create':
        this.makeImplicit(d.implicitDirs);
        return true;
      case 'replace':
        if (!this.o.dryRun) fs.unlinkSync(this.abs(meta.path));
        this.records.delete(meta.path);
        return true;
      case 'update-dir':
        return true;
    }
  }

  entry(meta: EntryMeta): FileSink | null {
    if (!this.prepare(meta)) return null;
    const abs = this.abs(meta.path);
    const own = meta.kind === 'hardlink' ? { uid: 0, gid: 0 } : this.owner(meta.path, meta.uid, meta.gid);
    const dry = this.o.dryRun === true;
    switch (meta.kind) {
      case 'dir':
        if (!dry && !this.dirs.has(meta.path)) fs.mkdirSync(abs, 0o700);
        if (!this.dirs.has(meta.path)) this.stats.dirs++;
        this.written.set(meta.path, 'dir');
        this.dirs.set(meta.path, { mode: meta.mode, mtime: meta.mtime, ...own });
        this.records.set(meta.path, { kind: 'dir', mode: meta.mode, ...own });
        return null;
      case 'file':
        return this.fileSink(meta, own);
      case 'symlink':
        if (!dry) {
          fs.symlinkSync(meta.linkpath ?? '', abs);
          if (this.o.chown) fs.lchownSync(abs, own.uid, own.gid);
          fs.lutimesSync(abs, meta.mtime, meta.mtime);
        }
        this.stats.symlinks++;
        this.written.set(meta.path, 'symlink');
        return null;
      case 'hardlink': {
        const target = meta.linkpath ?? '';
        if (!dry) fs.linkSync(this.abs(target), abs);
        this.stats.hardlinks++;
        this.written.set(meta.path, this.written.get(target) === 'symlink' ? 'symlink' : 'hardlink');
        return null;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        if (!dry) {
          if (meta.kind === 'fifo') execFileSync('mkfifo', ['-m', '600', abs]);
          else execFileSync('mknod', ['-m', '600', abs, meta.kind === 'char' ? 'c' : 'b', String(meta.devmajor ?? 0), String(meta.devminor ?? 0)]);
          if (this.o.chown) fs.lchownSync(abs, own.uid, own.gid);
          fs.chmodSync(abs, meta.mode);
          fs.utimesSync(abs, meta.mtime, meta.mtime);
        }
        if (meta.kind === 'fifo') this.stats.fifos++;
        else this.stats.devices++;
        this.written.set(meta.path, meta.kind);
        this.records.set(meta.path, { kind: meta.kind, mode: meta.mode, ...own, devmajor: meta.devmajor ?? 0, devminor: meta.devminor ?? 0 });
        return null;
      }
    }
  }

  private fileSink(meta: EntryMeta, own: { uid: number; gid: number }): FileSink {
    this.stats.files++;
    this.written.set(meta.path, 'file');
    this.records.set(meta.path, { kind: 'file', mode: meta.mode, ...own });
    // With umask 0 (set in the constructor) a file is created with its final mode and needs
    // no fchmod, unless it has setuid/setgid/sticky bits: chown clears those, so they are set after it.
    const special = (meta.mode & 0o7000) !== 0;
    const fd = this.o.dryRun ? -1 : fs.openSync(this.abs(meta.path), 'wx', special ? 0o600 : meta.mode);
    let first = true;
    return {
      write: (chunk: Buffer) => {
        if (first) {
          first = false;
          const id = this.o.onElf ? elfIdent(chunk) : null;
          if (id) this.o.onElf!(id, meta.path);
        }
        this.stats.bytes += chunk.length;
        if (fd < 0) return;
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
      },
      end: () => {
        if (fd < 0) return;
        if (this.o.chown && (own.uid !== 0 || own.gid !== 0)) fs.fchownSync(fd, own.uid, own.gid);
        if (special) fs.fchmodSync(fd, meta.mode);
        fs.futimesSync(fd, meta.mtime, meta.mtime);
        fs.closeSync(fd);
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
    this.records.set(meta.path, { kind: 'file', mode: meta.mode, ...own });
    if (this.o.onElf && meta.size >= 52) {
      const head = Buffer.alloc(64);
      const rfd = fs.openSync(from, 'r');
      const n = fs.readSync(rfd, head, 0, 64, 0);
      fs.closeSync(rfd);
      const id = elfIdent(head.subarray(0, n));
      if (id) this.o.onElf(id, meta.path);
    }
    if (this.o.dryRun) return;
    // Directory sources: the kernel copies the bytes (copy_file_range); EXCL as for archives.
    const abs = this.abs(meta.path);
    fs.copyFileSync(from, abs, fs.constants.COPYFILE_EXCL);
    const fd = fs.openSync(abs, 'r+');
    if (this.o.chown) fs.fchownSync(fd, own.uid, own.gid);
    fs.fchmodSync(fd, meta.mode);
    fs.futimesSync(fd, meta.mtime, meta.mtime);
    fs.closeSync(fd);
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
      if (!this.o.dryRun) fs.unlinkSync(this.abs(p));
      this.written.delete(p);
      this.records.delete(p);
    }
    if (d.action === 'create') this.makeImplicit(d.implicitDirs);
    if (!this.o.dryRun) fs.mkdirSync(this.abs(p), 0o700);
    const own = this.owner(p, 0, 0);
    this.written.set(p, 'dir');
    this.dirs.set(p, { mode, mtime: this.o.implicitMtime, ...own });
    this.records.set(p, { kind: 'dir', mode, ...own });
    this.stats.dirs++;
    return note;
  }

  /** Put the process umask back (finish() does; call it when giving up half-way). */
  release(): void {
    if (this.savedUmask !== null) process.umask(this.savedUmask);
  }

  /** Directory owners, modes and times, now that nothing more is written into them. */
  finish(): void {
    this.release();
    if (this.o.dryRun) return;
    for (const [p, m] of this.dirs) {
      const abs = this.abs(p);
      if (this.o.chown) fs.chownSync(abs, m.uid, m.gid);
      fs.chmodSync(abs, m.mode);
      fs.utimesSync(abs, m.mtime, m.mtime);
    }
  }
}
