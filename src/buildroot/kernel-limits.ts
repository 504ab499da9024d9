import fs from 'node:fs';
import path from 'node:path';
import type { Diagnostic } from '../core/diagnostic.js';
import { lint } from '../kconfig/lint.js';
import { RULES, type Condition } from '../kconfig/rules.js';

// At post-build the kernel is built already (Buildroot's target-finalize runs after every
// package): its resolved .config is in BUILD_DIR/linux-<version>/ (linux-custom for a git or
// tarball kernel), and the Pi firmware's cmdline.txt in BINARIES_DIR/rpi-firmware/. The
// containers' limits are checked against them as `kconfig lint --manifest` does: each limit's
// controller (MEMCG, SWAP, CGROUP_PIDS, CGROUP_SCHED/FAIR_GROUP_SCHED, CPUSETS, and on a v1
// image MEMCG_V1/CPUSETS_V1), and cgroup_enable=memory on the Pi. Only those findings are
// reported: the other container rules are the kernel fragment's business (buildroot check).

const LIMIT_OPTIONS = new Set(RULES.filter((r) => r.requiredWhen).map((r) => r.option));

/** The built kernel's .config in BUILD_DIR, or null (not built here, or no BUILD_DIR). */
export function builtKernelConfig(buildDir: string | undefined): string | null {
  if (!buildDir) return null;
  let names: string[];
  try {
    names = fs.readdirSync(buildDir);
  } catch {
    return null;
  }
  const kernels = names.filter((n) => /^linux-(custom|\d)/.test(n) && fs.existsSync(path.join(buildDir, n, 'Kconfig')) && fs.existsSync(path.join(buildDir, n, '.config'))).sort();
  return kernels.length ? path.join(buildDir, kernels[kernels.length - 1]!, '.config') : null;
}

export async function kernelLimitsCheck(o: { buildDir?: string; binariesDir?: string; uses: Set<Condition> }): Promise<Diagnostic[]> {
  const config = builtKernelConfig(o.buildDir);
  if (!config) return [];
  const cmdline = o.binariesDir ? path.join(o.binariesDir, 'rpi-firmware', 'cmdline.txt') : undefined;
  const memory = o.uses.has('memory');
  const r = await lint([config], { uses: o.uses, cmdline: memory && cmdline && fs.existsSync(cmdline) ? cmdline : undefined });
  return r.diagnostics.filter((d) => {
    if (d.code === 'KCONFIG_CMDLINE_MEMCG') return true;
    const opt = /CONFIG_(\w+)/.exec(d.message)?.[1];
    return (d.code === 'KCONFIG_REQUIRED' || d.code === 'KCONFIG_RECOMMENDED') && opt !== undefined && LIMIT_OPTIONS.has(opt) && d.severity === 'error';
  });
}
