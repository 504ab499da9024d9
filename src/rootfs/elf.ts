// ELF files read in-process (no readelf/file/ldd on the host), for what a rootfs needs to know:
// the architecture and ABI of its programs, their interpreter and the libraries they load.
//
// The layout read here (System V gABI; all fields in the byte order of e_ident[EI_DATA]):
//   e_ident   0..15  "\x7fELF", [4] class (1 = 32-bit, 2 = 64-bit), [5] data (1 = LSB, 2 = MSB),
//                    [6] version, [7] OS ABI
//   header           32-bit @ / 64-bit @
//     e_type           16 / 16   (2)    e_machine   18 / 18 (2)
//     e_phoff          28 / 32   (4/8)  e_shoff     32 / 40 (4/8)
//     e_flags          36 / 48   (4)
//     e_phentsize      42 / 54   (2)    e_phnum     44 / 56 (2; 0xffff: the count is section 0's sh_info)
//     e_shentsize      46 / 58   (2)    e_shnum     48 / 60 (2; 0 with e_shoff set: section 0's sh_size)
//     header size      52 / 64
//   program header   (e_phentsize must be 32 / 56)
//     p_type 0/0 (4), p_offset 4/8, p_vaddr 8/16, p_filesz 16/32 (4/8 each)
//     PT_LOAD 1 maps file bytes [p_offset, +p_filesz) at p_vaddr; PT_DYNAMIC 2; PT_INTERP 3 (a NUL-ended path)
//   dynamic entry    8 / 16 bytes: d_tag, d_val (4/8 each); the array ends at DT_NULL (0).
//     DT_NEEDED 1, DT_STRTAB 5 (a virtual address: mapped to a file offset through PT_LOAD),
//     DT_STRSZ 10, DT_SONAME 14, DT_RPATH 15, DT_RUNPATH 29; the string entries hold offsets in DT_STRTAB.
//   section header   (e_shentsize must be 40 / 64), only read for imports
//     sh_type 4/4 (4), sh_link 24/40 (4), sh_offset 16/24, sh_size 20/32 (4/8), sh_info 28/44 (4)
//     SHT_DYNSYM 11, its sh_link names the string table section
//   symbol           16 / 24 bytes: st_name 0/0 (4), st_shndx 14/6 (2); SHN_UNDEF 0 = an import
//
// Hostile input is the normal case here (rootfs archives come from anywhere): every offset and
// count is checked against the buffer before use, every loop is bounded by the buffer's size,
// strings are decoded under a total budget, and nothing throws. A problem that makes the result
// wrong is an error; one that leaves the rest usable (an extra PT_INTERP, a missing DT_NULL) a warning.
// Benchmark before editing: it is meant to run on every ELF file of an image (about 4 us for
// /bin/bash without imports, 200 us with its 228 imports, once warm).

export const EM = {
  X86: 3, MIPS: 8, PPC: 20, PPC64: 21, S390: 22, ARM: 40, SH: 42, SPARCV9: 43, X86_64: 62, AARCH64: 183, RISCV: 243, LOONGARCH: 258,
} as const;
/** EF_ARM_ABI_FLOAT_HARD: armhf binaries carry it (EABI5). */
export const EF_ARM_ABI_FLOAT_HARD = 0x400;
/** EF_ARM_ABI_FLOAT_SOFT: armel binaries built by an EABI5 toolchain carry it. */
export const EF_ARM_ABI_FLOAT_SOFT = 0x200;
/** EF_MIPS_ABI2: a 32-bit MIPS object for the n32 ABI. */
export const EF_MIPS_ABI2 = 0x20;
export const ET = { EXEC: 2, DYN: 3 } as const;

/** Does `buf` start with the ELF magic, "\x7fELF"? */
export const isElf = (buf: Uint8Array): boolean => buf.length >= 4 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;

export interface ElfIdent {
  bits: 32 | 64;
  littleEndian: boolean;
  type: number;
  machine: number;
  flags: number;
}

