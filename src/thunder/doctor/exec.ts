import { isElf } from '../../rootfs/elf.js';
import { resolve, type TreeNode, type TreeView } from '../../rootfs/tree-view.js';
import type { IdMapLine } from '../../lxc/idmap.js';
import { mapped } from './view.js';

// Whether the kernel can exec a program of a tree (the image, or the rootfs) for a given user,
// seen statically: found (a bare name on PATH), a regular file with an x bit the user may use,
// and for a "#!" script an interpreter the kernel finds in the same tree (the line ends at
// "\n": a CRLF file names "/bin/sh\r", which does not exist), itself executable (a script
// interpreter may be a script again, up to the kernel's 4 levels). A file that is neither ELF
// nor "#!" fails execve with ENOEXEC; glibc's execvp and /bin/sh then run it with /bin/sh.
// Measured with liblxc 5.0.2 (hooks through /bin/sh -c, init through execvp): see rules.ts.

/** Who execs: the device's root (any x bit will do) or the container's root in its user namespace. */
export type Runner = { kind: 'root' } | { kind: 'mapped'; ids: { uid: number; gid: number }; map: IdMapLine[] };

export const DEVICE_ROOT: Runner = { kind: 'root' };

/**
 * May the runner use `bit` (1 x, 4 r) on a node (a directory's x is search)? The container's
 * root has its capabilities in its user namespace only over inodes whose owner and group that
 * namespace maps (capable_wrt_inode_uidgid): there a directory is always searchable and a file
 * executable with any x bit; otherwise the owner, group or other bits decide, in that order.
 */
export function may(node: TreeNode, who: Runner, bit: 1 | 4): boolean {
  const dir = node.kind === 'dir';
  if (who.kind === 'root' || (mapped(who.map, 'u', node.uid) && mapped(who.map, 'g', node.gid))) return bit !== 1 || dir || (node.mode & 0o111) !== 0;
  const shift = node.uid === who.ids.uid ? 6 : node.gid === who.ids.gid ? 3 : 0;
  return ((node.mode >> shift) & bit) !== 0;
}

export interface ExecProblem {
  /** MISSING: the program or its interpreter is not there; DENIED: no permission; CRLF; NOT_FILE. */
  kind: 'missing' | 'denied' | 'crlf' | 'not-file' | 'interpreter-missing';
  message: string;
}

/** A command's program: an absolute path, or a bare name looked up on PATH. */
export function findProgram(tree: TreeView, word: string, pathDirs: string[]): { path: string; rel: string } | { error: string } {
  if (word.includes('/')) {
    if (!word.startsWith('/')) return { error: `${word} is a relative path` };
    const r = resolve(tree, word);
    if (r.rel === null) return { error: `${word} does not exist${r.error ? ` (${r.error})` : ''}` };
    return { path: word, rel: r.rel };
  }
  for (const d of pathDirs) {
    const r = resolve(tree, `${d}/${word}`);
    if (r.rel !== null && tree.get(r.rel)?.kind !== 'dir') return { path: `${d}/${word}`, rel: r.rel };
  }
  return { error: `${word} is not on PATH (${pathDirs.join(':')})` };
}

/** The directories on the way to `rel` (the tree's top first), each with its node; `rel` itself excluded. */
export function dirsOnTheWay(tree: TreeView, rel: string): { path: string; node: TreeNode }[] {
  const parts = rel.split('/').filter(Boolean);
  const out: { path: string; node: TreeNode }[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    const node = tree.get(p);
    if (node) out.push({ path: `/${p}`, node });
  }
  return out;
}

/** The first directory on the way to `rel` the runner cannot search, or null. */
export function blockedDir(tree: TreeView, rel: string, who: Runner): { path: string; node: TreeNode } | null {
  return dirsOnTheWay(tree, rel).find((d) => d.node.kind === 'dir' && !may(d.node, who, 1)) ?? null;
}

const mode = (n: TreeNode) => `${(n.mode & 0o7777).toString(8).padStart(4, '0')} ${n.uid}:${n.gid}`;

/** Can the runner exec the file at `rel`? `name` is how the message names it. */
export function execProblem(tree: TreeView, rel: string, who: Runner, name: string, pathDirs: string[], depth = 0): ExecProblem | null {
  const node = tree.get(rel);
  if (!node) return { kind: 'missing', message: `${name} does not exist` };
  if (node.kind !== 'file') return { kind: 'not-file', message: `${name} (/${rel}) is not a regular file` };
  const blocked = blockedDir(tree, rel, who);
  if (blocked) return { kind: 'denied', message: `${name}: the directory ${blocked.path} (${mode(blocked.node)}) cannot be entered${who.kind === 'mapped' ? ` by the container's root (host ${who.ids.uid}:${who.ids.gid})` : ''}` };
  if (!may(node, who, 1)) return { kind: 'denied', message: `${name} (/${rel}, ${mode(node)}) is not executable${who.kind === 'mapped' ? ` for the container's root (host ${who.ids.uid}:${who.ids.gid})` : ''}` };
  const head = tree.read(rel, 256);
  if (!head || isElf(head)) return null;
  if (head[0] !== 0x23 || head[1] !== 0x21) {
    // ENOEXEC: execvp and sh run it with /bin/sh
    const sh = resolve(tree, '/bin/sh');
    if (sh.rel === null) return { kind: 'interpreter-missing', message: `${name} is neither ELF nor a "#!" script, so it is run with /bin/sh, which does not exist` };
    return null;
  }
  const line = head.toString('latin1', 2).split('\n')[0]!;
  if (line.includes('\r')) return { kind: 'crlf', message: `${name} has a CRLF "#!" line: the kernel looks for the interpreter "${line.trim()}\\r", which does not exist` };
  const [interp, arg] = line.trim().split(/\s+/, 2);
  if (!interp) return { kind: 'interpreter-missing', message: `${name} has an empty "#!" line` };
  const r = resolve(tree, interp);
  if (r.rel === null) return { kind: 'interpreter-missing', message: `${name} is a script for ${interp}, which does not exist` };
  if (depth >= 3) return { kind: 'interpreter-missing', message: `${name}: its interpreters nest more than 4 levels deep (the kernel stops there)` };
  const inner = execProblem(tree, r.rel, who, `its interpreter ${interp}`, pathDirs, depth + 1);
  if (inner) return { kind: inner.kind === 'missing' ? 'interpreter-missing' : inner.kind, message: `${name}: ${inner.message}` };
  return arg !== undefined && /(^|\/)env$/.test(interp) && !arg.startsWith('-') ? envTarget(tree, arg, name, pathDirs) : null;
}

/** "#!/usr/bin/env NAME": NAME on env's PATH (the environment's; BusyBox's and glibc's env search it). */
function envTarget(tree: TreeView, arg: string, name: string, dirs: string[]): ExecProblem | null {
  if (arg.includes('/')) return resolve(tree, arg).rel === null ? { kind: 'interpreter-missing', message: `${name} runs ${arg} through env, which does not exist` } : null;
  return dirs.some((d) => resolve(tree, `${d}/${arg}`).rel !== null) ? null : { kind: 'interpreter-missing', message: `${name} runs "${arg}" through env, and no ${arg} is on PATH (${dirs.join(':')})` };
}
