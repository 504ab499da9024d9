import { detectCgroupLayout } from '../cgroup-layout.js';
import type { Findings } from './findings.js';
import type { DeviceView } from './view.js';

// Limits written for the other cgroup layout than the one the image mounts. liblxc 5.0.2 does
// not fail the start then: it drops them with a warning and the container runs unlimited
// (measured: lxc.cgroup2.memory.max on this v1 host, "Ignoring cgroup2 limits on legacy cgroup
// system", memory.limit_in_bytes unlimited inside; lxc.cgroup.memory.limit_in_bytes under a
// booted cgroup2-only kernel, "Ignoring legacy cgroup limits on pure cgroup2 system",
// memory.max "max" inside; test/e2e/limits*.test.ts). devices.* are left out: common.conf sets
// them for both layouts on purpose, so that either applies.
//
// The image's layout: cgroup-layout.ts (cgroupfs-mount v1, cgroupfs-v2-mount or systemd v2).
// Thunder's own figures for a container (memory.usage_in_bytes, cpuacct.usage_percpu) are v1
// files: on a v2 image they are missing, which is said as a note when the container has limits.

const isLimit = (key: string) => /^lxc\.cgroup2?\./.test(key) && !/^lxc\.cgroup2?\.devices\./.test(key) && !/^lxc\.cgroup\.(dir|relative)/.test(key);

export function checkCgroupLimits(v: DeviceView, f: Findings): void {
  const limits = v.entries.filter((e) => isLimit(e.key) && e.value !== '');
  if (!limits.length) return;
  const r = detectCgroupLayout(v.target);
  if (!r.found) {
    if (r.evidence.length === 0) f.warning('CGROUP_NOT_MOUNTED', `the container sets cgroup limits (${limits[0]!.key}), but nothing in the image mounts cgroups (no cgroupfs-mount, cgroupfs-v2-mount or systemd)`, 'select BR2_PACKAGE_CGROUPFS_MOUNT (v1) or BR2_PACKAGE_CGROUPFS_V2_MOUNT (v2)', { file: limits[0]!.file, line: limits[0]!.line });
    else f.warning('CGROUP_LAYOUT_AMBIGUOUS', `the image mounts cgroups both ways (${r.evidence.map((e) => `${e.layout}: ${e.from}`).join(', ')}): only the limits of the layout that wins at boot apply`, 'keep one cgroup mount package', { file: limits[0]!.file, line: limits[0]!.line });
    return;
  }
  const layout = r.found.layout;
  const other = limits.filter((e) => (layout === 'v1' ? e.key.startsWith('lxc.cgroup2.') : !e.key.startsWith('lxc.cgroup2.')));
  for (const e of other) {
    f.warning('CGROUP_LIMIT_IGNORED', `${e.key} is a cgroup ${layout === 'v1' ? 'v2' : 'v1'} key, and the image mounts cgroup ${layout} (${r.found.from}): liblxc drops it with a warning and the container runs without this limit`, `write it as the ${layout} key (thunderbox prepare writes the keys for the image's layout; --cgroup ${layout})`, { file: e.file, line: e.line });
  }
  if (layout === 'v2') f.note('CGROUP_V2_THUNDER_FIGURES', 'the image mounts cgroup v2: Thunder\'s LXC backend reads a container\'s memory and CPU figures from cgroup v1 files (memory.usage_in_bytes, cpuacct.usage_percpu), so they are missing; the limits themselves apply', 'nothing to do unless those figures are needed (then the device needs cgroup v1: cgroupfs-mount)', { file: limits[0]!.file, line: limits[0]!.line });
}
