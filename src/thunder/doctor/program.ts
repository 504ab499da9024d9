import { DEVICE_ROOT, execProblem, findProgram, type Runner } from './exec.js';
import type { Findings } from './findings.js';
import { pathDirs, type DeviceView } from './view.js';

// ThunderPlugin as the container's init: liblxc (start.c) execvp()s the command by bare name
// with the container's environment, as the container's root, after pivot_root. Measured with
// liblxc 5.0.2: no x bit for that root ("Permission denied - Failed to exec"), a CRLF "#!"
// line or an interpreter missing from the rootfs ("No such file or directory"), a directory on
// the way the root cannot enter, all stop the start; a file that is neither ELF nor "#!"
// (a BOM before "#!" too) is run by execvp with /bin/sh. A missing ThunderPlugin and missing
// libraries are the closure rule's.

const HOST_PROGRAMS = ['ThunderPlugin', 'WPEProcess'];

export function checkThunderPluginExec(v: DeviceView, f: Findings): void {
  if (!v.tree || !v.rootfs) return;
  const dirs = pathDirs(v.initEnv.get('PATH'));
  const found = HOST_PROGRAMS.map((n) => findProgram(v.tree!, n, dirs)).find((p) => !('error' in p));
  if (!found || 'error' in found) return;
  const who: Runner = v.rootHost ? { kind: 'mapped', ids: v.rootHost, map: v.idmap } : DEVICE_ROOT;
  const p = execProblem(v.tree, found.rel, who, found.path, dirs);
  // an interpreter that is not there is the closure's INTERP_MISSING already
  if (!p || (p.kind === 'interpreter-missing' && !p.message.includes('/bin/sh, which'))) return;
  const fix = p.kind === 'crlf' ? `convert ${found.path} to Unix line ends (dos2unix)` : p.kind === 'denied' ? `make ${found.path} executable for the container's root (chmod 755; thunderbox prepare keeps modes), and the directories above it enterable` : `install what ${found.path} needs in the rootfs`;
  f.error('THUNDERPLUGIN_NOT_RUNNABLE', `${p.message} (in the rootfs ${v.rootfs.host}): liblxc cannot exec it as the container's init, the start fails`, fix, { file: v.rootfs.host });
}
