import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { parseKconfig } from '../../src/kconfig/config-file.js';
import { checkConfigText } from '../../src/lxc/check.js';
import { migrateConfig } from '../../src/lxc/migrate.js';
import { parseManifest } from '../../src/profile/manifest.js';
import { resolveContainer } from '../../src/profile/resolve.js';
import { archiveBuffer, type ArchiveEntry } from '../../src/rootfs/archive-writer.js';
import { probeArchive, readArchive } from '../../src/rootfs/archive-reader.js';
import { decideEntry } from '../../src/rootfs/decide.js';
import type { EntryKind, EntrySink } from '../../src/rootfs/entry.js';
import { SAMPLE_COMMON_CONF, SAMPLE_PLUGIN_JSON, SAMPLE_USERNS_CONF } from '../../src/thunder/sample.js';
import { setExecutionMode } from '../../src/thunder/plugin-json.js';
import { checkDiagnostic, mutated, noInternalError } from '../helpers/fuzz.js';
import { tmpDir } from '../helpers/tmp.js';

// Property-based fuzzing of the parsers a user's text or an archive reaches (issue 14): the
// LXC config reader and checker (and migrate), the kconfig reader, the manifest (parsed and
// resolved), the plugin JSON edit, the tar header reader with the entry decision. For every
// input: no exception but a ThunderboxError, no more than a second, every diagnostic with a
// code, a file and a line (archives: a file; their position is the entry, named in the
// message). The seeds are fixed (SEED below, and test/fixtures/fuzz-corpus.json: inputs that
// once broke a parser, run first and mutated with the rest). FUZZ_SCALE=20 searches deeper.

const SEED = 14;
const SCALE = Math.max(1, Number(process.env.FUZZ_SCALE) || 1);
const runs = (n: number) => ({ seed: SEED, numRuns: n * SCALE });
const CORPUS = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../fixtures/fuzz-corpus.json'), 'utf8')) as Record<'manifest' | 'lxc' | 'kconfig' | 'pluginJson', string[]>;

const MANIFEST = `thunder: { datapath: /usr/share/Thunder }
networks:
  lxcbr0: { ipv4: 10.0.3.1/24, ipv6: fd00:3::1/64, nat: true }
routed-pool: 198.18.100.0/24
containers:
  OCDM:
    rootfs: target
    arch: auto
    idmap: { base: 100000, size: 65536, share: [{ uid: 1000, gid: 1000 }] }
    net: [{ type: veth, link: lxcbr0, ipv4: auto, hwaddr: 00:16:3e:00:00:01 }, { type: routed, interconnect: auto, ipv4: [198.18.200.5/32], routes: 198.18.210.0/24 }]
    tmp: true
    mounts:
      - { host: /testshare, path: TestLogging, rw: true, mode: "0770", owner: 1000 }
      - host: /x
        path: y
        mode: 0750
        owner: "5:6"
    environment: [PATH, "LOG_LEVEL=3"]
    seccomp: default
    minimize: { roots: [/usr/bin/helper], keep: ["usr/share/**"], thunder-roots: true }
    limits: { memory: 128M, memory-swap: 192M, pids: 256, cpu: { weight: 100, cpus: "0-1" }, nofile: 1024 }
  Netflix: &nf
    rootfs: target
    idmap: ["u 0 100000 65536", "g 0 100000 65536"]
    plugin-json: false
    unmapped-to-nobody: true
`;
const YAML_TOKENS = ['&a ', '*a', '*nf', '<<: *nf\n', '!!int ', '!!str ', '!!binary ', '!!map ', '!!set ', '? ', '- ', '{', '}', '[', ']', ': ', '"', "'", '|\n', '>-\n', '0x1f', '0o7', '0770', '1e400', '-1', '.inf', '~', 'null', 'true', '__proto__', 'constructor', '\n  ', '\n    ', '---\n', '...\n', '%YAML 1.1\n', 'auto', 'target', 'veth', 'routed', 'empty', '10.0.3.5/24', 'fd00::1/64', '..', '/', '128M', '1.5G', '64KB', '99999999T', '3-1', '0,2-3'];