/** The identification from the first bytes only (20 are enough, the flags need 40 or 52). */
export function elfIdent(head: Buffer): ElfIdent | null {
  if (head.length < 20 || !isElf(head)) return null;
  const cls = head[4];
  const data = head[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return null;
  const le = data === 1;
  const bits = cls === 1 ? 32 : 64;
  const flagsAt = bits === 32 ? 36 : 48;
  const u16 = (o: number) => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const flags = head.length >= flagsAt + 4 ? (le ? head.readUInt32LE(flagsAt) : head.readUInt32BE(flagsAt)) : 0;
  return { bits, littleEndian: le, type: u16(16), machine: u16(18), flags };
}

export interface ElfInfo {
  bits: 32 | 64;
  littleEndian: boolean;
  type: number;
  machine: number;
  flags: number;
  osabi: number;
  /** PT_INTERP, without the trailing NUL */
  interp?: string;
  /** true when there is a PT_DYNAMIC segment */
  dynamic: boolean;
  /** DT_NEEDED in order */
  needed: string[];
  /** DT_RPATH split on ':' (empty strings dropped), tokens like $ORIGIN kept verbatim */
  rpath: string[];
  /** DT_RUNPATH likewise */
  runpath: string[];
  /** DT_SONAME */
  soname?: string;
  /** ABI from e_flags where the machine has one: ARM 'hard'|'soft' (EF_ARM_ABI_FLOAT_HARD 0x400 / EF_ARM_ABI_FLOAT_SOFT 0x200, undefined when neither);
   *  RISC-V 'soft'|'single'|'double'|'quad' (EF_RISCV_FLOAT_ABI bits 1-2); MIPS 'o32'|'n32'|'n64' (64-bit => n64, EF_MIPS_ABI2 0x20 => n32, else o32). */
  abi?: string;
  /** undefined dynamic symbols (imports) by name, first occurrence order, each once; only filled when
   *  readElf(..., { imports: true }); read from the SHT_DYNSYM section when section headers exist, else left undefined */
  imports?: string[];
}

export type ElfResult = { ok: true; elf: ElfInfo; warnings: string[] } | { ok: false; error: string };

type ElfShape = Pick<ElfInfo, 'bits' | 'littleEndian' | 'machine' | 'abi'>;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const SHT_DYNSYM = 11;
const STRING_TAGS: Record<number, string> = { [DT_NEEDED]: 'DT_NEEDED', [DT_SONAME]: 'DT_SONAME', [DT_RPATH]: 'DT_RPATH', [DT_RUNPATH]: 'DT_RUNPATH' };
const PN_XNUM = 0xffff;
/** Longest string taken from a string table (a path list in DT_RUNPATH, a C++ symbol name). */
const MAX_STRING = 64 * 1024;
/** All strings of one file together, decoded, each counted with STRING_OVERHEAD more (so that a million
 *  one-byte strings cost as much as their memory): far above any real library, and a bound on memory. */
const STRING_BUDGET = 16 * 1024 * 1024;
const STRING_OVERHEAD = 32;
/** Warnings kept per file: a crafted file could otherwise repeat one problem for every entry. */
const MAX_WARNINGS = 20;

/** Thrown inside readElf only, caught at its top: the reason the file cannot be read. */
class Malformed {
  constructor(readonly message: string) {}
}

const hex = (n: number): string => (Number.isSafeInteger(n) ? `0x${n.toString(16)}` : 'beyond 2^53');

const MACHINE_NAMES: Record<number, string> = {
  2: 'SPARC', 3: 'x86', 4: 'm68k', 8: 'MIPS', 20: 'PowerPC', 21: 'PowerPC64', 22: 'S390', 40: 'ARM', 42: 'SuperH',
  43: 'SPARC V9', 50: 'IA-64', 62: 'x86-64', 183: 'AArch64', 243: 'RISC-V', 258: 'LoongArch',
};

/** 'AArch64', 'ARM', 'x86-64', 'x86', 'MIPS', 'RISC-V', ... or `machine 1234` */
export function machineName(machine: number): string {
  return MACHINE_NAMES[machine] ?? `machine ${machine}`;
}

/** The ABI that e_flags gives for the machines that record one there (see ElfInfo.abi). */
function abiOf(machine: number, bits: 32 | 64, flags: number): string | undefined {
  switch (machine) {
    case EM.ARM:
      // Both bits set is not a valid file; hard wins, as the kernel and ld.so only look for it.
      return flags & EF_ARM_ABI_FLOAT_HARD ? 'hard' : flags & EF_ARM_ABI_FLOAT_SOFT ? 'soft' : undefined;
    case EM.RISCV:
      return (['soft', 'single', 'double', 'quad'] as const)[(flags >>> 1) & 3];
    case EM.MIPS:
      return bits === 64 ? 'n64' : flags & EF_MIPS_ABI2 ? 'n32' : 'o32';
    default:
      return undefined;
  }
}

function abiWords(machine: number, abi: string): string {
  if ((machine === EM.ARM || machine === EM.RISCV) && ['hard', 'soft', 'single', 'double', 'quad'].includes(abi)) return `${abi}-float`;
  return abi;
}

/** One line like "ELF 32-bit LSB ARM (hard-float)" */
export function describeElf(e: ElfShape): string {
  const abi = e.abi ? ` (${abiWords(e.machine, e.abi)})` : '';
  return `ELF ${e.bits}-bit ${e.littleEndian ? 'LSB' : 'MSB'} ${machineName(e.machine)}${abi}`;
}

/** null when an object `lib` can be loaded into a process of `exe` (same class, byte order, machine, and ABI when both know theirs), else the reason in words, e.g. "ELF 64-bit LSB AArch64, not ELF 32-bit LSB ARM (hard-float)" */
export function incompatibility(exe: ElfShape, lib: ElfShape): string | null {
  const same = exe.bits === lib.bits && exe.littleEndian === lib.littleEndian && exe.machine === lib.machine && (!exe.abi || !lib.abi || exe.abi === lib.abi);
  return same ? null : `${describeElf(lib)}, not ${describeElf(exe)}`;
}

/** Returns null when buf does not start with the ELF magic (not an ELF file at all). Never throws, whatever the bytes. */
export function readElf(buf: Uint8Array, opts?: { imports?: boolean }): ElfResult | null {
  if (!isElf(buf)) return null;
  const warnings: string[] = [];
  const warn = (w: string): void => {
    if (warnings.length < MAX_WARNINGS) warnings.push(w);
    else if (warnings.length === MAX_WARNINGS) warnings.push('more warnings left out');
  };
  try {
    return { ok: true, elf: parse(buf, warn, opts?.imports === true), warnings };
  } catch (e) {
    if (e instanceof Malformed) return { ok: false, error: e.message };
    // A bug here, not a bad file: still no exception for the caller (the fuzz test looks for this text).
    return { ok: false, error: `internal error reading ELF: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function parse(bytes: Uint8Array, warn: (w: string) => void, wantImports: boolean): ElfInfo {
  // A Buffer over the same memory (no copy): its indexOf is memchr, 30 times faster than a Uint8Array's.
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = buf.length;
  const cls = buf[4];
  const data = buf[5];
  if (cls !== 1 && cls !== 2) throw new Malformed(`bad ELF class ${cls ?? 'missing'} at offset 0x4 (1 = 32-bit, 2 = 64-bit)`);
  if (data !== 1 && data !== 2) throw new Malformed(`bad ELF byte order ${data ?? 'missing'} at offset 0x5 (1 = LSB, 2 = MSB)`);
  const bits = cls === 1 ? 32 : 64;
  const is64 = bits === 64;
  const le = data === 1;
  const ehsize = is64 ? 64 : 52;
  if (size < ehsize) throw new Malformed(`truncated ELF header: ${size} bytes, a ${bits}-bit header needs ${ehsize}`);

  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (o: number): number => dv.getUint16(o, le);
  const u32 = (o: number): number => dv.getUint32(o, le);
  // 64-bit fields as numbers: exact below 2^53, Infinity above (no real offset or size is that
  // large, and Infinity fails every bounds check below instead of wrapping around).
  const u64 = (o: number): number => {
    const lo = dv.getUint32(o + (le ? 0 : 4), le);
    const hi = dv.getUint32(o + (le ? 4 : 0), le);
    return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
  };
  const word = is64 ? u64 : u32;
  /** Whether [off, off+len) lies inside the buffer. */
  const inFile = (off: number, len: number): boolean => off >= 0 && len >= 0 && off <= size && len <= size - off;

  const type = u16(16);
  const machine = u16(18);
  const flags = u32(is64 ? 48 : 36);
  const osabi = buf[7] ?? 0;
  const phoff = word(is64 ? 32 : 28);
  const shoff = word(is64 ? 40 : 32);
  const phentsize = u16(is64 ? 54 : 42);
  let phnum = u16(is64 ? 56 : 44);
  const shentsize = u16(is64 ? 58 : 46);
  let shnum = u16(is64 ? 60 : 48);

  const elf: ElfInfo = { bits, littleEndian: le, type, machine, flags, osabi, dynamic: false, needed: [], rpath: [], runpath: [] };
  const abi = abiOf(machine, bits, flags);
  if (abi !== undefined) elf.abi = abi;

  // Section 0 holds the real counts when they do not fit the header's 16 bits.
  const shdrSize = is64 ? 64 : 40;
  const section0Ok = shoff !== 0 && shentsize === shdrSize && inFile(shoff, shdrSize);
  if (phnum === PN_XNUM) {
    if (!section0Ok) throw new Malformed(`e_phnum is PN_XNUM (0xffff) but there is no section 0 to hold the count (e_shoff ${hex(shoff)})`);
    phnum = u32(shoff + (is64 ? 44 : 28));
  }
  if (shnum === 0 && section0Ok) shnum = word(shoff + (is64 ? 32 : 20));

  // Program headers
  const loads: { offset: number; vaddr: number; filesz: number }[] = [];
  let dyn: { offset: number; filesz: number } | undefined;
  if (phnum > 0) {
    const phdrSize = is64 ? 56 : 32;
    if (phentsize !== phdrSize) throw new Malformed(`bad e_phentsize ${phentsize} at offset ${hex(is64 ? 54 : 42)}: a ${bits}-bit program header is ${phdrSize} bytes`);
    if (phoff === 0 || !inFile(phoff, phnum * phdrSize)) {
      throw new Malformed(`program header table (e_phoff ${hex(phoff)}, ${phnum} entries of ${phdrSize} bytes) is outside the file (${size} bytes)`);
    }
    for (let i = 0; i < phnum; i++) {
      const p = phoff + i * phdrSize;
      const ptype = u32(p);
      if (ptype !== PT_LOAD && ptype !== PT_DYNAMIC && ptype !== PT_INTERP) continue;
      const offset = word(p + (is64 ? 8 : 4));
      const vaddr = word(p + (is64 ? 16 : 8));
      const filesz = word(p + (is64 ? 32 : 16));
      if (ptype === PT_LOAD) {
        loads.push({ offset, vaddr, filesz });
      } else if (ptype === PT_DYNAMIC) {
        if (dyn) warn(`a second PT_DYNAMIC (program header ${i} at ${hex(p)}) is ignored`);
        else dyn = { offset, filesz };
      } else if (elf.interp !== undefined) {
        warn(`a second PT_INTERP (program header ${i} at ${hex(p)}) is ignored`);
      } else {
        if (!inFile(offset, filesz)) throw new Malformed(`PT_INTERP (offset ${hex(offset)}, ${filesz} bytes) is outside the file (${size} bytes)`);
        const end = buf.subarray(offset, offset + filesz).indexOf(0);
        if (end < 0) warn(`PT_INTERP at ${hex(offset)} has no terminating NUL`);
        elf.interp = buf.toString('utf8', offset, offset + (end < 0 ? filesz : end));
      }
    }
  }

  let budget = STRING_BUDGET;
  /** The NUL-ended string at file offset `at`, which must end before `limit`. */
  const cstring = (at: number, limit: number, what: string): string => {
    if (at >= limit) throw new Malformed(`${what}: string at ${hex(at)} is outside its string table (which ends at ${hex(limit)})`);
    const stop = Math.min(limit, at + MAX_STRING);
    const len = buf.subarray(at, stop).indexOf(0);
    if (len < 0) {
      throw new Malformed(stop < limit
        ? `${what}: string at ${hex(at)} is longer than ${MAX_STRING} bytes`
        : `${what}: string at ${hex(at)} has no terminating NUL before the end of its string table at ${hex(limit)}`);
    }
    budget -= len + STRING_OVERHEAD;
    if (budget < 0) throw new Malformed(`${what}: the strings read add up to more than ${STRING_BUDGET} bytes`);
    return buf.toString('utf8', at, at + len);
  };

  /** DT_RPATH/DT_RUNPATH entries, empty ones dropped; each one charged to the string budget. */
  const addPaths = (list: string[], value: string, what: string): void => {
    for (const p of value.split(':')) {
      if (p === '') continue;
      budget -= STRING_OVERHEAD;
      if (budget < 0) throw new Malformed(`${what}: the strings read add up to more than ${STRING_BUDGET} bytes`);
      list.push(p);
    }
  };

  function readDynamic(seg: { offset: number; filesz: number }): void {
    const entSize = is64 ? 16 : 8;
    if (seg.filesz === 0) return;
    if (!(seg.offset < size)) throw new Malformed(`PT_DYNAMIC at offset ${hex(seg.offset)} is past the end of the file (${size} bytes)`);
    let filesz = seg.filesz;
    if (!inFile(seg.offset, filesz)) {
      warn(`PT_DYNAMIC at ${hex(seg.offset)} (${filesz} bytes) runs past the end of the file (${size} bytes): read up to the end`);
      filesz = size - seg.offset;
    }
    const count = Math.floor(filesz / entSize);
    const strings: { tag: number; val: number; at: number }[] = [];
    let strtab: number | undefined;
    let strsz: number | undefined;
    let terminated = false;
    for (let i = 0; i < count; i++) {
      const e = seg.offset + i * entSize;
      // d_tag is signed; every tag read here is small and positive, so the high half must be 0.
      const tagHigh = is64 ? u32(e + (le ? 4 : 0)) : 0;
      const tag = is64 ? u32(e + (le ? 0 : 4)) : u32(e);
      if (tagHigh !== 0) continue;
      if (tag === DT_NULL) {
        terminated = true;
        break;
      }
      const val = word(e + (is64 ? 8 : 4));
      if (tag === DT_STRTAB) strtab ??= val;
      else if (tag === DT_STRSZ) strsz ??= val;
      else if (tag === DT_NEEDED || tag === DT_SONAME || tag === DT_RPATH || tag === DT_RUNPATH) strings.push({ tag, val, at: e });
    }
    if (!terminated) warn(`the dynamic section at ${hex(seg.offset)} has no DT_NULL entry`);
    if (strings.length === 0) return;
    if (strtab === undefined) throw new Malformed(`the dynamic section at ${hex(seg.offset)} has string entries but no DT_STRTAB`);
    const strVaddr = strtab;
    const load = loads.find((l) => l.vaddr <= strVaddr && strVaddr - l.vaddr < l.filesz);
    if (!load) throw new Malformed(`DT_STRTAB address ${hex(strVaddr)} is not in the file part of any PT_LOAD segment`);
    const strOff = load.offset + (strVaddr - load.vaddr);
    if (!(strOff < size)) throw new Malformed(`DT_STRTAB (address ${hex(strVaddr)}) maps to file offset ${hex(strOff)}, past the end of the file (${size} bytes)`);
    let limit = size;
    if (strsz !== undefined) {
      if (strsz > size - strOff) warn(`DT_STRSZ ${strsz} at ${hex(strOff)} runs past the end of the file (${size} bytes)`);
      else limit = strOff + strsz;
    }
    let soname: string | undefined;
    for (const s of strings) {
      const what = `${STRING_TAGS[s.tag]} at ${hex(s.at)}`;
      const str = cstring(strOff + s.val, limit, what);
      if (s.tag === DT_NEEDED) elf.needed.push(str);
      else if (s.tag === DT_RPATH) addPaths(elf.rpath, str, what);
      else if (s.tag === DT_RUNPATH) addPaths(elf.runpath, str, what);
      else if (soname === undefined) soname = str;
      else warn(`a second DT_SONAME (at ${hex(s.at)}) is ignored`);
    }
    if (soname !== undefined) elf.soname = soname;
  }

  /** Undefined names of SHT_DYNSYM; undefined (with a warning) when the section table cannot be read. */
  function readImports(): string[] | undefined {
    if (shentsize !== shdrSize) {
      warn(`bad e_shentsize ${shentsize}: a ${bits}-bit section header is ${shdrSize} bytes; imports not read`);
      return undefined;
    }
    if (!inFile(shoff, shnum * shdrSize)) {
      warn(`section header table (e_shoff ${hex(shoff)}, ${shnum} entries) is outside the file (${size} bytes); imports not read`);
      return undefined;
    }
    const section = (i: number) => {
      const s = shoff + i * shdrSize;
      return { at: s, type: u32(s + 4), offset: word(s + (is64 ? 24 : 16)), size: word(s + (is64 ? 32 : 20)), link: u32(s + (is64 ? 40 : 24)), entsize: word(s + (is64 ? 56 : 36)) };
    };
    let dynsym: ReturnType<typeof section> | undefined;
    for (let i = 0; i < shnum && !dynsym; i++) {
      const s = section(i);
      if (s.type === SHT_DYNSYM) dynsym = s;
    }
    if (!dynsym) return [];
    const symSize = is64 ? 24 : 16;
    if (dynsym.entsize !== symSize) {
      warn(`SHT_DYNSYM section header at ${hex(dynsym.at)} has entry size ${dynsym.entsize}, not ${symSize}; imports not read`);
      return undefined;
    }
    if (dynsym.link >= shnum) {
      warn(`SHT_DYNSYM section header at ${hex(dynsym.at)} links to section ${dynsym.link}, past the ${shnum} sections; imports not read`);
      return undefined;
    }
    const str = section(dynsym.link);
    if (!inFile(dynsym.offset, dynsym.size) || !inFile(str.offset, str.size)) {
      warn(`the dynamic symbol table (at ${hex(dynsym.offset)}, ${dynsym.size} bytes) or its strings (at ${hex(str.offset)}, ${str.size} bytes) are outside the file (${size} bytes); imports not read`);
      return undefined;
    }
    const names = new Set<string>();
    const count = Math.floor(dynsym.size / symSize);
    try {
      for (let i = 1; i < count; i++) {
        const s = dynsym.offset + i * symSize;
        const nameOff = u32(s);
        const shndx = u16(s + (is64 ? 6 : 14));
        if (shndx !== 0 || nameOff === 0) continue;
        names.add(cstring(str.offset + nameOff, str.offset + str.size, `dynamic symbol ${i} at ${hex(s)}`));
      }
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      warn(`${e.message}; imports not read`);
      return undefined;
    }
    return [...names];
  }

  if (dyn) {
    elf.dynamic = true;
    readDynamic(dyn);
  }
  if (wantImports && shoff !== 0 && shnum > 0) {
    const imports = readImports();
    if (imports) elf.imports = imports;
  }
  return elf;
}
