import type { Diagnostic } from '../core/diagnostic.js';
import { fail } from '../core/errors.js';
import { readTextFile } from '../core/read-text.js';
import { formatAssign, parseKconfig, type KAssign, type KConfig, type TypeOf } from './config-file.js';
import { REMOVED_SYMBOLS, RULES, needOf, type Feature, type Need, type Uses } from './rules.js';
import { loadTarget, type ResolvedTarget } from './targets.js';

// `thunderbox kconfig lint`: fragments (or a full .config) -> what the kernel will end up with
// -> the container rules. Three ways to know the final values:
//   - a full .config as the first file: it is the base, fragments are merged over it;
//   - --target rpi3|rpi3-64: the stock Pi kernel's resolved config is the base; a requested
//     value takes unless a known Kconfig rule stops it (the symbol does not exist there,
//     BRIDGE=y with IPV6=m ends as m, MASQUERADE=y with NF_NAT=m ends as m, no NAMESPACES
//     means no *_NS); the kernel tree is not needed;
//   - --kernel-src: the kernel's own kconfig decides (kconfig/kernel-tree.ts).
// Fragments merge like merge_config.sh: left to right, later ones win, a change is reported
// as "Value of CONFIG_X is redefined by fragment F" (an error with --strict).

export type State = 'y' | 'm' | 'n' | 'missing';

export interface OptionState {
  option: string;
  state: State;
  need: Need;
  feature: Feature;
  lxcCheckconfig?: { section: string; label: string; mandatory: boolean };
}

export interface LintResult {
  diagnostics: Diagnostic[];
  /** Final value per symbol ('n' for "is not set"; absent: not in the config at all). */
  final: Map<string, string>;
  states: OptionState[];
  /** What the fragments asked for, merged (last wins). */
  requested: Map<string, KAssign>;
}

export interface LintOptions {
  target?: string;
  strict?: boolean;
  uses: Uses;
  cmdline?: string;
}

function stateOf(final: Map<string, string>, name: string): State {
  const v = final.get(name);
  if (v === undefined) return 'missing';
  return v === 'y' || v === 'm' || v === 'n' ? v : 'y';
}

/** A full kernel .config is about 250 KB (allyesconfig under 400 KB). */
const KCONFIG_MAX_BYTES = 8 * 1024 * 1024;

export function readConfigFile(file: string, typeOf?: TypeOf): { config: KConfig; diagnostics: Diagnostic[] } {
  const r = readTextFile(file, KCONFIG_MAX_BYTES);
  if (!r.ok) fail('KCONFIG_UNREADABLE', `cannot read ${file}: ${r.reason}`, 'give the path of a kernel .config or a fragment', { file });
  return parseKconfig(r.text, file, typeOf);
}

/** Merge fragments left to right (merge_config.sh); reports redefinitions. */
export function mergeFragments(frags: KConfig[], strict: boolean): { merged: Map<string, KAssign>; diagnostics: Diagnostic[] } {
  const merged = new Map<string, KAssign>();
  const diagnostics: Diagnostic[] = [];
  for (const f of frags) {
    for (const a of f.values.values()) {
      const prev = merged.get(a.name);
      if (prev && prev.value !== a.value) {
        diagnostics.push({
          code: 'KCONFIG_REDEFINED',
          severity: strict ? 'error' : 'warning',
          file: a.file,
          line: a.line,
          col: 1,
          message: `Value of CONFIG_${a.name} is redefined by fragment ${a.file}:\nPrevious value: ${formatAssign(a.name, prev.value)} (${prev.file}:${prev.line})\nNew value: ${formatAssign(a.name, a.value)}`,
          hint: strict ? 'strict mode: set each option in one fragment only' : 'the later fragment wins; remove one of the lines if that is not what you want',
        });
      }
      merged.set(a.name, a);
    }
  }
  return { merged, diagnostics };
}

function notFinal(a: KAssign, actual: string | undefined, reason: string, hint: string, code: string): Diagnostic {
  return {
    code,
    severity: 'warning',
    file: a.file,
    line: a.line,
    col: 1,
    message: `Value requested for CONFIG_${a.name} not in final .config (${reason})\nRequested value: ${formatAssign(a.name, a.value)}\nActual value: ${formatAssign(a.name, actual)}`,
    hint,
  };
}

/** The options under `menuconfig NAMESPACES` (init/Kconfig): off with it. */
const NS_OPTIONS = ['UTS_NS', 'IPC_NS', 'PID_NS', 'USER_NS', 'NET_NS', 'TIME_NS'];

