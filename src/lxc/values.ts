// Value grammars of LXC config keys, as liblxc's set_config_* functions parse them
// (confile.c, confile_utils.c, lxc 5.0.2 / 6.0.x). Each returns an error message, or null.
// Numbers go through strtoul/strtol with base 0 in liblxc: decimal, 0x hex and 0 octal.

import { parseIp } from '../net/ipv4.js';
import { LXC_ARCH_NAMES } from './arch.js';

export type ValueCheck = (v: string, version: number) => string | null;

export interface Grammar {
  /** Human description, for `--help` and hints. */
  text: string;
  check: ValueCheck;
  /** A value that passes (documentation, and the completeness test sets every key to it). */
  example: string;
}

const UINT = /^\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/;
const INT = /^[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/;

/** The value of a number as strtol(base 0) reads it (UINT/INT syntax). */
function numberValue(v: string): bigint {
  const t = v.trim();
  const neg = t.startsWith('-');
  const body = t.replace(/^[+-]/, '');
  const n = /^0[xX]/.test(body) ? BigInt(body) : /^0[0-7]+$/.test(body) ? BigInt(`0o${body.slice(1)}`) : BigInt(body);
  return neg ? -n : n;
}

/** lxc_safe_uint: strtoul, no minus sign, at most 32 bits. */
export function checkUint(v: string, max = 0xffffffffn): string | null {
  if (!UINT.test(v.trim())) return `"${v}" is not an unsigned number`;
  return numberValue(v) <= max ? null : `${v.trim()} is over ${max}`;
}

/** lxc_safe_int: strtol, 32 bits. */
export function checkInt(v: string): string | null {
  if (!INT.test(v.trim())) return `"${v}" is not a number`;
  const n = numberValue(v);
  return n <= 0x7fffffffn && n >= -0x80000000n ? null : `${v.trim()} does not fit 32 bits`;
}

export const g = {
  string: { text: 'a string', check: () => null, example: 'thunder' } as Grammar,
  path: { text: 'a path', check: () => null, example: '/usr/share/Thunder' } as Grammar,
  // read as an unsigned number, then 0 or 1: "01" is 1
  bool: { text: '0 or 1', check: (v) => (UINT.test(v.trim()) && numberValue(v) <= 1n ? null : `"${v}" is not 0 or 1`), example: '1' } as Grammar,
  uint: { text: 'an unsigned number', check: (v) => checkUint(v), example: '4' } as Grammar,
  int: { text: 'a number', check: checkInt, example: '-2' } as Grammar,
  oneOf(values: readonly string[], ci = false): Grammar {
    return { text: values.join(' | '), check: (v) => ((ci ? values.map((x) => x.toLowerCase()).includes(v.toLowerCase()) : values.includes(v)) ? null : `"${v}" is not one of ${values.join(', ')}`), example: values[0]! };
  },
  custom(text: string, check: ValueCheck, example: string): Grammar {
    return { text, check, example };
  },
  /** The same grammar with another example (e.g. a string key whose value must be meaningful). */
  with(gr: Grammar, example: string): Grammar {
    return { ...gr, example };
  },
};

export function archNames(version: number): string[] {
  return [...LXC_ARCH_NAMES, ...(version >= 6 ? ['x32', 'loongarch64', 'loong64'] : [])];
}

const SIGNALS = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGABRT', 'SIGFPE', 'SIGKILL', 'SIGSEGV', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGTRAP', 'SIGIOT', 'SIGBUS', 'SIGSTKFLT', 'SIGCLD', 'SIGURG', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPOLL', 'SIGPWR', 'SIGSYS'];
const RT_SPAN = 30; // SIGRTMAX - SIGRTMIN on Linux (64 - 34)

/**
 * A signal as liblxc 5.0.2 loads it (measured with lxc-info): a name, SIGRTMIN+N / SIGRTMAX-N,
 * or any number that fits an int: 65 or 2147483647 load too (valueFindings warns, as the
 * kill(2) of lxc-stop then fails), -1 and +5 do not.
 */
export function checkSignal(v: string): string | null {
  if (v === '') return null;
  if (/^\d+$/.test(v)) return BigInt(v) <= 0x7fffffffn ? null : `signal ${v} does not fit an int`;
  const u = v.toUpperCase();
  if (SIGNALS.includes(u)) return null;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(u);
  if (rt && (!rt[2] || (rt[1] === 'MIN' ? rt[2] === '+' : rt[2] === '-')) && Number(rt[3] ?? 0) <= RT_SPAN) return null;
  if (SIGNALS.includes(`SIG${u}`)) return `signal names start with SIG: write SIG${u}`;
  return `"${v}" is not a signal name or number`;
}

export const NAMESPACES = ['user', 'mnt', 'pid', 'uts', 'ipc', 'net', 'cgroup', 'time'];

const CAPS = ['chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'linux_immutable', 'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner', 'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice', 'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write', 'audit_control', 'setfcap', 'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read', 'perfmon', 'bpf', 'checkpoint_restore'];

export function checkCaps(v: string, keep: boolean): string | null {
  for (const t of v.split(/\s+/).filter(Boolean)) {
    if (keep && t === 'none') continue;
    if (t === 'none') return 'the "none" keyword is only valid in lxc.cap.keep';
    if (/^\d+$/.test(t) ? Number(t) > 40 : !CAPS.includes(t)) return `"${t}" is not a capability (lowercase, without CAP_, e.g. sys_admin)`;
  }
  return null;
}

const MOUNT_AUTO = [
  'proc', 'proc:mixed', 'proc:rw', 'sys', 'sys:ro', 'sys:mixed', 'sys:rw',
  'cgroup', 'cgroup:mixed', 'cgroup:ro', 'cgroup:rw', 'cgroup:force', 'cgroup:mixed:force', 'cgroup:ro:force', 'cgroup:rw:force',
  'cgroup-full', 'cgroup-full:mixed', 'cgroup-full:ro', 'cgroup-full:rw', 'cgroup-full:force', 'cgroup-full:mixed:force', 'cgroup-full:ro:force', 'cgroup-full:rw:force',
  'cgroup2', 'cgroup2:ro', 'cgroup2:force', 'cgroup2:ro:force',
];

export function checkMountAuto(v: string): string | null {
  for (const t of v.split(/\s+/).filter(Boolean)) {
    if (MOUNT_AUTO.includes(t) || /^shmounts:[^:]+(:[^:]+)?$/.test(t)) continue;
    return `"${t}" is not an lxc.mount.auto token (proc, sys, cgroup, cgroup2, shmounts with :mixed, :ro, :rw, :force)`;
  }
  return null;
}

/** inet_pton: four decimal octets, no leading zeros (010.0.0.1 is refused). */
function isIpv4(a: string): boolean {
  return parseIp(a) !== null && !/(^|\.)0\d/.test(a);
}

function isIpv6(a: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(a) || a.split('::').length > 2) return false;
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const parts = (s: string | undefined) => (s ? s.split(':') : []);
  const all = [...parts(head), ...parts(tail)];
  let groups = all.length;
  const last = all[all.length - 1];
  if (last && last.includes('.')) {
    if (!isIpv4(last)) return false;
    groups += 1;
    all.pop();
  }
  if (!all.every((p) => /^[0-9a-fA-F]{1,4}$/.test(p))) return false;
  return tail === undefined ? groups === 8 : groups < 8;
}

/** lxc.net.N.ipv4.address: a.b.c.d[/prefix][ broadcast] */
export function checkIpv4Address(v: string): string | null {
  const m = /^(\S+?)(?:\/(\d+))?(?:[ \t](\S+))?$/.exec(v.trim()); // one blank before the broadcast
  if (!m || !isIpv4(m[1]!)) return `"${v}" is not an IPv4 address (a.b.c.d/prefix)`;
  if (m[2] !== undefined && Number(m[2]) > 32) return `prefix /${m[2]} is over 32`;
  if (m[3] !== undefined && !isIpv4(m[3])) return `broadcast "${m[3]}" is not an IPv4 address`;
  return null;
}

export function checkIpv6Address(v: string): string | null {
  const m = /^([^/\s]+)(?:\/(\d+))?$/.exec(v.trim());
  if (!m || !isIpv6(m[1]!)) return `"${v}" is not an IPv6 address (addr/prefix)`;
  if (m[2] !== undefined && Number(m[2]) > 128) return `prefix /${m[2]} is over 128`;
  return null;
}

export function checkGateway(v: string, six: boolean): string | null {
  if (v === 'auto' || v === 'dev') return null;
  return (six ? isIpv6(v) : isIpv4(v)) ? null : `"${v}" is not auto, dev or an IPv${six ? 6 : 4} address`;
}

export function checkRoute(v: string, six: boolean): string | null {
  const m = /^([^/\s]+)\/(\d+)$/.exec(v.trim());
  if (!m) return `"${v}" needs a prefix (address/prefix)`;
  if (!(six ? isIpv6(m[1]!) : isIpv4(m[1]!))) return `"${m[1]}" is not an IPv${six ? 6 : 4} address`;
  if (Number(m[2]) > (six ? 128 : 32)) return `prefix /${m[2]} is too long`;
  return null;
}

/**
 * lxc.net.N.hwaddr, as liblxc 5.0.2 takes it at start (measured): groups of 1-2 hex digits
 * separated by ':'; an x or X becomes a random digit (the second one even, so the address
 * stays unicast); any other character, another separator or a multicast first octet (odd
 * low digit) fails the start. Fewer or more than six groups start (padded with 00 or cut):
 * check.ts warns about those.
 */
export function checkHwaddr(v: string): string | null {
  const groups = v.split(':');
  const bad = groups.find((x) => !/^[0-9a-fA-FxX]{1,2}$/.test(x));
  if (bad !== undefined) return `"${v}" is not a MAC address: "${bad}" is not one or two hex digits (x for a random one), and liblxc fails to start the container`;
  const low = groups[0]!.at(-1)!;
  if (!/[xX]/.test(low) && parseInt(low, 16) % 2 === 1) return `"${v}" is a multicast address (the first octet is odd): the start fails`;
  return null;
}

/** lxc.console.size: auto, or N with an optional KB/MB/GB suffix. */
export function checkSize(v: string): string | null {
  return v === 'auto' || /^\d+\s*([kKmMgG][bB]?|[bB])?$/.test(v) ? null : `"${v}" is not auto or a size such as 1MB`;
}

/**
 * lxc.time.offset.*: a 64-bit integer, at most one blank, a unit (measured with 5.0.2). h and m
 * are stored in seconds, ms and us in nanoseconds: the product must fit 64 bits too. LXC 5
 * refuses any negative offset that needs a multiplication (h m ms us; its overflow check casts
 * INT64_MIN to unsigned), fixed in 6.0.
 */
export function checkTimeOffset(v: string, version: number): string | null {
  const m = /^([+-]?\d+)[ \t]?(h|m|s|ms|us|ns)$/.exec(v.trim());
  if (!m) return `"${v}" is not a number with a unit (h, m, s, ms, us, ns; at most one blank between)`;
  const n = BigInt(m[1]!);
  const unit = m[2]!;
  const mult = { h: 3600n, m: 60n, s: 1n, ms: 1_000_000n, us: 1000n, ns: 1n }[unit]!;
  const max = 2n ** 63n - 1n;
  if (n > max || n < -max - 1n) return `${m[1]} does not fit a 64-bit number`;
  if (version < 6 && n < 0n && mult > 1n) return `a negative offset in ${unit} is refused by LXC 5 (fixed in 6.0); write it in s or ns`;
  if (n * mult > max || n * mult < -max - 1n) return `${m[1]}${unit} overflows a 64-bit count of ${mult === 1_000_000n || mult === 1000n ? 'nanoseconds' : 'seconds'}`;
  return null;
}

const RLIM_INFINITY = 2n ** 64n - 1n;
/** The most open files any kernel allows (fs.nr_open's ceiling, INT_MAX rounded down to 64) */
const NR_OPEN_MAX = 2147483584n;

interface Prlimit {
  soft: bigint;
  hard: bigint;
  /** `:N`: the soft limit is 0 */
  softEmpty: boolean;
  /** `N:`: the hard limit is the soft one */
  hardEmpty: boolean;
  /** a part written with a minus sign (strtoull wraps it: -1 is unlimited) */
  negative: string[];
}

/**
 * lxc.prlimit.*: SOFT[:HARD] as liblxc 5.0.2 reads it (measured with lxc-info and starts): each
 * part is `unlimited` or a decimal strtoull takes (an optional sign; -N wraps to 2^64-N, so -1
 * is unlimited); an empty soft part is 0, an empty hard part is the soft limit; 0x10, 1::2
 * and 2^64 are refused.
 */
export function readPrlimit(v: string): Prlimit | string {
  const parts = v.split(':').map((p) => p.trim());
  if (parts.length > 2 || parts.some((p) => p !== '' && p !== 'unlimited' && !/^[+-]?\d+$/.test(p))) return `"${v}" is not SOFT[:HARD] (numbers or unlimited)`;
  const value = (p: string): bigint | string => {
    if (p === 'unlimited') return RLIM_INFINITY;
    if (p === '') return 0n;
    const n = BigInt(p.replace(/^\+/, '').replace(/^-/, ''));
    if (n > RLIM_INFINITY) return `"${v}": a limit is at most ${RLIM_INFINITY}`;
    return p.startsWith('-') ? (2n ** 64n - n) % 2n ** 64n : n;
  };
  const soft = value(parts[0]!);
  if (typeof soft === 'string') return soft;
  const hard = parts.length === 2 && parts[1] !== '' ? value(parts[1]!) : soft;
  if (typeof hard === 'string') return hard;
  return { soft, hard, softEmpty: parts.length === 2 && parts[0] === '', hardEmpty: parts.length === 2 && parts[1] === '', negative: parts.filter((p) => p.startsWith('-')) };
}

export function checkPrlimit(v: string): string | null {
  const r = readPrlimit(v);
  return typeof r === 'string' ? r : null;
}

export interface ValueFinding {
  /** LXC_VALUE, or LXC_PRLIMIT_START for a limit the kernel refuses at start (the doctor's limits rule says more) */
  code: 'LXC_VALUE' | 'LXC_PRLIMIT_START';
  severity: 'error' | 'warning';
  message: string;
  hint: string;
}

/**
 * What a value that loads does at start (measured with liblxc 5.0.2): an error when the start
 * fails, a warning when it starts but surely not as meant. Only for values the grammar passes.
 */
export function valueFindings(key: string, v: string): ValueFinding[] {
  const out: ValueFinding[] = [];
  if (/^lxc\.(signal\.(halt|reboot|stop)|monitor\.signal\.pdeath)$/.test(key) && /^\d+$/.test(v) && (Number(v) === 0 || Number(v) > 64)) {
    out.push({ code: 'LXC_VALUE', severity: 'warning', message: `${key}: there is no signal ${v} (Linux has 1 to 64): liblxc loads it, and sending it fails or does nothing`, hint: 'give a signal name, e.g. SIGPWR, or a number from 1 to 64' });
  }
  if (/^lxc\.environment(\.runtime|\.hooks)?$/.test(key)) {
    const name = v.split('=')[0]!;
    if (name !== '' && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) out.push({ code: 'LXC_VALUE', severity: 'warning', message: `${key}: "${name}" is not a name a shell passes on (letters, digits and _, not starting with a digit): the init gets it, its children do not`, hint: `rename it, e.g. ${name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1')}` });
  }
  if (key.startsWith('lxc.prlimit.')) {
    const r = readPrlimit(v);
    if (typeof r === 'string') return out;
    const res = key.slice('lxc.prlimit.'.length);
    const show = (n: bigint) => (n === RLIM_INFINITY ? 'unlimited' : String(n));
    if (r.soft > r.hard) out.push({ code: 'LXC_PRLIMIT_START', severity: 'error', message: `${key} = ${v}: the soft limit ${show(r.soft)} is over the hard limit ${show(r.hard)}; the start fails (setrlimit: Invalid argument)`, hint: 'write SOFT:HARD with SOFT at most HARD' });
    else if (res === 'nofile' && r.soft === 0n) out.push({ code: 'LXC_PRLIMIT_START', severity: 'error', message: `${key} = ${v}: a soft limit of 0 open files; liblxc cannot open the rootfs and the start fails${r.softEmpty ? ' (an empty soft part is 0)' : ''}`, hint: 'write e.g. 1024:4096' });
    else if (res === 'nofile' && r.hard > NR_OPEN_MAX) out.push({ code: 'LXC_PRLIMIT_START', severity: 'error', message: `${key} = ${v}: ${show(r.hard)} open files is over what any kernel allows (fs.nr_open); the start fails (Operation not permitted)`, hint: 'give a number, at most the device\'s fs.nr_open (1048576 by default)' });
    else {
      if (r.softEmpty) out.push({ code: 'LXC_VALUE', severity: 'warning', message: `${key} = ${v}: an empty soft part is a soft limit of 0`, hint: `write 0:${show(r.hard)} if that is meant, or ${show(r.hard)} for both` });
      if (r.hardEmpty) out.push({ code: 'LXC_VALUE', severity: 'warning', message: `${key} = ${v}: an empty hard part makes the hard limit the soft one (${show(r.soft)})`, hint: `write ${show(r.soft)}` });
    }
    for (const p of r.negative) out.push({ code: 'LXC_VALUE', severity: 'warning', message: `${key} = ${v}: ${p} wraps around to ${p === '-1' ? 'unlimited' : show(2n ** 64n - BigInt(p.slice(1)))} (liblxc reads it unsigned)`, hint: p === '-1' ? 'write unlimited' : 'give the limit as a positive number or unlimited' });
  }
  return out;
}

export function checkCgroupDir(v: string, inner: boolean): string | null {
  if (inner) return /^[^/]+$/.test(v) && v !== '.' && v !== '..' ? null : 'lxc.cgroup.dir.container.inner must be a single directory name';
  if (v.startsWith('/')) return 'cgroup dir paths may not be absolute';
  if (v.split('/').includes('..')) return 'cgroup dir paths may not walk upwards';
  return null;
}

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'NOTICE', 'WARN', 'ERROR', 'CRIT', 'ALERT', 'FATAL'];
export const SYSLOG_FACILITIES = ['daemon', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];

