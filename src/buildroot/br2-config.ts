// Buildroot's .config (BR2_CONFIG): KEY=value lines, strings quoted, "# KEY is not set".

export type Br2Config = Map<string, string>;

/** Each KEY=value line (a defconfig or a .config), unquoted, with its line number. */
export function parseBr2Config(text: string): Map<string, { value: string; line: number }> {
  const m = new Map<string, { value: string; line: number }>();
  text.split('\n').forEach((l, i) => {
    const a = /^(BR2_[A-Za-z0-9_]+)=(.*)$/.exec(l);
    if (a) m.set(a[1]!, { value: a[2]!.replace(/^"(.*)"$/, '$1'), line: i + 1 });
  });
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
