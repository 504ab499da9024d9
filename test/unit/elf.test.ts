import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { EM, ET, describeElf, elfIdent, incompatibility, machineName, readElf, type ElfInfo } from '../../src/rootfs/elf.js';
import { archOf } from '../../src/lxc/arch.js';
import { elfStub } from '../../src/thunder/sample.js';
import { buildElf, type ElfSpec } from '../helpers/elf-writer.js';

// Real files: the host's (x86-64) and libc6 of armhf, armel and arm64 from Debian, unpacked by
// scripts/test-host-setup.sh (npm test's pretest) under test/.cache; readelf (binutils) is the reference.
const CACHE = path.resolve(import.meta.dirname, '../.cache');
const DEB = { armhf: 'arm-linux-gnueabihf', armel: 'arm-linux-gnueabi', arm64: 'aarch64-linux-gnu' } as const;
const debLib = (arch: keyof typeof DEB, name: string) => path.join(CACHE, `deb-${arch}`, 'lib', DEB[arch], name);
const HOST_LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';

function need(file: string): Buffer {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`bash scripts/test-host-setup.sh\` (as root) first`);
  return fs.readFileSync(file);
}

function ok(buf: Uint8Array, opts?: { imports?: boolean }): { elf: ElfInfo; warnings: string[] } {
  const r = readElf(buf, opts);
  if (!r) throw new Error('not an ELF file');
  if (!r.ok) throw new Error(r.error);
  return r;
}

/** What readelf shows of a file, in the reader's terms. */
type ReadelfView = Pick<ElfInfo, 'interp' | 'dynamic' | 'needed' | 'rpath' | 'runpath' | 'soname'>;

/** `readelf -l -d -W` over many files at once, split per file. */
async function readelfMany(files: string[]): Promise<Map<string, ReadelfView>> {
  const out = new Map<string, ReadelfView>();
  for (let i = 0; i < files.length; i += 400) {
    const chunk = files.slice(i, i + 400);
    // With one file readelf prints no "File:" line: /dev/null keeps the output uniform.
    const { stdout } = await execa('readelf', ['-l', '-d', '-W', ...chunk, '/dev/null'], { reject: false, env: { LC_ALL: 'C' } });
    let cur: ReadelfView | undefined;
    const split = (v: string) => v.split(':').filter((x) => x !== '');
    for (const line of stdout.split('\n')) {
      let m: RegExpMatchArray | null;
      if ((m = /^File: (.*)$/.exec(line))) {
        cur = { dynamic: false, needed: [], rpath: [], runpath: [] };
        out.set(m[1]!, cur);
      } else if (!cur) {
        continue;
      } else if ((m = /\[Requesting program interpreter: (.*)\]$/.exec(line))) {
        cur.interp = m[1]!;
      } else if (/^\s+DYNAMIC\s/.test(line)) {
        cur.dynamic = true;
      } else if ((m = /\(NEEDED\)\s+Shared library: \[(.*)\]$/.exec(line))) {
        cur.needed.push(m[1]!);
      } else if ((m = /\(SONAME\)\s+Library soname: \[(.*)\]$/.exec(line))) {
        cur.soname = m[1]!;
      } else if ((m = /\(RPATH\)\s+Library rpath: \[(.*)\]$/.exec(line))) {
        cur.rpath.push(...split(m[1]!));
      } else if ((m = /\(RUNPATH\)\s+Library runpath: \[(.*)\]$/.exec(line))) {
        cur.runpath.push(...split(m[1]!));
      }
    }
  }
  return out;
}

async function readelfUndefined(file: string): Promise<string[]> {
  const { stdout } = await execa('readelf', ['--dyn-syms', '-W', file], { env: { LC_ALL: 'C' } });
  const names: string[] = [];
  for (const line of stdout.split('\n')) {
    const f = line.trim().split(/\s+/);
    // Num: Value Size Type Bind Vis Ndx Name [(version)]
    if (f.length >= 8 && /^\d+:$/.test(f[0]!) && f[6] === 'UND') names.push(f[7]!.replace(/@.*$/, ''));
  }
  return [...new Set(names)];
}

