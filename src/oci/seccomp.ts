import type { Diagnostic } from '../core/diagnostic.js';

// An LXC seccomp policy (the file common.conf's lxc.seccomp.profile names) turned into the
// OCI runtime-spec's linux.seccomp, so that a runc container gets the filter an LXC one gets.
//
// LXC's policy language (liblxc src/lxc/seccomp.c, parse_config_v2; lxc.container.conf(5)):
//   line 1: the version, 1 or 2 (1: "allowlist" and one syscall number a line; not converted)
//   line 2: allowlist | denylist (whitelist/blacklist are the old names) [default action]
//   then rules `<syscall> [action] [[idx,value,op(,mask)]]...`, `[arch]` sections and
//   `reject_force_umount` (umount2 with MNT_FORCE gets EACCES). `#` in column 1 starts a
//   comment, as does anything after a rule that starts with `#`.
//   Actions: kill, errno N, allow, trap, notify (log on newer liblxc). A rule without one gets
//   kill in a denylist and allow in an allowlist; the policy's default is allow for a
//   denylist and kill for an allowlist unless line 2 names one.
//   Sections: [all] applies everywhere; an architecture's section only on that architecture.
//
// OCI has one rule list for every architecture it names, so the rules taken are [all]'s and
// those of the container's own architecture's section (x86_64's [x86_64], armhf's [arm],
// aarch64's [arm64]); a section for another architecture (also a compat one, e.g. [x86] on
// x86_64, which LXC applies to 32-bit calls only) does not apply and is left out.

export type OciAction = 'SCMP_ACT_KILL' | 'SCMP_ACT_TRAP' | 'SCMP_ACT_ERRNO' | 'SCMP_ACT_ALLOW' | 'SCMP_ACT_LOG';

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface OciSyscall {
  names: string[];
  action: OciAction;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: OciAction;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSyscall[];
}

export type SeccompProblem = Omit<Diagnostic, 'file'> & { line: number };

interface Action {
  action: OciAction;
  errnoRet?: number;
}

const ARCH_SECTIONS = ['all', 'x86', 'x32', 'x86_64', 'arm', 'arm64', 'ppc', 'ppc64', 'ppc64le', 'mips', 'mips64', 'mips64n32', 'mipsel', 'mipsel64', 'mipsel64n32', 's390', 's390x', 'loongarch64', 'riscv64'];

/** The container's architecture (archOf's names) -> its LXC section and the OCI architectures. */
export function seccompArch(archName: string): { section: string; architectures: string[] } | null {
  switch (archName) {
    case 'x86_64':
      return { section: 'x86_64', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] };
    case 'i686':
      return { section: 'x86', architectures: ['SCMP_ARCH_X86'] };
    case 'armhf':
    case 'armel':
      return { section: 'arm', architectures: ['SCMP_ARCH_ARM'] };
    case 'aarch64':
      return { section: 'arm64', architectures: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] };
    case 'riscv64':
      return { section: 'riscv64', architectures: ['SCMP_ARCH_RISCV64'] };
    case 'mips':
      return { section: 'mips', architectures: ['SCMP_ARCH_MIPS'] };
    case 'mipsel':
      return { section: 'mipsel', architectures: ['SCMP_ARCH_MIPSEL'] };
    case 'mips64':
      return { section: 'mips64', architectures: ['SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPS'] };
    case 'mips64el':
      return { section: 'mipsel64', architectures: ['SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_MIPSEL'] };
    default:
      return null;
  }
}

const OPS: Record<string, string> = {
  SCMP_CMP_NE: 'SCMP_CMP_NE', '!=': 'SCMP_CMP_NE',
  SCMP_CMP_LT: 'SCMP_CMP_LT', '<': 'SCMP_CMP_LT',
  SCMP_CMP_LE: 'SCMP_CMP_LE', '<=': 'SCMP_CMP_LE',
  SCMP_CMP_EQ: 'SCMP_CMP_EQ', '==': 'SCMP_CMP_EQ',
  SCMP_CMP_GE: 'SCMP_CMP_GE', '>=': 'SCMP_CMP_GE',
  SCMP_CMP_GT: 'SCMP_CMP_GT', '>': 'SCMP_CMP_GT',
  SCMP_CMP_MASKED_EQ: 'SCMP_CMP_MASKED_EQ', '&=': 'SCMP_CMP_MASKED_EQ',
};

