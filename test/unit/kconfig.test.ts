import { describe, expect, it } from 'vitest';
import { parseKconfig } from '../../src/kconfig/config-file.js';
import { checkConfigJson, checkConfigReport } from '../../src/kconfig/check-config.js';
import { mergeFragments, verdicts } from '../../src/kconfig/lint.js';
import { DEFAULT_USES, RULES, needOf } from '../../src/kconfig/rules.js';
import { TARGETS, loadTarget } from '../../src/kconfig/targets.js';
import type { Diagnostic } from '../../src/core/diagnostic.js';

const types = (m: Record<string, 'bool' | 'tristate' | 'string' | 'int' | 'hex'>) => (n: string) => m[n];

describe('kconfig reader: every diagnostic', () => {
  it.each([
    ['clean', 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x"\n# a comment\n\n', [], { A: 'y', B: 'n', C: '"x"' }],
    ['=yes is taken as y', 'CONFIG_A=yes\n', ['KCONFIG_BOOL_WORD'], { A: 'y' }],
    ['=no is taken as n', 'CONFIG_A=no\n', ['KCONFIG_BOOL_WORD'], { A: 'n' }],
    ['a bool value that is not y/m/n is ignored', 'CONFIG_A=1\n', ['KCONFIG_BOOL_INVALID'], {}],
    ['trailing text after a bool', 'CONFIG_A=y # on\n', ['KCONFIG_TRAILING_TEXT'], { A: 'y' }],
    ['an unquoted string is dropped', 'CONFIG_CMDLINE=console=ttyS0\n', ['KCONFIG_UNQUOTED_STRING'], {}],
    ['an unterminated string is dropped', 'CONFIG_CMDLINE="console=ttyS0\n', ['KCONFIG_UNTERMINATED_STRING'], {}],
    ['escapes in strings', 'CONFIG_CMDLINE="a \\"b\\" \\\\c"\n', [], { CMDLINE: '"a \\"b\\" \\\\c"' }],
    ['text after a string', 'CONFIG_CMDLINE="a" b\n', ['KCONFIG_TRAILING_TEXT'], { CMDLINE: '"a"' }],
    ['a leading zero in an int', 'CONFIG_LOG_BUF_SHIFT=017\n', ['KCONFIG_INT_LEADING_ZERO'], {}],
    ['0x in an int', 'CONFIG_LOG_BUF_SHIFT=0x11\n', ['KCONFIG_INT_HEX'], {}],
    ['a valid hex', 'CONFIG_PHYS=0x8000\n', [], { PHYS: '0x8000' }],
    ['an invalid hex', 'CONFIG_PHYS=0xzz\n', ['KCONFIG_HEX_INVALID'], {}],
    ['m for a bool', 'CONFIG_B=m\n', ['KCONFIG_BOOL_MODULE'], {}],
    ['CRLF', 'CONFIG_A=y\r\nCONFIG_C="x"\r\n', ['KCONFIG_CRLF'], { A: 'y', C: '"x"' }],
    ['a duplicate within a file', 'CONFIG_A=y\nCONFIG_A=m\n', ['KCONFIG_DUPLICATE'], { A: 'm' }],
    ['a line that is neither', 'A=y\nCONFIG_A y\n', ['KCONFIG_UNEXPECTED', 'KCONFIG_UNEXPECTED'], {}],
    ['an unset line the kernel does not read', '#CONFIG_A is not set\n# CONFIG_A is not set.\n', ['KCONFIG_UNSET_FORM', 'KCONFIG_UNSET_FORM'], {}],
  ])('%s', (_n, text, codes, values) => {
    const { config, diagnostics } = parseKconfig(text, 'f', types({ A: 'tristate', CMDLINE: 'string', LOG_BUF_SHIFT: 'int', PHYS: 'hex', B: 'bool', C: 'string' }));
    expect(diagnostics.map((d) => d.code)).toEqual(codes);
    for (const d of diagnostics) expect(d.hint).toBeTruthy();
    expect(Object.fromEntries([...config.values].map(([k, v]) => [k, v.value]))).toEqual(values);
  });

  it('reads the resolved Pi configs without a single diagnostic', async () => {
    for (const t of TARGETS) {
      const r = await loadTarget(t.name);
      expect(r!.config.values.get('NAMESPACES')?.value).toBe('y');
      expect(parseKconfig(await t.load(), t.name, r!.typeOf).diagnostics).toEqual([]);
    }
  });
});

describe('merging like merge_config.sh', () => {
  const f = (name: string, text: string) => parseKconfig(text, name).config;
  it('later fragments win; a change is reported with its wording', () => {
    const { merged, diagnostics } = mergeFragments([f('a.cfg', 'CONFIG_VETH=m\nCONFIG_TUN=y\n'), f('b.cfg', 'CONFIG_VETH=y\nCONFIG_TUN=y\n')], false);
    expect(merged.get('VETH')?.value).toBe('y');
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]!.message).toBe('Value of CONFIG_VETH is redefined by fragment b.cfg:\nPrevious value: CONFIG_VETH=m (a.cfg:1)\nNew value: CONFIG_VETH=y');
    expect(diagnostics[0]!.severity).toBe('warning');
  });
  it('--strict makes it an error', () => {
    const { diagnostics } = mergeFragments([f('a.cfg', 'CONFIG_VETH=m\n'), f('b.cfg', '# CONFIG_VETH is not set\n')], true);
    expect(diagnostics[0]!.severity).toBe('error');
  });
});

