import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { errnoCode } from './errors.js';
import { utime } from './mtime.js';
import type { FileOp, KeepOp } from './plan.js';

/**
 * Write a file by temp + rename, so readers (and a run killed half-way) see the old or the
 * new bytes, never a mix. No fsync unless asked: on ext4 (data=ordered) an fsync flushes every
 * dirty page of the filesystem, which after extracting a rootfs costs seconds. Like tar,
 * thunderbox protects against its own failures, not against power loss.
 */
export function writeFileAtomic(file: string, data: string | Buffer, opts: { mode?: number; mtime?: number; durable?: boolean; uid?: number; gid?: number } = {}): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tbx-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (opts.uid !== undefined && opts.gid !== undefined && process.getuid?.() === 0) fs.fchownSync(fd, opts.uid, opts.gid);
    fs.fchmodSync(fd, opts.mode ?? 0o644);
    if (opts.mtime !== undefined) fs.futimesSync(fd, utime(opts.mtime), utime(opts.mtime));
    if (opts.durable) fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw err;
  }
}

export function readFileOrNull(p: string): Buffer | null {
  try {
    return fs.readFileSync(p);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/**
 * A file thunderbox generates whole (a boot script, a network config) as a plan op: kept when
 * the image has these bytes with this mode already, else written.
 */
export function generatedFileOp(file: string, content: string, mode: number, reason: { keep: string; write: string }, mtime: number | undefined): FileOp | KeepOp {
  const before = readFileOrNull(file)?.toString('utf8') ?? null;
  if (before === content && (fs.statSync(file).mode & 0o7777) === mode) return { kind: 'keep', path: file, reason: reason.keep };
  return { kind: 'file', path: file, reason: reason.write, before, after: content, mode, mtime };
}

/**
 * rm -rf that also works as non-root on trees holding read-only directories
 * (a rootfs has 0555 dirs such as /proc): make directories writable, then remove.
 */
export function removeTree(p: string): void {
  const st = lstatOrNull(p);
  if (!st) return;
  if (st.isDirectory() && process.getuid?.() !== 0) makeWritable(p);
  fs.rmSync(p, { recursive: true, force: true });
}

function makeWritable(dir: string): void {
  fs.chmodSync(dir, 0o700);
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    if (ent.isDirectory()) makeWritable(path.join(dir, ent.name));
  }
}

/** mkdir -p that returns the directories it created, outermost first (for rollback). */
/** The directories mkdir -p would make for `dir`, outermost first (nothing is made). */
export function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  let cur = path.resolve(dir);
  while (!lstatOrNull(cur)) {
    missing.unshift(cur);
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  return missing;
}

/** Remove the temporary files writeFileAtomic left for `file` (a run killed while writing it). */
export function removeAtomicTemps(file: string): void {
  const prefix = `.${path.basename(file)}.tbx-tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(path.dirname(file));
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(prefix)) fs.rmSync(path.join(path.dirname(file), n), { force: true });
}
