import { Option, type Command } from 'commander';
import { formatDiagnostic, type Diagnostic } from '../core/diagnostic.js';
import { UsageError } from '../core/errors.js';
import type { Condition } from '../kconfig/rules.js';
import { Output } from './output.js';

interface LintFlags {
  target?: string;
  kernelSrc?: string;
  defconfig?: string;
  arch?: string;
  cmdline?: string;
  manifest?: string;
  uses?: string;
  cgroup?: 'v1' | 'v2';
  strict?: boolean;
  json?: boolean;
  quiet?: boolean;
}

const USES: readonly Condition[] = ['idmap', 'veth', 'nat', 'cgroup-v1', 'seccomp', 'memory', 'memory-swap', 'pids', 'cpu-weight', 'cpus'];

async function usesFrom(f: LintFlags): Promise<Set<Condition>> {
  if (f.uses !== undefined) {
    const set = new Set<Condition>();
    for (const u of f.uses.split(',').map((x) => x.trim()).filter(Boolean)) {
      if (!(USES as readonly string[]).includes(u)) throw new UsageError(`--uses: "${u}" is not one of ${USES.join(', ')}`);
      set.add(u as Condition);
    }
    return set;
  }
  if (f.manifest) {
    const { loadManifest } = await import('../profile/manifest.js');
    const m = loadManifest(f.manifest);
    const { limitConditions } = await import('../kconfig/rules.js');
    const set = new Set<Condition>();
    for (const c of m.containers) {
      const i = c.input;
      if (!i.idmap || i.idmap.kind !== 'none') set.add('idmap');
      if ((i.seccomp ?? 'default') === 'default') set.add('seccomp');
      if (i.net?.some((n) => n.type === 'veth')) set.add('veth');
      // a limit needs its controller (the values are checked by prepare)
      for (const c of limitConditions(i.limits)) set.add(c);
    }
    if (f.cgroup === 'v1') set.add('cgroup-v1');
    return set;
  }
  const { DEFAULT_USES } = await import('../kconfig/rules.js');
  return new Set(DEFAULT_USES);
}

function print(ds: Diagnostic[], quiet: boolean | undefined): void {
  for (const d of ds) if (d.severity === 'error' || !quiet) process.stdout.write(formatDiagnostic(d) + '\n');
}

