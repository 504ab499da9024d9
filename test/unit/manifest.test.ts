import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { allocateManifest } from '../../src/net/manifest-nets.js';
import { mergeInputs } from '../../src/profile/input.js';
import { parseManifest } from '../../src/profile/manifest.js';
import { resolveContainer } from '../../src/profile/resolve.js';

function diags(text: string) {
  try {
    parseManifest(text, 'thunderbox.yaml');
  } catch (e) {
    if (e instanceof ThunderboxError) return e.diagnostics;
    throw e;
  }
  return [];
}

describe('manifest', () => {
  it('reads the DESIGN.md sketch', () => {
    const m = parseManifest(
      `thunder: { datapath: /usr/share/Thunder }
containers:
  OCDM:
    rootfs: output/images/rootfs.tar
    arch: auto
    idmap: { base: 100000, size: 65536, share: [{ uid: 1000, gid: 1000 }] }
    net: { type: empty }
    mounts:
      - { host: /tmp, path: tmp, optional: true }
      - { host: /testshare, path: TestLogging, rw: true, mode: "0770" }
    environment: [PATH, MESSAGE_DISPATCHER_CONFIG, "LOG_LEVEL=3"]
    seccomp: default
  Netflix:
    rootfs: target
    net: [{ type: veth, link: lxcbr0, ipv4: 10.0.3.11/24, veth-pair: veth-nf }]
    plugin-json: false
`,
      '/board/thunderbox.yaml',
    );
    expect(m.datapath).toBe('/usr/share/Thunder');
    expect(m.containers.map((c) => c.name)).toEqual(['OCDM', 'Netflix']);
    const o = m.containers[0]!.input;
    expect(o.rootfs).toBe('/board/output/images/rootfs.tar');
    expect(o.idmap).toEqual({ kind: 'plan', base: 100000, size: 65536, share: [{ uid: 1000, gid: 1000 }] });
    expect(o.mounts?.[1]).toEqual({ host: '/testshare', path: 'TestLogging', rw: true, optional: false, mode: 0o770 });
    expect(o.environment?.[2]).toEqual({ name: 'LOG_LEVEL', value: '3' });
    const n = m.containers[1]!.input;
    expect(n.rootfs).toBe('target');
    expect(n.net).toEqual([{ type: 'veth', link: 'lxcbr0', ipv4: '10.0.3.11/24', ipv6: undefined, hwaddr: undefined, vethPair: 'veth-nf' }]);
    expect(n.pluginJson).toBe(false);
  });

  it.each([
    ['containers:\n  OCDM:\n    rootfs: a.tar\n    sekcomp: off\n', 'MANIFEST_UNKNOWN_KEY', 4, 5],
    ['containers:\n  OCDM:\n    seccomp: maybe\n', 'MANIFEST_INVALID', 3, 14],
    ['containers:\n  OCDM:\n    net: { type: bridge }\n', 'MANIFEST_INVALID', 3, 10],
    ['containers:\n  OCDM:\n    mounts:\n      - { host: /a }\n', 'MANIFEST_INVALID', 4, 9],
    ['containers:\n  OCDM: [\n', 'MANIFEST_YAML', 3, 1],
    ['thunder: {}\n', 'MANIFEST_INVALID', 1, 1],
  ])('%#: errors carry code, line and column', (text, code, line, col) => {
    const d = diags(text);
    expect(d[0]).toMatchObject({ code, file: 'thunderbox.yaml', line, col });
    expect(d[0]!.hint).toBeTruthy();
  });
});

describe('manifest: unprivileged options', () => {
  it('mount owners and the unprivileged switches', () => {
    const m = parseManifest(
      'containers:\n  OCDM:\n    mounts: [{ host: /testshare, path: TestLogging, rw: true, mode: "0770", owner: 1000 }, { host: /x, path: y, owner: "5:6" }]\n    unmapped-to-nobody: true\n    fix-root-mode: true\n    keep-devices: true\n',
      'm.yaml',
    );
    const i = m.containers[0]!.input;
    expect(i.mounts?.map((x) => x.owner)).toEqual([{ uid: 1000, gid: 1000 }, { uid: 5, gid: 6 }]);
    expect([i.unmappedToNobody, i.fixRootMode, i.keepDevices]).toEqual([true, true, true]);
  });
});

describe('manifest: a mode is the octal the user wrote', () => {
  const withMode = (mode: string) => `containers:\n  OCDM:\n    mounts:\n      - host: /testshare\n        path: TestLogging\n        mode: ${mode}\n`;
  it.each([
    ['0770', 0o770], // YAML 1.2 would read decimal 770 = 0o1402
    ['"0770"', 0o770],
    ["'0770'", 0o770],
    ['770', 0o770], // chmod 770: the digits are octal (decimal 770 is 0o1402, which nobody means)
    ['"770"', 0o770],
    ['0o770', 0o770],
    ['0o7', 0o7],
    ['4755', 0o4755],
    ['!!str 0750', 0o750],
  ])('mode: %s is %o', (mode, want) => {
    expect(parseManifest(withMode(mode), 'm.yaml').containers[0]!.input.mounts![0]!.mode).toBe(want);
  });
  it.each(['0x1ff', '0789', '1e3', '-770', '7.5', '077777', '"0x1ff"', 'true', '[7]'])('mode: %s is refused at its line and column', (mode) => {
    const d = diags(withMode(mode));
    expect(d[0]).toMatchObject({ code: 'MANIFEST_INVALID', file: 'thunderbox.yaml', line: 6, col: 15 });
    expect(d[0]!.hint).toBeTruthy();
  });
});

