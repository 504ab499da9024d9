import { formatSize, parseSize, weightToShares, type LimitsSpec } from '../profile/limits.js';
import type { CgroupLayout } from '../thunder/cgroup-layout.js';
import { commentLine, entryLine, type ConfigLine } from './document.js';

// A container's limits as LXC keys, for the device's cgroup layout. liblxc writes each
// lxc.cgroup.<file> / lxc.cgroup2.<file> value into that file of the container's cgroup at
// start (a file the kernel lacks, or a value it refuses, stops the start), and applies
// lxc.prlimit.<name> with prlimit() on the container's init.
//
//   limit        cgroup v1 (lxc.cgroup.)              cgroup v2 (lxc.cgroup2.)
//   memory       memory.limit_in_bytes                memory.max
//   memory-swap  memory.memsw.limit_in_bytes (total)  memory.swap.max (swap alone: memory-swap - memory)
//   pids         pids.max                             pids.max
//   cpu.weight   cpu.shares (weightToShares)          cpu.weight
//   cpu.cpus     cpuset.cpus                          cpuset.cpus
//   nofile       lxc.prlimit.nofile (soft and hard), both layouts
//
// Sizes are written in bytes (exact, and what the kernel reads back).

export interface LimitKey {
  key: string;
  value: string;
  /** What it stands for, for the comment beside it. */
  note?: string;
}

export function limitKeys(l: LimitsSpec, layout: CgroupLayout): LimitKey[] {
  const out: LimitKey[] = [];
  const p = layout === 'v1' ? 'lxc.cgroup.' : 'lxc.cgroup2.';
  if (l.memory !== undefined) out.push({ key: `${p}${layout === 'v1' ? 'memory.limit_in_bytes' : 'memory.max'}`, value: String(l.memory), note: `memory ${formatSize(l.memory)}` });
  if (l.memorySwap !== undefined && l.memory !== undefined) {
    if (layout === 'v1') out.push({ key: `${p}memory.memsw.limit_in_bytes`, value: String(l.memorySwap), note: `memory and swap ${formatSize(l.memorySwap)}` });
    else out.push({ key: `${p}memory.swap.max`, value: String(l.memorySwap - l.memory), note: `swap ${formatSize(l.memorySwap - l.memory)} (memory-swap ${formatSize(l.memorySwap)} less memory)` });
  }
  if (l.pids !== undefined) out.push({ key: `${p}pids.max`, value: String(l.pids) });
  if (l.cpu?.weight !== undefined) {
    if (layout === 'v1') out.push({ key: `${p}cpu.shares`, value: String(weightToShares(l.cpu.weight)), note: `cpu.weight ${l.cpu.weight} as shares (weight * 1024 / 100)` });
    else out.push({ key: `${p}cpu.weight`, value: String(l.cpu.weight) });
  }
  if (l.cpu?.cpus !== undefined) out.push({ key: `${p}cpuset.cpus`, value: l.cpu.cpus });
  if (l.nofile !== undefined) out.push({ key: 'lxc.prlimit.nofile', value: String(l.nofile) });
  return out;
}

export function limitLines(l: LimitsSpec | undefined, layout: CgroupLayout, from: string): ConfigLine[] {
  if (!l) return [];
  const keys = limitKeys(l, layout);
  if (!keys.length) return [];
  const out: ConfigLine[] = [commentLine(`resource limits, for cgroup ${layout} (${from})`)];
  for (const k of keys) {
    if (k.note) out.push(commentLine(k.note));
    out.push(entryLine(k.key, k.value));
  }
  return out;
}

/**
 * The cgroup v2 form of a cgroup v1 key (`lxc migrate` for LXC 7, the hint of `lxc check`),
 * or null where v2 has no file that means the same. `memory` is the config's
 * lxc.cgroup.memory.limit_in_bytes, which memory.swap.max (swap alone) is computed against.
 *   memory.limit_in_bytes        -> memory.max (-1: max)
 *   memory.memsw.limit_in_bytes  -> memory.swap.max = memsw - memory
 *   pids.max, cpuset.cpus, cpuset.mems, devices.allow, devices.deny -> the same name
 *   cpu.shares                   -> cpu.weight = shares * 100 / 1024 (systemd's
 *                                   cgroup_cpu_shares_to_weight, clamped to 1..10000)
 */
export function cgroupV2Form(key: string, value: string, memory?: string): { key: string; value: string } | null {
  const m = /^lxc\.cgroup\.(.+)$/.exec(key);
  if (!m) return null;
  const file = m[1]!;
  const v = value.trim();
  const bytes = (s: string): number | null => {
    if (s === '-1') return -1;
    const r = parseSize(s);
    return r.ok ? r.value : null;
  };
  switch (file) {
    case 'memory.limit_in_bytes':
      return { key: 'lxc.cgroup2.memory.max', value: v === '-1' ? 'max' : v };
    case 'memory.memsw.limit_in_bytes': {
      const total = bytes(v);
      const mem = memory === undefined ? null : bytes(memory);
      if (total === -1) return { key: 'lxc.cgroup2.memory.swap.max', value: 'max' };
      if (total === null || mem === null || mem === -1 || total < mem) return null;
      return { key: 'lxc.cgroup2.memory.swap.max', value: String(total - mem) };
    }
    case 'cpu.shares': {
      const s = /^\d+$/.test(v) ? Number(v) : null;
      if (s === null) return null;
      return { key: 'lxc.cgroup2.cpu.weight', value: String(Math.min(10000, Math.max(1, Math.floor((s * 100) / 1024)))) };
    }
    case 'pids.max':
    case 'cpuset.cpus':
    case 'cpuset.mems':
    case 'devices.allow':
    case 'devices.deny':
      return { key: `lxc.cgroup2.${file}`, value: v };
    default:
      return null;
  }
}
