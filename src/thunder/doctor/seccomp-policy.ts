import fs from 'node:fs';
import { resolveInTargetOrNull } from '../../core/target-path.js';
import type { Findings } from './findings.js';
import { lastEntry, type DeviceView } from './view.js';

// The seccomp profile liblxc reads at start (seccomp.c parse_config, parse_config_v2), as 5.0.2
// parses it (each refusal measured: "Failed to read seccomp policy", nothing starts):
//   line 1   the version, read with %d: 1 or 2 ("Invalid version": "version 2", an empty file);
//   line 2   a line holding "debug" is refused; version 1 needs an allowlist (whitelist), then
//            one syscall number per line; version 2 takes denylist, allowlist, blacklist or
//            whitelist, optionally followed by a default action ("Bad seccomp policy style");
//   then     "# ..." comments, empty lines, [arch] sections (only the names below), the
//            reject_force_umount line, and rules "<syscall> [action] [[idx,value,op(,mask)]]...":
//            action kill | errno N | allow | trap | notify | log; an unknown syscall name is
//            skipped, an unknown action or operator is refused.
// A policy that passes can still keep the container from starting: the filter is loaded just
// before liblxc execs the init, so an allowlist (default kill; a denylist with another default
// action) that does not allow what liblxc and the init's start-up need, or a denylist rule on
// one of those, kills it. Only that much can be seen here: an allowlist must also allow every
// syscall ThunderPlugin makes (a warning says so).

const ARCHES = ['all', 'x86', 'x32', 'x86_64', 'arm', 'arm64', 'ppc', 'ppc64', 'ppc64le', 'mips', 'mips64', 'mips64n32', 'mipsel', 'mipsel64', 'mipsel64n32', 's390', 's390x', 'loongarch64'];
const ACTIONS = ['kill', 'allow', 'trap', 'notify', 'log'];
const OPS = ['SCMP_CMP_NE', '!=', 'SCMP_CMP_LT', '<', 'SCMP_CMP_LE', '<=', 'SCMP_CMP_EQ', '==', 'SCMP_CMP_GE', '>=', 'SCMP_CMP_GT', '>', 'SCMP_CMP_MASKED_EQ', '&='];
/**
 * What liblxc does after it loads the filter (it tells the parent, closes descriptors, takes
 * the console, execs the init) and what a static BusyBox init does until it prints: measured
 * on x86_64 with strace from the filter's load to the exit, and each one left out of an
 * allowlist stopped the start. Alternatives: the names other architectures use.
 */
export const START_SYSCALLS: readonly (string | string[])[] = ['close', 'sendmsg', 'sendto', 'read', 'write', 'fchown', 'fchmod', 'setsid', 'prctl', 'getuid', 'fcntl', 'execve', 'brk', 'rt_sigaction', ['newfstatat', 'fstatat64', 'fstat64'], 'openat', 'uname', ['set_tid_address'], 'set_robust_list', 'rseq', 'readlink', ['prlimit64', 'ugetrlimit'], 'mprotect', 'getrandom', 'getppid', 'getpid', 'getcwd', 'exit_group', ['arch_prctl', 'set_tls']];
const names = (s: string | string[]) => (Array.isArray(s) ? s : [s]);

export interface PolicyProblem {
  line: number;
  message: string;
}

