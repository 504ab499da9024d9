// A small ELF writer for the ELF reader's tests: any class and byte order, with the parts the
// reader looks at (PT_INTERP, one PT_LOAD mapping the whole file, PT_DYNAMIC with its string
// table, and optionally .dynsym/.dynstr section headers for imports). The layout is returned
// too, so tests can break one field at a known offset.
//
//   [ELF header][program headers][interp\0][dynstr][dynamic][dynsym][section headers]
//   PT_LOAD: offset 0 -> vaddr BASE, filesz = memsz = the whole file

export interface ElfSpec {
  bits: 32 | 64;
  littleEndian: boolean;
  machine: number;
  flags?: number;
  type?: number;
  osabi?: number;
  interp?: string;
  /** Write a PT_DYNAMIC (default: when any dynamic field is given). */
  dynamic?: boolean;
  needed?: string[];
  rpath?: string;
  runpath?: string;
  soname?: string;
  /** Undefined symbols in .dynsym; a defined symbol `defined_here` is written beside them. Adds section headers. */
  imports?: string[];
  /** Leave DT_NULL out of the dynamic array. */
  noDtNull?: boolean;
  /** Leave DT_STRSZ out. */
  noStrsz?: boolean;
}

export interface ElfLayout {
  phoff: number;
  phentsize: number;
  /** Index of each program header written. */
  ph: { interp?: number; load: number; dynamic?: number };
  interpOff?: number;
  strtabOff: number;
  strtabSize: number;
  dynOff: number;
  dynSize: number;
  /** .dynsym (entry 0 is the null symbol; the imports follow in order, then `defined_here`) */
  symOff?: number;
  shoff?: number;
  base: number;
}

export const BASE = 0x10000;

