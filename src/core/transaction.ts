import fs from 'node:fs';
import path from 'node:path';
import { Interrupted, errnoCode, fail, fromSystemError } from './errors.js';
import { lstatOrNull, missingDirs, readFileOrNull, removeAtomicTemps, removeTree, writeFileAtomic } from './fsutil.js';
import { LOCK_NAME, acquireLock } from './lock.js';
import { utime } from './mtime.js';
import { changes, type DirOp, type FileOp, type Plan, type TreeOp } from './plan.js';

// Applying a plan, as one transaction:
//   1. lock the root; recover whatever a killed earlier run left (journal below);
//   2. stage every change beside its destination (`.NAME.tbx-new`): trees are built whole,
//      files written and fsynced. Nothing visible has changed yet; SIGINT/SIGTERM or any
//      error here only removes the staged items;
//   3. commit: journal state "commit", then per change move the old one aside
//      (`.NAME.tbx-old`, a hard link for files so the name never goes missing) and rename
//      the staged one into place. An error here rolls every change back;
//   4. journal state "done", remove the old ones, remove the journal, unlock.
// A run killed at any point leaves a journal; the next run on the same root reads it
// first and puts the root back to the state before (or, if "done", finishes cleaning).

export const JOURNAL_NAME = '.thunderbox.journal';

interface Owner {
  mode: number;
  uid: number;
  gid: number;
}

interface JournalEntry {
  dest: string;
  staged: string;
  backup: string;
  existed: boolean;
  tree: boolean;
  /** An existing directory whose mode and owner change in place: the new and the old ones. */
  meta?: Owner & { old: Owner };
}

interface Journal {
  version: 1;
  state: 'staging' | 'commit' | 'done';
  entries: JournalEntry[];
  /** Parent directories this run created, outermost first. */
  createdDirs: string[];
  /** The mtimes (and atimes) of the directories whose entries the run changes, as they were. */
  dirTimes?: [string, number, number][];
}

export interface ApplyResult {
  changed: string[];
}

export function stagedName(dest: string): string {
  return path.join(path.dirname(dest), `.${path.basename(dest)}.tbx-new`);
}

export function backupName(dest: string): string {
  return path.join(path.dirname(dest), `.${path.basename(dest)}.tbx-old`);
}

function writeJournal(root: string, j: Journal): void {
  writeFileAtomic(path.join(root, JOURNAL_NAME), JSON.stringify(j, null, 1) + '\n', { mode: 0o600 });
}

function removeAny(p: string): void {
  const st = lstatOrNull(p);
  if (!st) return;
  if (st.isDirectory()) removeTree(p);
  else fs.rmSync(p, { force: true });
}

function removeCreatedDirs(dirs: string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      fs.rmdirSync(d);
    } catch {
      // not empty (something else lives there now) or already gone: leave it
    }
  }
}

/** Undo an unfinished run from its journal. Returns true if there was one. */
export function recover(root: string): boolean {
  return rollBack(root) !== null;
}

/** recover(), returning the directory times the journal kept (to put back last), or null. */
function rollBack(root: string): DirTimes | null {
  const file = path.join(root, JOURNAL_NAME);
  let j: Journal;
  try {
    j = JSON.parse(fs.readFileSync(file, 'utf8')) as Journal;
  } catch {
    return null;
  }
  if (j.state === 'done') {
    for (const e of j.entries) {
      for (const p of [e.backup, e.staged]) {
        try {
          removeAny(p);
        } catch (err) {
          // e.g. the old tree of a container made as root, replaced by a normal user
          fail('CLEANUP_DENIED', `${p}, left by an earlier run, cannot be removed (${errnoCode(err) ?? String(err)}); the run itself is complete`, `remove it as root (rm -rf ${p}), then run again`, { file: p });
        }
      }
    }
  } else {
    for (const e of [...j.entries].reverse()) {
      if (e.meta) {
        if (j.state === 'commit') setOwner(e.dest, e.meta.old);
        continue;
      }
      if (j.state === 'commit') {
        if (lstatOrNull(e.backup)) {
          removeAny(e.dest);
          fs.renameSync(e.backup, e.dest);
        } else if (!e.existed) {
          removeAny(e.dest);
        }
      }
      removeAny(e.staged);
      removeAtomicTemps(e.staged);
    }
    removeCreatedDirs(j.createdDirs);
  }
  fs.rmSync(file, { force: true });
  const times: DirTimes = new Map((j.dirTimes ?? []).map(([d, atime, mtime]) => [d, { atime, mtime }]));
  restoreDirTimes(times);
  return times;
}

