import fs from 'node:fs';
import { Header, Pax } from 'tar';

// Writes a tar archive from in-memory entry descriptions, in the order given: the sample
// rootfs of `thunderbox demo`, the benchmark's archive, and the tests' (hostile) archives.
// node-tar encodes the headers (ustar, with a pax header where a name or value needs one);
// this file only lays the blocks out. Nothing here sanitises: tests need hostile entries.

export interface ArchiveEntry {
  path: string;
  type: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkpath?: string;
  data?: Buffer | string;
  devmaj?: number;
  devmin?: number;
}

const ZERO = Buffer.alloc(1024);

function pad(n: number): Buffer {
  const r = n % 512;
  return r === 0 ? Buffer.alloc(0) : ZERO.subarray(0, 512 - r);
}

export function encodeEntry(e: ArchiveEntry): Buffer[] {
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
  const h: ConstructorParameters<typeof Header>[0] = {
    path: e.path,
    type: e.type,
    mode: e.mode ?? (e.type === 'Directory' ? 0o755 : 0o644),
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    size: e.type === 'File' ? data.length : 0,
    mtime: new Date((e.mtime ?? 1700000000) * 1000),
    linkpath: e.linkpath,
    uname: '',
    gname: '',
    devmaj: e.devmaj ?? 0,
    devmin: e.devmin ?? 0,
  };
  const header = new Header(h);
  const block = Buffer.alloc(512);
  const out: Buffer[] = [];
  if (header.encode(block, 0)) {
    const pax = new Pax({ path: e.path, linkpath: e.linkpath, mtime: h.mtime, uid: h.uid, gid: h.gid, size: h.size });
    out.push(pax.encode());
    // the ustar header after a pax header carries a truncated name; re-encode without failing
    const short = new Header({ ...h, path: e.path.slice(-99), linkpath: e.linkpath?.slice(-99) });
    short.encode(block, 0);
  }
  out.push(block);
  if (data.length) out.push(data, pad(data.length));
  return out;
}

/** Streams entries into a file; returns the archive size. */
export function writeArchive(file: string, entries: Iterable<ArchiveEntry>): number {
  const fd = fs.openSync(file, 'w', 0o644);
  let size = 0;
  try {
    for (const e of entries) {
      for (const b of encodeEntry(e)) {
        fs.writeSync(fd, b);
        size += b.length;
      }
    }
    fs.writeSync(fd, ZERO);
    size += ZERO.length;
  } finally {
    fs.closeSync(fd);
  }
  return size;
}

export function archiveBuffer(entries: Iterable<ArchiveEntry>): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) parts.push(...encodeEntry(e));
  parts.push(ZERO);
  return Buffer.concat(parts);
}