function parseNumber(s: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^0[0-7]+$/.test(s)) return Number.parseInt(s.slice(1), 8);
  if (/^\d+$/.test(s)) return Number(s);
  return null;
}

/** `kill`, `errno 1`, ... at words[i]; returns the action and how many words it took. */
function parseAction(words: string[], i: number): { act: Action; used: number } | { error: string } | null {
  const w = words[i]?.toLowerCase();
  if (w === undefined || w.startsWith('[')) return null;
  switch (w) {
    case 'kill':
      return { act: { action: 'SCMP_ACT_KILL' }, used: 1 };
    case 'trap':
      return { act: { action: 'SCMP_ACT_TRAP' }, used: 1 };
    case 'allow':
      return { act: { action: 'SCMP_ACT_ALLOW' }, used: 1 };
    case 'log':
      return { act: { action: 'SCMP_ACT_LOG' }, used: 1 };
    case 'errno': {
      const n = parseNumber(words[i + 1] ?? '');
      if (n === null || n > 4095) return { error: `"errno" needs a number from 0 to 4095, got "${words[i + 1] ?? ''}"` };
      return { act: { action: 'SCMP_ACT_ERRNO', errnoRet: n }, used: 2 };
    }
    case 'notify':
      return { error: 'the action "notify" hands the call to a seccomp notify proxy (lxc.seccomp.notify.proxy), which an OCI bundle run by Thunder has no equivalent for' };
    default:
      return { error: `unknown action "${words[i]}"` };
  }
}

function parseArg(text: string): OciSeccompArg | { error: string } {
  const parts = text.replace(/^\[|\]$/g, '').split(',').map((p) => p.trim());
  if (parts.length < 3 || parts.length > 4) return { error: `argument filter "${text}" is not [index,value,op] or [index,value,op,mask]` };
  const index = parseNumber(parts[0]!);
  const value = parseNumber(parts[1]!);
  const op = OPS[parts[2]!];
  if (index === null || index > 5) return { error: `argument index "${parts[0]}" in "${text}" is not 0 to 5` };
  if (value === null) return { error: `value "${parts[1]}" in "${text}" is not a number` };
  if (!op) return { error: `comparison "${parts[2]}" in "${text}" is not one LXC knows (==, !=, <, <=, >, >=, &= or SCMP_CMP_*)` };
  if (op === 'SCMP_CMP_MASKED_EQ') {
    // LXC: [idx,value,&=,mask] is (arg & mask) == value; OCI: value is the mask, valueTwo the datum (runc, crun)
    const mask = parts[3] === undefined ? null : parseNumber(parts[3]);
    if (mask === null) return { error: `"&=" in "${text}" needs a mask: [index,value,&=,mask]` };
    return { index, value: mask, valueTwo: value, op };
  }
  return { index, value, op };
}

export interface ConvertedSeccomp {
  seccomp: OciSeccomp | null;
  problems: SeccompProblem[];
}

/**
 * Convert an LXC policy (its text) for a container of architecture archName. Problems are
 * errors: a rule that cannot be carried over would silently weaken or change the filter.
 */
