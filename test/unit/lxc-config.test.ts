import { describe, expect, it } from 'vitest';
import { checkConfigText } from '../../src/lxc/check.js';
import { derivedHwaddr, renderContainerConfig } from '../../src/lxc/container-config.js';
import { parseConfig, renderConfig, setLineValue, values } from '../../src/lxc/document.js';
import { fstabEscape } from '../../src/lxc/mount-entry.js';
import { planIdmap, DEFAULT_IDMAP } from '../../src/lxc/idmap.js';
import type { ContainerSpec } from '../../src/profile/spec.js';
import { SAMPLE_COMMON_CONF } from '../../src/thunder/sample.js';

const base: ContainerSpec = {
  callsign: 'OCDM',
  rootfs: { kind: 'archive', path: '/x/rootfs.tar' },
  arch: 'auto',
  idmap: planIdmap(DEFAULT_IDMAP),
  net: [{ type: 'empty' }],
  tmpMount: true,
  mounts: [],
  environment: [{ name: 'PATH' }, { name: 'MESSAGE_DISPATCHER_CONFIG' }],
  seccomp: 'default',
  pluginJson: 'auto',
};
const ctx = { containerDir: '/usr/share/Thunder/OCDM/Container', toolVersion: '0.0.0', arch: 'linux32' };

describe('lossless LXC document', () => {
  it.each([
    ['common.conf', SAMPLE_COMMON_CONF],
    ['CRLF, no final newline, martian lines, inline #', 'lxc.uts.name = a # not a comment\r\nfoo.bar = 1\r\n\t# c\r\n\r\nlxc.arch="linux32"'],
    ['empty', ''],
  ])('render(parse(text)) === text: %s', (_n, text) => {
    expect(renderConfig(parseConfig(text).doc)).toBe(text);
  });

  it('follows liblxc: first =, trim, one pair of quotes, # only at line start', () => {
    const { doc } = parseConfig('lxc.uts.name==x\nlxc.arch = "linux32"\n  lxc.environment = A=B # c\n#lxc.uts.name = no\n');
    expect(values(doc, 'lxc.uts.name')).toEqual(['=x']);
    expect(values(doc, 'lxc.arch')).toEqual(['linux32']);
    expect(values(doc, 'lxc.environment')).toEqual(['A=B # c']);
  });

  it('reports a line without = (liblxc refuses the file)', () => {
    const { diagnostics } = parseConfig('lxc.uts.name = a\nlxc.arch linux32\n', 'config');
    expect(diagnostics).toMatchObject([{ code: 'LXC_NO_EQUALS', file: 'config', line: 2 }]);
  });

  it('editing one value changes only that line', () => {
    const { doc } = parseConfig(SAMPLE_COMMON_CONF);
    const i = doc.lines.findIndex((l) => l.key === 'lxc.tty.max');
    doc.lines[i] = setLineValue(doc.lines[i]!, '8');
    const before = SAMPLE_COMMON_CONF.split('\n');
    const after = renderConfig(doc).split('\n');
    expect(after.filter((l, k) => l !== before[k])).toEqual(['lxc.tty.max = 8']);
  });
});

