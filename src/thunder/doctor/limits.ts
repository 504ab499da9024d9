import fs from 'node:fs';
import path from 'node:path';
import { readPrlimit } from '../../lxc/values.js';
import type { Findings } from './findings.js';
import { lastEntry, type ConfigEntry, type DeviceView } from './view.js';

// lxc.prlimit.<name> = SOFT[:HARD]: liblxc calls prlimit() on the container's init before it
// runs (conf.c setup_resource_limits; the name is checked only then). Measured with liblxc
// 5.0.2 on Linux 6.1, where each of these stopped the start:
//   an unknown name ("Unknown resource"); soft over hard ("Invalid argument"); a nofile hard
//   limit over fs.nr_open (1048576 by default; "unlimited" too: "Operation not permitted");
//   limits too low for liblxc's own set-up and exec: nofile under 64 (it opens descriptors
//   after the limit is set: "Too many open files", 48 failed, 64 started), fsize under 4096
//   (liblxc writes files: 1 failed, 4096 started), stack under 256 KiB and as under 16 MiB
//   (the init never gets going: 64 KiB and 1 MB hung, 256 KiB and 16 MB started).
// nproc, cpu, core, memlock, locks, nice, rtprio, msgqueue, sigpending, rss even at 0 did
// not stop a start.