describe('manifest: YAML aliases', () => {
  it('an alias bomb is MANIFEST_YAML at an alias, not an internal error', () => {
    const bomb = ['x-a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]', ...['b', 'c', 'd', 'e'].map((n, i) => `x-${n}: &${n} [${Array(10).fill(`*${'abcd'[i]}`).join(', ')}]`), 'containers: {}'].join('\n') + '\n';
    const d = diags(bomb);
    expect(d[0]).toMatchObject({ code: 'MANIFEST_YAML', file: 'thunderbox.yaml', line: 2 });
    expect(d[0]!.message).toContain('alias bomb');
  });
  it('an alias before its anchor is MANIFEST_YAML at the alias', () => {
    expect(diags('containers:\n  OCDM:\n    rootfs: *later\n  B:\n    rootfs: &later x.tar\n')[0]).toMatchObject({ code: 'MANIFEST_YAML', line: 3, col: 13 });
  });
  it('a few aliases are fine', () => {
    const m = parseManifest('containers:\n  A: { rootfs: a.tar, net: &net { type: empty } }\n  B: { rootfs: b.tar, net: *net }\n', 'm.yaml');
    expect(m.containers.map((c) => c.input.net)).toEqual([[{ type: 'empty' }], [{ type: 'empty' }]]);
  });
});

describe('manifest: every error names its line', () => {
  const errorsOf = (run: () => unknown) => {
    try {
      run();
    } catch (e) {
      if (e instanceof ThunderboxError) return e.diagnostics;
      throw e;
    }
    return [];
  };
  it.each([
    ['containers:\n  OCDM:\n    rootfs: a.tar\n    sekcomp: off\n', 'did you mean seccomp?'],
    ['containers:\n  OCDM:\n    rootfs: a.tar\n    mounts: [{ host: /a, path: b, mdoe: "0770" }]\n', 'did you mean mode?'],
    ['containers:\n  OCDM:\n    net: { type: veth, link: br0, ipv44: 10.0.0.2/24 }\n', 'did you mean ipv4?'],
    ['contaners:\n  OCDM: {}\n', 'did you mean containers?'],
    ['containers:\n  OCDM:\n    xyzzy: 1\n', 'check the spelling; the keys are listed in README.md (Manifest)'],
  ])('%#: an unknown key gets the nearest known ones', (text, hint) => {
    expect(diags(text).find((d) => d.code === 'MANIFEST_UNKNOWN_KEY')?.hint).toBe(hint);
  });

  it('resolve errors from a manifest value carry its line and column', () => {
    const m = parseManifest(
      'containers:\n  OCDM:\n    rootfs: /nonexistent-tbx/rootfs.tar\n  B:\n    rootfs: target\n    arch: sparc\n    mounts:\n      - { host: relative, path: x }\n    net: { type: veth, link: br0, hwaddr: zz }\n    environment: [PATH, "1BAD=x"]\n',
      '/m/thunderbox.yaml',
    );
    const [ocdm, b] = m.containers;
    expect(errorsOf(() => resolveContainer(ocdm!.name, ocdm!.input, { target: '/tmp' }))).toMatchObject([{ code: 'ROOTFS_UNREADABLE', file: '/m/thunderbox.yaml', line: 3, col: 13 }]);
    expect(errorsOf(() => resolveContainer(b!.name, b!.input, { target: '/tmp' })).map((d) => [d.code, d.line, d.col])).toEqual([
      ['ARCH_INVALID', 6, 11],
      ['MOUNT_HOST_RELATIVE', 8, 17],
      ['ENV_NAME_INVALID', 10, 25],
      ['NET_HWADDR_INVALID', 9, 43],
    ]);
  });

  it('a flag that replaces a manifest value takes its position away', () => {
    const m = parseManifest('containers:\n  OCDM:\n    rootfs: a.tar\n    arch: sparc\n', '/m/thunderbox.yaml');
    const input = mergeInputs(m.containers[0]!.input, { rootfs: '/nonexistent-tbx/b.tar' });
    const d = errorsOf(() => resolveContainer('OCDM', input, { target: '/tmp' }));
    expect(d).toMatchObject([{ code: 'ROOTFS_UNREADABLE' }]);
    expect(d[0]!.line).toBeUndefined();
    expect(input.at?.arch).toEqual({ file: '/m/thunderbox.yaml', line: 4, col: 11 });
  });

  it('address allocation errors carry the line of the address, the network or the pool', () => {
    const text = 'networks:\n  lxcbr0: { ipv4: 10.0.3.1/24 }\n  br1: { ipv4: nonsense }\nrouted-pool: 198.18.100.0/99\ncontainers:\n  A:\n    rootfs: target\n    net: { type: veth, link: lxcbr0, ipv4: 10.0.3.5/24 }\n  B:\n    rootfs: target\n    net:\n      - { type: veth, link: lxcbr0, ipv4: 10.0.3.5/24 }\n      - { type: routed, interconnect: auto, routes: [198.18.210.0/24, 10.0.3.0/25] }\n';
    const m = parseManifest(text, '/m/thunderbox.yaml');
    const d = errorsOf(() => allocateManifest(m));
    expect(d.map((x) => [x.code, x.line, x.col])).toEqual([
      ['NET_BRIDGE_ADDRESS', 3, 16],
      ['NET_COLLISION', 12, 43],
      ['NET_POOL', 4, 14],
      ['NET_NO_POOL', 13, 39],
    ]);
  });
});
