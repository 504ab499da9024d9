// The ELF identification of a file, from its first bytes (no host tools).
//   e_ident[4] class (1 = 32-bit, 2 = 64-bit), e_ident[5] data (1 = little, 2 = big endian),
//   e_type at 16, e_machine at 18 (2 bytes each, in the file's byte order),
//   e_flags at 36 (32-bit) or 48 (64-bit), 4 bytes.
// The minimal-rootfs work extends this into a full reader (program headers, dynamic section).

export const EM = { X86: 3, MIPS: 8, ARM: 40, X86_64: 62, AARCH64: 183, RISCV: 243 } as const;
/** EF_ARM_ABI_FLOAT_HARD: armhf binaries carry it (EABI5). */
export const EF_ARM_ABI_FLOAT_HARD = 0x400;

export interface ElfIdent {
  bits: 32 | 64;
  littleEndian: boolean;
  type: number;
  machine: number;
  flags: number;
}

export function elfIdent(head: Buffer): ElfIdent | null {
  if (head.length < 20 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return null;
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
