import type { Diagnostic } from '../core/diagnostic.js';
import type { Br2Config } from './br2-config.js';

/**
 * Which cgroup mount package the build has (cgroup-layout.ts reads the same from the image):
 * BR2_PACKAGE_CGROUPFS_MOUNT (v1), BR2_PACKAGE_CGROUPFS_V2_MOUNT (v2), or systemd (v2).
 * Both packages: the limits of one layout are dropped at start. Containers with limits and
 * neither: nothing mounts the hierarchy their keys need.
 */
export function cgroupMountCheck(c: Br2Config, file: string, limited: string[]): Diagnostic[] {
  const v1 = c.get('BR2_PACKAGE_CGROUPFS_MOUNT') === 'y';
  const v2 = c.get('BR2_PACKAGE_CGROUPFS_V2_MOUNT') === 'y' || c.get('BR2_INIT_SYSTEMD') === 'y';
  const out: Diagnostic[] = [];
  if (v1 && v2) out.push({ code: 'BR_CGROUP_BOTH', severity: 'warning', file, message: `the build mounts cgroups both ways: BR2_PACKAGE_CGROUPFS_MOUNT (v1) and ${c.get('BR2_INIT_SYSTEMD') === 'y' ? 'systemd' : 'BR2_PACKAGE_CGROUPFS_V2_MOUNT'} (v2); a container's limits apply only in the layout that wins at boot (liblxc drops the others with a warning)`, hint: 'keep one of them' });
  else if (limited.length && !v1 && !v2) out.push({ code: 'BR_CGROUP_NONE', severity: 'warning', file, message: `${limited.join(', ')} ${limited.length > 1 ? 'have' : 'has'} resource limits, but nothing in the build mounts cgroups (neither BR2_PACKAGE_CGROUPFS_MOUNT nor BR2_PACKAGE_CGROUPFS_V2_MOUNT nor systemd)`, hint: 'select BR2_PACKAGE_CGROUPFS_MOUNT (v1, what Metrological\'s Thunder external selects) or BR2_PACKAGE_CGROUPFS_V2_MOUNT (v2)' });
  else if (limited.length) out.push({ code: 'BR_CGROUP_LAYOUT', severity: 'note', file, message: `the build mounts cgroup ${v1 ? 'v1 (BR2_PACKAGE_CGROUPFS_MOUNT): the limits are lxc.cgroup.* keys' : `v2 (${c.get('BR2_INIT_SYSTEMD') === 'y' ? 'systemd' : 'BR2_PACKAGE_CGROUPFS_V2_MOUNT'}): the limits are lxc.cgroup2.* keys, and Thunder's own memory and CPU figures (v1 files) are missing`}`, hint: 'nothing to do' });
  return out;
}
