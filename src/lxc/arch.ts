import { EM, EF_ARM_ABI_FLOAT_HARD, type ElfIdent } from '../rootfs/elf.js';

// lxc.arch from what the rootfs's ELF files are built for. LXC maps the name to a
// personality: 32-bit names give PER_LINUX32 (so `uname -m` says armv7l on an arm64 host),
// 64-bit names PER_LINUX. The names here are all in liblxc's lxc_config_parse_arch().

export interface ArchGuess {
  /** Value for lxc.arch. */
  lxcArch: string;
  /** Human name, for messages. */
  name: string;
}

export function archOf(id: ElfIdent): ArchGuess | null {
  switch (id.machine) {
    case EM.ARM:
      return id.flags & EF_ARM_ABI_FLOAT_HARD ? { lxcArch: 'linux32', name: 'armhf' } : { lxcArch: 'linux32', name: 'armel' };
    case EM.AARCH64:
      return { lxcArch: 'arm64', name: 'aarch64' };
    case EM.X86_64:
      return { lxcArch: 'x86_64', name: 'x86_64' };
    case EM.X86:
      return { lxcArch: 'i686', name: 'i686' };
    case EM.RISCV:
      return id.bits === 64 ? { lxcArch: 'riscv64', name: 'riscv64' } : null;
    case EM.MIPS:
      if (id.bits === 64) return { lxcArch: id.littleEndian ? 'mips64el' : 'mips64', name: id.littleEndian ? 'mips64el' : 'mips64' };
      return { lxcArch: id.littleEndian ? 'mipsel' : 'mips', name: id.littleEndian ? 'mipsel' : 'mips' };
    default:
      return null;
  }
}

/** Every value LXC 5/6 accepts for lxc.arch (for --arch validation). */
export const LXC_ARCH_NAMES = [
  'arm', 'armel', 'armhf', 'armv7l', 'athlon', 'i386', 'i486', 'i586', 'i686', 'linux32', 'mips', 'mipsel', 'ppc', 'powerpc', 'x86',
  'aarch64', 'amd64', 'arm64', 'linux64', 'mips64', 'mips64el', 'ppc64', 'ppc64el', 'ppc64le', 'powerpc64', 'riscv64', 's390x', 'x86_64',
] as const;

/**
 * The architecture an lxc.arch value most likely means, as archOf names it: what `try` needs
 * to pick qemu-user when no ELF file says. linux32 is taken as armhf (this tool's targets).
 */
export function archNameOfLxcArch(lxcArch: string): string | null {
  if (['arm', 'armhf', 'armv7l', 'linux32'].includes(lxcArch)) return 'armhf';
  if (lxcArch === 'armel') return 'armel';
  if (lxcArch === 'arm64' || lxcArch === 'aarch64') return 'aarch64';
  if (['x86_64', 'amd64', 'linux64'].includes(lxcArch)) return 'x86_64';
  if (['i386', 'i486', 'i586', 'i686', 'athlon', 'x86'].includes(lxcArch)) return 'i686';
  if (['riscv64', 'mips', 'mipsel', 'mips64', 'mips64el'].includes(lxcArch)) return lxcArch;
  return null;
}

/** Majority vote over the executables of a tree; ties go to the first seen. */
export class ArchVote {
  private counts = new Map<string, { guess: ArchGuess; n: number; first: number }>();
  private seen = 0;
  add(id: ElfIdent): void {
    // Executables and shared objects only (ET_EXEC 2, ET_DYN 3): relocatable .o/.ko files do not run.
    if (id.type !== 2 && id.type !== 3) return;
    const g = archOf(id);
    if (!g) return;
    const c = this.counts.get(g.name);
    if (c) c.n++;
    else this.counts.set(g.name, { guess: g, n: 1, first: this.seen });
    this.seen++;
  }
  result(): { guess: ArchGuess; count: number; others: string[] } | null {
    const all = [...this.counts.values()].sort((a, b) => b.n - a.n || a.first - b.first);
    const top = all[0];
    return top ? { guess: top.guess, count: top.n, others: all.slice(1).map((c) => `${c.guess.name} (${c.n})`) } : null;
  }
}
