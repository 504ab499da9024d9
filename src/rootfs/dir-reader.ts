import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Interrupted, errnoCode, fail } from '../core/errors.js';
import type { EntryKind, EntryMeta, EntrySink } from './entry.js';

// A directory (Buildroot's TARGET_DIR, or an unpacked rootfs) read as a stream of entries,
// in sorted order so the result does not depend on readdir order. Hard links are found by
// (dev, ino). Symlinks are never followed.
//
// Ownership: as root the files' owners are real. As a normal user (Buildroot's post-build
// runs so) files owned by that user stand for root:root, which is what Buildroot's
// fakeroot step (chown -R 0:0) makes of them.

export interface DirWalkOptions {
  /** Relative paths to leave out with everything below them. */
  exclude: (rel: string) => boolean;
  /** Relative path -> bytes (and mtime) that replace a file's content (files this run patches). */
  overrides: ReadonlyMap<string, { content: Buffer; mtime: number }>;
  signal?: AbortSignal;
}

interface Walked {
  rel: string;
  abs: string;
  st: fs.Stats;
}

function* walk(root: string, o: DirWalkOptions): Generator<Walked> {
  const top = fs.lstatSync(root);
  yield { rel: '', abs: root, st: top };
  const stack: string[] = [''];
  while (stack.length) {
    const dir = stack.pop()!;
    const here = dir === '' ? root : path.join(root, dir);
    let names: string[];
    try {
      names = fs.readdirSync(here).sort();
    } catch (err) {
      fail('ROOTFS_UNREADABLE', `the rootfs directory ${here} cannot be read (${errnoCode(err) ?? String(err)})`, 'run as a user who may read the whole tree (Buildroot: from the post-fakeroot hook), or fix its permissions', { file: here });
    }
    const subdirs: string[] = [];
    for (const name of names) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      // Node gives names as UTF-8 strings: other bytes come back as U+FFFD, a name that is not there
      if (name.includes('\uFFFD')) fail('ENTRY_NAME_ENCODING', `a name in ${here} is not valid UTF-8 (${JSON.stringify(name)})`, 'rename it to UTF-8 (convmv), or leave it out of the rootfs', { file: here });
      if (o.exclude(rel)) continue;
      const abs = path.join(root, rel);
      const st = fs.lstatSync(abs);
      yield { rel, abs, st };
      if (st.isDirectory()) subdirs.push(rel);
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
}

function kindOf(st: fs.Stats): EntryKind | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets are runtime objects, not part of an image
}

const myUid = process.getuid?.() ?? 0;
const myGid = process.getgid?.() ?? 0;

function owner(st: fs.Stats): { uid: number; gid: number } {
  if (myUid === 0) return { uid: st.uid, gid: st.gid };
  return { uid: st.uid === myUid ? 0 : st.uid, gid: st.gid === myGid ? 0 : st.gid };
}

export async function readDirectory(root: string, sink: EntrySink, o: DirWalkOptions): Promise<void> {
  const inodes = new Map<string, string>();
  let n = 0;
  for (const w of walk(root, o)) {
    const kind = kindOf(w.st);
    if (!kind) continue;
    const meta: EntryMeta = { path: w.rel, kind, mode: w.st.mode & 0o7777, ...owner(w.st), mtime: w.st.mtimeMs / 1000, size: kind === 'file' ? w.st.size : 0 };
    if (kind === 'symlink') {
      meta.linkpath = fs.readlinkSync(w.abs);
      if (meta.linkpath.includes('\uFFFD')) fail('ENTRY_NAME_ENCODING', `the symlink ${w.abs} points to a name that is not valid UTF-8 (${JSON.stringify(meta.linkpath)})`, 'point it at a UTF-8 name, or leave it out of the rootfs', { file: w.abs });
    }
    if (kind === 'char' || kind === 'block') {
      meta.devmajor = Math.floor(w.st.rdev / 256) & 0xfff;
      meta.devminor = (w.st.rdev & 0xff) | ((Math.floor(w.st.rdev / 4096) & 0xfff00));
    }
    const override = o.overrides.get(w.rel);
    if (kind === 'file' && w.st.nlink > 1 && !override) {
      const key = `${w.st.dev}:${w.st.ino}`;
      const first = inodes.get(key);
      if (first !== undefined) {
        sink.entry({ ...meta, kind: 'hardlink', linkpath: first, size: 0 });
        continue;
      }
      inodes.set(key, w.rel);
    }
    if (kind === 'file') {
      if (override) sink.copy({ ...meta, size: override.content.length, mtime: override.mtime }, override.content);
      else sink.copy(meta, w.abs);
    } else {
      sink.entry(meta);
    }
    if (++n % 256 === 0) {
      await sink.backpressure();
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (o.signal?.aborted) throw o.signal.reason ?? new Interrupted('SIGINT');
    }
  }
}

/**
 * A fingerprint of a directory tree from metadata only (no file reads): what decides whether
 * a second run has anything to do. Overridden files count by their replacement bytes.
 */
export function fingerprintDirectory(root: string, o: DirWalkOptions): string {
  const h = createHash('sha256');
  // hard links: the first path of each inode in walk order, as readDirectory makes them; not
  // the link count, which links outside the tree (a container sharing the file) change
  const leaders = new Map<string, string>();
  for (const w of walk(root, o)) {
    // An overridden file counts as what it will be after this run (a patched plugin JSON keeps
    // its mode and owner, gets new bytes and mtime), so the next run sees the same fingerprint.
    const ov = o.overrides.get(w.rel);
    const { uid, gid } = owner(w.st);
    if (ov) {
      h.update(`${w.rel}\0${w.st.mode}\0${uid}\0${gid}\0${ov.content.length}\0${ov.mtime * 1000}\0${w.st.rdev}\0\0\n`);
      continue;
    }
    const link = w.st.isSymbolicLink() ? fs.readlinkSync(w.abs) : '';
    // A directory's mtime is left out: this run's own writes (a renamed plugin JSON, new
    // container directories) change it, and its content is covered by its children.
    const dir = w.st.isDirectory();
    let leader = '';
    if (w.st.nlink > 1 && !dir) {
      const key = `${w.st.dev}:${w.st.ino}`;
      const first = leaders.get(key);
      if (first === undefined) leaders.set(key, w.rel);
      else leader = first;
    }
    h.update(`${w.rel}\0${w.st.mode}\0${uid}\0${gid}\0${dir ? 0 : w.st.size}\0${dir ? 0 : w.st.mtimeMs}\0${w.st.rdev}\0${leader}\0${link}\n`);
  }
  return h.digest('hex');
}