function stageFile(op: FileOp, staged: string): void {
  const now = op.before === null ? null : fs.readFileSync(op.path, 'utf8');
  if (now !== op.before) {
    fail('PLAN_STALE', `${op.path} changed while thunderbox was planning; nothing was changed`, 'run again (another program edited the file meanwhile)', { file: op.path });
  }
  writeFileAtomic(staged, op.after, { mode: op.mode, mtime: op.mtime, uid: op.uid, gid: op.gid });
}

const amRoot = process.getuid?.() === 0;

function setOwner(p: string, o: Owner): void {
  if (amRoot) fs.chownSync(p, o.uid, o.gid);
  fs.chmodSync(p, o.mode);
}

function stageDir(op: DirOp, staged: string, mtime: number | undefined): void {
  fs.mkdirSync(staged, { mode: 0o700 });
  setOwner(staged, op);
  if (mtime !== undefined) fs.utimesSync(staged, utime(mtime), utime(mtime));
}

function commitEntry(e: JournalEntry): void {
  if (e.meta) {
    setOwner(e.dest, e.meta);
    return;
  }
  if (e.existed) {
    if (e.tree) fs.renameSync(e.dest, e.backup);
    else fs.linkSync(e.dest, e.backup);
  }
  fs.renameSync(e.staged, e.dest);
}

export interface ApplyOptions {
  /** Called once staging starts, with the abort signal (for progress, tests). */
  onStage?: (op: TreeOp | FileOp | DirOp) => void;
}

/**
 * Before planning: finish what a killed run left behind (its journal, its lock), so that the
 * plan sees the tree as it is after the roll-back and a no-op run leaves nothing behind either.
 * A live run's lock is an error (LOCKED). Costs two stats when there is nothing to settle.
 * Returns true if an interrupted run was rolled back.
 */
export function journalPending(root: string): boolean {
  return lstatOrNull(path.join(root, JOURNAL_NAME)) !== null;
}

export function settle(root: string): boolean {
  if (!journalPending(root) && !lstatOrNull(path.join(root, LOCK_NAME))) return false;
  const dirTimes = recordDirTimes(root, []);
  // a run killed before its first journal write: its lock has the root's times from before it
  const fromLock = ROOT_TIMES.exec(readFileOrNull(path.join(root, LOCK_NAME))?.toString('utf8') ?? '');
  if (fromLock) dirTimes.set(root, { atime: Number(fromLock[1]), mtime: Number(fromLock[2]) });
  const release = acquireLock(root);
  let kept: DirTimes | null = null;
  try {
    // a run killed while writing its journal left the temporary file of it
    removeAtomicTemps(path.join(root, JOURNAL_NAME));
    kept = rollBack(root);
    return kept !== null;
  } finally {
    release();
    // the killed run's journal knows the times from before it (the root's included); without
    // one, those from before this settle
    restoreDirTimes(kept?.size ? kept : dirTimes);
  }
}

