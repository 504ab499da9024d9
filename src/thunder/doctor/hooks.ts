import path from 'node:path';
import { resolve, type TreeView } from '../../rootfs/tree-view.js';
import { DEVICE_ROOT, execProblem, findProgram, may, type Runner } from './exec.js';
import type { Findings } from './findings.js';
import { pathDirs, type ConfigEntry, type DeviceView } from './view.js';

// Programs liblxc runs while it starts a container (conf.c run_lxc_hooks, start.c), measured
// with liblxc 5.0.2:
// - every hook is a shell command: liblxc runs `/bin/sh -c "<value> <name> lxc <type>"`, so a
//   device without /bin/sh runs none, and a bare name is looked up on PATH (Thunder's);
// - pre-start, pre-mount, mount, autodev and start-host run on the device's side, as root,
//   with the device's paths (a program only inside the rootfs is not found: status 127);
// - start runs inside the container, after pivot_root, as the container's root, with the
//   rootfs's /bin/sh; before that, liblxc checks the first start hook with access(X_OK) on
//   "<rootfs><whole value>" (arguments included: "/hook arg" is looked for as a file of that name);
// - a hook that exits non-zero (127 not found, 126 not executable) stops the start;
// - stop and post-stop run when the container stops, clone and destroy never at start.
// Hooks come from the config and everything it includes; lxc.hook.<type> = (empty) clears
// that type's list, lxc.hook = clears every list.

export const HOST_HOOKS = ['pre-start', 'pre-mount', 'mount', 'autodev', 'start-host'] as const;

/** The hook lists as liblxc holds them after reading the config and its includes. */
export function effectiveHooks(entries: ConfigEntry[]): Map<string, ConfigEntry[]> {
  const hooks = new Map<string, ConfigEntry[]>();
  for (const e of entries) {
    if (e.key === 'lxc.hook' && e.value === '') hooks.clear();
    const m = /^lxc\.hook\.([a-z-]+)$/.exec(e.key);
    if (!m || m[1] === 'version') continue;
    if (e.value === '') hooks.delete(m[1]!);
    else hooks.set(m[1]!, [...(hooks.get(m[1]!) ?? []), e]);
  }
  return hooks;
}

const word0 = (v: string) => v.trim().split(/\s+/)[0]!;

/**
 * A hook that fails whatever happens, as far as can be seen without running it: false (a
 * BusyBox applet or coreutils'), or a script whose only command is "exit N" with N not 0.
 * Anything else may fail at start too; only a start can tell.
 */
function alwaysFails(tree: TreeView, rel: string, name: string): boolean {
  if (path.posix.basename(name) === 'false' || path.posix.basename(rel) === 'false') return true;
  const text = tree.read(rel, 4096)?.toString('utf8') ?? '';
  if (!text.startsWith('#!')) return false;
  const cmds = text.split('\n').slice(1).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  return cmds.length === 1 && /^exit\s+([1-9]\d*)$/.test(cmds[0]!);
}

