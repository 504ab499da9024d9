import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { EM, readElf } from '../../src/rootfs/elf.js';
import { buildElf } from '../helpers/elf-writer.js';

// readElf on hostile bytes: it must never throw, never report an internal error (a bug caught
// by its last-resort catch), and never run away (a hang ends the test at vitest's timeout; the
// budgets that bound the work are asserted through what they report, not by timing). Inputs: random bytes, random bytes behind the
// magic, and mutations (bytes, 32/64-bit fields with boundary values, truncations) of synthetic
// ELF files and of real ones, aimed at the parts the reader walks.

const CACHE = path.resolve(import.meta.dirname, '../.cache');
/** ELF_FUZZ_SCALE=20 for a deeper search than the ~1 s run of every `npm test`. */
const SCALE = Math.max(1, Number(process.env.ELF_FUZZ_SCALE) || 1);

function check(buf: Uint8Array, imports: boolean): void {
  const r = readElf(buf, { imports });
  const magic = buf.length >= 4 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
  if (!magic) {
    if (r !== null) throw new Error('non-ELF bytes gave a result');
    return;
  }
  if (r === null) throw new Error('ELF magic gave null');
  if (!r.ok) {
    if (/^internal error/.test(r.error) || r.error.length === 0) throw new Error(`bad error: ${r.error}`);
    return;
  }
  const e = r.elf;
  if (e.bits !== 32 && e.bits !== 64) throw new Error(`bits ${e.bits}`);
  for (const s of [...e.needed, ...e.rpath, ...e.runpath, e.soname ?? '', ...(e.imports ?? [])]) {
    if (s.includes('\0')) throw new Error(`a string with a NUL: ${JSON.stringify(s)}`);
  }
  if (e.rpath.includes('') || e.runpath.includes('')) throw new Error('empty path entry');
  if (!imports && e.imports !== undefined) throw new Error('imports without asking');
}

const BOUNDARY = [0, 1, 2, 3, 0x7f, 0xff, 0xffff, 0xfffe, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 52, 56, 64];

/** Mutations applied in place and undone after the check: no copy of a large file per run. */
type Mutation = { kind: 'byte'; pos: number; value: number } | { kind: 'u32' | 'u64'; pos: number; value: number; le: boolean } | { kind: 'cut'; len: number };

function mutationsFor(size: number, regions: [number, number][]): fc.Arbitrary<Mutation[]> {
  const pos = fc.oneof(
    { arbitrary: fc.constantFrom(...regions).chain(([a, b]) => fc.integer({ min: a, max: Math.max(a, Math.min(b, size) - 1) })), weight: 4 },
    { arbitrary: fc.integer({ min: 0, max: size - 1 }), weight: 1 },
  );
  const value = fc.oneof(fc.constantFrom(...BOUNDARY, size, size - 1, size + 1), fc.nat(0xffffffff));
  const m: fc.Arbitrary<Mutation> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('byte' as const), pos, value: fc.nat(255) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constantFrom('u32' as const, 'u64' as const), pos: pos.map((p) => p & ~3), value, le: fc.boolean() }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('cut' as const), len: fc.integer({ min: 0, max: size }) }), weight: 1 },
  );
  return fc.array(m, { minLength: 1, maxLength: 6 });
}

function withMutations(base: Uint8Array, muts: Mutation[], run: (b: Uint8Array) => void): void {
  const saved: [number, number][] = [];
  let len = base.length;
  const poke = (p: number, v: number) => {
    if (p < 0 || p >= base.length) return;
    saved.push([p, base[p]!]);
    base[p] = v;
  };
  try {
    for (const m of muts) {
      if (m.kind === 'cut') len = Math.min(len, m.len);
      else if (m.kind === 'byte') poke(m.pos, m.value);
      else {
        const n = m.kind === 'u32' ? 4 : 8;
        if (m.pos + n > base.length) continue;
        const tmp = new DataView(new ArrayBuffer(8));
        if (n === 4) tmp.setUint32(0, m.value >>> 0, m.le);
        else tmp.setBigUint64(0, m.value >= 0xffffffff ? 0xffffffffffffffffn : BigInt(m.value), m.le);
        for (let i = 0; i < n; i++) poke(m.pos + i, tmp.getUint8(i));
      }
    }
    run(base.subarray(0, len));
  } finally {
    for (let i = saved.length - 1; i >= 0; i--) base[saved[i]![0]] = saved[i]![1];
  }
}

