import fs from 'node:fs';
import path from 'node:path';
import type { EntryMeta, EntrySink, FileSink } from './entry.js';
import type { TreeWriter } from './tree-writer.js';
import { ThunderboxError } from '../core/errors.js';

// Passes only the selected entries of a rootfs on to the tree writer (a minimised container)
// and counts what the full rootfs had, for the size report. Selected files that are the same
// as the image's own copy become hard links to it (dedupe). A selected hard link whose first
// name was left out becomes the file itself.

export interface SizeReport {
  /** Regular files and their bytes in the container (hard links counted once). */
  files: number;
  bytes: number;
  /** ... in the full rootfs it was made from. */
  fullFiles: number;
  fullBytes: number;
  /** bytes / fullBytes, in percent (one decimal). */
  percent: number;
  /** Files (and bytes) that are hard links to the image's own copies (--dedupe-with-host). */
  sharedFiles: number;
  sharedBytes: number;
}

const DISCARD: FileSink = { write() {}, end() {} };

function percentOf(part: number, whole: number): number {
  return whole === 0 ? 100 : Math.round((part / whole) * 1000) / 10;
}

export class FilterSink implements EntrySink {
  private full = { files: 0, bytes: 0 };
  private kept = { files: 0, bytes: 0 };
  private shared = { files: 0, bytes: 0 };
  /** Paths passed on (a hard link may point only at one of these). */
  private readonly passed = new Set<string>();
  /** A hard link's first name that was left out -> the selected name that holds the file now. */
  private readonly moved = new Map<string, string>();

  constructor(
    private readonly writer: TreeWriter,
    /** null: every entry (a full copy that only dedupes). */
    private readonly selected: ReadonlySet<string> | null,
    /** Selected path -> the image's identical file to hard-link to. */
    private readonly dedupe: ReadonlyMap<string, string>,
    /** A directory source: where a left-out hard link's data can be read from. */
    private readonly sourceDir?: string,
  ) {}

  private countFull(meta: EntryMeta): void {
    if (meta.kind !== 'file') return;
    this.full.files++;
    this.full.bytes += meta.size;
  }

  private take(meta: EntryMeta): boolean {
    if (this.selected && !this.selected.has(meta.path)) return false;
    this.passed.add(meta.path);
    if (meta.kind === 'file') {
      this.kept.files++;
      this.kept.bytes += meta.size;
    }
    return true;
  }

  private shareable(meta: EntryMeta): string | undefined {
    if (meta.kind !== 'file') return undefined;
    const host = this.dedupe.get(meta.path);
    if (host === undefined) return undefined;
    this.shared.files++;
    this.shared.bytes += meta.size;
    return host;
  }

  /** A hard link whose target was left out: this name becomes the file. */
  private relink(meta: EntryMeta): EntryMeta | null {
    if (meta.kind !== 'hardlink' || meta.linkpath === undefined || this.passed.has(meta.linkpath)) return null;
    const moved = this.moved.get(meta.linkpath);
    if (moved !== undefined) return { ...meta, linkpath: moved };
    this.moved.set(meta.linkpath, meta.path);
    return { ...meta, kind: 'file' };
  }

  entry(meta: EntryMeta): FileSink | null {
    this.countFull(meta);
    if (!this.take(meta)) return meta.kind === 'file' ? DISCARD : null;
    const host = this.shareable(meta);
    if (host !== undefined) {
      this.writer.linkHost(meta, host);
      return DISCARD;
    }
    const re = this.relink(meta);
    if (re?.kind === 'file') {
      // archives keep the data with the first name only; the selection always includes it there
      if (!this.sourceDir) throw new ThunderboxError({ code: 'INTERNAL_SELECTION', severity: 'error', message: `hard link ${meta.path} in the archive points to ${meta.linkpath}, which the selection left out`, hint: 'report this as a thunderbox bug; prepare without --minimize meanwhile' });
      const abs = path.join(this.sourceDir, meta.path);
      const st = fs.statSync(abs);
      this.kept.files++;
      this.kept.bytes += st.size;
      this.writer.copy({ ...re, size: st.size }, abs);
      return null;
    }
    return this.writer.entry(re ?? meta);
  }

  copy(meta: EntryMeta, from: string | Buffer): void {
    this.countFull(meta);
    if (!this.take(meta)) return;
    const host = this.shareable(meta);
    if (host !== undefined) this.writer.linkHost(meta, host);
    else this.writer.copy(meta, from);
  }

  backpressure(): Promise<void> {
    return this.writer.backpressure();
  }

  report(): SizeReport {
    return { files: this.kept.files, bytes: this.kept.bytes, fullFiles: this.full.files, fullBytes: this.full.bytes, percent: percentOf(this.kept.bytes, this.full.bytes), sharedFiles: this.shared.files, sharedBytes: this.shared.bytes };
  }
}