export function checkHostHooks(v: DeviceView, f: Findings): void {
  const hooks = effectiveHooks(v.entries);
  const dirs = pathDirs(v.thunderEnv.PATH);
  let shellChecked = false;
  for (const type of HOST_HOOKS) {
    for (const e of hooks.get(type) ?? []) {
      const where = { file: e.file, line: e.line };
      if (!shellChecked) {
        shellChecked = true;
        const sh = resolve(v.image, '/bin/sh');
        const p = sh.rel === null ? { message: '/bin/sh does not exist' } : execProblem(v.image, sh.rel, DEVICE_ROOT, '/bin/sh', dirs);
        if (p) {
          f.error('HOOK_NO_SHELL', `lxc.hook.${type} = ${e.value}: liblxc runs every hook with the device's /bin/sh, and ${p.message} in the image: the start fails`, 'give the image a /bin/sh (BusyBox), or remove the hook', where);
          return;
        }
      }
      const prog = findProgram(v.image, word0(e.value), dirs);
      const inRootfs = v.tree && 'error' in prog && resolve(v.tree, word0(e.value)).rel !== null;
      if ('error' in prog) {
        f.error('HOOK_PROGRAM_MISSING', `lxc.hook.${type} = ${e.value}: ${prog.error} on the device (a ${type} hook runs on the device's side, not in the container): the hook exits 127 and the start fails`, inRootfs ? `the program is only in the container's rootfs: give the hook its device path (under ${v.rootfs!.device}), or make it a start hook` : 'install the program in the image, or fix or remove the hook', where);
        continue;
      }
      const p = execProblem(v.image, prog.rel, DEVICE_ROOT, prog.path, dirs);
      if (p) f.error('HOOK_NOT_RUNNABLE', `lxc.hook.${type} = ${e.value}: ${p.message} in the image: the hook fails and so does the start`, hookFix(p.kind), where);
      else if (alwaysFails(v.image, prog.rel, prog.path)) f.error('HOOK_FAILS', `lxc.hook.${type} = ${e.value}: ${prog.path} always exits non-zero, and a hook that fails stops the start`, 'make the hook exit 0 when all is well, or remove it', where);
    }
  }
}

function hookFix(kind: string): string {
  if (kind === 'crlf') return 'convert the script to Unix line ends (dos2unix, or sed -i "s/\\r$//")';
  if (kind === 'denied') return 'chmod +x the program (and let the directories above it be entered)';
  return 'install the interpreter in the same tree, or change the "#!" line to one that is there';
}

export function checkStartHooks(v: DeviceView, f: Findings): void {
  const hooks = effectiveHooks(v.entries).get('start') ?? [];
  if (hooks.length === 0 || !v.tree || !v.rootfs) return;
  const who: Runner = v.rootHost ? { kind: 'mapped', ids: v.rootHost, map: v.idmap } : DEVICE_ROOT;
  const dirs = pathDirs(v.initEnv.get('PATH'));
  // liblxc's verify_start_hooks: the first start hook's whole value, as a path in the rootfs
  const first = hooks[0]!;
  const r = resolve(v.tree, first.value);
  const node = r.rel === null ? undefined : v.tree.get(r.rel);
  if (!node || !may(node, who, 1)) {
    const why = !node ? (first.value.trim().includes(' ') ? `liblxc looks for a file named "${first.value}" (arguments included) in the rootfs` : `${first.value} is not in the container's rootfs (${v.rootfs.host})`) : `${first.value} is not executable for the container's root`;
    f.error('START_HOOK_NOT_IN_ROOTFS', `lxc.hook.start = ${first.value}: a start hook runs inside the container, and ${why}: "Start hook not found in container", the start fails`, 'put the program in the rootfs at that path (no arguments in the first start hook), or use a host-side hook (start-host, mount) with a device path', { file: first.file, line: first.line });
    return;
  }
  const sh = resolve(v.tree, '/bin/sh');
  if (sh.rel === null) {
    f.error('HOOK_NO_SHELL', `lxc.hook.start = ${first.value}: liblxc runs start hooks with the container's /bin/sh, and the rootfs has none: the start fails`, 'keep /bin/sh in the rootfs, or remove the start hook', { file: first.file, line: first.line });
    return;
  }
  for (const e of hooks) {
    const prog = findProgram(v.tree, word0(e.value), dirs);
    const p = 'error' in prog ? { kind: 'missing', message: prog.error } : execProblem(v.tree, prog.rel, who, prog.path, dirs);
    if (p) f.error('HOOK_NOT_RUNNABLE', `lxc.hook.start = ${e.value}: ${p.message} in the container's rootfs: the hook fails and so does the start`, p.kind === 'missing' ? 'install the program in the rootfs, or fix or remove the hook' : hookFix(p.kind), { file: e.file, line: e.line });
  }
}