export function checkLogLevel(v: string): string | null {
  if (/^[0-8]$/.test(v) || LOG_LEVELS.includes(v.toUpperCase())) return null;
  return `"${v}" is not a log level (0-8 or ${LOG_LEVELS.join(', ')})`;
}

export function checkNamespaces(v: string): string | null {
  for (const t of v.split(/\s+/).filter(Boolean)) {
    if (!NAMESPACES.includes(t.toLowerCase())) return `"${t}" is not a namespace (${NAMESPACES.join(', ')}; "mount" is spelled mnt)`;
  }
  return null;
}

export function checkGroups(v: string): string | null {
  for (const t of v.split(',')) {
    if (t.trim() === '') continue; // "1,,2" and "1,2," load: empty items are passed over
    const e = checkUint(t);
    if (e) return `group ${e}`;
  }
  return null;
}

export function checkUtsName(v: string): string | null {
  return v.length < 65 ? null : `the name is ${v.length} characters; at most 64 fit (utsname.nodename)`;
}

export function checkVlanId(v: string, veth: boolean): string | null {
  if (veth && v === 'none') return null;
  if (!/^\d+$/.test(v)) return `"${v}" is not a VLAN id`;
  const max = veth ? 4094 : 65535;
  return Number(v) <= max ? null : `VLAN id ${v} is over ${max}`;
}