export async function applyPlan(plan: Plan, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const todo = changes(plan);
  if (todo.length === 0) return { changed: [] };
  const root = plan.root;
  const dirTimes = recordDirTimes(root, todo.map((op) => op.path));
  const before = dirTimes.get(root);
  const release = acquireLock(root, before ? `root-times ${before.atime} ${before.mtime}\n` : '');
  const controller = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    caught ??= sig;
    controller.abort(new Interrupted(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const journal: Journal = { version: 1, state: 'staging', entries: [], createdDirs: [], dirTimes: [...dirTimes].map(([d, t]) => [d, t.atime, t.mtime]) };
  try {
    // settle() ran before planning; a journal now is from a run killed since, and the plan was
    // made of the tree it was changing
    if (recover(root)) {
      fail('PLAN_STALE', `another thunderbox run on ${root} was interrupted while this one planned; it was rolled back, and this run's plan no longer fits the tree`, 'run the command again');
    }
    journal.entries = todo.map((op): JournalEntry => {
      const st = lstatOrNull(op.path);
      const e: JournalEntry = { dest: op.path, staged: stagedName(op.path), backup: backupName(op.path), existed: st !== null, tree: op.kind !== 'file' };
      if (op.kind === 'dir' && st) e.meta = { mode: op.mode, uid: op.uid, gid: op.gid, old: { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } };
      return e;
    });
    writeJournal(root, journal);
    try {
      for (const [i, op] of todo.entries()) {
        const e = journal.entries[i]!;
        // in the journal before they are made: a run killed in between still has them removed
        const dirs = missingDirs(path.dirname(op.path));
        journal.createdDirs.push(...dirs);
        writeJournal(root, journal);
        // chmod after mkdir: the mode is explicit whatever the umask (077 would make them 0700,
        // which the container's mapped root cannot traverse)
        for (const d of dirs) {
          fs.mkdirSync(d, { mode: 0o755 });
          fs.chmodSync(d, 0o755);
        }
        removeAny(e.staged);
        removeAny(e.backup);
        opts.onStage?.(op);
        if (op.kind === 'tree') {
          fs.mkdirSync(e.staged, { mode: 0o755 });
          fs.chmodSync(e.staged, 0o755);
          await op.build(e.staged, { signal: controller.signal });
        } else if (op.kind === 'dir') {
          if (!e.meta) stageDir(op, e.staged, plan.dirMtime);
        } else {
          stageFile(op, e.staged);
        }
        if (controller.signal.aborted) throw controller.signal.reason;
      }
      // Commit: synchronous from here, so no signal handler can run in between.
      journal.state = 'commit';
      writeJournal(root, journal);
      for (const e of journal.entries) commitEntry(e);
      journal.state = 'done';
      writeJournal(root, journal);
      if (plan.dirMtime !== undefined) for (const d of journal.createdDirs) fs.utimesSync(d, utime(plan.dirMtime), utime(plan.dirMtime));
    } catch (err) {
      try {
        writeJournal(root, journal);
      } catch {
        // the journal on disk (state staging or commit) still says how to undo
      }
      recover(root);
      throw caught && !(err instanceof Interrupted) && controller.signal.aborted ? new Interrupted(caught) : fromSystemError(err, `writing ${root}`);
    }
    recover(root); // state "done": drop the old versions and the journal
    return { changed: todo.map((op) => op.path) };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    release();
    restoreDirTimes(dirTimes);
  }
}

/** The image root's times in a lock file (applyPlan writes them, settle reads them). */
const ROOT_TIMES = /^root-times (\S+) (\S+)$/m;

/** Seconds (with the microseconds that fs.utimes keeps), by directory. */
type DirTimes = Map<string, { atime: number; mtime: number }>;

/**
 * The directories whose entries a run changes (the root for the lock and journal, the
 * parents of what it replaces or creates) get their mtimes back afterwards: the image then
 * differs only in the files the plan names, and two runs on two copies give the same tree.
 * The journal keeps them too, so that the run after a killed one puts them back.
 */

function recordDirTimes(root: string, paths: string[]): DirTimes {
  const out: DirTimes = new Map();
  const add = (d: string) => {
    if (out.has(d)) return;
    const st = lstatOrNull(d);
    if (st?.isDirectory()) out.set(d, { atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
  };
  add(root);
  for (const p of paths) {
    let d = path.dirname(p);
    while (!lstatOrNull(d) && d !== path.dirname(d)) d = path.dirname(d);
    add(d);
  }
  return out;
}

function restoreDirTimes(times: DirTimes): void {
  for (const [d, t] of times) {
    try {
      fs.utimesSync(d, utime(t.atime), utime(t.mtime));
    } catch {
      // gone or not ours: nothing to restore
    }
  }
}
