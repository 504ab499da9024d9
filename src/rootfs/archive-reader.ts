import fs from 'node:fs';
import path from 'node:path';
import type { ReadEntry } from 'tar';
import { Interrupted, ThunderboxError, errnoCode, fail } from '../core/errors.js';
import { MTIME_LIMIT } from '../core/mtime.js';
import { detectCodec, type Codec } from './codec.js';
import { PATH_MAX, normalizeEntryPath, shortName } from './entry-path.js';
import type { EntryKind, EntryMeta, EntrySink } from './entry.js';

// Streams an archive into an EntrySink. Bytes arrive in 1 MiB chunks (read asynchronously,
// so signals are seen between chunks) and are parsed and written synchronously by node-tar's
// Parser and the sink: memory stays at a few chunks whatever the archive size.

const CHUNK = 1 << 20;

const KINDS: Partial<Record<ReadEntry['type'], EntryKind>> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Directory: 'dir',
  SymbolicLink: 'symlink',
  Link: 'hardlink',
  CharacterDevice: 'char',
  BlockDevice: 'block',
  FIFO: 'fifo',
};

export interface ArchiveInfo {
  codec: Codec;
  size: number;
}

export function probeArchive(file: string): ArchiveInfo {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    fail('ROOTFS_UNREADABLE', `cannot open ${file}: ${errnoCode(err) ?? String(err)}`, 'give the path of a rootfs archive (rootfs.tar, .tar.gz, .tar.xz, ...) or a directory', { file });
  }
  try {
    const st = fs.fstatSync(fd);
    const head = Buffer.alloc(512);
    const n = fs.readSync(fd, head, 0, 512, 0);
    if (n === 0) fail('ARCHIVE_EMPTY', `${file} is empty`, 'rebuild the rootfs archive', { file });
    const codec = detectCodec(head.subarray(0, n));
    if (!codec) {
      fail('ARCHIVE_FORMAT', `${file} is not a tar archive, nor a gzip, bzip2, xz or zstd compressed one (first bytes: ${head.subarray(0, 8).toString('hex')})`, 'pass Buildroot\'s output/images/rootfs.tar (or a compressed copy), or a directory', { file });
    }
    return { codec, size: st.size };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * node-tar reads a device's major and minor numbers only from POSIX ustar headers ("ustar\0"
 * "00"); GNU tar's default format ("ustar  \0", Buildroot's rootfs.tar) has them at the same
 * offsets, and node-tar leaves them 0. Its Header.decode is wrapped, once, to read them there.
 */
let gnuDevicesRead = false;
function readGnuDeviceNumbers(Header: typeof import('tar').Header): void {
  if (gnuDevicesRead) return;
  gnuDevicesRead = true;
  const decode = Header.prototype.decode;
  Header.prototype.decode = function (this: InstanceType<typeof Header>, buf: Buffer, off: number, ...rest: unknown[]): void {
    (decode as (...a: unknown[]) => void).call(this, buf, off, ...rest);
    const type = buf[off + 156];
    if ((type === 0x33 || type === 0x34) && buf.toString('latin1', off + 257, off + 265) === 'ustar  \0') {
      const num = (at: number) => Number.parseInt(buf.toString('latin1', at, at + 8).replace(/\0.*$/s, '').trim() || '0', 8);
      this.devmaj = num(off + 329);
      this.devmin = num(off + 337);
    }
  } as typeof decode;
}

function toMeta(re: ReadEntry, archive: string): EntryMeta {
  const kind = KINDS[re.type];
  if (!kind) {
    fail('ENTRY_TYPE_UNSUPPORTED', `entry "${re.path}" has the unsupported type ${re.type}`, 'rebuild the archive without sparse files, ACL or volume entries', { file: archive });
  }
  // node-tar decodes names as UTF-8: other bytes (a latin-1 tar) come back as U+FFFD, and two
  // names could become one
  if (re.path.includes('\uFFFD') || re.linkpath?.includes('\uFFFD')) {
    fail('ENTRY_NAME_ENCODING', `entry "${re.path}"${re.linkpath ? ` -> "${re.linkpath}"` : ''} has a name that is not valid UTF-8`, 'make the archive with UTF-8 names (convmv the tree, or tar --format=posix from a UTF-8 locale)', { file: archive });
  }
  const p = normalizeEntryPath(re.path);
  if (!p.ok) fail(p.code, p.message, p.code.endsWith('_TOO_LONG') ? 'no filesystem holds that name: leave it out of the rootfs and rebuild the archive; nothing was changed' : 'the archive is unsafe; rebuild it with relative names (tar -C DIR .); nothing was changed', { file: archive });
  const meta: EntryMeta = {
    path: p.path,
    kind,
    mode: (re.mode ?? 0o644) & 0o7777,
    uid: re.uid ?? 0,
    gid: re.gid ?? 0,
    mtime: re.mtime ? re.mtime.getTime() / 1000 : 0,
    size: re.size,
  };
  if (kind === 'symlink') {
    meta.linkpath = re.linkpath ?? '';
    if (Buffer.byteLength(meta.linkpath) >= PATH_MAX) fail('ENTRY_PATH_TOO_LONG', `symlink ${shortName(p.path)} points to ${shortName(meta.linkpath)}, longer than PATH_MAX (${PATH_MAX} bytes)`, 'no filesystem holds that link: leave it out of the rootfs and rebuild the archive; nothing was changed', { file: archive });
  }
  if (kind === 'hardlink') {
    const t = normalizeEntryPath(re.linkpath ?? '');
    meta.linkpath = t.ok ? t.path : (re.linkpath ?? '');
    if (!t.ok) fail('LINK_OUTSIDE', `hard link "${p.path}" points outside the rootfs ("${re.linkpath ?? ''}")`, 'the archive is unsafe; rebuild it; nothing was changed', { file: archive });
  }
  if (kind === 'char' || kind === 'block') {
    meta.devmajor = re.header.devmaj ?? 0;
    meta.devminor = re.header.devmin ?? 0;
  }
  return meta;
}