export function register(program: Command): void {
  const k = program.command('kconfig').summary('lint kernel configs for containers').description('Kernel configuration for containers: lint fragments against a target or a kernel tree, and report on a full .config.')
    .addHelpText('after', '\nExamples:\n  thunderbox kconfig lint board/raspberrypi3/linux-container.fragment \\\n      --target rpi3\n  thunderbox kconfig check-config output/build/linux-custom/.config')
  k.command('lint')
    .summary('what a kernel fragment or .config gives containers')
    .description(
      `Check fragments (or a full .config) as the kernel's reader takes them, merge them like
merge_config.sh (later ones win), work out the final values, and judge them by the container
rules. The final values come from the first file when it is a full .config, from --target (the
stock Raspberry Pi 6.12 kernel's resolved config, no kernel tree needed), or from --kernel-src
(the kernel's own kconfig). Exit 0 clean, 1 errors (warnings too with --strict), 2 usage.`,
    )
    .argument('<file...>', 'fragments, or a .config followed by fragments')
    .addOption(new Option('--target <name>', 'rpi3 (arm, bcm2709) or rpi3-64 (arm64, bcm2711)').choices(['rpi3', 'rpi3-64']))
    .option('--kernel-src <dir>', 'a kernel source tree: use its kconfig (with --defconfig and --arch)')
    .option('--defconfig <name>', 'defconfig in arch/<arch>/configs (bcm2709, bcm2835, defconfig, ...)')
    .option('--arch <arch>', 'ARCH for the kernel tree (arm, arm64)')
    .option('--cmdline <file>', 'the board\'s cmdline.txt (cgroup_enable=memory is needed for the memory controller)')
    .option('--manifest <file>', 'thunderbox.yaml: which conditional options the containers need (idmap -> USER_NS, veth -> VETH, ...)')
    .option('--uses <list>', `what the containers use, instead of a manifest, comma-separated: ${USES.join(', ')} (default idmap,seccomp)`)
    .addOption(new Option('--cgroup <layout>', 'with --manifest: the cgroup layout the image mounts (v1: its memory and cpuset controllers need MEMCG_V1, CPUSETS_V1 on 6.12)').choices(['v1', 'v2']))
    .option('--strict', 'a redefinition between fragments is an error, and warnings fail too')
    .option('--json', 'print the diagnostics and option states as JSON')
    .option('-q, --quiet', 'print errors only')
    .addHelpText('after', '\nExamples:\n  thunderbox kconfig lint board/raspberrypi3/linux-container.fragment \\\n      --target rpi3 --cmdline board/raspberrypi3/cmdline.txt\n  thunderbox kconfig lint output/build/linux-custom/.config\n  thunderbox kconfig lint my.fragment --kernel-src /usr/src/linux \\\n      --defconfig bcm2835 --arch arm')
    .action(async (files: string[], f: LintFlags) => {
      const out = new Output(f);
      const uses = await usesFrom(f);
      const { lint, readConfigs, mergeFragments, checkCmdline } = await import('../kconfig/lint.js');
      let result;
      if (f.kernelSrc) {
        if (!f.defconfig || !f.arch) throw new UsageError('--kernel-src needs --defconfig and --arch', 'e.g. --kernel-src /usr/src/linux --defconfig bcm2709 --arch arm');
        if (f.target) throw new UsageError('--kernel-src and --target exclude each other');
        const ds: Diagnostic[] = [];
        const m = mergeFragments(readConfigs(files, ds), f.strict === true);
        ds.push(...m.diagnostics);
        const { lintWithKernelTree } = await import('../kconfig/kernel-tree.js');
        result = await lintWithKernelTree(files, m.merged, { src: f.kernelSrc, defconfig: f.defconfig, arch: f.arch, uses }, ds);
        if (f.cmdline) checkCmdline(f.cmdline, result.final, ds);
      } else {
        result = await lint(files, { target: f.target, strict: f.strict, uses, cmdline: f.cmdline });
      }
      const ds = result.diagnostics;
      const errors = ds.filter((d) => d.severity === 'error').length;
      const warnings = ds.filter((d) => d.severity === 'warning').length;
      if (f.json) out.json(errors === 0 && !(f.strict && warnings > 0), ds, { options: result.states });
      else print(ds, f.quiet);
      out.say(`${files.length} file(s): ${errors} error(s), ${warnings} warning(s)`);
      if (errors > 0 || (f.strict && warnings > 0)) process.exitCode = 1;
    });
  k.command('check-config')
    .summary('lxc-checkconfig-style report on a full .config (exit 1 if a required option is missing)')
    .argument('[config]', 'the kernel .config (default: $CONFIG)')
    .option('--manifest <file>', 'thunderbox.yaml: which conditional options the containers need')
    .option('--uses <list>', `what the containers use, comma-separated: ${USES.join(', ')} (default idmap,seccomp)`)
    .option('--json', 'print {ok, diagnostics, config, options: [{option, state, required, feature}]}')
    .addHelpText('after', '\nExamples:\n  thunderbox kconfig check-config output/build/linux-custom/.config\n  CONFIG=/boot/config-6.12 thunderbox kconfig check-config --json')
    .action(async (file: string | undefined, f: LintFlags) => {
      const config = file ?? process.env.CONFIG;
      if (!config) throw new UsageError('give a .config file, or set CONFIG=<file> as for lxc-checkconfig');
      const { readConfigFile, verdicts } = await import('../kconfig/lint.js');
      const { checkConfigJson, checkConfigReport } = await import('../kconfig/check-config.js');
      const { config: c } = readConfigFile(config);
      const final = new Map<string, string>();
      for (const a of c.values.values()) final.set(a.name, a.value);
      const states = verdicts(final, await usesFrom(f), { file: config, requested: new Map() }, []);
      const json = checkConfigJson(states);
      const missing = json.some((e) => e.required && (e.state === 'n' || e.state === 'missing'));
      // the envelope's diagnostics say why ok is false: one error per required option that is off
      const ds: Diagnostic[] = json.filter((e) => e.required && (e.state === 'n' || e.state === 'missing')).map((e) => ({ code: 'KCONFIG_REQUIRED', severity: 'error', file: config, message: `${e.option} is ${e.state === 'n' ? 'off' : 'not set'}, and containers need it (${e.feature})`, hint: `set ${e.option}=y` }));
      if (f.json) new Output(f).json(!missing, ds, { config, options: json });
      else process.stdout.write(`Kernel configuration: ${config}${c.header ? ` (Linux/${c.header.arch} ${c.header.version})` : ''}\n\n${checkConfigReport(states)}`);
      if (missing) process.exitCode = 1;
    });
}