const isElf = (file: string): boolean => {
  try {
    const fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(4);
    const n = fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    return n === 4 && head.toString('latin1') === '\x7fELF';
  } catch {
    return false;
  }
};

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && isElf(p)) out.push(p);
  }
  return out;
}

describe('readElf on real files', () => {
  const cases: { name: string; file: () => string; want: Partial<ElfInfo> & { describe: string } }[] = [
    {
      name: 'host /bin/bash',
      file: () => '/bin/bash',
      want: { bits: 64, littleEndian: true, machine: EM.X86_64, type: ET.DYN, interp: '/lib64/ld-linux-x86-64.so.2', dynamic: true, needed: ['libtinfo.so.6', 'libc.so.6'], soname: undefined, abi: undefined, describe: 'ELF 64-bit LSB x86-64' },
    },
    {
      name: 'host libc.so.6',
      file: () => HOST_LIBC,
      want: { bits: 64, machine: EM.X86_64, type: ET.DYN, interp: '/lib64/ld-linux-x86-64.so.2', needed: ['ld-linux-x86-64.so.2'], soname: 'libc.so.6', describe: 'ELF 64-bit LSB x86-64' },
    },
    {
      name: 'armhf libc.so.6 (libc6:armhf)',
      file: () => debLib('armhf', 'libc.so.6'),
      want: { bits: 32, littleEndian: true, machine: EM.ARM, abi: 'hard', interp: '/lib/ld-linux-armhf.so.3', dynamic: true, needed: ['ld-linux-armhf.so.3'], soname: 'libc.so.6', describe: 'ELF 32-bit LSB ARM (hard-float)' },
    },
    {
      name: 'armhf ld-linux-armhf.so.3 (the interpreter: no PT_INTERP of its own)',
      file: () => debLib('armhf', 'ld-linux-armhf.so.3'),
      want: { bits: 32, machine: EM.ARM, abi: 'hard', interp: undefined, dynamic: true, needed: [], soname: 'ld-linux-armhf.so.3', describe: 'ELF 32-bit LSB ARM (hard-float)' },
    },
    {
      name: 'armel libc.so.6 (libc6:armel)',
      file: () => debLib('armel', 'libc.so.6'),
      want: { bits: 32, littleEndian: true, machine: EM.ARM, abi: 'soft', interp: '/lib/ld-linux.so.3', needed: ['ld-linux.so.3'], soname: 'libc.so.6', describe: 'ELF 32-bit LSB ARM (soft-float)' },
    },
    {
      name: 'arm64 libc.so.6 (libc6:arm64)',
      file: () => debLib('arm64', 'libc.so.6'),
      want: { bits: 64, littleEndian: true, machine: EM.AARCH64, abi: undefined, interp: '/lib/ld-linux-aarch64.so.1', needed: ['ld-linux-aarch64.so.1'], soname: 'libc.so.6', describe: 'ELF 64-bit LSB AArch64' },
    },
    {
      name: 'busybox-armhf (static)',
      file: () => path.join(CACHE, 'busybox-armhf'),
      want: { bits: 32, machine: EM.ARM, type: ET.EXEC, abi: 'hard', interp: undefined, dynamic: false, needed: [], soname: undefined, describe: 'ELF 32-bit LSB ARM (hard-float)' },
    },
  ];

  it.each(cases)('$name', async ({ file, want }) => {
    const f = file();
    const { elf, warnings } = ok(need(f));
    const { describe: text, ...fields } = want;
    expect(warnings).toEqual([]);
    for (const [k, v] of Object.entries(fields)) expect.soft(elf[k as keyof ElfInfo], k).toEqual(v);
    expect(describeElf(elf)).toBe(text);
    const ref = (await readelfMany([f])).get(f)!;
    expect(ref).toBeDefined();
    expect({ interp: elf.interp, dynamic: elf.dynamic, needed: elf.needed, rpath: elf.rpath, runpath: elf.runpath, soname: elf.soname }).toEqual({ ...ref, interp: ref.interp, soname: ref.soname });
    // the old header-only reader and the arch guess agree with the full reader
    const id = elfIdent(Buffer.from(need(f).subarray(0, 64)));
    expect(id).toEqual({ bits: elf.bits, littleEndian: elf.littleEndian, type: elf.type, machine: elf.machine, flags: elf.flags });
  });

  it('readelf -h agrees on class, byte order, machine and the ARM float ABI', async () => {
    const files = { [debLib('armhf', 'libc.so.6')]: /hard-float ABI/, [debLib('armel', 'libc.so.6')]: /soft-float ABI/, [debLib('arm64', 'libc.so.6')]: null, [HOST_LIBC]: null };
    for (const [f, flagText] of Object.entries(files)) {
      const { elf } = ok(need(f));
      const { stdout } = await execa('readelf', ['-h', '-W', f], { env: { LC_ALL: 'C' } });
      const field = (k: string) => new RegExp(`^\\s*${k}:\\s*(.*)$`, 'm').exec(stdout)?.[1];
      expect(field('Class'), f).toBe(`ELF${elf.bits}`);
      expect(field('Data'), f).toMatch(elf.littleEndian ? /little endian/ : /big endian/);
      expect(field('Machine'), f).toBe({ [EM.ARM]: 'ARM', [EM.AARCH64]: 'AArch64', [EM.X86_64]: 'Advanced Micro Devices X86-64' }[elf.machine]);
      expect(Number(field('Flags')?.split(',')[0]), f).toBe(elf.flags);
      if (flagText) expect(field('Flags'), f).toMatch(flagText);
    }
  });

  it('archOf() on the real files: armhf, armel, aarch64, x86_64', () => {
    const arch = (f: string) => archOf(ok(need(f)).elf)?.name;
    expect([debLib('armhf', 'libc.so.6'), debLib('armel', 'libc.so.6'), debLib('arm64', 'libc.so.6'), HOST_LIBC].map(arch)).toEqual(['armhf', 'armel', 'aarch64', 'x86_64']);
  });

  it('imports equal the undefined symbols of readelf --dyn-syms', async () => {
    for (const f of ['/bin/bash', debLib('armhf', 'libc.so.6'), debLib('arm64', 'libc.so.6')]) {
      const { elf } = ok(need(f), { imports: true });
      const want = await readelfUndefined(f);
      expect(want.length, f).toBeGreaterThan(10);
      expect(elf.imports, f).toEqual(want);
    }
    expect(ok(need('/bin/bash')).elf.imports).toBeUndefined();
    // static, but with section headers: no SHT_DYNSYM, so no imports
    expect(ok(need(path.join(CACHE, 'busybox-armhf')), { imports: true }).elf.imports).toEqual([]);
  });

  it('every ELF file of the three libc6 packages and the host /usr/bin matches readelf (interp, NEEDED, SONAME, RPATH, RUNPATH)', async () => {
    const files = [...(['armhf', 'armel', 'arm64'] as const).flatMap((a) => walk(path.join(CACHE, `deb-${a}`)))];
    // the host's programs: small ones, for RPATH/RUNPATH cases that libc6 does not have
    const host = fs.readdirSync('/usr/bin').sort().map((n) => path.join('/usr/bin', n))
      .filter((p) => { try { const st = fs.statSync(p); return st.isFile() && st.size < 2_000_000 && isElf(p); } catch { return false; } });
    files.push(...host.slice(0, 600));
    expect(files.length).toBeGreaterThan(700);
    const ref = await readelfMany(files);
    let withPaths = 0;
    const machines = new Set<number>();
    for (const f of files) {
      const r = readElf(fs.readFileSync(f));
      expect(r?.ok, f).toBe(true);
      if (!r?.ok) continue;
      const { elf } = r;
      expect(r.warnings, f).toEqual([]);
      machines.add(elf.machine);
      const want = ref.get(f);
      expect(want, f).toBeDefined();
      expect({ f, interp: elf.interp, dynamic: elf.dynamic, needed: elf.needed, rpath: elf.rpath, runpath: elf.runpath, soname: elf.soname })
        .toEqual({ f, dynamic: want!.dynamic, needed: want!.needed, rpath: want!.rpath, runpath: want!.runpath, interp: want!.interp, soname: want!.soname });
      if (elf.rpath.length || elf.runpath.length) withPaths++;
    }
    expect([...machines].sort((a, b) => a - b)).toEqual([EM.ARM, EM.X86_64, EM.AARCH64]);
    // Debian's host has some (coreutils' RUNPATH, man-db's); not a fixed number
    if (os.arch() === 'x64') expect(withPaths).toBeGreaterThan(0);
  });
});

