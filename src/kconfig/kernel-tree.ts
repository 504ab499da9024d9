import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Diagnostic } from '../core/diagnostic.js';
import { fail } from '../core/errors.js';
import { removeTree } from '../core/fsutil.js';
import { formatAssign, parseKconfig, type KAssign } from './config-file.js';
import { verdicts, type LintResult } from './lint.js';
import type { Uses } from './rules.js';

// --kernel-src: the kernel's own kconfig is the engine, as Buildroot uses it:
//   make O=<scratch> ARCH=<arch> <defconfig>; merge_config.sh -m -O <scratch> .config <fragments>;
//   make O=<scratch> ARCH=<arch> olddefconfig
// then requested against actual, in merge_config.sh's words ("Value requested for CONFIG_X not
// in final .config"), and the container rules on the resolved config.

export interface KernelTreeOptions {
  src: string;
  defconfig: string;
  arch: string;
  uses: Uses;
  keep?: boolean;
}

const TOOLS: [string, string][] = [
  ['make', 'make'],
  ['gcc', 'gcc'],
  ['flex', 'flex'],
  ['bison', 'bison'],
];

async function which(cmd: string): Promise<boolean> {
  const { execa } = await import('execa');
  return (await execa('sh', ['-c', `command -v ${cmd}`], { reject: false })).exitCode === 0;
}

export async function lintWithKernelTree(fragments: string[], requested: Map<string, KAssign>, o: KernelTreeOptions, out: Diagnostic[]): Promise<LintResult> {
  const { execa } = await import('execa');
  if (!fs.existsSync(path.join(o.src, 'scripts', 'kconfig', 'merge_config.sh')) || !fs.existsSync(path.join(o.src, 'Kconfig'))) {
    fail('KCONFIG_NOT_A_TREE', `${o.src} is not a kernel source tree (no Kconfig, no scripts/kconfig/merge_config.sh)`, 'pass the top directory of an unpacked kernel (Debian: apt-get install linux-source-6.1, then untar /usr/src/linux-source-6.1.tar.xz)');
  }
  for (const [cmd, pkg] of TOOLS) {
    if (!(await which(cmd))) fail('KCONFIG_TOOL_MISSING', `the kernel's kconfig needs \`${cmd}\`, which is not installed`, `install it (Debian: apt-get install ${pkg})`);
  }
  const defconfig = o.defconfig.endsWith('_defconfig') || o.defconfig === 'defconfig' ? o.defconfig : `${o.defconfig}_defconfig`;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'thunderbox-kconfig-'));
  const env = { ARCH: o.arch };
  try {
    const run = async (cmd: string, args: string[], what: string) => {
      const r = await execa(cmd, args, { cwd: o.src, env, reject: false, all: true });
      if (r.exitCode !== 0) fail('KCONFIG_MAKE_FAILED', `${what} failed: ${String(r.all ?? '').trim().split('\n').slice(-5).join(' | ')}`, `check --defconfig (${defconfig} must exist in arch/${o.arch}/configs) and --arch`);
      return String(r.all ?? '');
    };
    await run('make', [`O=${scratch}`, `ARCH=${o.arch}`, defconfig], `make ${defconfig}`);
    const config = path.join(scratch, '.config');
    await run(path.join(o.src, 'scripts', 'kconfig', 'merge_config.sh'), ['-m', '-O', scratch, config, ...fragments.map((f) => path.resolve(f))], 'merge_config.sh');
    await run('make', [`O=${scratch}`, `ARCH=${o.arch}`, 'olddefconfig'], 'make olddefconfig');
    const actual = parseKconfig(fs.readFileSync(config, 'utf8'), config).config;
    const final = new Map<string, string>();
    for (const a of actual.values.values()) final.set(a.name, a.value);
    for (const a of requested.values()) {
      const got = final.get(a.name);
      const same = got === a.value || (a.value === 'n' && got === undefined);
      if (!same) {
        out.push({
          code: 'KCONFIG_NOT_IN_FINAL',
          severity: 'warning',
          file: a.file,
          line: a.line,
          col: 1,
          message: `Value requested for CONFIG_${a.name} not in final .config\nRequested value: ${formatAssign(a.name, a.value)}\nActual value: ${formatAssign(a.name, got)}`,
          hint: got === undefined ? 'the symbol does not exist in this kernel, or what it depends on is off' : 'a dependency limits it (see the symbol\'s "depends on" in its Kconfig)',
        });
      }
    }
    const states = verdicts(final, o.uses, { file: fragments[0] ?? '', requested }, out);
    return { diagnostics: out, final, states, requested };
  } finally {
    if (!o.keep) removeTree(scratch);
  }
}
