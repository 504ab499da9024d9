import fs from 'node:fs';
import { resolveInTargetOrNull } from '../../core/target-path.js';
import { fstabUnescape, mountFields } from '../../lxc/mount-entry.js';
import { mountPoint } from './base.js';
import type { Findings } from './findings.js';
import { lastEntry, type DeviceView } from './view.js';

// lxc.mount.fstab: liblxc opens the file at start (setup_mount_fstab) and mounts each line
// with getmntent as a mount entry. Measured with liblxc 5.0.2: a missing file ("Failed to open"),
// a line that is not "source target type options" (a 3-field line has no bind option and
// mounts its source as a device of type none), a missing source, all stop the start; "#"
// lines and empty lines are skipped.

export function checkFstab(v: DeviceView, f: Findings): void {
  const e = lastEntry(v, 'lxc.mount.fstab');
  if (!e || e.value === '' || !v.tree || !v.rootfs) return;
  const where = { file: e.file, line: e.line };
  const host = e.value.startsWith('/') ? resolveInTargetOrNull(v.target, e.value) : null;
  if (host === null || !fs.statSync(host, { throwIfNoEntry: false })?.isFile()) {
    f.error('FSTAB_MISSING', `lxc.mount.fstab = ${e.value} is not a file in the image${host ? ` (${host})` : ''}: liblxc fails to open it, the start fails`, 'install the fstab file in the image at that device path, or remove the line', where);
    return;
  }
  const lines = fs.readFileSync(host, 'utf8').split('\n');
  lines.forEach((raw, i) => {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) return;
    const at = { file: host, line: i + 1 };
    const fields = mountFields(l);
    if (fields.length < 4) {
      f.error('FSTAB_LINE', `${e.value} line ${i + 1}: "${l}" has ${fields.length} fields, not source target type options: liblxc mounts it without options (no bind) and the start fails`, 'write e.g. /share data none bind,create=dir 0 0', at);
      return;
    }
    const source = fstabUnescape(fields[0]!);
    const opts = fields[3]!.split(',');
    const optional = opts.includes('optional');
    const bind = opts.includes('bind') || opts.includes('rbind');
    if (bind && source.startsWith('/')) {
      const s = resolveInTargetOrNull(v.target, source);
      if (s === null || !fs.existsSync(s)) {
        if (!optional) f.error('FSTAB_SOURCE_MISSING', `${e.value} line ${i + 1}: the mount source ${source} does not exist in the image: the start fails`, `create ${source} in the image, or add "optional"`, at);
        return;
      }
    } else if (!bind && (fields[2] === 'none' || source.startsWith('/'))) {
      if (!optional) f.error('FSTAB_LINE', `${e.value} line ${i + 1}: "${l}" mounts ${source} as a file system of type ${fields[2]} (no bind option): the kernel refuses it, the start fails`, 'add bind (or rbind) to the options for a directory of the device', at);
      return;
    }
    const dest = fstabUnescape(fields[1]!).replace(/^\/+/, '');
    const r = mountPoint(v.tree!, dest);
    const create = opts.some((o) => o.startsWith('create='));
    if (!optional && (r.state === 'symlink' || r.state === 'not-dir' || (r.state === 'missing' && !create))) {
      f.error('FSTAB_TARGET', `${e.value} line ${i + 1}: the mount point /${dest} ${r.state === 'missing' ? 'does not exist in the rootfs' : `is ${r.state === 'symlink' ? 'a symbolic link' : 'not a directory'} at /${r.at}`}: the start fails`, 'create the mount point in the rootfs, or add create=dir', at);
    }
  });
}