describe('synthetic ELF files: every class and byte order', () => {
  const full = {
    interp: '/lib/ld-test.so.1',
    needed: ['libfoo.so.1', 'libbar.so.2', 'libc.so.6'],
    rpath: '$ORIGIN/../lib::/opt/x/lib',
    runpath: '/usr/lib/thunder:$ORIGIN',
    soname: 'libtest.so.9',
    imports: ['malloc', 'free', 'pthread_create'],
  };
  const shapes = [
    { bits: 32, littleEndian: true, machine: EM.ARM, flags: 0x05000400 },
    { bits: 32, littleEndian: false, machine: EM.MIPS, flags: 0x70001007 },
    { bits: 64, littleEndian: true, machine: EM.RISCV, flags: 0x5 },
    { bits: 64, littleEndian: false, machine: EM.S390, flags: 0 },
    { bits: 64, littleEndian: false, machine: EM.PPC64, flags: 1 },
    { bits: 32, littleEndian: false, machine: EM.PPC, flags: 0 },
  ] as const;

  it.each(shapes)('$bits-bit littleEndian=$littleEndian machine $machine round-trips', async (shape) => {
    const { bytes } = buildElf({ ...shape, osabi: 3, ...full });
    const { elf, warnings } = ok(bytes, { imports: true });
    expect(warnings).toEqual([]);
    expect(elf).toMatchObject({
      bits: shape.bits, littleEndian: shape.littleEndian, machine: shape.machine, flags: shape.flags, type: ET.DYN, osabi: 3,
      interp: full.interp, dynamic: true, needed: full.needed, rpath: ['$ORIGIN/../lib', '/opt/x/lib'], runpath: ['/usr/lib/thunder', '$ORIGIN'], soname: full.soname,
      imports: full.imports,
    });
    // readelf reads the same file the same way: the writer is not just agreeing with the reader
    const tmp = path.join(os.tmpdir(), `elf-test-${process.pid}-${shape.bits}-${shape.littleEndian}-${shape.machine}`);
    fs.writeFileSync(tmp, bytes);
    try {
      const ref = (await readelfMany([tmp])).get(tmp)!;
      expect(ref).toEqual({ interp: elf.interp, dynamic: true, needed: elf.needed, rpath: elf.rpath, runpath: elf.runpath, soname: elf.soname });
      expect(await readelfUndefined(tmp)).toEqual(full.imports);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  });

  it('without imports: imports stays undefined; without section headers too', () => {
    expect(ok(buildElf({ bits: 64, littleEndian: true, machine: EM.X86_64, ...full }).bytes).elf.imports).toBeUndefined();
    expect(ok(buildElf({ bits: 64, littleEndian: true, machine: EM.X86_64, needed: ['a.so'] }).bytes, { imports: true }).elf.imports).toBeUndefined();
  });

  it('a header-only stub (the sample rootfs) reads as static, no program headers', () => {
    const { elf, warnings } = ok(elfStub(EM.ARM, 32, 0x05000400, ET.EXEC));
    expect(warnings).toEqual([]);
    expect(elf).toEqual({ bits: 32, littleEndian: true, type: ET.EXEC, machine: EM.ARM, flags: 0x05000400, osabi: 0, abi: 'hard', dynamic: false, needed: [], rpath: [], runpath: [] });
  });

  it('an executable with an interpreter and no dynamic section', () => {
    const { elf } = ok(buildElf({ bits: 32, littleEndian: false, machine: EM.MIPS, type: ET.EXEC, interp: '/lib/ld.so.1' }).bytes);
    expect(elf).toMatchObject({ interp: '/lib/ld.so.1', dynamic: false, needed: [], type: ET.EXEC });
  });

  it('rpath made only of colons is empty', () => {
    const { elf } = ok(buildElf({ bits: 64, littleEndian: true, machine: EM.AARCH64, rpath: ':::', runpath: '' }).bytes);
    expect([elf.rpath, elf.runpath]).toEqual([[], []]);
  });
});

describe('ABI from e_flags', () => {
  const spec = (machine: number, bits: 32 | 64, flags: number): ElfSpec => ({ bits, littleEndian: true, machine, flags });
  it.each([
    ['ARM EABI5 hard', spec(EM.ARM, 32, 0x05000400), 'hard', 'ELF 32-bit LSB ARM (hard-float)'],
    ['ARM EABI5 soft', spec(EM.ARM, 32, 0x05000200), 'soft', 'ELF 32-bit LSB ARM (soft-float)'],
    ['ARM EABI4 (neither bit)', spec(EM.ARM, 32, 0x04000000), undefined, 'ELF 32-bit LSB ARM'],
    ['RISC-V soft', spec(EM.RISCV, 64, 0x1), 'soft', 'ELF 64-bit LSB RISC-V (soft-float)'],
    ['RISC-V single', spec(EM.RISCV, 64, 0x2), 'single', 'ELF 64-bit LSB RISC-V (single-float)'],
    ['RISC-V double (RVC + lp64d)', spec(EM.RISCV, 64, 0x5), 'double', 'ELF 64-bit LSB RISC-V (double-float)'],
    ['RISC-V quad', spec(EM.RISCV, 32, 0x6), 'quad', 'ELF 32-bit LSB RISC-V (quad-float)'],
    ['MIPS o32', spec(EM.MIPS, 32, 0x70001007), 'o32', 'ELF 32-bit LSB MIPS (o32)'],
    ['MIPS n32 (EF_MIPS_ABI2)', { ...spec(EM.MIPS, 32, 0x80000020 | 0x7), littleEndian: false }, 'n32', 'ELF 32-bit MSB MIPS (n32)'],
    ['MIPS n64', spec(EM.MIPS, 64, 0x80000007), 'n64', 'ELF 64-bit LSB MIPS (n64)'],
    ['x86-64 has none', spec(EM.X86_64, 64, 0), undefined, 'ELF 64-bit LSB x86-64'],
  ] as const)('%s', (_n, s, abi, text) => {
    const { elf } = ok(buildElf(s).bytes);
    expect(elf.abi).toBe(abi);
    expect(describeElf(elf)).toBe(text);
  });

  it('machineName', () => {
    expect([EM.AARCH64, EM.ARM, EM.X86_64, EM.X86, EM.MIPS, EM.RISCV, EM.PPC, EM.PPC64, EM.S390, 1234].map(machineName))
      .toEqual(['AArch64', 'ARM', 'x86-64', 'x86', 'MIPS', 'RISC-V', 'PowerPC', 'PowerPC64', 'S390', 'machine 1234']);
  });
});

describe('incompatibility()', () => {
  it('on the real libc6 files', () => {
    const armhf = ok(need(debLib('armhf', 'libc.so.6'))).elf;
    const armel = ok(need(debLib('armel', 'libc.so.6'))).elf;
    const arm64 = ok(need(debLib('arm64', 'libc.so.6'))).elf;
    const x64 = ok(need(HOST_LIBC)).elf;
    expect(incompatibility(armhf, armhf)).toBeNull();
    expect(incompatibility(armhf, armel)).toBe('ELF 32-bit LSB ARM (soft-float), not ELF 32-bit LSB ARM (hard-float)');
    expect(incompatibility(armel, armhf)).toBe('ELF 32-bit LSB ARM (hard-float), not ELF 32-bit LSB ARM (soft-float)');
    expect(incompatibility(armhf, arm64)).toBe('ELF 64-bit LSB AArch64, not ELF 32-bit LSB ARM (hard-float)');
    expect(incompatibility(arm64, armhf)).toBe('ELF 32-bit LSB ARM (hard-float), not ELF 64-bit LSB AArch64');
    expect(incompatibility(x64, arm64)).toBe('ELF 64-bit LSB AArch64, not ELF 64-bit LSB x86-64');
  });

  it.each([
    ['x86-64 exe, x86 lib', { bits: 64, littleEndian: true, machine: EM.X86_64 }, { bits: 32, littleEndian: true, machine: EM.X86 }, 'ELF 32-bit LSB x86, not ELF 64-bit LSB x86-64'],
    ['x86 exe, x86-64 lib', { bits: 32, littleEndian: true, machine: EM.X86 }, { bits: 64, littleEndian: true, machine: EM.X86_64 }, 'ELF 64-bit LSB x86-64, not ELF 32-bit LSB x86'],
    ['byte order alone', { bits: 32, littleEndian: true, machine: EM.MIPS, abi: 'o32' }, { bits: 32, littleEndian: false, machine: EM.MIPS, abi: 'o32' }, 'ELF 32-bit MSB MIPS (o32), not ELF 32-bit LSB MIPS (o32)'],
    ['MIPS o32 vs n32', { bits: 32, littleEndian: true, machine: EM.MIPS, abi: 'o32' }, { bits: 32, littleEndian: true, machine: EM.MIPS, abi: 'n32' }, 'ELF 32-bit LSB MIPS (n32), not ELF 32-bit LSB MIPS (o32)'],
    ['ARM ABI unknown on one side', { bits: 32, littleEndian: true, machine: EM.ARM, abi: 'hard' }, { bits: 32, littleEndian: true, machine: EM.ARM }, null],
    ['RISC-V double vs soft', { bits: 64, littleEndian: true, machine: EM.RISCV, abi: 'double' }, { bits: 64, littleEndian: true, machine: EM.RISCV, abi: 'soft' }, 'ELF 64-bit LSB RISC-V (soft-float), not ELF 64-bit LSB RISC-V (double-float)'],
  ] as const)('%s', (_n, exe, lib, want) => {
    expect(incompatibility(exe, lib)).toBe(want);
  });
});

describe('malformed input', () => {
  const base = (extra: Partial<ElfSpec> = {}, bits: 32 | 64 = 64, le = true) =>
    buildElf({ bits, littleEndian: le, machine: EM.AARCH64, interp: '/lib/ld.so', needed: ['liba.so', 'libb.so'], soname: 'libx.so', imports: ['f'], ...extra });
  const set = (b: Uint8Array, f: (dv: DataView) => void): Uint8Array => {
    const c = Uint8Array.from(b);
    f(new DataView(c.buffer));
    return c;
  };

  it.each([
    ['empty', new Uint8Array(0)],
    ['3 bytes of the magic', Uint8Array.from([0x7f, 0x45, 0x4c])],
    ['a shell script', new TextEncoder().encode('#!/bin/sh\necho hi\n')],
    ['magic with a wrong byte', Uint8Array.from([0x7f, 0x45, 0x4c, 0x47, 2, 1, 1, 0])],
  ])('not ELF at all: %s -> null', (_n, b) => {
    expect(readElf(b)).toBeNull();
  });

  const errors: [string, () => Uint8Array, RegExp][] = [
    ['only the magic', () => Uint8Array.from([0x7f, 0x45, 0x4c, 0x46]), /bad ELF class missing at offset 0x4/],
    ['bad class', () => set(base().bytes, (d) => d.setUint8(4, 3)), /bad ELF class 3 at offset 0x4/],
    ['bad byte order', () => set(base().bytes, (d) => d.setUint8(5, 0)), /bad ELF byte order 0 at offset 0x5/],
    ['64-bit header cut at 60 bytes', () => base().bytes.subarray(0, 60), /truncated ELF header: 60 bytes, a 64-bit header needs 64/],
    ['32-bit header cut at 40 bytes', () => base({}, 32).bytes.subarray(0, 40), /truncated ELF header: 40 bytes, a 32-bit header needs 52/],
    ['program headers cut off', () => base().bytes.subarray(0, 64 + 56 + 10), /program header table \(e_phoff 0x40, 3 entries of 56 bytes\) is outside the file \(130 bytes\)/],
    ['e_phoff past the end', () => set(base().bytes, (d) => d.setBigUint64(32, 0xfffffffn, true)), /program header table \(e_phoff 0xfffffff/],
    ['e_phoff beyond 2^53', () => set(base().bytes, (d) => d.setBigUint64(32, 0xffffffffffffff00n, true)), /e_phoff beyond 2\^53/],
    ['absurd e_phnum', () => set(base().bytes, (d) => d.setUint16(56, 0xfffe, true)), /65534 entries of 56 bytes\) is outside the file/],
    ['e_phoff 0 with program headers', () => set(base().bytes, (d) => d.setBigUint64(32, 0n, true)), /e_phoff 0x0/],
    ['bad e_phentsize', () => set(base().bytes, (d) => d.setUint16(54, 32, true)), /bad e_phentsize 32 at offset 0x36: a 64-bit program header is 56 bytes/],
    ['PN_XNUM without section 0', () => set(base({ imports: undefined }).bytes, (d) => d.setUint16(56, 0xffff, true)), /PN_XNUM/],
    ['PT_INTERP outside the file', () => {
      const { bytes, layout } = base();
      return set(bytes, (d) => d.setBigUint64(layout.phoff + layout.ph.interp! * 56 + 8, 0x100000n, true));
    }, /PT_INTERP \(offset 0x100000, 11 bytes\) is outside the file/],
    ['PT_DYNAMIC past the end', () => {
      const { bytes, layout } = base();
      return set(bytes, (d) => d.setBigUint64(layout.phoff + layout.ph.dynamic! * 56 + 8, 0x100000n, true));
    }, /PT_DYNAMIC at offset 0x100000 is past the end of the file/],
    ['DT_STRTAB not in any PT_LOAD', () => {
      const { bytes, layout } = base();
      // the DT_STRTAB entry is the one after the 3 string entries (2 NEEDED, SONAME)
      return set(bytes, (d) => d.setBigUint64(layout.dynOff + 3 * 16 + 8, 0x900000n, true));
    }, /DT_STRTAB address 0x900000 is not in the file part of any PT_LOAD segment/],
    ['no DT_STRTAB', () => {
      const { bytes, layout } = base();
      return set(bytes, (d) => d.setBigUint64(layout.dynOff + 3 * 16, 0x6ffffef5n, true)); // DT_GNU_HASH instead
    }, /has string entries but no DT_STRTAB/],
    ['DT_NEEDED offset outside the string table (DT_STRSZ)', () => {
      const { bytes, layout } = base();
      return set(bytes, (d) => d.setBigUint64(layout.dynOff + 16 + 8, BigInt(layout.strtabSize + 5), true));
    }, /DT_NEEDED at 0x[0-9a-f]+: string at 0x[0-9a-f]+ is outside its string table/],
    ['DT_SONAME offset past the end of the file', () => {
      const { bytes, layout } = base({ noStrsz: true });
      return set(bytes, (d) => d.setBigUint64(layout.dynOff + 2 * 16 + 8, 0x7fffffffn, true));
    }, /DT_SONAME at 0x[0-9a-f]+: string at 0x[0-9a-f]+ is outside its string table/],
    ['string without NUL at the end of its table', () => {
      const { bytes, layout } = base({ imports: undefined }); // DT_SONAME's string is the last one
      return set(bytes, (d) => d.setUint8(layout.strtabOff + layout.strtabSize - 1, 0x41));
    }, /no terminating NUL before the end of its string table/],
    ['string longer than 64 KiB', () => {
      const big = 'x'.repeat(70_000);
      return base({ needed: [big] }).bytes;
    }, /longer than 65536 bytes/],
  ];
  it.each(errors)('%s', (_n, make, want) => {
    const r = readElf(make());
    expect(r).not.toBeNull();
    expect(r!.ok).toBe(false);
    if (r && !r.ok) expect(r.error).toMatch(want);
  });

  const warns: [string, () => Uint8Array, RegExp, Partial<ElfInfo>][] = [
    ['no DT_NULL', () => base({ noDtNull: true }).bytes, /has no DT_NULL entry/, { needed: ['liba.so', 'libb.so'], soname: 'libx.so' }],
    ['PT_INTERP without NUL', () => {
      const { bytes, layout } = base();
      return set(bytes, (d) => d.setUint8(layout.interpOff! + '/lib/ld.so'.length, 0x58));
    }, /PT_INTERP at 0x[0-9a-f]+ has no terminating NUL/, { interp: '/lib/ld.soX' }],
    ['PT_DYNAMIC longer than the file', () => {
      const { bytes, layout } = base({ imports: undefined });
      return set(bytes, (d) => d.setBigUint64(layout.phoff + layout.ph.dynamic! * 56 + 32, 0x10000n, true));
    }, /PT_DYNAMIC at 0x[0-9a-f]+ \(65536 bytes\) runs past the end of the file/, { needed: ['liba.so', 'libb.so'] }],
    ['DT_STRSZ past the end', () => {
      const { bytes, layout } = base();
      return set(bytes, (d) => d.setBigUint64(layout.dynOff + 4 * 16 + 8, 0x100000n, true));
    }, /DT_STRSZ 1048576 at 0x[0-9a-f]+ runs past the end of the file/, { needed: ['liba.so', 'libb.so'] }],
    ['second PT_INTERP', () => {
      const { bytes, layout } = base();
      // the PT_DYNAMIC header overwritten by a copy of the PT_INTERP one
      return set(bytes, (d) => {
        const from = layout.phoff + layout.ph.interp! * 56;
        const to = layout.phoff + layout.ph.dynamic! * 56;
        for (let i = 0; i < 56; i++) d.setUint8(to + i, d.getUint8(from + i));
      });
    }, /a second PT_INTERP \(program header 2 at 0xb0\) is ignored/, { interp: '/lib/ld.so', dynamic: false }],
    ['bad e_shentsize: imports not read', () => set(base().bytes, (d) => d.setUint16(58, 50, true)), /bad e_shentsize 50.*imports not read/, { imports: undefined, needed: ['liba.so', 'libb.so'] }],
    ['an import named outside .dynstr: imports not read', () => {
      const { bytes, layout } = base();
      return set(bytes, (d) => d.setUint32(layout.symOff! + 24, 0x7fff, true));
    }, /dynamic symbol 1 at 0x[0-9a-f]+: string at 0x[0-9a-f]+ is outside its string table.*; imports not read/, { imports: undefined, soname: 'libx.so' }],
    ['section headers past the end: imports not read', () => set(base().bytes, (d) => d.setBigUint64(40, 0x7fff0000n, true)), /section header table \(e_shoff 0x7fff0000, 3 entries\) is outside the file/, { imports: undefined }],
  ];
  it.each(warns)('%s (a warning, the rest read)', (_n, make, want, fields) => {
    const r = readElf(make(), { imports: true });
    expect(r?.ok).toBe(true);
    if (!r?.ok) return;
    expect(r.warnings.join('\n')).toMatch(want);
    for (const [k, v] of Object.entries(fields)) expect(r.elf[k as keyof ElfInfo], k).toEqual(v);
  });

  it('a problem repeated in every entry gives at most 20 warnings and a note', () => {
    const { bytes, layout } = buildElf({ bits: 32, littleEndian: true, machine: EM.ARM, needed: Array.from({ length: 30 }, (_, i) => `n${i}`) });
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < 30; i++) dv.setUint32(layout.dynOff + i * 8, 14, true); // each DT_NEEDED made a DT_SONAME
    const { elf, warnings } = ok(bytes);
    expect(elf.soname).toBe('n0');
    expect(elf.needed).toEqual([]);
    expect(warnings).toHaveLength(21);
    expect(warnings[0]).toMatch(/a second DT_SONAME \(at 0x[0-9a-f]+\) is ignored/);
    expect(warnings[20]).toBe('more warnings left out');
  });

  it('reads a view into a larger buffer at a byte offset (no assumption that byteOffset is 0)', () => {
    const { bytes } = base({}, 32, false);
    const big = new Uint8Array(bytes.length + 13);
    big.set(bytes, 7);
    const { elf } = ok(big.subarray(7, 7 + bytes.length), { imports: true });
    expect(elf).toMatchObject({ bits: 32, littleEndian: false, needed: ['liba.so', 'libb.so'], soname: 'libx.so', imports: ['f'], interp: '/lib/ld.so' });
  });
});
