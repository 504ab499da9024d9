// One filesystem object of a rootfs, as an archive or a directory walk describes it.
// Both readers produce these; the tree writer consumes them.

export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface EntryMeta {
  /** Normalised path relative to the rootfs top; '' is the top itself. */
  path: string;
  kind: EntryKind;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (may carry a fraction). */
  mtime: number;
  size: number;
  /** Symlink target as stored, or the hard link's target path (normalised). */
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
}

/** Where file data for one entry goes; the writer hands one out per regular file. */
export interface FileSink {
  write(chunk: Buffer): void;
  end(): void;
}

export interface EntrySink {
  /** Returns a sink for regular files, null for everything else. Throws to refuse. */
  entry(meta: EntryMeta): FileSink | null;
  /** Regular file whose bytes come from a file on disk (directory sources). */
  copy(meta: EntryMeta, from: string | Buffer): void;
  /** Called between input chunks: may wait for the writer to catch up; throws its errors. */
  backpressure(): Promise<void>;
}