/**
 * Plain (or gzip, which node-tar inflates itself) archives: synchronous 1 MiB reads, with a
 * turn of the event loop after each so SIGINT/SIGTERM handlers run. Measured: async reads
 * through the thread pool left the main thread idle ~15% of the time.
 */
async function* fileChunks(file: string): AsyncGenerator<Buffer> {
  const fd = fs.openSync(file, 'r');
  // Two buffers, used in turn: the parser may keep a slice of the last chunk (a header cut in
  // two) until the next write, which copies it; file data is copied out synchronously by the
  // tree writer. So a buffer is free again one chunk later, and no garbage is made per chunk.
  const bufs = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
  try {
    for (let i = 0; ; i ^= 1) {
      const buf = bufs[i]!;
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) return;
      yield n === CHUNK ? buf : buf.subarray(0, n);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function* toolChunks(file: string, codec: Codec, onRead: (n: number) => void): AsyncGenerator<Buffer> {
  const tool = codec.tool!;
  const { execa } = await import('execa'); // loaded only for compressed archives: it costs ~150 ms at start-up
  const proc = execa(tool.cmd, tool.args, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: { stdout: false, stderr: true }, reject: false });
  // pipe first, count second: a 'data' listener alone would start the stream flowing
  const input = fs.createReadStream(file, { highWaterMark: CHUNK });
  input.pipe(proc.stdin!);
  input.on('data', (c) => onRead(c.length));
  input.on('error', () => proc.kill());
  proc.stdin!.on('error', () => {}); // EPIPE when the tool stops early: its exit status tells
  let done = false;
  try {
    for await (const c of proc.stdout!) yield c as Buffer;
    done = true;
  } finally {
    if (!done) proc.kill();
    const r = await proc;
    if (done) {
      if (r.failed && (r as { code?: string }).code === 'ENOENT') {
        fail('TOOL_MISSING', `${file} is ${codec.name}-compressed and the \`${tool.cmd}\` command is not installed`, `install it (Debian: apt-get install ${tool.debianPackage}) or pass an uncompressed rootfs.tar`);
      }
      if (r.exitCode !== 0) {
        fail('ARCHIVE_CORRUPT', `${tool.cmd} could not decompress ${file}: ${String(r.stderr ?? '').trim() || `exit ${r.exitCode}`}`, 'the archive is damaged; rebuild or download it again');
      }
    }
  }
}

export interface ReadOptions {
  signal?: AbortSignal;
  /** Compressed bytes consumed so far. */
  onProgress?: (bytes: number) => void;
  /** Each chunk as it goes to the tar parser (decompressed, for the codecs a host tool decodes). */
  tee?: (chunk: Buffer) => void;
}

/** What a read found beyond the entries: extended attributes, which thunderbox does not set. */
export interface ReadSummary {
  xattrs: { path: string; names: string[] }[];
}

// pax records ("<len> <key>=<value>") that node-tar parses away: sparse maps (GNU.sparse.*, all
// three pax sparse formats) and extended attributes (SCHILY.xattr.*, LIBARCHIVE.xattr.*)
const PAX_SPARSE = /^\d+ GNU\.sparse\./m;
const PAX_MTIME = /^\d+ mtime=(\S+)$/m;
const PAX_XATTR = /^\d+ (?:SCHILY|LIBARCHIVE)\.xattr\.([^=]+)=/gm;

export async function readArchive(file: string, info: ArchiveInfo, sink: EntrySink, opts: ReadOptions = {}): Promise<ReadSummary> {
  let failure: unknown;
  const name = path.basename(file);
  const summary: ReadSummary = { xattrs: [] };
  const archiveError = (code: string, message: string, hint: string) => new ThunderboxError({ code, severity: 'error', file, message, hint });
  const sparse = (p: string) => archiveError('ARCHIVE_SPARSE', `${name}: ${p} is stored as a sparse file, which thunderbox does not restore`, 'make the archive without --sparse (-S); Buildroot\'s rootfs.tar has no sparse files');
  // the pax header of the entry that comes next
  let meta = '';
  const { Header, Parser } = await import('tar');
  readGnuDeviceNumbers(Header);
  // whether the last thing read was the end-of-archive marker (a zero block where a header
  // goes): without it the archive was cut short, perhaps at a header boundary, where node-tar
  // (and GNU tar) stop without a word
  let ended = false;
  const parser = new Parser({
    strict: true,
    // node-tar aborts a gzip stream that inflates over 1000:1 ("max decompression ratio
    // exceeded"); a rootfs with a large zero-filled file (a swap or disk image) goes over it.
    // What bounds the output is the target filesystem: ENOSPC is DISK_FULL, rolled back.
    maxDecompressionRatio: Infinity,
    onReadEntry: (re: ReadEntry) => {
      ended = false;
      const pax = meta;
      meta = '';
      if (failure) return re.resume();
      try {
        // a sparse file's data is a map plus pieces: written as it comes, it would be wrong or
        // missing (GNU tar restores it); refused rather than lost
        if (pax && PAX_SPARSE.test(pax)) throw sparse(re.path);
        const meta = toMeta(re, file);
        // node-tar's Date keeps milliseconds; the pax record has the nanoseconds GNU tar wrote
        const exact = pax ? PAX_MTIME.exec(pax) : null;
        if (exact) meta.mtime = Number(exact[1]);
        if (!(Math.abs(meta.mtime) < MTIME_LIMIT)) {
          throw archiveError('ARCHIVE_CORRUPT', `${name}: ${re.path} has the mtime ${exact?.[1] ?? meta.mtime}, beyond what a file can have`, 'the archive is damaged; rebuild it (nothing was changed)');
        }
        const names = pax ? [...pax.matchAll(PAX_XATTR)].map((m) => m[1]!) : [];
        if (names.length) summary.xattrs.push({ path: `/${meta.path}`, names });
        const fileSink = sink.entry(meta);
        if (fileSink) {
          re.on('data', (c: Buffer) => {
            if (failure) return;
            try {
              fileSink.write(c);
            } catch (err) {
              failure = err;
            }
          });
          re.on('end', () => {
            if (failure) return;
            try {
              fileSink.end();
            } catch (err) {
              failure = err;
            }
          });
        } else re.resume();
      } catch (err) {
        failure = err;
        re.resume();
      }
    },
  });
  parser.on('meta', (m: string) => {
    meta = m;
  });
  // node-tar passes over entry types it does not extract (GNU sparse 'S', contiguous '7', ...):
  // GNU tar restores them, so leaving them out would lose files without a word
  parser.on('ignoredEntry', (re: ReadEntry) => {
    ended = false;
    meta = '';
    failure ??= re.type === 'SparseFile'
      ? sparse(re.path)
      : archiveError('ARCHIVE_ENTRY_TYPE', `${name}: ${re.path} is a ${re.type} entry, which thunderbox does not extract`, 'make the archive with GNU tar from the target directory (as Buildroot does)');
  });
  parser.on('nullBlock', () => {
    ended = true;
  });
  parser.on('error', (err: Error) => {
    failure ??= archiveError('ARCHIVE_CORRUPT', `${name} is damaged: ${err.message.replace(/^TAR_[A-Z_]+: /, '')}`, 'rebuild the rootfs archive; nothing was changed');
  });
  let bytes = 0;
  const onRead = (n: number) => {
    bytes += n;
    opts.onProgress?.(bytes);
  };
  const chunks = info.codec.tool ? toolChunks(file, info.codec, onRead) : fileChunks(file);
  try {
    for await (const chunk of chunks) {
      if (!info.codec.tool) onRead(chunk.length);
      opts.tee?.(chunk);
      parser.write(chunk);
      if (failure) break;
      await sink.backpressure();
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Interrupted('SIGINT');
    }
  } catch (err) {
    if (err instanceof ThunderboxError || err instanceof Interrupted) throw err;
    throw failure ?? err;
  } finally {
    await chunks.return(undefined);
  }
  if (!failure) {
    parser.end(); // synchronous: flushes the last blocks, reports truncation through 'error'
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (!failure && !ended) {
    failure = archiveError('ARCHIVE_CORRUPT', `${name} is damaged: it ends without the end-of-archive blocks: it was cut short`, 'rebuild or copy the rootfs archive again; nothing was changed');
  }
  if (failure) throw failure;
  return summary;
}
