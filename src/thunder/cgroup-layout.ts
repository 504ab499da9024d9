import fs from 'node:fs';
import type { Diagnostic } from '../core/diagnostic.js';
import { resolveInTargetOrNull } from '../core/target-path.js';
import { readTextFile } from '../core/read-text.js';
import { parseBr2Config } from '../buildroot/br2-config.js';

// Which cgroup hierarchy the device mounts at boot, read from the image (and from Buildroot's
// .config when given). The limits' keys depend on it: v1 (one hierarchy per controller:
// lxc.cgroup.*, memory.limit_in_bytes) or v2 (unified: lxc.cgroup2.*, memory.max).
//
// What mounts cgroups on a Buildroot image:
//   cgroupfs-mount (BR2_PACKAGE_CGROUPFS_MOUNT, v1; Metrological's Thunder external selects it):
//     /usr/bin/cgroupfs-mount, run by /etc/init.d/S30cgroupfs
//   cgroupfs-v2-mount (BR2_PACKAGE_CGROUPFS_V2_MOUNT, v2): /etc/init.d/S30cgroupfs2
//   systemd (BR2_INIT_SYSTEMD): the unified hierarchy (v2; systemd 256 and later have no v1)
// BusyBox or SysV init alone mounts no cgroups.
//
// How to add a way of mounting: one row in EVIDENCE (image path or .config symbol -> layout).

export type CgroupLayout = 'v1' | 'v2';

export interface CgroupLayoutFinding {
  layout: CgroupLayout;
  /** What said so: an image path or a BR2_ symbol, as the user would look it up. */
  from: string;
}

interface Evidence {
  layout: CgroupLayout;
  /** Device paths, or a glob of one directory's entries (name with *). */
  paths: string[];
  symbol: string;
}

const EVIDENCE: Evidence[] = [
  { layout: 'v1', paths: ['/usr/bin/cgroupfs-mount', '/etc/init.d/S*cgroupfs', '/etc/init.d/S*cgroupfs-mount'], symbol: 'BR2_PACKAGE_CGROUPFS_MOUNT' },
  { layout: 'v2', paths: ['/etc/init.d/S*cgroupfs2', '/etc/init.d/S*cgroupfs-v2-mount'], symbol: 'BR2_PACKAGE_CGROUPFS_V2_MOUNT' },
  { layout: 'v2', paths: ['/usr/lib/systemd/systemd', '/lib/systemd/systemd'], symbol: 'BR2_INIT_SYSTEMD' },
];

/** The image paths that exist for one row (a "S*name" entry matches S30name, S01name, ...). */
function present(target: string, paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const star = p.lastIndexOf('*');
    if (star === -1) {
      const host = resolveInTargetOrNull(target, p);
      if (host !== null && fs.existsSync(host)) out.push(p);
      continue;
    }
    const dir = p.slice(0, p.lastIndexOf('/'));
    const [pre, post] = p.slice(dir.length + 1).split('*') as [string, string];
    const host = resolveInTargetOrNull(target, dir);
    let names: string[] = [];
    try {
      names = host === null ? [] : fs.readdirSync(host);
    } catch {
      names = [];
    }
    for (const n of names.sort()) if (n.startsWith(pre) && n.endsWith(post) && /^\d*$/.test(n.slice(pre.length, n.length - post.length))) out.push(`${dir}/${n}`);
  }
  return out;
}

export interface CgroupLayoutResult {
  /** null: nothing says (v1 is then assumed by the renderers, with a diagnostic). */
  found: CgroupLayoutFinding | null;
  /** Every piece of evidence, in EVIDENCE order. */
  evidence: CgroupLayoutFinding[];
  diagnostics: Diagnostic[];
}

/**
 * The image's cgroup layout. `br2Config` (a Buildroot .config) is read for BR2_INIT_* and the
 * mount packages when given; the image's files count first (they are what boots).
 */
export function detectCgroupLayout(target: string, br2Config?: string): CgroupLayoutResult {
  const evidence: CgroupLayoutFinding[] = [];
  for (const e of EVIDENCE) for (const p of present(target, e.paths)) evidence.push({ layout: e.layout, from: p });
  if (br2Config !== undefined) {
    const r = readTextFile(br2Config);
    if (r.ok) {
      const c = parseBr2Config(r.text);
      for (const e of EVIDENCE) if (c.get(e.symbol)?.value === 'y') evidence.push({ layout: e.layout, from: `${e.symbol}=y` });
    }
  }
  const layouts = new Set(evidence.map((e) => e.layout));
  const diagnostics: Diagnostic[] = [];
  if (layouts.size > 1) {
    const by = (l: CgroupLayout) => evidence.filter((e) => e.layout === l).map((e) => e.from).join(', ');
    diagnostics.push({ code: 'CGROUP_LAYOUT_AMBIGUOUS', severity: 'error', message: `the image mounts cgroups both ways: v1 (${by('v1')}) and v2 (${by('v2')}); the limits' keys differ between them`, hint: 'keep one cgroup mount package in the Buildroot config, or say which the device boots with --cgroup v1 or --cgroup v2' });
    return { found: null, evidence, diagnostics };
  }
  return { found: evidence[0] ?? null, evidence, diagnostics };
}

/** The layout the limits are written for: --cgroup, else the image's, else v1 with a warning. */
export function chooseCgroupLayout(target: string, opts: { override?: CgroupLayout; br2Config?: string }): { layout: CgroupLayout; from: string; diagnostics: Diagnostic[] } {
  if (opts.override) return { layout: opts.override, from: '--cgroup', diagnostics: [] };
  const r = detectCgroupLayout(target, opts.br2Config);
  if (r.diagnostics.length) return { layout: 'v1', from: 'assumed', diagnostics: r.diagnostics };
  if (r.found) return { layout: r.found.layout, from: r.found.from, diagnostics: [] };
  return {
    layout: 'v1',
    from: 'assumed',
    diagnostics: [{ code: 'CGROUP_LAYOUT_UNKNOWN', severity: 'warning', message: 'nothing in the image mounts cgroups (no cgroupfs-mount, cgroupfs-v2-mount or systemd): the limits are written for cgroup v1, and LXC cannot apply them until something mounts the hierarchy', hint: 'select BR2_PACKAGE_CGROUPFS_MOUNT (v1) or BR2_PACKAGE_CGROUPFS_V2_MOUNT (v2), pass BR2_CONFIG or --br2-config, or say it with --cgroup v1|v2' }],
  };
}