describe('targets', () => {
  it('pins the list', () => {
    expect(TARGETS.map((t) => [t.name, t.arch, t.defconfig])).toEqual([
      ['rpi3', 'arm', 'bcm2709'],
      ['rpi3-64', 'arm64', 'bcm2711'],
    ]);
  });
  it.each([
    ['rpi3', 'TIME_NS', undefined],
    ['rpi3-64', 'TIME_NS', 'y'],
    ['rpi3', 'BRIDGE', 'm'],
    ['rpi3', 'IPV6', 'm'],
    ['rpi3', 'NF_NAT', 'm'],
    ['rpi3', 'EXPERT', 'y'],
    ['rpi3', 'MEMCG_V1', 'n'],
    ['rpi3', 'SECCOMP_FILTER', 'y'],
    ['rpi3', 'DEVPTS_MULTIPLE_INSTANCES', undefined],
  ])('%s resolves %s to %s', async (t, sym, v) => {
    expect((await loadTarget(t))!.config.values.get(sym)?.value).toBe(v);
  });
});

describe('container rules', () => {
  it('the rule table covers lxc-checkconfig and the options the issue names', () => {
    const names = RULES.map((r) => r.option);
    for (const o of ['NAMESPACES', 'UTS_NS', 'IPC_NS', 'PID_NS', 'USER_NS', 'NET_NS', 'CGROUPS', 'CGROUP_DEVICE', 'CGROUP_SCHED', 'CGROUP_CPUACCT', 'MEMCG', 'CPUSETS', 'VETH', 'MACVLAN', 'VLAN_8021Q', 'BRIDGE', 'NETFILTER_ADVANCED', 'IP_NF_TARGET_MASQUERADE', 'IP6_NF_TARGET_MASQUERADE', 'NETFILTER_XT_TARGET_CHECKSUM', 'NETFILTER_XT_MATCH_COMMENT', 'FUSE_FS', 'CHECKPOINT_RESTORE', 'FHANDLE', 'EVENTFD', 'EPOLL', 'UNIX_DIAG', 'INET_DIAG', 'PACKET_DIAG', 'NETLINK_DIAG', 'SECCOMP', 'SECCOMP_FILTER', 'CGROUP_PIDS', 'POSIX_MQUEUE', 'KEYS', 'OVERLAY_FS', 'TUN', 'BRIDGE_NETFILTER', 'NETFILTER_XT_TARGET_MASQUERADE', 'NF_NAT', 'MEMCG_V1']) {
      expect(names).toContain(o);
    }
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(RULES.map((r) => [r.option, r] as const))('%s: off, module, on', (_o, r) => {
    const uses = new Set([...DEFAULT_USES, ...(r.when ? [r.when] : [])]);
    const need = needOf(r, uses);
    const run = (value: string | undefined) => {
      const out: Diagnostic[] = [];
      const final = new Map<string, string>();
      if (value) final.set(r.option, value);
      verdicts(final, uses, { file: 'f', requested: new Map() }, out);
      return out.filter((d) => d.message.startsWith(`CONFIG_${r.option}=`) || d.message.startsWith(`CONFIG_${r.option} `)).map((d) => d.code);
    };
    expect(run('y')).toEqual([]);
    expect(run(undefined)).toEqual(need === 'no' ? [] : [need === 'required' ? 'KCONFIG_REQUIRED' : 'KCONFIG_RECOMMENDED']);
    expect(run('n')).toEqual(need === 'no' ? [] : [need === 'required' ? 'KCONFIG_REQUIRED' : 'KCONFIG_RECOMMENDED']);
    expect(run('m')).toEqual(r.atStart && need !== 'no' ? ['KCONFIG_MODULE'] : []);
  });

  it('USER_NS is required with an idmap, not without', () => {
    const r = RULES.find((x) => x.option === 'USER_NS')!;
    expect(needOf(r, new Set(['idmap']))).toBe('required');
    expect(needOf(r, new Set())).toBe('no');
  });

  it('check-config report and JSON', () => {
    const final = new Map([['NAMESPACES', 'y'], ['VETH', 'm']]);
    const states = verdicts(final, DEFAULT_USES, { file: 'f', requested: new Map() }, []);
    const text = checkConfigReport(states);
    expect(text).toContain('--- Namespaces ---\nNamespaces: enabled\nUtsname namespace: required\nIpc namespace: required');
    expect(text).toContain('Veth pair device: enabled (module)');
    expect(checkConfigJson(states).find((e) => e.option === 'CONFIG_VETH')).toEqual({ option: 'CONFIG_VETH', state: 'm', required: false, feature: 'networking' });
  });
});

describe('prediction on a target', () => {
  it('turning NAMESPACES off takes every *_NS with it; the hint names the EXPERT trap', async () => {
    const { lint } = await import('../../src/kconfig/lint.js');
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tbx-k-')), 'f.cfg');
    fs.writeFileSync(f, '# CONFIG_NAMESPACES is not set\nCONFIG_USER_NS=y\n');
    const r = await lint([f], { target: 'rpi3', uses: DEFAULT_USES });
    expect(r.final.has('PID_NS')).toBe(false);
    const codes = r.diagnostics.map((d) => `${d.line ?? '-'}:${d.code}`);
    expect(codes).toContain('2:KCONFIG_DEPENDENCY_OFF');
    const ns = r.diagnostics.find((d) => d.code === 'KCONFIG_REQUIRED' && d.message.startsWith('CONFIG_NAMESPACES'))!;
    expect(ns.line).toBe(1);
    expect(ns.hint).toContain('NAMESPACES defaults to !EXPERT');
    // one piece of advice for the USER_NS line: not "the line can go", then "set CONFIG_USER_NS=y"
    const line2 = r.diagnostics.filter((d) => d.line === 2);
    expect(line2.map((d) => d.code)).not.toContain('KCONFIG_REDUNDANT');
    expect(line2.map((d) => d.hint)).toEqual(['set CONFIG_NAMESPACES=y', 'set CONFIG_NAMESPACES=y; this line then takes effect']);
    const pid = r.diagnostics.find((d) => d.code === 'KCONFIG_REQUIRED' && d.message.startsWith('CONFIG_PID_NS'))!;
    expect(pid.hint).toBe('set CONFIG_NAMESPACES=y: CONFIG_PID_NS comes back with it');
    expect(r.diagnostics.filter((d) => d.hint?.includes('CONFIG_USER_NS=y'))).toEqual([]);
    fs.rmSync(path.dirname(f), { recursive: true });
  });

  it('a line that only repeats the target is redundant', async () => {
    const { lint } = await import('../../src/kconfig/lint.js');
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tbx-k-')), 'f.cfg');
    fs.writeFileSync(f, 'CONFIG_USER_NS=y\n');
    const r = await lint([f], { target: 'rpi3', uses: DEFAULT_USES });
    expect(r.diagnostics.filter((d) => d.line === 1).map((d) => [d.code, d.hint])).toEqual([['KCONFIG_REDUNDANT', 'the line can go']]);
    fs.rmSync(path.dirname(f), { recursive: true });
  });
});
