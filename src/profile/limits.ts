import type { Diagnostic } from '../core/diagnostic.js';
import type { SourcePos } from './input.js';

// Resource limits of one container: memory, memory+swap, pids, CPU weight and set, open files.
//
// Sizes (memory, memory-swap) as users write them:
//   size   := DIGITS [UNIT]            bytes without a unit
//   UNIT   := K | M | G | T            either case, powers of 1024 (the kernel's memparse and
//           | KiB | MiB | GiB | TiB      LXC read 128M as 128 * 2^20, so does Docker)
// KB, MB, GB are refused: they read as powers of 1000 to some and 1024 to others. No
// fractions (1.5G): write 1536M.
//
// memory-swap is memory plus swap together (Docker's --memory-swap, cgroup v1's
// memory.memsw.limit_in_bytes, OCI's memory.swap), so it is never below memory; equal to
// memory means no swap at all. cgroup v2's memory.swap.max is the swap alone: memory-swap - memory.
//
// cpus is a cpuset list as the kernel takes it (cpuset.cpus): "0", "0-1", "0,2-3".
// CPU weight is cgroup v2's cpu.weight (1-10000, default 100); on v1 it becomes cpu.shares.

export interface LimitsSpec {
  /** Bytes of memory (cgroup memory.limit_in_bytes / memory.max). */
  memory?: number;
  /** Bytes of memory and swap together, at least memory. */
  memorySwap?: number;
  /** Most tasks (processes and threads) at once. */
  pids?: number;
  cpu?: { weight?: number; cpus?: string };
  /** RLIMIT_NOFILE, soft and hard. */
  nofile?: number;
}

/** What the manifest or the flags wrote, before checking: sizes as text or bytes. */
export interface LimitsInput {
  memory?: string | number;
  memorySwap?: string | number;
  pids?: string | number;
  cpuWeight?: string | number;
  cpus?: string;
  nofile?: string | number;
}

/** The fields of LimitsInput, in the order they are checked and shown. */
const LIMIT_FIELDS = ['memory', 'memorySwap', 'pids', 'cpuWeight', 'cpus', 'nofile'] as const;

/** A value below one page is no limit the kernel can keep: it counts pages, and rounds down. */
const MIN_MEMORY = 4096;
/** The kernel's PID_MAX_LIMIT on 64-bit (pids.max refuses more); 32-bit kernels stop at 32768. */
const MAX_PIDS = 4 * 1024 * 1024;
/** fs.nr_open's default (1024 * 1024): setrlimit(RLIMIT_NOFILE) above it fails with EPERM. */
const MAX_NOFILE = 1024 * 1024;
/** cgroup v2 cpu.weight: CGROUP_WEIGHT_MIN..CGROUP_WEIGHT_MAX. */
const WEIGHT_MIN = 1;
const WEIGHT_MAX = 10000;
/** The kernel's highest CPU number (NR_CPUS tops out at 8192). */
const MAX_CPU = 8191;

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

export type Parsed<T> = { ok: true; value: T } | { ok: false; why: string; hint: string };

/** A size as written ("128M", "64KiB", 1048576) to bytes. */
export function parseSize(v: string | number): Parsed<number> {
  const hint = 'write bytes, or a number with K, M, G or T (powers of 1024), e.g. 128M';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) return { ok: false, why: `${v} is not a whole number of bytes`, hint };
    return { ok: true, value: v };
  }
  const s = v.trim();
  if (/^\d+(\.\d+)?\s*[kKmMgGtT][bB]$/.test(s)) return { ok: false, why: `"${v}" is ambiguous (${s.slice(-2)} reads as a power of 1000 to some, 1024 to others)`, hint: `write ${s.replace(/[bB]$/, '')} or ${s.replace(/([kKmMgGtT])[bB]$/, '$1iB')} (powers of 1024)` };
  const m = /^(\d+)\s*(?:([kKmMgGtT])(iB)?)?$/.exec(s);
  if (!m) return { ok: false, why: `"${v}" is not a size`, hint: /\./.test(s) ? 'no fractions: write 1536M rather than 1.5G' : hint };
  const bytes = Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]!;
  if (!Number.isSafeInteger(bytes)) return { ok: false, why: `"${v}" is too large`, hint: 'give a size below 8 PiB' };
  return { ok: true, value: bytes };
}

/** A whole number as written (a YAML number, or digits from a flag). */
function parseCount(v: string | number): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : null;
  return /^\s*\d+\s*$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : null;
}

/** A cpuset list ("0-1,3") checked: ranges ascending, CPU numbers the kernel can have. */
export function parseCpuList(s: string): Parsed<string> {
  const t = s.trim();
  const hint = 'write CPU numbers and ranges as cpuset.cpus takes them, e.g. "0", "0-1" or "0,2-3"';
  if (t === '') return { ok: false, why: 'the CPU list is empty', hint };
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return { ok: false, why: `"${s}" is not a CPU list ("${part}" is neither a number nor a range)`, hint };
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return { ok: false, why: `the range ${part} in "${s}" runs backwards`, hint: `write ${b}-${a}` };
    if (b > MAX_CPU) return { ok: false, why: `CPU ${b} in "${s}" is beyond any kernel's CPUs (NR_CPUS is at most ${MAX_CPU + 1})`, hint: 'CPUs are numbered from 0: a Raspberry Pi 3 has 0-3' };
  }
  return { ok: true, value: t };
}

