import fs from 'node:fs';
import path from 'node:path';
import { parseTable } from '../../buildroot/permission-table.js';
import { readTextFile } from '../../core/read-text.js';
import { TABLE_NAME } from '../layout.js';
import { resolveInTargetOrNull } from '../../core/target-path.js';
import { fstabUnescape, mountFields } from '../../lxc/mount-entry.js';
import type { Findings } from './findings.js';
import type { TreeNode } from '../../rootfs/tree-view.js';
import { may } from './exec.js';
import { dirsDown, type DeviceView } from './view.js';

// An unprivileged container is set up by its root: liblxc opens the rootfs, mounts it and the
// mount entries' sources as the container's root (the idmap's host id for 0). Measured with
// liblxc 5.0.2: a directory above the container dir that root cannot enter ("Could not access
// /usr/share/Thunder. Please grant it x access"), the container dir at 0700 ("Failed to open
// <rootfs>"), a rootfs top owned by an unmapped host id at 0700 ("Failed to create /dev"), and
// a mount source whose parent it cannot enter ("Failed to mount") stop the start. The user
// namespace's capabilities count only on inodes whose owner and group it maps. A umask of 077
// when the directories were made gives exactly these 0700 directories.

interface Owner {
  mode: number;
  uid: number;
  gid: number;
}

/**
 * A directory's mode and owner as the device has them. A container prepared without root has
 * its owners in device_table.txt: Buildroot's fakeroot step makes the whole image root's
 * (chown -h -R 0:0) and then applies the table, so a directory the table lists has its line's
 * owner and mode, any other root's (its mode as on disk). Otherwise the disk's.
 */
function ownerOnDevice(v: DeviceView, device: string, st: fs.Stats): Owner {
  const table = tableOf(v);
  if (!table) return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  const l = table.get(device);
  return l ? { mode: l.mode & 0o7777, uid: l.uid, gid: l.gid } : { mode: st.mode & 0o7777, uid: 0, gid: 0 };
}

const tables = new WeakMap<DeviceView, Map<string, Owner> | null>();
function tableOf(v: DeviceView): Map<string, Owner> | null {
  if (tables.has(v)) return tables.get(v)!;
  const file = path.join(v.containerDir, TABLE_NAME);
  const r = fs.statSync(file, { throwIfNoEntry: false })?.isFile() ? readTextFile(file) : null;
  // a broken table is the ownership rule's error; its lines that parse still count here
  const m = r?.ok ? new Map(parseTable(r.text, file).lines.filter((l) => l.type === 'd').map((l) => [l.name.replace(/\/+$/, '') || '/', { mode: l.mode, uid: l.uid, gid: l.gid }])) : null;
  tables.set(v, m);
  return m;
}

/** May the container's root enter a directory of the image? */
const enters = (v: DeviceView, o: Owner) => may({ kind: 'dir', mode: o.mode, uid: o.uid, gid: o.gid, size: 0 } satisfies TreeNode, { kind: 'mapped', ids: v.rootHost!, map: v.idmap }, 1);
const who = (v: DeviceView) => `the container's root (host ${v.rootHost!.uid}:${v.rootHost!.gid})`;
const desc = (o: Owner) => `${o.mode.toString(8).padStart(4, '0')}, owner ${o.uid}:${o.gid}`;

export function checkContainerTraversal(v: DeviceView, f: Findings): void {
  if (!v.rootHost || !v.rootfs) return;
  for (const d of dirsDown(v.target, v.rootfs.device, true)) {
    const o = ownerOnDevice(v, d.device, d.st);
    if (enters(v, o)) continue;
    const top = d.device === v.rootfs.device;
    f.error('TRAVERSE_DENIED', `${d.device} (${d.host}, ${desc(o)}${tableOf(v) ? ' on the device' : ''}) cannot be entered by ${who(v)}, and it lies ${top ? 'at the top of the rootfs' : `on the way to the rootfs ${v.rootfs.device}`}: liblxc sets the container up as that user, the start fails`, top ? `chown the rootfs top to the container's root (${v.rootHost.uid}:${v.rootHost.gid}) or chmod 0755 it (thunderbox prepare --fix-root-mode)` : `chmod o+x ${d.host} (0755; a umask of 077 when it was made gives 0700)`, { file: d.host });
    return;
  }
}

export function checkMountSourceTraversal(v: DeviceView, f: Findings): void {
  if (!v.rootHost) return;
  for (const e of v.entries) {
    if (e.key !== 'lxc.mount.entry') continue;
    const fields = mountFields(e.value);
    if (fields.length < 4) continue;
    const source = fstabUnescape(fields[0]!);
    const opts = fields[3]!.split(',');
    if (!source.startsWith('/') || !(opts.includes('bind') || opts.includes('rbind'))) continue;
    const host = resolveInTargetOrNull(v.target, source);
    if (host === null || !fs.existsSync(host)) continue; // the mount rule reports a missing source
    for (const d of dirsDown(v.target, source, false)) {
      const o = ownerOnDevice(v, d.device, d.st);
      if (enters(v, o)) continue;
      const optional = opts.includes('optional');
      f.add('TRAVERSE_DENIED', optional ? 'warning' : 'error', `the mount source ${source}: ${d.device} (${desc(o)}) above it cannot be entered by ${who(v)}, who mounts it: ${optional ? 'liblxc skips this optional mount' : 'the mount fails, and with it the start'}`, `chmod o+x ${d.host}, or mount a directory the container's root can reach`, { file: e.file, line: e.line });
      break;
    }
  }
}