const LXC_SEEDS = [
  SAMPLE_COMMON_CONF,
  SAMPLE_USERNS_CONF,
  `lxc.uts.name = OCDM
lxc.arch = linux32
lxc.rootfs.path = dir:/usr/share/Thunder/OCDM/Container/rootfs
lxc.idmap = u 0 100000 65536
lxc.idmap = g 0 100000 65536
lxc.net.0.type = veth
lxc.net.0.link = lxcbr0
lxc.net.0.flags = up
lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx
lxc.net.0.ipv4.address = 10.0.3.10/24
lxc.net.0.ipv4.gateway = auto
lxc.mount.entry = /tmp tmp none bind,create=dir 0 0
lxc.environment = PATH=/bin
lxc.cap.drop = sys_module
lxc.time.offset.boot = 10s
lxc.prlimit.nofile = 1024:4096
lxc.include = /usr/share/lxc/config/common.conf
lxc.network.type = veth
lxc.utsname = old
`,
];
const LXC_TOKENS = ['lxc.', 'lxc.net.0.', 'lxc.net.1.type = ', 'lxc.include = ', 'lxc.idmap = ', 'lxc.mount.entry = ', 'lxc.network.', 'lxc.cgroup.', '=', ' = ', '#', ' # c', '"', "'", '\n', '\r\n', 'x', '-', ':', '/', '..', '0', '4294967296', '99999999999999999999', 'u ', 'g ', 'veth', 'none', 'rbind', 'create=dir', 'idmap=container', 'ms', 'h', 'unlimited', '\\040', '\0', '\u00e9'];

const KCONFIG_SEED = `#
# Automatically generated file; DO NOT EDIT.
# Linux/arm 6.1.77 Kernel Configuration
#
CONFIG_NAMESPACES=y
CONFIG_USER_NS=y
# CONFIG_SECCOMP is not set
CONFIG_CGROUPS=y
CONFIG_MEMCG=m
CONFIG_CMDLINE="console=ttyAMA0 cgroup_enable=memory"
CONFIG_NR_CPUS=4
CONFIG_PHYS_OFFSET=0x0
`;
const KCONFIG_TOKENS = ['CONFIG_', '=y', '=m', '=n', '=""', '="', '\\"', '\\', '# ', ' is not set', '0x', '-1', '\n', '\r', 'CONFIG_NAMESPACES=n\n', '# CONFIG_USER_NS is not set\n', ' ', '\t'];

const JSON_TOKENS = ['{', '}', '[', ']', ',', ':', '"', '\\', '\\u', '"root"', '"mode"', '"configuration"', '"Container"', '// c\n', '/* c */', 'null', 'true', '1e999', '\n', '\ufeff', '"mode":"Off",'];

