import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { findUp } from '../core/find-up.js';
import type { WriteBatch, WriteOp, WriteReply } from './fs-worker.js';

// The main thread's side of the writer thread: operations are queued in order, sent in
// batches, and acknowledged. Ordering is total (one thread, FIFO), so a file is always
// created after its directory and a hard link after its target. Memory is bounded: the
// reader waits in `backpressure()` while more than HIGH bytes of file data are in flight.
// File data is copied into slabs (ArrayBuffers) that travel to the thread with their batch
// and come back with the reply, for reuse: neither thread allocates per chunk, and the memory
// held is about HIGH bytes whatever the archive size.
// An error in the thread (ENOSPC, EACCES) comes back as an Error with code and path and is
// thrown from the next backpressure() or finish().

const BATCH_OPS = 512;
/** Slab memory per batch before it is sent. */
const BATCH_BYTES = 512 << 10;
/** Slab memory in flight: the reader waits above HIGH until it is down to LOW. */
const HIGH = 2 << 20;
const LOW = 512 << 10;
const SLAB = 256 << 10;

/** dist/rootfs/fs-worker.js, found from the package root (this code may be bundled into a chunk). */
let workerPath: string | undefined;
function workerFile(): string {
  if (workerPath) return workerPath;
  const root = findUp(import.meta.url, (dir) => fs.existsSync(path.join(dir, 'dist', 'rootfs', 'fs-worker.js')));
  if (!root) throw new Error('dist/rootfs/fs-worker.js not found: run `npm run build` first');
  return (workerPath = path.join(root, 'dist', 'rootfs', 'fs-worker.js'));
}

class WriteThread {
  private readonly worker: Worker;
  private ops: WriteOp[] = [];
  private slabs: ArrayBuffer[] = [];
  private free: ArrayBuffer[] = [];
  private slabOff = 0;
  private batchBytes = 0;
  private seq = 0;
  private acked = 0;
  private inFlight = new Map<number, number>();
  private inFlightBytes = 0;
  private error: Error | undefined;
  private waiters: (() => void)[] = [];
  constructor() {
    // a small young generation: the thread allocates little (op arrays), and its heap is RSS
    this.worker = new Worker(workerFile(), { resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 32, stackSizeMb: 1 } });
    this.worker.on('message', (r: WriteReply) => this.onReply(r));
    this.worker.on('error', (e) => this.fail(e));
  }

  private onReply(r: WriteReply): void {
    this.free.push(...r.slabs);
    this.acked = Math.max(this.acked, r.seq);
    this.inFlightBytes -= this.inFlight.get(r.seq) ?? 0;
    this.inFlight.delete(r.seq);
    if (r.error && !this.error) {
      const e = new Error(r.error.message) as NodeJS.ErrnoException;
      e.code = r.error.code;
      e.path = r.error.path;
      e.syscall = r.error.syscall;
      this.fail(e);
    }
    this.wake();
  }

  private fail(e: Error): void {
    this.error ??= e;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  push(op: WriteOp): void {
    this.ops.push(op);
    if (this.ops.length >= BATCH_OPS || this.batchBytes >= BATCH_BYTES) this.flush();
  }

  /**
   * Queue a write of `chunk` to file `fd`: the bytes are copied into the batch's slabs (a chunk
   * may span several). Memory is counted by slab, so small batches cannot pin large buffers.
   */
  write(fd: number, chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      let slab = this.slabs[this.slabs.length - 1];
      if (!slab || this.slabOff === slab.byteLength) {
        slab = this.free.pop() ?? new ArrayBuffer(SLAB);
        this.slabs.push(slab);
        this.slabOff = 0;
        this.batchBytes += SLAB;
      }
      const n = Math.min(chunk.length - pos, slab.byteLength - this.slabOff);
      new Uint8Array(slab, this.slabOff, n).set(chunk.subarray(pos, pos + n));
      this.push(['write', fd, this.slabs.length - 1, this.slabOff, n]);
      this.slabOff += n;
      pos += n;
    }
  }

  flush(): void {
    if (this.ops.length === 0) return;
    const batch: WriteBatch = { seq: ++this.seq, ops: JSON.stringify(this.ops), slabs: this.slabs };
    this.inFlight.set(batch.seq, this.batchBytes);
    this.inFlightBytes += this.batchBytes;
    this.worker.postMessage(batch, this.slabs);
    this.ops = [];
    this.slabs = [];
    this.slabOff = 0;
    this.batchBytes = 0;
  }

  private async waitUntil(cond: () => boolean): Promise<void> {
    while (!cond() && !this.error) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.error) throw this.error;
  }

  /** Between input chunks: send what is queued; wait while too much data is in flight. */
  async backpressure(): Promise<void> {
    this.flush();
    if (this.error) throw this.error;
    if (this.inFlightBytes > HIGH) await this.waitUntil(() => this.inFlightBytes <= LOW);
  }

  /** Everything queued is done (or the first error is thrown). */
  async settle(): Promise<void> {
    this.flush();
    await this.waitUntil(() => this.acked === this.seq);
  }

  /** Stop the thread; after this resolves no operation of it runs any more. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * Several writer threads, so the kernel creates files in parallel (on a slow disk, creating
 * a file is what tar waits for). Ordering is kept where it matters: every operation on one
 * path goes to the thread that created it, files go to their directory's thread, a hard link
 * to its target's thread; directories are made on the main thread before anything in them.
 */
export class WriterPool {
  private readonly threads: WriteThread[];
  private nextFd = 0;

  constructor(n: number) {
    this.threads = Array.from({ length: n }, () => new WriteThread());
  }

  get size(): number {
    return this.threads.length;
  }

  push(i: number, op: WriteOp): void {
    this.threads[i]!.push(op);
  }

  write(i: number, fd: number, chunk: Buffer): void {
    this.threads[i]!.write(fd, chunk);
  }

  newFd(): number {
    return ++this.nextFd;
  }

  async backpressure(): Promise<void> {
    for (const t of this.threads) await t.backpressure();
  }

  async settle(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.settle()));
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
