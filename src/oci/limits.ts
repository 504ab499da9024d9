import type { LimitsSpec } from '../profile/limits.js';
import { weightToShares } from '../profile/limits.js';
import type { CgroupLayout } from '../thunder/cgroup-layout.js';

// A container's limits in an OCI bundle's config.json (runtime-spec v1.1.0): linux.resources
// and process.rlimits. The runtime (runc, crun) writes them into the cgroup it makes.
//
//   limit        linux.resources                       what the runtime writes
//   memory       memory.limit                          v1 memory.limit_in_bytes, v2 memory.max
//   memory-swap  memory.swap (memory and swap, as ours) v1 memory.memsw.limit_in_bytes,
//                                                      v2 memory.swap.max = swap - limit
//   pids         pids.limit                            pids.max
//   cpu.weight   v1: cpu.shares (weightToShares)       cpu.shares
//                v2: unified["cpu.weight"]             cpu.weight, exactly
//   cpu.cpus     cpu.cpus                              cpuset.cpus
//   nofile       process.rlimits RLIMIT_NOFILE         setrlimit (soft and hard)
//
// Why not cpu.shares on v2: runc 1.1.5 and crun 1.8.1 turn shares into a weight with
// 1 + ((shares - 2) * 9999) / 262142 (runc libcontainer/cgroups/utils.go
// ConvertCPUSharesToCgroupV2Value), which is not the kernel's scale: 1024 shares, the default,
// become weight 39, not 100 (measured with both under cgroup v2, test/e2e/limits-v2.test.ts;
// runc 1.3.2 and crun 1.23 changed to a quadratic formula, still not the kernel's scale).
// `unified` (runc 1.0+, crun 0.19+) writes the file as given; it is refused on a v1 host, so it
// is used on v2 only.

export interface OciResources {
  memory?: { limit?: number; swap?: number };
  pids?: { limit: number };
  cpu?: { shares?: number; cpus?: string };
  unified?: Record<string, string>;
}

export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

export function ociLimits(l: LimitsSpec | undefined, layout: CgroupLayout): { resources: OciResources; rlimits: OciRlimit[] } {
  const resources: OciResources = {};
  const rlimits: OciRlimit[] = [];
  if (!l) return { resources, rlimits };
  if (l.memory !== undefined) resources.memory = { limit: l.memory, ...(l.memorySwap !== undefined ? { swap: l.memorySwap } : {}) };
  if (l.pids !== undefined) resources.pids = { limit: l.pids };
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (l.cpu?.weight !== undefined) {
    if (layout === 'v1') cpu.shares = weightToShares(l.cpu.weight);
    else resources.unified = { 'cpu.weight': String(l.cpu.weight) };
  }
  if (l.cpu?.cpus !== undefined) cpu.cpus = l.cpu.cpus;
  if (Object.keys(cpu).length) resources.cpu = cpu;
  if (l.nofile !== undefined) rlimits.push({ type: 'RLIMIT_NOFILE', soft: l.nofile, hard: l.nofile });
  return { resources, rlimits };
}
