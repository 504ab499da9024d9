import type { Command } from 'commander';
import { DEFAULT_DATAPATH, STAMP_NAME, TABLE_NAME } from '../thunder/layout.js';
import { Output, captureJson, type JsonDiagnostic } from './output.js';

interface Flags {
  datapath?: string;
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command): void {
  const br = program.command('buildroot').summary('entry points for Buildroot hooks').description('Entry points for Buildroot\'s post-build and post-fakeroot scripts.')
    .addHelpText('after', '\nExamples:\n  thunderbox buildroot check ~/my-br2-external\n  thunderbox buildroot post-build --help')
  br.command('post-build')
    .summary('prepare the manifest\'s containers in TARGET_DIR (Buildroot post-build script)')
    .description(
      `Run as a Buildroot post-build script: TARGET_DIR first, then BR2_ROOTFS_POST_SCRIPT_ARGS, of
which --manifest FILE, --datapath PATH, --no-doctor and --keep-going are read and the rest
left to the other post scripts (one a typo away from these, such as --manifets, is an error).
Prepares every container of the manifest in TARGET_DIR (a rootfs of "target" is a copy of the
image itself, without the containers in it), then checks BR2_CONFIG: LXC enabled (for runtime
runc or both: Thunder's runc backend, runc, and util-linux's unshare for an unprivileged one),
the owners applied (the post-fakeroot script or a permission table), the build's architecture
against the rootfs. Errors there, and the doctor's, fail the build (exit 1); --keep-going reports
them and exits 0. Runs on every make: a second run with the same inputs does nothing.`,
    )
    .argument('<target>', 'TARGET_DIR (Buildroot passes it as the first argument)')
    .argument('[args...]', 'BR2_ROOTFS_POST_SCRIPT_ARGS: --manifest FILE [--datapath PATH] [--no-doctor] [--keep-going] ...')
    .allowUnknownOption(true)
    .option('-q, --quiet', 'print only errors')
    .option('--json', 'print a machine-readable summary')
    .addHelpText('after', '\nExample (board/raspberrypi3/post-build.sh):\n  thunderbox buildroot post-build "$@"\nwith BR2_ROOTFS_POST_SCRIPT_ARGS (add --keep-going to build on despite errors):\n  --manifest $(BR2_EXTERNAL_THUNDERBOX_PATH)/board/raspberrypi3/thunderbox.yaml')
    .action(async (target: string, args: string[], f: Flags) => {
      const path = await import('node:path');
      const { parsePostScriptArgs, crossCheck, stampArch, refuseNearMisses, POST_BUILD_OPTIONS } = await import('../buildroot/post-build.js');
      const { UsageError } = await import('../core/errors.js');
      const { program: newProgram } = await import('./main.js');
      const { register: registerPrepare } = await import('./prepare.js');
      const { loadManifest } = await import('../profile/manifest.js');
      const { idmapLinesOf } = await import('../profile/resolve.js');
      const { deviceModel } = await import('../thunder/device.js');
      refuseNearMisses(args, POST_BUILD_OPTIONS, 'post-build');
      const a = parsePostScriptArgs(args);
      const out = new Output(f);
      if (!a.manifest) throw new UsageError('post-build needs --manifest FILE in BR2_ROOTFS_POST_SCRIPT_ARGS', 'BR2_ROOTFS_POST_SCRIPT_ARGS="--manifest $(BR2_EXTERNAL_THUNDERBOX_PATH)/board/raspberrypi3/thunderbox.yaml"');
      const manifest = path.resolve(a.manifest);
      const p = newProgram();
      registerPrepare(p);
      // with --json, prepare's and net render's documents go into post-build's own
      const prepared = await captureJson(() => p.parseAsync(['node', 'thunderbox', 'prepare', '--manifest', manifest, '--target', target, '--target-from', 'post-build\'s TARGET_DIR', ...(a.datapath ? ['--datapath', a.datapath] : []), ...(a.noDoctor ? ['--no-doctor'] : []), ...(f.quiet ? ['-q'] : []), ...(f.json ? ['--json'] : [])]));
      const m = loadManifest(manifest);
      const device = deviceModel(target, { datapath: a.datapath ?? m.datapath });
      const limited = m.containers.filter((c) => c.input.limits !== undefined && Object.keys(c.input.limits).length > 0);
      const containers = m.containers.map((c) => {
        const dir = device.choose(c.name, { classname: c.input.classname }).chosen?.host;
        return { callsign: c.name, archName: dir === undefined ? null : stampArch(dir), limits: limited.includes(c), runtime: c.input.runtime, unprivileged: idmapLinesOf(c.input).length > 0 };
      });
      // the device's host networks (bridges, NAT, routed-up), when the manifest has any
      let rendered: Record<string, unknown> | null = null;
      if (m.networks.length || m.containers.some((c) => c.input.net?.some((n) => n.type === 'routed'))) {
        const n = newProgram();
        (await import('./net.js')).register(n);
        rendered = await captureJson(() => n.parseAsync(['node', 'thunderbox', 'net', 'render', '--manifest', manifest, '--target', target, ...(f.quiet ? ['-q'] : []), ...(f.json ? ['--json'] : [])]));
      }
      const ds = crossCheck(process.env.BR2_CONFIG, containers, process.getuid?.() !== 0);
      // the built kernel against what the containers' limits need (kconfig lint --manifest's rules)
      if (limited.length) {
        const { kernelLimitsCheck } = await import('../buildroot/kernel-limits.js');
        const { chooseCgroupLayout } = await import('../thunder/cgroup-layout.js');
        const { limitConditions } = await import('../kconfig/rules.js');
        const uses = new Set(limited.flatMap((c) => limitConditions(c.input.limits)));
        if (chooseCgroupLayout(target, { br2Config: process.env.BR2_CONFIG }).layout === 'v1') uses.add('cgroup-v1');
        ds.push(...(await kernelLimitsCheck({ buildDir: process.env.BUILD_DIR, binariesDir: process.env.BINARIES_DIR, uses })));
      }
      out.diagnostics(ds);
      if (a.ignored.length) out.detail(`post-build: left for other post scripts: ${a.ignored.join(' ')}`);
      const errors = ds.filter((d) => d.severity === 'error').length;
      const doctorFailed = process.exitCode === 1;
      if (a.keepGoing && (errors || doctorFailed)) {
        // the build goes on, as asked; the errors above stay in the log
        if (!f.json) process.stderr.write(`post-build: --keep-going: ${errors ? `${errors} error(s) in the Buildroot configuration` : ''}${errors && doctorFailed ? ' and ' : ''}${doctorFailed ? 'doctor errors' : ''} reported, the build goes on; the image may not run its containers\n`);
        process.exitCode = 0;
      } else if (errors) {
        if (!f.json) process.stderr.write(`post-build: ${errors} error(s): the image cannot run its containers as configured; fix them, or add --keep-going to BR2_ROOTFS_POST_SCRIPT_ARGS to build it anyway\n`);
        process.exitCode = 1;
      }
      // ok is the exit status (with --keep-going: true despite the errors listed)
      const inner = (prepared?.diagnostics as JsonDiagnostic[] | undefined) ?? [];
      out.json(process.exitCode !== 1, [...inner, ...ds], { target, manifest, keepGoing: a.keepGoing === true, ignoredArgs: a.ignored, prepare: prepared, net: rendered });
    });
  br.command('check')
    .summary('lint a br2-external tree (by default this repo)')
    .description('Check a Buildroot external tree: external.desc, Config.in, external.mk, defconfigs (hash checking,\n$(BR2_EXTERNAL_..._PATH) references), scripts, permission and users tables, overlay modes\nthat rsync drops, and kernel fragments (kconfig lint against the Pi target). Exit 0 clean, 1 findings.')
    .argument('[dir]', 'the external tree (default: this thunderbox checkout)')
    .option('--json', 'print the diagnostics as JSON')
    .option('-q, --quiet', 'print only the findings, not the summary line')
    .addHelpText('after', '\nExample:\n  thunderbox buildroot check ~/my-br2-external')
    .action(async (dir: string | undefined, f: Flags) => {
      const path = await import('node:path');
      const fs = await import('node:fs');
      const { checkExternal } = await import('../buildroot/check.js');
      const { formatDiagnostic } = await import('../core/diagnostic.js');
      const { findUp } = await import('../core/find-up.js');
      const root = dir ?? findUp(import.meta.url, (d) => fs.existsSync(path.join(d, 'external.desc'))) ?? undefined;
      const ds = await checkExternal(root ?? '.');
      if (f.json) new Output(f).json(ds.length === 0, ds, { dir: root ?? '.' });
      else for (const d of ds) process.stdout.write(formatDiagnostic(d) + '\n');
      if (!f.json && !f.quiet) process.stdout.write(`${root}: ${ds.length} finding(s)\n`);
      if (ds.length) process.exitCode = 1;
    });
  br.command('apply-table')
    .summary('apply permission (makedevs) tables to a directory, inside fakeroot')
    .argument('<target>', 'TARGET_DIR')
    .argument('<table...>', 'permission tables (BR2_ROOTFS_DEVICE_TABLE format)')
    .option('--json', 'print a machine-readable summary')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', '\nExample:\n  fakeroot thunderbox buildroot apply-table output/target \\\n      board/raspberrypi3/device_table.txt')
    .action(async (target: string, tables: string[], f: Flags) => {
      const { applyTables } = await import('../buildroot/post-fakeroot.js');
      const n = applyTables(target, tables);
      const out = new Output(f);
      out.say(`applied ${n} permission lines`);
      out.json(true, [], { target, tables, lines: n });
    });
  br.command('post-fakeroot')
    .summary('apply the ownership recorded by a non-root `prepare`, inside fakeroot')
    .description(
      `Apply every permission table that \`thunderbox prepare\` wrote as a normal user
(<target><datapath>/<Callsign>/Container/device_table.txt) to TARGET_DIR, with makedevs'
semantics, so the image holds the shifted owners. Buildroot runs post-fakeroot scripts inside
fakeroot with TARGET_DIR first and BR2_ROOTFS_POST_SCRIPT_ARGS after it (--datapath is read,
the rest ignored).
Pointing BR2_ROOTFS_DEVICE_TABLE at the same tables gives the same image.`,
    )
    .argument('<target>', 'TARGET_DIR (Buildroot passes it as the first argument)')
    .argument('[args...]', 'BR2_ROOTFS_POST_SCRIPT_ARGS (--datapath PATH is read, the rest ignored)')
    .allowUnknownOption(true)
    .option('--datapath <path>', `Thunder data path on the device (default ${DEFAULT_DATAPATH})`)
    .option('--json', 'print a machine-readable summary')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', '\nExample (board/raspberrypi3/post-fakeroot.sh):\n  thunderbox buildroot post-fakeroot "$@"')
    .action(async (target: string, args: string[], f: Flags) => {
      const { refuseNearMisses, POST_BUILD_OPTIONS } = await import('../buildroot/post-build.js');
      refuseNearMisses(args, POST_BUILD_OPTIONS, 'post-fakeroot');
      const { postFakeroot, isFilesystemCopy, dropBuildFiles } = await import('../buildroot/post-fakeroot.js');
      const out = new Output(f);
      const datapath = f.datapath;
      const r = postFakeroot(target, datapath);
      out.say(r.tables.length ? `applied ${r.lines} permission lines from ${r.tables.length} table(s): ${r.tables.join(', ')}` : 'no permission tables to apply');
      // the build's own files stay out of the image: removed from Buildroot's copy for it only
      const copy = isFilesystemCopy(target, process.env.BUILD_DIR);
      const removed = copy ? dropBuildFiles(target, datapath) : [];
      if (removed.length) out.say(`left out of the image: ${removed.length} build file(s) (${TABLE_NAME}, ${STAMP_NAME}; TARGET_DIR keeps them)`);
      out.json(true, [], { target, tables: r.tables, lines: r.lines, filesystemCopy: copy, removed });
    });
}