describe('container config', () => {
  it("the wiki's OCDM config, unprivileged", () => {
    const text = renderContainerConfig(base, ctx);
    const entries = text.split('\n').filter((l) => l.startsWith('lxc.'));
    expect(entries).toEqual([
      'lxc.include = /usr/share/lxc/config/common.conf',
      'lxc.include = /usr/share/lxc/config/userns.conf',
      'lxc.uts.name = OCDM',
      'lxc.arch = linux32',
      'lxc.idmap = u 0 100000 65536',
      'lxc.idmap = g 0 100000 65536',
      'lxc.rootfs.path = dir:/usr/share/Thunder/OCDM/Container/rootfs',
      'lxc.mount.entry = /tmp tmp none rbind,optional 0 0',
      'lxc.environment = PATH',
      'lxc.environment = MESSAGE_DISPATCHER_CONFIG',
      'lxc.net.0.type = empty',
    ]);
  });

  it('privileged, seccomp off after the include, mounts, env values, veth', () => {
    const text = renderContainerConfig(
      {
        ...base,
        idmap: [],
        seccomp: 'off',
        mounts: [{ host: '/testshare', path: 'TestLogging', rw: true, optional: false }, { host: '/my dir', path: 'a b', rw: false, optional: true }],
        environment: [...base.environment, { name: 'LOG', value: 'x y' }],
        net: [{ type: 'veth', link: 'lxcbr0', ipv4: '10.0.3.10/24', vethPair: 'veth-ocdm' }],
      },
      { ...ctx, containerDir: '/opt/th/OCDM/Container' },
    );
    const entries = text.split('\n').filter((l) => l.startsWith('lxc.'));
    expect(entries).not.toContain('lxc.include = /usr/share/lxc/config/userns.conf');
    expect(entries.indexOf('lxc.seccomp.profile =')).toBe(entries.indexOf('lxc.include = /usr/share/lxc/config/common.conf') + 1);
    expect(entries).toContain('lxc.rootfs.path = dir:/opt/th/OCDM/Container/rootfs');
    expect(entries).toContain('lxc.mount.entry = /testshare TestLogging none rbind,rw 0 0');
    expect(entries).toContain('lxc.mount.entry = /my\\040dir a\\040b none rbind,ro,optional 0 0');
    expect(entries).toContain('lxc.environment = LOG=x y');
    expect(entries.slice(-6)).toEqual(['lxc.net.0.type = veth', 'lxc.net.0.link = lxcbr0', 'lxc.net.0.flags = up', `lxc.net.0.hwaddr = ${derivedHwaddr('OCDM', 0)}`, 'lxc.net.0.veth.pair = veth-ocdm', 'lxc.net.0.ipv4.address = 10.0.3.10/24']);
  });

  it('is deterministic and leaves lxc.arch out when unknown', () => {
    expect(renderContainerConfig(base, ctx)).toBe(renderContainerConfig(base, ctx));
    expect(renderContainerConfig(base, { ...ctx, arch: null })).not.toContain('lxc.arch');
  });

  it('derives a stable MAC, different per callsign and NIC', () => {
    expect(derivedHwaddr('OCDM', 0)).toMatch(/^00:16:3e(:[0-9a-f]{2}){3}$/);
    expect(derivedHwaddr('OCDM', 0)).toBe(derivedHwaddr('OCDM', 0));
    expect(new Set([derivedHwaddr('OCDM', 0), derivedHwaddr('OCDM', 1), derivedHwaddr('Netflix', 0)]).size).toBe(3);
  });

  it('escapes fstab fields', () => {
    expect(fstabEscape('a b\tc\\d')).toBe('a\\040b\\011c\\134d');
  });
});

describe('values an older liblxc refuses', () => {
  it.each([
    ['lxc.time.offset.boot = -5m', 6, 'warning', 'LXC_VALUE_OLDER'],
    ['lxc.time.offset.boot = -5m', 7, 'warning', 'LXC_VALUE_OLDER'],
    ['lxc.time.offset.boot = -5m', 5, 'error', 'LXC_VALUE'],
    ['lxc.time.offset.monotonic = -5us', 6, 'warning', 'LXC_VALUE_OLDER'],
  ] as const)('%s with LXC %i: %s %s', (line, version, severity, code) => {
    const ds = checkConfigText(`${line}\n`, 'c.conf', { version });
    expect(ds.map((d) => [d.code, d.severity])).toEqual([[code, severity]]);
    expect(ds[0]!.message).toContain('a negative offset in');
  });
  it.each(['lxc.time.offset.boot = -5s', 'lxc.time.offset.boot = 5m', 'lxc.time.offset.boot = -0m'])('%s: nothing to say', (line) => {
    expect(checkConfigText(`${line}\n`, 'c.conf', { version: 6 })).toEqual([]);
  });
});