const NAMES = ['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];
const FLOOR: Record<string, number> = { nofile: 64, fsize: 4096, stack: 256 * 1024, as: 16 * 1024 * 1024 };
export const NR_OPEN = 1048576;

const num = (n: bigint) => (n === 2n ** 64n - 1n ? Infinity : Number(n));

/**
 * The last entry of each `<prefix>.<name>` key, in liblxc's order: an empty value unsets that
 * name, an empty `<prefix>` itself (when `clearAll`) every one set before.
 */
function lastByName(entries: ConfigEntry[], prefix: string, clearAll: boolean): Map<string, ConfigEntry> {
  const last = new Map<string, ConfigEntry>();
  for (const e of entries) {
    if (clearAll && e.key === prefix && e.value === '') last.clear();
    if (!e.key.startsWith(`${prefix}.`) || e.key.length === prefix.length + 1) continue;
    const name = e.key.slice(prefix.length + 1);
    if (e.value === '') last.delete(name);
    else last.set(name, e);
  }
  return last;
}

export function checkPrlimits(v: DeviceView, f: Findings): void {
  for (const [name, e] of lastByName(v.entries, 'lxc.prlimit', false)) {
    const where = { file: e.file, line: e.line };
    const known = NAMES.includes(name) || /^\d+$/.test(name);
    if (!known) {
      f.error('PRLIMIT_NAME', `lxc.prlimit.${name}: ${name} is not a resource limit ("Unknown resource" at start, which fails)`, `one of ${NAMES.join(', ')}`, where);
      continue;
    }
    // as liblxc reads it (an empty soft part is 0, an empty hard part the soft one, -1 unlimited)
    const r = readPrlimit(e.value);
    if (typeof r === 'string') continue; // lxc check reports the grammar
    const soft = num(r.soft);
    const hard = num(r.hard);
    if (soft > hard) f.error('PRLIMIT_SOFT_OVER_HARD', `lxc.prlimit.${name} = ${e.value}: the soft limit is over the hard one; prlimit() refuses it and the start fails`, 'write SOFT:HARD with SOFT <= HARD', where);
    else if (name === 'nofile' && hard > NR_OPEN) f.error('PRLIMIT_OVER_NR_OPEN', `lxc.prlimit.nofile = ${e.value}: a hard limit over the kernel's fs.nr_open (${NR_OPEN} unless the device raises it) is refused, and the start fails`, `write at most ${NR_OPEN} (e.g. 4096:${NR_OPEN}), or raise fs.nr_open on the device first`, where);
    else if (FLOOR[name] !== undefined && soft < FLOOR[name]!) f.error('PRLIMIT_TOO_LOW', `lxc.prlimit.${name} = ${e.value} is too low for the container to start (liblxc's set-up and the init's exec need ${name} of at least ${FLOOR[name]}; measured with liblxc 5.0.2)`, `raise it (${name === 'nofile' ? 'e.g. 1024' : `at least ${FLOOR[name]}`}), or remove the line`, where);
  }
}

// lxc.tty.max = N: liblxc opens N ptys for the container's ttys before the init runs
// (conf.c lxc_allocate_ttys), in the container's own devpts instance. The kernel counts ptys
// across all instances and keeps kernel.pty.reserve (1024 of kernel.pty.max 4096 by default)
// for the initial one: a new instance gets at most 3072, fewer what the device already uses.
// Measured with liblxc 5.0.2: lxc.tty.max = 100000 failed at tty 3068 ("Inappropriate ioctl for
// device - Failed to create tty 3068"), the start with it.
export const PTY_MAX = 4096;
export const PTY_RESERVE = 1024;
const PTY_SOFT = 256;

export function checkTtyMax(v: DeviceView, f: Findings): void {
  const e = lastEntry(v, 'lxc.tty.max');
  if (!e || !/^\d+$/.test(e.value.trim())) return; // lxc check reports the grammar
  const n = Number(e.value.trim());
  const room = PTY_MAX - PTY_RESERVE;
  const where = { file: e.file, line: e.line };
  // the console takes one more pty of the same instance
  if (n + 1 > room) f.error('TTY_MAX_TOO_MANY', `lxc.tty.max = ${n}: liblxc opens ${n} ptys at start, but a container's devpts gets at most ${room} (kernel.pty.max ${PTY_MAX} less kernel.pty.reserve ${PTY_RESERVE}, the defaults), fewer those the device uses: the start fails ("Failed to create tty")`, 'a few ttys are enough for a plugin container (thunderbox prepare leaves lxc.tty.max alone; 0 to 4 is usual)', where);
  else if (n > PTY_SOFT) f.warning('TTY_MAX_MANY', `lxc.tty.max = ${n}: the ptys come out of the ${room} all containers of the device share (kernel.pty.max less kernel.pty.reserve)`, 'a few ttys are enough for a plugin container', where);
}

// lxc.sysctl.<key> = VALUE: liblxc writes /proc/sys/<key, dots as slashes> from inside the
// container before the init runs (conf.c setup_sysctl_parameters), where only what the
// container's /proc/sys is writable: common.conf's lxc.mount.auto = proc:mixed leaves only
// /proc/sys/net, the container's own network namespace, writable. Measured with liblxc 5.0.2:
// net.ipv4.ip_forward and net.ipv4.ip_local_port_range started; vm.swappiness, kernel.pid_max
// and even the IPC namespace's kernel.msgmax failed ("Read-only file system - Failed to setup
// sysctl parameters"), and so did a net name the kernel does not have ("No such file or
// directory"), and net.ipv4.ping_group_range over gids the container does not map ("Invalid argument").

export function checkSysctls(v: DeviceView, f: Findings): void {
  for (const [name, e] of lastByName(v.entries, 'lxc.sysctl', true)) {
    const where = { file: e.file, line: e.line };
    if (!name.startsWith('net.')) {
      f.error('SYSCTL_NOT_NET', `lxc.sysctl.${name}: only /proc/sys/net is writable inside the container (lxc.mount.auto proc:mixed); liblxc cannot write ${name} there ("Read-only file system"), and the start fails`, `set it on the device (its /etc/sysctl.conf), not in the container's config; only net.* sysctls belong here`, where);
      continue;
    }
    // a fixed name the kernel does not have (this host's kernel, where its directory exists:
    // per-interface ones such as net.ipv4.conf.eth0.* depend on the device's NICs)
    const parts = name.split('.');
    if (parts.some((p) => p === '' || p === '..') || /^net\.(ipv4|ipv6)\.(conf|neigh)\./.test(name)) continue;
    const dir = path.join('/proc/sys', ...parts.slice(0, -1));
    if (fs.existsSync(dir) && !fs.existsSync(path.join('/proc/sys', ...parts))) f.error('SYSCTL_UNKNOWN', `lxc.sysctl.${name}: the kernel has no ${name} (${dir} has no ${parts.at(-1)}; checked against this build host's kernel): liblxc fails to write it ("No such file or directory"), and the start fails`, `check the name (sysctl -a on the device lists them)`, where);
  }
}

// lxc.proc.oom_score_adj: liblxc writes /proc/<init>/oom_score_adj before the init runs. Lowering
// it below Thunder's (0) needs CAP_SYS_RESOURCE in the device's own namespace, which an
// unprivileged container's root does not have: measured with liblxc 5.0.2, -1000 failed
// ("Permission denied - Failed to setup proc filesystem oom_score_adj"), 500 started.
export function checkProcOom(v: DeviceView, f: Findings): void {
  const e = lastEntry(v, 'lxc.proc.oom_score_adj');
  if (!e || !/^-?\d+$/.test(e.value.trim()) || v.rootHost === null) return;
  if (Number(e.value.trim()) < 0) f.error('PROC_OOM_LOWER', `lxc.proc.oom_score_adj = ${e.value.trim()}: lowering the OOM score needs CAP_SYS_RESOURCE on the device, which the unprivileged container's root does not have; liblxc fails to write it, and the start fails`, 'use 0 or more, or start the container privileged', { file: e.file, line: e.line });
}
