import fs from 'node:fs';

// Buildroot's .config (BR2_CONFIG): KEY=value lines, strings quoted, "# KEY is not set".

export type Br2Config = Map<string, string>;

export function readBr2Config(file: string): Br2Config {
  const m = new Map<string, string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const a = /^(BR2_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (a) m.set(a[1]!, a[2]!.replace(/^"(.*)"$/, '$1'));
  }
  return m;
}

/** The Buildroot architecture's lxc.arch family: what a container rootfs of this build is. */
export function br2ArchName(c: Br2Config): string | null {
  if (c.get('BR2_aarch64') === 'y') return 'aarch64';
  if (c.get('BR2_arm') === 'y') return c.get('BR2_ARM_EABIHF') === 'y' || c.get('BR2_ARM_FPU_NEON_VFPV4') === 'y' || c.get('BR2_ARM_FPU_VFPV4') === 'y' ? 'armhf' : 'arm';
  if (c.get('BR2_x86_64') === 'y') return 'x86_64';
  if (c.get('BR2_i386') === 'y') return 'i686';
  return null;
}