/** Known Kconfig rules that change a requested value on the Pi kernels (the tree is not at hand). */
function predict(t: ResolvedTarget, requested: Map<string, KAssign>, out: Diagnostic[]): { final: Map<string, string>; blocked: Map<string, string> } {
  const final = new Map<string, string>();
  /** Options a dependency that is off took out of the config: option -> that dependency. */
  const blocked = new Map<string, string>();
  const redundant: KAssign[] = [];
  for (const a of t.config.values.values()) final.set(a.name, a.value);
  const name = t.target.name;
  for (const a of requested.values()) {
    const removed = REMOVED_SYMBOLS[a.name];
    if (removed) {
      out.push(notFinal(a, undefined, `CONFIG_${a.name} no longer exists: ${removed}`, 'remove the line', 'KCONFIG_REMOVED_SYMBOL'));
      continue;
    }
    if (!final.has(a.name)) {
      if (a.name === 'TIME_NS' && t.target.arch === 'arm') out.push(notFinal(a, undefined, 'TIME_NS needs GENERIC_VDSO_TIME_NS, which 32-bit arm does not have', 'remove the line for rpi3 (rpi3-64 has it)', 'KCONFIG_NOT_ON_ARCH'));
      else if (a.value !== 'n') out.push(notFinal(a, undefined, `${name}'s kernel has no CONFIG_${a.name}: the symbol does not exist there, or what it depends on is off`, 'check the spelling, and enable its dependencies in the same fragment', 'KCONFIG_UNKNOWN_SYMBOL'));
      continue;
    }
    if (final.get(a.name) === a.value) redundant.push(a);
    final.set(a.name, a.value);
  }
  const limit = (sym: string, dep: string, why: string, hint: string) => {
    if (final.get(sym) === 'y' && final.get(dep) === 'm') {
      final.set(sym, 'm');
      const a = requested.get(sym);
      if (a?.value === 'y') out.push(notFinal(a, 'm', why, hint, 'KCONFIG_TRISTATE_LIMIT'));
    }
  };
  limit('BRIDGE', 'IPV6', 'BRIDGE depends on IPV6 || IPV6=n, so with CONFIG_IPV6=m it can be m at most', 'set CONFIG_IPV6=y as well, or ask for BRIDGE=m');
  limit('NETFILTER_XT_TARGET_MASQUERADE', 'NF_NAT', 'it depends on NF_NAT, which is m', 'set CONFIG_NF_NAT=y (and what selects it) as well, or ask for m');
  if (final.get('NAMESPACES') !== 'y') {
    for (const ns of NS_OPTIONS) {
      if (!final.has(ns)) continue;
      final.delete(ns);
      blocked.set(ns, 'NAMESPACES');
      const a = requested.get(ns);
      if (a && a.value !== 'n') out.push(notFinal(a, undefined, 'every *_NS option depends on NAMESPACES, which is off', 'set CONFIG_NAMESPACES=y', 'KCONFIG_DEPENDENCY_OFF'));
    }
  }
  // only now, with the dependencies applied: a line whose option a dependency removes is not
  // redundant, and "the line can go" would contradict "set the dependency" below
  for (const a of redundant) {
    if (final.get(a.name) === a.value) out.push({ code: 'KCONFIG_REDUNDANT', severity: 'note', file: a.file, line: a.line, col: 1, message: `CONFIG_${a.name}=${a.value} is what ${name} resolves to already`, hint: 'the line can go' });
  }
  return { final, blocked };
}

/** The container rules on a final config. `blocked`: options a dependency that is off removed. */
export function verdicts(final: Map<string, string>, uses: Uses, where: { file: string; requested: Map<string, KAssign>; blocked?: Map<string, string> }, out: Diagnostic[]): OptionState[] {
  const states: OptionState[] = [];
  for (const r of RULES) {
    const state = stateOf(final, r.option);
    const need = needOf(r, uses);
    states.push({ option: r.option, state, need, feature: r.feature, ...(r.check ? { lxcCheckconfig: { section: r.check.section, label: r.check.label, mandatory: r.check.mandatory === true } } : {}) });
    const a = where.requested.get(r.option);
    const loc = a ? { file: a.file, line: a.line, col: 1 } : { file: where.file };
    // a kernel from before the split has the v1 part built into its parent
    if (state === 'missing' && r.splitFrom && final.get(r.splitFrom) === 'y') continue;
    if ((state === 'n' || state === 'missing') && need !== 'no') {
      const dep = where.blocked?.get(r.option) ?? (NS_OPTIONS.includes(r.option) && final.get('NAMESPACES') !== 'y' ? 'NAMESPACES' : undefined);
      if (dep) {
        const asked = a?.value === 'y' || a?.value === 'm';
        out.push({ code: need === 'required' ? 'KCONFIG_REQUIRED' : 'KCONFIG_RECOMMENDED', severity: need === 'required' ? 'error' : 'warning', ...loc, message: `CONFIG_${r.option} is off because CONFIG_${dep}, which it depends on, is off: ${r.why}`, hint: `set CONFIG_${dep}=y${asked ? '; this line then takes effect' : where.blocked?.has(r.option) ? `: CONFIG_${r.option} comes back with it` : `, and CONFIG_${r.option}=y`}` });
        continue;
      }
      let hint = `set CONFIG_${r.option}=y in the kernel fragment`;
      if (r.option === 'NAMESPACES' && final.get('EXPERT') === 'y') hint += ' (NAMESPACES defaults to !EXPERT: with CONFIG_EXPERT=y it must be set explicitly)';
      out.push({ code: need === 'required' ? 'KCONFIG_REQUIRED' : 'KCONFIG_RECOMMENDED', severity: need === 'required' ? 'error' : 'warning', ...loc, message: `CONFIG_${r.option} is ${state === 'n' ? 'off' : 'not in the config'}: ${r.why}`, hint });
    } else if (state === 'm' && r.atStart && need !== 'no') {
      out.push({ code: 'KCONFIG_MODULE', severity: 'note', ...loc, message: `CONFIG_${r.option}=m: a container needs it when it starts, so the module must load by then`, hint: 'keep module loading in the image (kmod, modules installed), or set it to y' });
    }
  }
  return states;
}