export function lxcSeccompToOci(text: string, archName: string): ConvertedSeccomp {
  const problems: SeccompProblem[] = [];
  const err = (line: number, code: string, message: string, hint: string) => problems.push({ code, severity: 'error', message, hint, line });
  const arch = seccompArch(archName);
  if (!arch) {
    err(1, 'OCI_SECCOMP_ARCH', `no seccomp architecture is known for ${archName}`, 'use --seccomp off for this container, or an x86_64, arm or aarch64 rootfs');
    return { seccomp: null, problems };
  }
  const lines = text.split('\n');
  const version = lines[0]?.trim();
  if (version !== '2') {
    err(1, 'OCI_SECCOMP_VERSION', version === '1' ? 'a version 1 policy lists syscalls by number, which depend on the architecture; it is not converted' : `the first line must be the policy version 2, got "${version ?? ''}"`, 'write the policy in LXC\'s version 2 format (names, not numbers)');
    return { seccomp: null, problems };
  }
  const head = (lines[1] ?? '').trim().split(/\s+/);
  const kind = head[0]?.toLowerCase();
  const deny = kind === 'denylist' || kind === 'blacklist';
  if (!deny && kind !== 'allowlist' && kind !== 'whitelist') {
    err(2, 'OCI_SECCOMP_POLICY', `the second line must say denylist or allowlist, got "${lines[1] ?? ''}"`, 'start the policy with "2" and then "denylist" (or "allowlist")');
    return { seccomp: null, problems };
  }
  let policyDefault: Action = deny ? { action: 'SCMP_ACT_ALLOW' } : { action: 'SCMP_ACT_KILL' };
  if (head.length > 1) {
    const a = parseAction(head, 1);
    if (a && 'error' in a) err(2, 'OCI_SECCOMP_ACTION', a.error, 'name one of kill, errno N, allow, trap');
    else if (a) policyDefault = a.act;
  }
  const ruleDefault: Action = deny ? { action: 'SCMP_ACT_KILL' } : { action: 'SCMP_ACT_ALLOW' };
  let section = 'all';
  const rules: OciSyscall[] = [];
  const add = (r: OciSyscall) => {
    // one entry per action, errno and arguments, in the order the policy first names them
    const key = JSON.stringify([r.action, r.errnoRet, r.args]);
    const same = rules.find((x) => JSON.stringify([x.action, x.errnoRet, x.args]) === key);
    if (same) {
      if (!same.names.includes(r.names[0]!)) same.names.push(r.names[0]!);
    } else rules.push(r);
  };
  for (let i = 2; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!;
    if (raw.startsWith('#')) continue;
    const words = raw.split('#')[0]!.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    const first = words[0]!;
    if (first.startsWith('[') && first.endsWith(']') && words.length === 1) {
      const name = first.slice(1, -1).toLowerCase();
      if (!ARCH_SECTIONS.includes(name)) err(n, 'OCI_SECCOMP_SECTION', `unknown architecture section ${first}`, `LXC knows ${ARCH_SECTIONS.map((s) => `[${s}]`).join(' ')}; liblxc refuses the policy too`);
      section = name;
      continue;
    }
    if (section !== 'all' && section !== arch.section) continue;
    if (first === 'reject_force_umount') {
      // liblxc: umount2(target, flags) with flags & MNT_FORCE (1) -> EACCES
      add({ names: ['umount2'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 1, value: 1, valueTwo: 1, op: 'SCMP_CMP_MASKED_EQ' }] });
      continue;
    }
    if (!/^[a-z_][a-z0-9_]*$/.test(first)) {
      err(n, 'OCI_SECCOMP_SYSCALL', `"${first}" is not a syscall name`, 'write the syscall by name, e.g. kexec_load errno 1');
      continue;
    }
    let act = ruleDefault;
    let j = 1;
    const a = parseAction(words, 1);
    if (a && 'error' in a) {
      err(n, 'OCI_SECCOMP_ACTION', `${first}: ${a.error}`, 'use kill, errno N, allow or trap, or --seccomp off for this container');
      continue;
    }
    if (a) {
      act = a.act;
      j += a.used;
    }
    const args: OciSeccompArg[] = [];
    let bad = false;
    for (const w of words.slice(j)) {
      const p = parseArg(w);
      if ('error' in p) {
        err(n, 'OCI_SECCOMP_ARG', `${first}: ${p.error}`, 'write argument filters as LXC does: [1,0x1,&=,0x1]');
        bad = true;
      } else args.push(p);
    }
    if (bad) continue;
    if (args.length > 6) {
      err(n, 'OCI_SECCOMP_ARG', `${first}: ${args.length} argument filters, a syscall has 6 arguments at most`, 'remove the extra filters');
      continue;
    }
    // a rule whose action is the default does nothing (libseccomp refuses it, liblxc skips it)
    if (act.action === policyDefault.action && act.errnoRet === policyDefault.errnoRet) continue;
    add({ names: [first], action: act.action, ...(act.errnoRet !== undefined ? { errnoRet: act.errnoRet } : {}), ...(args.length ? { args } : {}) });
  }
  const seccomp: OciSeccomp = {
    defaultAction: policyDefault.action,
    ...(policyDefault.errnoRet !== undefined ? { defaultErrnoRet: policyDefault.errnoRet } : {}),
    architectures: arch.architectures,
    syscalls: rules,
  };
  return { seccomp: problems.length ? null : seccomp, problems };
}