describe('readElf fuzz', () => {
  it('random bytes, with and without the ELF magic', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (b, imports) => check(b, imports)), { numRuns: 1500 * SCALE });
    const elfish = fc.tuple(fc.constantFrom(1, 2, 0, 3), fc.constantFrom(1, 2, 0), fc.uint8Array({ minLength: 0, maxLength: 1500 }))
      .map(([cls, data, rest]) => Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, cls, data, ...rest]));
    fc.assert(fc.property(elfish, fc.boolean(), (b, imports) => check(b, imports)), { numRuns: 2500 * SCALE });
  });

  const synthetic = [
    buildElf({ bits: 32, littleEndian: true, machine: EM.ARM, flags: 0x05000400, interp: '/lib/ld-linux-armhf.so.3', needed: ['liba.so.1', 'libc.so.6'], rpath: '$ORIGIN:/x', runpath: '/opt/lib', soname: 'libt.so', imports: ['malloc', 'free'] }),
    buildElf({ bits: 32, littleEndian: false, machine: EM.MIPS, interp: '/lib/ld.so.1', needed: ['libc.so.6'], imports: ['puts'] }),
    buildElf({ bits: 64, littleEndian: true, machine: EM.AARCH64, needed: ['libc.so.6', 'libm.so.6'], soname: 'libq.so.2', runpath: '$ORIGIN/../lib', imports: ['sin', 'cos', 'memcpy'] }),
    buildElf({ bits: 64, littleEndian: false, machine: EM.S390, interp: '/lib/ld64.so.1', needed: ['libc.so.6'], rpath: '/a:/b', noStrsz: true }),
  ];

  it.each(synthetic.map((s, i) => [i, s] as const))('mutated synthetic ELF #%i', (_i, { bytes, layout }) => {
    const regions: [number, number][] = [[0, layout.phoff + 4 * layout.phentsize], [layout.strtabOff, layout.strtabOff + layout.strtabSize], [layout.dynOff, layout.dynOff + layout.dynSize]];
    if (layout.symOff !== undefined && layout.shoff !== undefined) regions.push([layout.symOff, bytes.length]);
    const before = Uint8Array.from(bytes);
    fc.assert(fc.property(mutationsFor(bytes.length, regions), fc.boolean(), (muts, imports) => withMutations(bytes, muts, (b) => check(b, imports))), { numRuns: 1200 * SCALE });
    expect(bytes).toEqual(before); // the mutations were undone
  });

  describe('mutated real files', () => {
    const files = [path.join(CACHE, 'deb-armhf/lib/arm-linux-gnueabihf/libc.so.6'), path.join(CACHE, 'deb-arm64/lib/aarch64-linux-gnu/libm.so.6'), path.join(CACHE, 'busybox-armhf'), '/bin/bash'];
    const real: { file: string; bytes: Uint8Array; regions: [number, number][] }[] = [];

    beforeAll(async () => {
      for (const file of files) {
        if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`bash scripts/test-host-setup.sh\` (as root) first`);
        const bytes = new Uint8Array(fs.readFileSync(file));
        // Where the reader looks: the headers, and (from readelf) the dynamic section, its strings and symbols, the section headers.
        const regions: [number, number][] = [[0, 4096]];
        const { stdout } = await execa('readelf', ['-S', '-h', '-W', file], { env: { LC_ALL: 'C' } });
        for (const m of stdout.matchAll(/\]\s+\.(dynamic|dynstr|dynsym|interp)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/g)) {
          const off = parseInt(m[2]!, 16);
          regions.push([off, off + Math.min(parseInt(m[3]!, 16), 8192)]);
        }
        const sh = /Start of section headers:\s+(\d+)/.exec(stdout);
        if (sh) regions.push([Number(sh[1]), bytes.length]);
        real.push({ file, bytes, regions });
      }
    });

    it('never throw, never an internal error, each under the time limit', () => {
      expect(real.length).toBe(files.length);
      for (const { bytes, regions } of real) {
        expect(regions.length).toBeGreaterThan(1);
        check(bytes, true);
        fc.assert(fc.property(mutationsFor(bytes.length, regions), fc.boolean(), (muts, imports) => withMutations(bytes, muts, (b) => check(b, imports))), { numRuns: 250 * SCALE });
      }
    });
  });

  it('pathological string tables stay within the string budget', () => {
    const long = 'x'.repeat(60_000);
    // 1000 imports all named by the same 60 KB string: 60 MB of names if each were decoded
    const imp = buildElf({ bits: 64, littleEndian: true, machine: EM.X86_64, imports: [long, ...Array.from({ length: 999 }, (_, i) => `s${i}`)] });
    const dv = new DataView(imp.bytes.buffer);
    const first = dv.getUint32(imp.layout.symOff! + 24, true);
    for (let i = 2; i <= 1000; i++) dv.setUint32(imp.layout.symOff! + i * 24, first + (i % 100), true);
    const r = readElf(imp.bytes, { imports: true });
    expect(r?.ok).toBe(true);
    if (r?.ok) {
      expect(r.elf.imports).toBeUndefined();
      expect(r.warnings.join('\n')).toMatch(/add up to more than 16777216 bytes; imports not read/);
    }
    // 2000 DT_NEEDED entries naming the same 60 KB string
    const need = buildElf({ bits: 32, littleEndian: false, machine: EM.MIPS, needed: Array.from({ length: 2000 }, (_, i) => `n${i}`), soname: long });
    const nv = new DataView(need.bytes.buffer);
    const sonameVal = nv.getUint32(need.layout.dynOff + 2000 * 8 + 4, false);
    for (let i = 0; i < 2000; i++) nv.setUint32(need.layout.dynOff + i * 8 + 4, sonameVal, false);
    const n = readElf(need.bytes);
    expect(n?.ok).toBe(false);
    if (n && !n.ok) expect(n.error).toMatch(/DT_NEEDED at 0x[0-9a-f]+: the strings read add up to more than 16777216 bytes/);
    // 40 DT_RPATH entries naming one list of 30000 one-letter paths: 1.2 million array entries if all were kept
    const rp = buildElf({ bits: 64, littleEndian: true, machine: EM.AARCH64, needed: Array.from({ length: 40 }, (_, i) => `n${i}`), rpath: 'a:'.repeat(30_000) });
    const rv = new DataView(rp.bytes.buffer);
    const rpathVal = rv.getBigUint64(rp.layout.dynOff + 40 * 16 + 8, true);
    for (let i = 0; i < 40; i++) {
      rv.setBigUint64(rp.layout.dynOff + i * 16, 15n, true);
      rv.setBigUint64(rp.layout.dynOff + i * 16 + 8, rpathVal, true);
    }
    const p = readElf(rp.bytes);
    expect(p?.ok).toBe(false);
    if (p && !p.ok) expect(p.error).toMatch(/DT_RPATH at 0x[0-9a-f]+: the strings read add up to more than 16777216 bytes/);
  });
});
