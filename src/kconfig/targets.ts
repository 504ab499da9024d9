import { parseKconfig, type KConfig, type SymbolType } from './config-file.js';

// Kernel targets: what a stock kernel of the board resolves every symbol to, so that a
// fragment can be judged without a kernel tree. The data are the Raspberry Pi 6.12.49
// kernel's own defconfigs, resolved with its kconfig (scripts/gen-kconfig-targets.mjs).
// How to add a target: generate its data file, add a row here, extend the pin test in
// test/unit/kconfig.test.ts.

export interface KernelTarget {
  name: string;
  arch: 'arm' | 'arm64';
  defconfig: string;
  description: string;
  load: () => Promise<string>;
}

export const TARGETS: readonly KernelTarget[] = [
  { name: 'rpi3', arch: 'arm', defconfig: 'bcm2709', description: 'Raspberry Pi 3, 32-bit (ARCH=arm bcm2709_defconfig, rpi-6.12.49)', load: async () => (await import('./targets/rpi3.data.js')).RESOLVED },
  { name: 'rpi3-64', arch: 'arm64', defconfig: 'bcm2711', description: 'Raspberry Pi 3, 64-bit (ARCH=arm64 bcm2711_defconfig, rpi-6.12.49)', load: async () => (await import('./targets/rpi3-64.data.js')).RESOLVED },
];

export interface ResolvedTarget {
  target: KernelTarget;
  config: KConfig;
  typeOf: (name: string) => SymbolType | undefined;
}

const cache = new Map<string, ResolvedTarget>();

export async function loadTarget(name: string): Promise<ResolvedTarget | undefined> {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) return undefined;
  const hit = cache.get(name);
  if (hit) return hit;
  const { config } = parseKconfig(await target.load(), `${name} (resolved)`);
  // a resolved config tells every symbol's type by how its value is written
  const types = new Map<string, SymbolType>();
  for (const a of config.assigns) {
    const v = a.value;
    types.set(a.name, v.startsWith('"') ? 'string' : /^0x/i.test(v) ? 'hex' : /^-?\d+$/.test(v) ? 'int' : v === 'm' ? 'tristate' : 'bool');
  }
  const r: ResolvedTarget = { target, config, typeOf: (n) => types.get(n) };
  cache.set(name, r);
  return r;
}
