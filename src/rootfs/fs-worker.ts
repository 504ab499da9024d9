import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { parentPort } from 'node:worker_threads';
import { utime } from '../core/mtime.js';

// The writer thread: executes, in order, the filesystem operations the tree writer decided
// on (see tree-writer.ts and write-thread.ts). It makes no decisions: every path was
// checked on the main thread. Running the syscalls here lets the kernel's work (file
// creation, page-cache copies) overlap with parsing on the main thread.

export type WriteOp =
  | ['open', number, string, number]
  | ['write', number, number, number, number]
  | ['close', number, number, number, number, number]
  | ['copy', string, string, number, number, number, number]
  | ['symlink', string, string, number, number, number]
  | ['link', string, string]
  | ['unlink', string]
  | ['node', 'c' | 'b' | 'p', string, number, number, number, number, number, number];

export interface WriteBatch {
  seq: number;
  /** JSON of WriteOp[]: one string crosses threads far cheaper than many small arrays. */
  ops: string;
  /** File data: 'write' ops name a slab by index, with offset and length. */
  slabs: ArrayBuffer[];
}

export interface WriteReply {
  seq: number;
  /** The batch's slabs, handed back for reuse (so neither thread allocates per chunk). */
  slabs: ArrayBuffer[];
  error?: { code?: string; message: string; path?: string; syscall?: string };
}

const fds = new Map<number, number>();

/** uid -1 means "leave the owner", mode -1 "leave the mode". */
function run(op: WriteOp, slabs: ArrayBuffer[]): void {
  switch (op[0]) {
    case 'open':
      fds.set(op[1], fs.openSync(op[2], 'wx', op[3]));
      return;
    case 'write': {
      const [, id, slab, start, length] = op;
      const fd = fds.get(id)!;
      const data = new Uint8Array(slabs[slab]!, start, length);
      let off = 0;
      while (off < length) off += fs.writeSync(fd, data, off, length - off);
      return;
    }
    case 'close': {
      const [, id, uid, gid, mode, mtime] = op;
      const fd = fds.get(id)!;
      fds.delete(id);
      try {
        if (uid >= 0) fs.fchownSync(fd, uid, gid);
        if (mode >= 0) fs.fchmodSync(fd, mode);
        fs.futimesSync(fd, utime(mtime), utime(mtime));
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    case 'copy': {
      const [, from, to, uid, gid, mode, mtime] = op;
      fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
      const fd = fs.openSync(to, 'r+');
      try {
        if (uid >= 0) fs.fchownSync(fd, uid, gid);
        fs.fchmodSync(fd, mode);
        fs.futimesSync(fd, utime(mtime), utime(mtime));
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    case 'symlink': {
      const [, target, p, uid, gid, mtime] = op;
      fs.symlinkSync(target, p);
      if (uid >= 0) fs.lchownSync(p, uid, gid);
      fs.lutimesSync(p, utime(mtime), utime(mtime));
      return;
    }
    case 'link':
      fs.linkSync(op[1], op[2]);
      return;
    case 'unlink':
      fs.unlinkSync(op[1]);
      return;
    case 'node': {
      const [, type, p, major, minor, uid, gid, mode, mtime] = op;
      if (type === 'p') execFileSync('mkfifo', ['-m', '600', p]);
      else execFileSync('mknod', ['-m', '600', p, type, String(major), String(minor)]);
      if (uid >= 0) fs.lchownSync(p, uid, gid);
      fs.chmodSync(p, mode);
      fs.utimesSync(p, utime(mtime), utime(mtime));
      return;
    }
  }
}

let failed: WriteReply['error'] | undefined;

parentPort?.on('message', (batch: WriteBatch) => {
  if (!failed) {
    try {
      for (const op of JSON.parse(batch.ops) as WriteOp[]) run(op, batch.slabs);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      failed = { code: e.code, message: e.message, path: e.path, syscall: e.syscall };
    }
  }
  const reply: WriteReply = { seq: batch.seq, slabs: batch.slabs, ...(failed ? { error: failed } : {}) };
  parentPort!.postMessage(reply, batch.slabs);
});