/** Refusals (as liblxc's parser) and rules that kill any init, of a profile's text. */
export function checkSeccompPolicy(text: string): PolicyProblem[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const version = /^\s*([+-]?\d+)/.exec(lines[0] ?? '');
  if (!version || (version[1] !== '1' && version[1] !== '2')) return [{ line: 1, message: `the first line must be the policy version 1 or 2, not ${JSON.stringify(lines[0] ?? '')} ("Invalid version")` }];
  const policyLine = lines[1] ?? '';
  if (policyLine.includes('debug')) return [{ line: 2, message: '"debug" in the policy line is refused ("Debug not yet implemented")' }];
  const style = /^(denylist|blacklist|allowlist|whitelist)\b\s*(.*)$/.exec(policyLine.trim());
  if (version[1] === '1') {
    if (!/allowlist|whitelist/.test(policyLine)) return [{ line: 2, message: 'a version 1 policy must be an allowlist ("Only allowlist policy is supported")' }];
    const nums = lines.slice(2).filter((l) => l.trim() !== '');
    const bad = nums.findIndex((l) => !/^\s*[+-]?\d+/.test(l));
    if (bad !== -1) return [{ line: bad + 3, message: `version 1 lists syscall numbers, not ${JSON.stringify(nums[bad])}` }];
    return [{ line: 2, message: `a version 1 allowlist of ${nums.length} syscall numbers: every other syscall kills the init (the policy is architecture-specific and short lists do not let it start); write a version 2 profile with syscall names` }];
  }
  if (!style) return [{ line: 2, message: `the policy line must be denylist, allowlist (blacklist, whitelist), not ${JSON.stringify(policyLine)} ("Bad seccomp policy style")` }];
  const allow = style[1] === 'allowlist' || style[1] === 'whitelist';
  const out: PolicyProblem[] = [];
  if (style[2] && !actionOk(style[2])) out.push({ line: 2, message: `the default action "${style[2]}" is not kill, errno N, allow, trap, notify or log` });
  const allowed = new Set<string>();
  for (let i = 2; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === '' || l.startsWith('#')) continue;
    if (l.startsWith('[')) {
      const a = /^\[([^\]]*)\]/.exec(l);
      if (!a || !ARCHES.includes(a[1]!.toLowerCase())) out.push({ line: i + 1, message: `${l} is not an architecture section liblxc knows ("Unsupported architecture")` });
      continue;
    }
    if (l.startsWith('reject_force_umount')) continue;
    const [name, ...rest] = l.split('#')[0]!.trim().split(/\s+/);
    const argAt = rest.findIndex((t) => t.startsWith('['));
    const action = (argAt === -1 ? rest : rest.slice(0, argAt)).join(' ');
    const args = argAt === -1 ? [] : rest.slice(argAt);
    if (action !== '' && !actionOk(action)) {
      out.push({ line: i + 1, message: `${name}: "${action}" is not an action (kill, errno N, allow, trap, notify, log)` });
      continue;
    }
    const badArg = args.find((a) => {
      const m = /^\[\s*\d+\s*,\s*[^,\]]+\s*,\s*([^,\]]+?)\s*(,\s*[^\]]+)?\]$/.exec(a);
      return !m || !OPS.includes(m[1]!);
    });
    if (badArg) {
      out.push({ line: i + 1, message: `${name}: the argument filter ${badArg} is not [index,value,operator(,mask)] with a known operator` });
      continue;
    }
    const act = action === '' ? (allow ? 'allow' : 'kill') : action;
    if (act === 'allow') allowed.add(name!);
    else if (START_SYSCALLS.some((x) => names(x).includes(name!)) && args.length === 0) out.push({ line: i + 1, message: `the rule "${l}" denies ${name}, which liblxc needs after it loads the filter (or the init's start-up does): the container's init dies before it runs` });
  }
  // the action for syscalls no rule names: an allowlist's is kill, a denylist's allow, unless line 2 says
  const fallback = style[2] ? style[2].trim() : allow ? 'kill' : 'allow';
  if (fallback !== 'allow') {
    const missing = START_SYSCALLS.filter((x) => !names(x).some((n) => allowed.has(n))).map((x) => names(x)[0]!);
    if (missing.length) out.push({ line: 2, message: `${allow ? 'an allowlist' : `a denylist whose default action is "${fallback}"`} that does not allow ${missing.join(', ')}: liblxc needs them after it loads the filter, and the init dies before it runs` });
  }
  return out;
}

function actionOk(a: string): boolean {
  const t = a.trim().split(/\s+/);
  if (t[0] === 'errno') return t.length === 2 && /^\d+$/.test(t[1]!);
  return t.length === 1 && ACTIONS.includes(t[0]!);
}

export function checkSeccompProfile(v: DeviceView, f: Findings): void {
  const e = lastEntry(v, 'lxc.seccomp.profile');
  if (!e || e.value === '') return;
  const host = resolveInTargetOrNull(v.target, e.value);
  if (host === null || !fs.statSync(host, { throwIfNoEntry: false })?.isFile()) return; // the seccomp-state rule reports it
  const text = fs.readFileSync(host, 'latin1');
  const problems = checkSeccompPolicy(text);
  for (const p of problems) {
    f.error('SECCOMP_POLICY', `the seccomp profile ${e.value}, line ${p.line}: ${p.message}: the container does not start`, 'fix the profile (see lxc.container.conf(5), "SECCOMP CONFIGURATION"), or turn seccomp off for this container (thunderbox prepare --seccomp off)', { file: host, line: p.line });
  }
  const policy = text.split('\n')[1]?.trim() ?? '';
  if (problems.length === 0 && (/^(allowlist|whitelist)\b/.test(policy) || /^(denylist|blacklist)\s+(?!allow\s*$)\S/.test(policy))) {
    f.warning('SECCOMP_ALLOWLIST', `the seccomp profile ${e.value} denies every syscall it does not allow: it allows what liblxc needs to start the init, and ThunderPlugin and the plugin must find every syscall they make in it too (the doctor cannot see those)`, 'try the container (thunderbox try) and exercise the plugin, or use a denylist (LXC\'s common.seccomp)', { file: host, line: 2 });
  }
}