/** The manifest field path of a LimitsInput field ('limits.memorySwap'), for positions. */
const limitField = (f: (typeof LIMIT_FIELDS)[number]): string => `limits.${f}`;

/**
 * Checks and converts. Every bad value is one diagnostic at its own position; `at` gives the
 * manifest position of a field (nothing for flags, where `flag` names the option instead).
 */
export function resolveLimits(input: LimitsInput | undefined, at: (field: string) => SourcePos | undefined): { limits?: LimitsSpec; errors: Diagnostic[] } {
  const errors: Diagnostic[] = [];
  if (!input || LIMIT_FIELDS.every((f) => input[f] === undefined)) return { errors };
  const bad = (f: (typeof LIMIT_FIELDS)[number], message: string, hint: string) => {
    const pos = at(limitField(f));
    errors.push({ code: 'LIMIT_INVALID', severity: 'error', message: `${pos ? MANIFEST_NAME[f] : FLAG_NAME[f]}: ${message}`, hint, ...pos });
  };
  const out: LimitsSpec = {};
  for (const f of ['memory', 'memorySwap'] as const) {
    const v = input[f];
    if (v === undefined) continue;
    const r = parseSize(v);
    if (!r.ok) bad(f, r.why, r.hint);
    else if (r.value < MIN_MEMORY) bad(f, `${r.value} bytes is less than one page (4 KiB): the kernel counts pages and would keep no memory at all`, 'give a size such as 32M');
    else out[f] = r.value;
  }
  if (out.memorySwap !== undefined && input.memory === undefined) {
    bad('memorySwap', 'memory-swap is memory and swap together: it needs memory as well', 'give memory too, e.g. memory: 128M, memory-swap: 256M (128M of swap)');
    delete out.memorySwap;
  }
  if (out.memorySwap !== undefined && out.memory === undefined) delete out.memorySwap;
  if (out.memorySwap !== undefined && out.memory !== undefined && out.memorySwap < out.memory) {
    bad('memorySwap', `memory-swap ${input.memorySwap} is below memory ${input.memory}: it is memory and swap together`, `give at least ${input.memory} (equal to memory: no swap)`);
    delete out.memorySwap;
  }
  const count = (f: 'pids' | 'cpuWeight' | 'nofile', min: number, max: number, what: string, hint: string): number | undefined => {
    const v = input[f];
    if (v === undefined) return undefined;
    const n = parseCount(v);
    if (n === null || n < min || n > max) {
      bad(f, `${JSON.stringify(v)} is not ${what} (${min}-${max})`, hint);
      return undefined;
    }
    return n;
  };
  const pids = count('pids', 1, MAX_PIDS, 'a number of tasks', 'e.g. 256; a 32-bit kernel takes at most 32768');
  if (pids !== undefined) out.pids = pids;
  const weight = count('cpuWeight', WEIGHT_MIN, WEIGHT_MAX, 'a CPU weight', 'cpu.weight runs from 1 to 10000; 100 is the default share');
  if (input.cpus !== undefined) {
    const r = parseCpuList(String(input.cpus));
    if (!r.ok) bad('cpus', r.why, r.hint);
    else out.cpu = { ...out.cpu, cpus: r.value };
  }
  if (weight !== undefined) out.cpu = { weight, ...out.cpu };
  const nofile = count('nofile', 1, MAX_NOFILE, 'a number of open files', `at most fs.nr_open, ${MAX_NOFILE} unless the device raises it; e.g. 1024`);
  if (nofile !== undefined) out.nofile = nofile;
  return errors.length ? { errors } : { limits: out, errors };
}

const MANIFEST_NAME: Record<(typeof LIMIT_FIELDS)[number], string> = { memory: 'limits.memory', memorySwap: 'limits.memory-swap', pids: 'limits.pids', cpuWeight: 'limits.cpu.weight', cpus: 'limits.cpu.cpus', nofile: 'limits.nofile' };
const FLAG_NAME: Record<(typeof LIMIT_FIELDS)[number], string> = { memory: '--memory', memorySwap: '--memory-swap', pids: '--pids', cpuWeight: '--cpu-weight', cpus: '--cpus', nofile: '--nofile' };

/**
 * cgroup v1 cpu.shares for a cgroup v2 cpu.weight, as systemd converts them
 * (cgroup_cpu_weight_to_shares): linear through the defaults (weight 100 = 1024 shares, the
 * kernel's own scale: it turns cpu.weight into weight * 1024 / 100), clamped to 2..262144.
 */
export function weightToShares(weight: number): number {
  return Math.min(262144, Math.max(2, Math.floor((weight * 1024) / 100)));
}

/** Human text of a size in bytes: the largest unit that divides it (128M, 1536M, 4097). */
export function formatSize(bytes: number): string {
  for (const [u, f] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const) if (bytes % f === 0) return `${bytes / f}${u}`;
  return String(bytes);
}