/** veth.n_rxqueues/n_txqueues: lxc_safe_int over 0. */
export function checkQueues(v: string): string | null {
  if (!/^[1-9]\d*$/.test(v)) return `"${v}" is not a number over 0`;
  return checkInt(v) === null ? null : `${v} does not fit 32 bits`;
}

export function checkRootfsOptions(v: string): string | null {
  for (const o of v.split(',')) if (/^(create=|optional$|relative$)/.test(o)) return `"${o}" is an lxc.mount.entry option; lxc.rootfs.options does not take it`;
  return null;
}

export function checkSeccompProxy(v: string): string | null {
  return v === '' || /^unix:(?!@?$)/.test(v) ? null : `"${v}" must be unix:/path or unix:@abstract`;
}

/**
 * lxc.environment: NAME=value or NAME. An empty name (=x) loads and fails the start (setenv:
 * Invalid argument); other odd names ("A B=1") load and start: valueFindings warns.
 */
export function checkEnvironment(v: string): string | null {
  if (v.startsWith('=')) return `"${v}" has no name before "="; liblxc loads it and the start fails (setenv: Invalid argument)`;
  if (!v.includes('=') && /[\s]/.test(v)) return `"${v}" would inherit a variable whose name has a blank, which the caller never has set: liblxc refuses it`;
  return null;
}
