import { ancestors, normalizeEntryPath } from './entry-path.js';
import type { EntryKind } from './entry.js';

// The extraction decision for one entry, as a pure function of the entry and of what this
// run has already written (`written`: path -> kind, '' is the top). The staging directory is
// new, so `written` is exactly what is on disk below it: no lstat is needed to know that a
// parent is a symlink or that a path is taken.
//
//   create       nothing there yet; `implicitDirs` are missing parents to mkdir first
//   replace      a non-directory is there: unlink it, then create (last entry wins, as GNU tar)
//   update-dir   a directory entry for a directory that exists: only its metadata changes
//   record       cannot be created by this process (device node as non-root): goes to the
//                permission table instead
//   refuse       hostile or impossible: the whole extraction fails with this code

export type Decision =
  | { action: 'create'; implicitDirs: string[] }
  | { action: 'replace' }
  | { action: 'update-dir' }
  | { action: 'record'; reason: string }
  | { action: 'refuse'; code: string; message: string };

export interface DecideInput {
  path: string;
  kind: EntryKind;
  linkpath?: string;
}

export function decideEntry(e: DecideInput, written: ReadonlyMap<string, EntryKind>, canMknod: boolean): Decision {
  const implicitDirs: string[] = [];
  // A directory in `written` can never later become something else (that is refused below),
  // so when the parent is a known directory every ancestor is one too: no walk needed.
  const slash = e.path.lastIndexOf('/');
  const parentKnown = slash === -1 || written.get(e.path.slice(0, slash)) === 'dir';
  for (const a of parentKnown ? [] : ancestors(e.path)) {
    const k = written.get(a);
    if (k === undefined) implicitDirs.push(a);
    else if (k === 'symlink') return { action: 'refuse', code: 'ENTRY_THROUGH_SYMLINK', message: `"${e.path}" would be written through the symlink "${a}"` };
    else if (k !== 'dir') return { action: 'refuse', code: 'ENTRY_PARENT_NOT_DIR', message: `"${e.path}" needs "${a}" to be a directory, but it is a ${k}` };
  }
  if (e.path === '') {
    return e.kind === 'dir' ? { action: 'update-dir' } : { action: 'refuse', code: 'ENTRY_TOP_NOT_DIR', message: `the archive's top entry is a ${e.kind}, not a directory` };
  }
  if (e.kind === 'hardlink') {
    const target = normalizeEntryPath(e.linkpath ?? '');
    if (!target.ok || target.path === '') {
      return { action: 'refuse', code: 'LINK_OUTSIDE', message: `hard link "${e.path}" points outside the rootfs ("${e.linkpath ?? ''}")` };
    }
    if (target.path === e.path) return { action: 'refuse', code: 'LINK_TO_SELF', message: `hard link "${e.path}" points to itself` };
    const tk = written.get(target.path);
    if (tk === undefined) return { action: 'refuse', code: 'LINK_TARGET_MISSING', message: `hard link "${e.path}" points to "${target.path}", which is not earlier in the archive` };
    if (tk === 'dir') return { action: 'refuse', code: 'LINK_TO_DIR', message: `hard link "${e.path}" points to the directory "${target.path}"` };
    for (const a of ancestors(target.path)) {
      if (written.get(a) !== 'dir') return { action: 'refuse', code: 'LINK_THROUGH_SYMLINK', message: `hard link "${e.path}" reaches "${target.path}" through "${a}", which is not a directory` };
    }
  }
  if ((e.kind === 'char' || e.kind === 'block') && !canMknod) {
    return { action: 'record', reason: 'device nodes need root; recorded in the permission table' };
  }
  const existing = written.get(e.path);
  if (existing === undefined) return { action: 'create', implicitDirs };
  if (e.kind === 'dir') {
    return existing === 'dir'
      ? { action: 'update-dir' }
      : { action: 'refuse', code: 'ENTRY_DIR_OVER_NONDIR', message: `directory "${e.path}" would replace an earlier ${existing} of the same name` };
  }
  if (existing === 'dir') return { action: 'refuse', code: 'ENTRY_NONDIR_OVER_DIR', message: `${e.kind} "${e.path}" would replace an earlier directory of the same name` };
  return { action: 'replace' };
}