export function buildElf(s: ElfSpec): { bytes: Uint8Array; layout: ElfLayout } {
  const is64 = s.bits === 64;
  const le = s.littleEndian;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const wantDyn = s.dynamic ?? (s.needed !== undefined || s.rpath !== undefined || s.runpath !== undefined || s.soname !== undefined || s.imports !== undefined);
  const enc = new TextEncoder();

  // string table: index 0 is the empty string
  const strs: number[] = [0];
  const strIndex = (t: string): number => {
    const at = strs.length;
    strs.push(...enc.encode(t), 0);
    return at;
  };
  const dynEntries: [number, number][] = [];
  for (const n of s.needed ?? []) dynEntries.push([1, strIndex(n)]);
  if (s.soname !== undefined) dynEntries.push([14, strIndex(s.soname)]);
  if (s.rpath !== undefined) dynEntries.push([15, strIndex(s.rpath)]);
  if (s.runpath !== undefined) dynEntries.push([29, strIndex(s.runpath)]);
  const symNames = [...(s.imports ?? []).map((n) => ({ name: strIndex(n), shndx: 0 })), ...(s.imports ? [{ name: strIndex('defined_here'), shndx: 1 }] : [])];
  const interpBytes = s.interp !== undefined ? [...enc.encode(s.interp), 0] : [];

  const nph = (s.interp !== undefined ? 1 : 0) + 1 + (wantDyn ? 1 : 0);
  const phoff = ehsize;
  let at = phoff + nph * phentsize;
  const interpOff = s.interp !== undefined ? at : undefined;
  at += interpBytes.length;
  const strtabOff = at;
  at += strs.length;
  at = (at + 7) & ~7;
  const dynEnt = is64 ? 16 : 8;
  const dynOff = at;
  const dynCount = wantDyn ? dynEntries.length + 2 - (s.noStrsz ? 1 : 0) + (s.noDtNull ? 0 : 1) : 0;
  const dynSize = dynCount * dynEnt;
  at += dynSize;
  const symSize = is64 ? 24 : 16;
  const symOff = at;
  const nsym = s.imports ? symNames.length + 1 : 0;
  at += nsym * symSize;
  at = (at + 7) & ~7;
  const shentsize = is64 ? 64 : 40;
  const shoff = s.imports ? at : undefined;
  const nsh = s.imports ? 3 : 0;
  at += nsh * shentsize;
  const total = at;

  const bytes = new Uint8Array(total);
  const dv = new DataView(bytes.buffer);
  const w16 = (o: number, v: number) => dv.setUint16(o, v, le);
  const w32 = (o: number, v: number) => dv.setUint32(o, v, le);
  const word = (o: number, v: number) => (is64 ? dv.setBigUint64(o, BigInt(v), le) : dv.setUint32(o, v, le));

  bytes.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1, s.osabi ?? 0]);
  w16(16, s.type ?? 3);
  w16(18, s.machine);
  w32(20, 1);
  word(is64 ? 32 : 28, phoff);
  word(is64 ? 40 : 32, shoff ?? 0);
  w32(is64 ? 48 : 36, s.flags ?? 0);
  w16(is64 ? 52 : 40, ehsize);
  w16(is64 ? 54 : 42, phentsize);
  w16(is64 ? 56 : 44, nph);
  w16(is64 ? 58 : 46, s.imports ? shentsize : 0);
  w16(is64 ? 60 : 48, nsh);
  w16(is64 ? 62 : 50, 0); // e_shstrndx: no section names

  const ph: ElfLayout['ph'] = { load: 0 };
  let i = 0;
  const phdr = (type: number, off: number, size: number) => {
    const p = phoff + i * phentsize;
    w32(p, type);
    if (is64) {
      w32(p + 4, 4); // p_flags R
      word(p + 8, off);
      word(p + 16, BASE + off);
      word(p + 24, BASE + off);
      word(p + 32, size);
      word(p + 40, size);
      word(p + 48, type === 1 ? 0x1000 : 1);
    } else {
      word(p + 4, off);
      word(p + 8, BASE + off);
      word(p + 12, BASE + off);
      word(p + 16, size);
      word(p + 20, size);
      w32(p + 24, 4);
      w32(p + 28, type === 1 ? 0x1000 : 1);
    }
    return i++;
  };
  if (interpOff !== undefined) ph.interp = phdr(3, interpOff, interpBytes.length);
  ph.load = phdr(1, 0, total);
  if (wantDyn) ph.dynamic = phdr(2, dynOff, dynSize);

  if (interpOff !== undefined) bytes.set(interpBytes, interpOff);
  bytes.set(strs, strtabOff);
  let d = dynOff;
  const dyn = (tag: number, val: number) => {
    word(d, tag);
    word(d + (is64 ? 8 : 4), val);
    d += dynEnt;
  };
  if (wantDyn) {
    for (const [tag, val] of dynEntries) dyn(tag, val);
    dyn(5, BASE + strtabOff);
    if (!s.noStrsz) dyn(10, strs.length);
    if (!s.noDtNull) dyn(0, 0);
  }
  symNames.forEach((sym, k) => {
    const o = symOff + (k + 1) * symSize;
    w32(o, sym.name);
    if (is64) {
      bytes[o + 4] = 0x12; // GLOBAL FUNC
      w16(o + 6, sym.shndx);
    } else {
      bytes[o + 12] = 0x12;
      w16(o + 14, sym.shndx);
    }
  });
  if (shoff !== undefined) {
    const sh = (k: number, type: number, off: number, size: number, link: number, entsize: number) => {
      const o = shoff + k * shentsize;
      w32(o + 4, type);
      word(o + (is64 ? 24 : 16), off);
      word(o + (is64 ? 32 : 20), size);
      w32(o + (is64 ? 40 : 24), link);
      word(o + (is64 ? 56 : 36), entsize);
    };
    sh(1, 11, symOff, nsym * symSize, 2, symSize);
    sh(2, 3, strtabOff, strs.length, 0, 0);
  }
  return { bytes, layout: { phoff, phentsize, ph, interpOff, strtabOff, strtabSize: strs.length, dynOff, dynSize, symOff: s.imports ? symOff : undefined, shoff, base: BASE } };
}