describe('parser fuzzing: no internal error, no hang, every diagnostic placed', () => {
  it('the LXC config reader and checker, and migrate', () => {
    const sysroot = tmpDir(); // absolute includes resolve in this empty root
    const check = (t: string): void =>
      void noInternalError(t, () => {
        for (const version of [5, 7] as const) {
          for (const d of checkConfigText(t, 'config', { version, sysroot })) checkDiagnostic(d, t);
          const m = migrateConfig(t, 'config', version);
          for (const d of m.notes) checkDiagnostic(d, t);
        }
      });
    for (const t of CORPUS.lxc) check(t);
    fc.assert(fc.property(mutated(LXC_SEEDS, LXC_TOKENS), check), runs(400));
  });

  it('the kconfig reader', () => {
    const check = (t: string): void =>
      void noInternalError(t, () => {
        for (const typeOf of [() => undefined, () => 'bool' as const, () => 'string' as const, () => 'hex' as const, () => 'int' as const]) {
          for (const d of parseKconfig(t, '.config', typeOf).diagnostics) checkDiagnostic(d, t);
        }
      });
    for (const t of CORPUS.kconfig) check(t);
    fc.assert(fc.property(mutated([KCONFIG_SEED], KCONFIG_TOKENS), check), runs(500));
  });

  it('the manifest, parsed and resolved', () => {
    const target = tmpDir();
    const check = (t: string): void =>
      void noInternalError(t, () => {
        const m = parseManifest(t, 'thunderbox.yaml');
        // what resolve says about a manifest's values is placed there too
        for (const c of m.containers) noInternalError(t, () => resolveContainer(c.name, c.input, { target }));
      });
    for (const t of CORPUS.manifest) check(t);
    fc.assert(fc.property(mutated([MANIFEST], YAML_TOKENS), check), runs(500));
  });

  it('the plugin JSON edit', () => {
    const check = (t: string): void =>
      void noInternalError(t, () => {
        const e = setExecutionMode(t, 'OCDM.json');
        // what it writes is the input with one value changed: still JSON that says Container
        if (e.changed) expect((JSON.parse(e.after) as { configuration: { root: { mode: string } } }).configuration.root.mode).toBe('Container');
      });
    for (const t of [...CORPUS.pluginJson, '['.repeat(100_000), `{"configuration":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`]) check(t);
    fc.assert(fc.property(mutated([SAMPLE_PLUGIN_JSON, SAMPLE_PLUGIN_JSON.replace('"Local"', '"Container"'), '{"configuration":{}}'], JSON_TOKENS), check), runs(500));
  });

  it('the tar header reader and the entry decision', async () => {
    const dir = tmpDir();
    const entries: ArchiveEntry[] = [
      { path: './', type: 'Directory' },
      { path: 'bin', type: 'Directory', mode: 0o755 },
      { path: 'bin/busybox', type: 'File', data: 'ELF'.repeat(200), mode: 0o4755 },
      { path: 'bin/sh', type: 'SymbolicLink', linkpath: 'busybox' },
      { path: 'bin/ash', type: 'Link', linkpath: 'bin/busybox' },
      { path: 'dev', type: 'Directory' },
      { path: 'dev/null', type: 'CharacterDevice', devmaj: 1, devmin: 3 },
      { path: `usr/share/${'long-name/'.repeat(12)}f`, type: 'File', data: 'x' },
      { path: 'etc/p\u00e9', type: 'File', data: 'y', mtime: -1 },
    ];
    const base = archiveBuffer(entries);
    const file = path.join(dir, 'fuzz.tar');
    const read = async (bytes: Uint8Array) => {
      fs.writeFileSync(file, bytes);
      const written = new Map<string, EntryKind>([['', 'dir']]);
      const sink: EntrySink = {
        entry(meta) {
          const d = decideEntry(meta, written, false);
          if (d.action === 'refuse') throw new ThunderboxError({ code: d.code, severity: 'error', file, message: d.message, hint: 'rebuild the archive' });
          if (d.action === 'create') for (const a of d.implicitDirs) written.set(a, 'dir');
          written.set(meta.path, meta.kind);
          return meta.kind === 'file' ? { write() {}, end() {} } : null;
        },
        copy() {},
        backpressure: async () => {},
      };
      const t0 = performance.now();
      try {
        await readArchive(file, probeArchive(file), sink);
      } catch (err) {
        if (!(err instanceof ThunderboxError)) throw new Error(`internal error: ${err instanceof Error ? err.stack : String(err)}`);
        for (const d of err.diagnostics) expect(d.code).toMatch(/^[A-Z][A-Z0-9_]+$/), expect(d.file).toBeTruthy(), expect(d.hint).toBeTruthy();
      }
      expect(performance.now() - t0).toBeLessThan(1000);
    };
    const BOUNDARY = [0, 0x20, 0x30, 0x37, 0x38, 0x80, 0xff];
    const mutation = fc.array(
      fc.oneof(
        // header fields: name, mode, uid, gid, size, mtime, checksum, type, linkname, magic, devices
        fc.record({ at: fc.integer({ min: 0, max: base.length - 1 }).map((p) => (p & ~511) + [0, 100, 108, 116, 124, 136, 148, 156, 157, 257, 329, 337, 345][p % 13]! + (p % 7)), value: fc.oneof(fc.constantFrom(...BOUNDARY), fc.nat(255)) }),
        fc.record({ at: fc.nat(base.length - 1), value: fc.nat(255) }),
      ),
      { minLength: 1, maxLength: 6 },
    );
    await fc.assert(
      fc.asyncProperty(mutation, fc.option(fc.nat(base.length), { freq: 4 }), async (muts, cut) => {
        const b = Buffer.from(base);
        for (const m of muts) b[m.at] = m.value;
        await read(cut === null ? b : b.subarray(0, cut));
      }),
      runs(300),
    );
  });
});
