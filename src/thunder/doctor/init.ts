import { resolve } from '../../rootfs/tree-view.js';
import { toHost } from '../../lxc/idmap.js';
import { blockedDir, DEVICE_ROOT, may, type Runner } from './exec.js';
import type { Findings } from './findings.js';
import { lastEntry, type DeviceView } from './view.js';

// The init's working directory and ids (start.c do_start, utils.c lxc_switch_uid_gid): after
// pivot_root liblxc chdir()s to lxc.init.cwd and switches to lxc.init.uid/gid before it execs
// the init. Measured with liblxc 5.0.2: a cwd that does not exist, is a file, or that the
// container's root cannot enter ("Could not change directory"), and in an unprivileged
// container a uid or gid the idmap does not map ("Failed to switch to uid") stop the start.

export function checkInitCwd(v: DeviceView, f: Findings): void {
  const e = lastEntry(v, 'lxc.init.cwd');
  if (!e || e.value === '' || !v.tree || !v.rootfs) return;
  const where = { file: e.file, line: e.line };
  const r = resolve(v.tree, e.value);
  const node = r.rel === null ? undefined : v.tree.get(r.rel);
  const who: Runner = v.rootHost ? { kind: 'mapped', ids: v.rootHost, map: v.idmap } : DEVICE_ROOT;
  if (!node || node.kind !== 'dir') {
    f.error('INIT_CWD', `lxc.init.cwd = ${e.value} ${node ? 'is not a directory' : 'does not exist'} in the rootfs (${v.rootfs.host}): liblxc cannot change to it, the start fails`, `create the directory in the rootfs, or remove the line`, where);
    return;
  }
  const blocked = blockedDir(v.tree, r.rel!, who) ?? (may(node, who, 1) ? null : { path: `/${r.rel}`, node });
  if (blocked) f.error('INIT_CWD', `lxc.init.cwd = ${e.value}: ${blocked.path} (${(blocked.node.mode & 0o7777).toString(8)}, owner ${blocked.node.uid}:${blocked.node.gid}) cannot be entered by the container's root: the start fails`, 'chmod 0755 it, or own it through the idmap', where);
}

export function checkInitIds(v: DeviceView, f: Findings): void {
  if (v.idmap.length === 0) return;
  for (const [key, kind] of [['lxc.init.uid', 'u'], ['lxc.init.gid', 'g']] as const) {
    const e = lastEntry(v, key);
    if (!e || !/^\d+$/.test(e.value)) continue;
    if (toHost(v.idmap, kind, Number(e.value)) === undefined) {
      f.error('INIT_ID_UNMAPPED', `${key} = ${e.value}, and the idmap maps no container ${kind === 'u' ? 'uid' : 'gid'} ${e.value}: liblxc cannot switch to it ("Failed to switch to ${kind === 'u' ? 'uid' : 'gid'}"), the start fails`, `use an id inside the idmap (0-${Math.max(...v.idmap.filter((m) => m.kind === kind).map((m) => m.nsid + m.range - 1))}), or map it`, { file: e.file, line: e.line });
    }
  }
}