/** cmdline.txt: the Pi device tree adds cgroup_disable=memory, which cgroup_enable=memory undoes. */
export function checkCmdline(file: string, final: Map<string, string>, out: Diagnostic[]): void {
  const r = readTextFile(file);
  if (!r.ok) fail('KCONFIG_UNREADABLE', `cannot read ${file}: ${r.reason}`, 'give the path of the boot partition\'s cmdline.txt', { file });
  const text = r.text;
  const tokens = text.split(/\s+/).filter(Boolean);
  if (text.trim().includes('\n')) out.push({ code: 'KCONFIG_CMDLINE_LINES', severity: 'error', file, line: 2, col: 1, message: 'cmdline.txt must be one line: the firmware reads only the first', hint: 'join the lines with spaces' });
  if (final.get('MEMCG') !== 'y') return;
  if (tokens.includes('cgroup_disable=memory')) {
    out.push({ code: 'KCONFIG_CMDLINE_MEMCG', severity: 'error', file, line: 1, col: text.indexOf('cgroup_disable=memory') + 1, message: 'cgroup_disable=memory turns the memory controller off', hint: 'replace it with cgroup_enable=memory' });
  } else if (!tokens.includes('cgroup_enable=memory')) {
    out.push({ code: 'KCONFIG_CMDLINE_MEMCG', severity: 'error', file, line: 1, col: 1, message: 'no cgroup_enable=memory: the Raspberry Pi device tree adds cgroup_disable=memory, so containers get no memory controller', hint: 'add cgroup_enable=memory to cmdline.txt' });
  }
}

/** Each file read (a .config or a fragment), its diagnostics added to `diagnostics`. */
export function readConfigs(files: string[], diagnostics: Diagnostic[], typeOf?: TypeOf): KConfig[] {
  return files.map((f) => {
    const r = readConfigFile(f, typeOf);
    diagnostics.push(...r.diagnostics);
    return r.config;
  });
}

export async function lint(files: string[], o: LintOptions): Promise<LintResult> {
  const t = o.target ? await loadTarget(o.target) : undefined;
  if (o.target && !t) fail('KCONFIG_TARGET', `unknown target ${o.target}`, 'use --target rpi3 or --target rpi3-64');
  const diagnostics: Diagnostic[] = [];
  const parsed = readConfigs(files, diagnostics, t?.typeOf);
  const fullFirst = !t && parsed[0]?.header !== undefined;
  const base = fullFirst ? parsed[0]!.values : undefined;
  const frags = fullFirst ? parsed.slice(1) : parsed;
  const { merged, diagnostics: md } = mergeFragments(frags, o.strict === true);
  diagnostics.push(...md);
  let final: Map<string, string>;
  let blocked: Map<string, string> | undefined;
  if (t) {
    ({ final, blocked } = predict(t, merged, diagnostics));
  } else {
    final = new Map<string, string>();
    for (const a of base?.values() ?? []) final.set(a.name, a.value);
    for (const a of merged.values()) final.set(a.name, a.value);
  }
  if (!t && !fullFirst) {
    diagnostics.push({ code: 'KCONFIG_NO_BASE', severity: 'note', file: files[0], message: 'only fragments, and no --target or --kernel-src: checked their syntax and merging, not the final values', hint: 'add --target rpi3 (or rpi3-64), or --kernel-src with --defconfig' });
    return { diagnostics, final, states: [], requested: merged };
  }
  const states = verdicts(final, o.uses, { file: files[0] ?? '', requested: merged, blocked }, diagnostics);
  if (o.cmdline) checkCmdline(o.cmdline, final, diagnostics);
  return { diagnostics, final, states, requested: merged };
}
