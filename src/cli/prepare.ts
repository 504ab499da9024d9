import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { ThunderboxError, UsageError } from '../core/errors.js';
import type { Diagnostic } from '../core/diagnostic.js';
import { sourceDateEpoch } from '../core/epoch.js';
import type { FileOp, Op } from '../core/plan.js';
import { JOURNAL_NAME, applyPlan, journalPending, settle } from '../core/transaction.js';
import { readFileOrNull, writeFileAtomic } from '../core/fsutil.js';
import { nearest } from '../core/suggest.js';
import { VERSION } from '../core/version.js';
import type { ContainerInput } from '../profile/input.js';
import { ROUTED_UP_SCRIPT } from '../lxc/container-config.js';
import { resolveInTarget } from '../core/target-path.js';
import { mergeInputs } from '../profile/input.js';
import { parseEnvFlag, parseIdmapFlag, parseMountFlag, parseShareFlag, resolveContainer } from '../profile/resolve.js';
import type { NetSpec } from '../profile/spec.js';
import { DEFAULT_DATAPATH } from '../thunder/layout.js';
import { assertTargetUsable, doctorRecordOp, planPrepare, type ContainerReport } from '../thunder/prepare.js';
import type { SizeReport } from '../rootfs/filter-sink.js';
import { Output, ProgressBar, formatBytes } from './output.js';
import { chooseTarget, refuseHostRoot } from './target.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface PrepareFlags {
  target?: string;
  targetFrom?: string;
  classname?: string;
  location?: 'data' | 'persistent';
  consoleLog?: string;
  consoleSize?: string;
  thunderConfig?: boolean;
  datapath?: string;
  manifest?: string;
  arch?: string;
  idmap?: string;
  shareUid?: string[];
  env?: string[];
  mount?: string[];
  tmp?: boolean;
  net?: string;
  link?: string;
  ipv4?: string;
  ipv6?: string;
  hwaddr?: string;
  vethPair?: string;
  gateway?: string;
  gateway6?: string;
  interconnect?: string;
  route?: string[];
  seccomp?: 'default' | 'off' | 'off-common-conf';
  runtime?: 'lxc' | 'runc' | 'both';
  containertype?: 'lxc' | 'runc';
  pluginJson?: string | false;
  unmappedToNobody?: boolean;
  fixRootMode?: boolean;
  keepDevices?: boolean;
  minimize?: boolean;
  root?: string[];
  keep?: string[];
  thunderRoots?: boolean;
  dedupeWithHost?: boolean;
  memory?: string;
  memorySwap?: string;
  pids?: string;
  cpuWeight?: string;
  cpus?: string;
  nofile?: string;
  cgroup?: 'v1' | 'v2';
  br2Config?: string;
  doctor?: boolean;
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export function register(program: Command): void {
  program
    .command('prepare')
    .summary('make a Thunder plugin container (rootfs, LXC config, plugin JSON) in an image root')
    .description(
      `Extract <rootfs> (an archive: tar, gzip, bzip2, xz, zstd; or a directory; or "target" for the
image root itself) into <target><datapath>/<Callsign>/Container/rootfs, write the LXC config
beside it, and set the plugin's execution mode to "Container". All changes land together or
not at all; a second run with the same inputs changes nothing.`,
    )
    .argument('[callsign]', 'the plugin callsign, e.g. OCDM (all containers of --manifest when omitted)')
    .argument('[rootfs]', 'rootfs archive or directory (e.g. output/images/rootfs.tar)')
    .option('--target <dir>', 'image root (Buildroot TARGET_DIR); default $TARGET_DIR, else the current directory')
    // how post-build, which runs prepare with --target, says where the image root came from
    .addOption(new Option('--target-from <what>').hideHelp())
    .option('--datapath <path>', `Thunder data path on the device (default: the image's /etc/Thunder/config.json, else ${DEFAULT_DATAPATH})`)
    .addOption(new Option('--location <where>', 'data: <datapath>/<classname>/Container, where Thunder finds it in a read-only image (default); persistent: <persistentpath>/<callsign>/Container, one per callsign').choices(['data', 'persistent']))
    .option('--classname <name>', 'the plugin\'s class when no plugin JSON says it (--no-plugin-json); Thunder looks in <datapath>/<classname>')
    .option('--console-log <path>', 'keep ThunderPlugin\'s stdout and stderr in this file on the device (lxc.console.logfile; its directory must exist there)')
    .option('--console-size <size>', 'the console ring buffer with --console-log, e.g. 1MB (lxc.console.size)')
    .option('--no-thunder-config', 'leave the image\'s Thunder config alone (by default an unprivileged container gets "messaging": {"path": "MessageDispatcher|0777"})')
    .option('--manifest <file>', 'thunderbox.yaml describing the containers')
    .option('--arch <name>', 'lxc.arch, or auto to detect it from the rootfs ELF files (default auto)')
    .option('--idmap <spec>', 'default (u/g 0 100000 65536), none (privileged), or lines "u 0 100000 65536,g 0 100000 65536"')
    .option('--share-uid <uid[:gid]>', 'map this container id to the same host id (repeatable)', collect)
    .option('--env <NAME[=VALUE]>', 'extra lxc.environment (repeatable; a bare NAME inherits Thunder\'s value)', collect)
    .option('--mount <HOST:PATH[:ro|rw[:MODE[:UID[:GID]]]]>', 'share a device directory with the container (repeatable; default ro); MODE and the container UID:GID owning it, e.g. /testshare:TestLogging:rw:0770:1000', collect)
    .option('--no-tmp', 'do not bind-mount /tmp (Thunder\'s communicator socket lives there)')
    .addOption(new Option('--net <type>', 'network: empty (default), veth (on a bridge) or routed (veth in router mode, no bridge)').choices(['empty', 'veth', 'routed']))
    .option('--link <bridge>', 'bridge for --net veth, e.g. lxcbr0')
    .option('--ipv4 <cidr>', 'static IPv4 address (--net veth, e.g. 10.0.3.10/24), or the address routed to the container (--net routed, e.g. 192.0.2.5/32)')
    .option('--ipv6 <cidr>', 'static IPv6 address (--net veth or routed)')
    .option('--gateway <addr>', 'IPv4 default gateway for --net veth, e.g. 10.0.3.1')
    .option('--gateway6 <addr>', 'IPv6 default gateway (--net veth; with --net routed also the host side\'s address)')
    .option('--interconnect <cidr>', 'the /30 or /31 network linking host and container for --net routed, e.g. 198.18.100.0/30')
    .option('--route <cidr>', 'a network behind the container the host routes to it, --net routed (repeatable)', collect)
    .option('--hwaddr <mac>', 'MAC for --net veth or routed (default: derived from the callsign, stable)')
    .option('--veth-pair <name>', 'host-side veth name (at most 15 characters)')
    .addOption(new Option('--seccomp <mode>', 'default, off (this container only), off-common-conf (the wiki way: every container)').choices(['default', 'off', 'off-common-conf']))
    .addOption(new Option('--runtime <backend>', 'Thunder\'s container backend: lxc (default), runc (an OCI bundle config.json beside the LXC config, containertype "runc"), both').choices(['lxc', 'runc', 'both']))
    .addOption(new Option('--containertype <backend>', 'the backend the plugin JSON selects (default: the runtime; with --runtime both none is set)').choices(['lxc', 'runc']))
    .option('--plugin-json <file>', 'the plugin config to switch to Container mode (default: searched in the image)')
    .option('--no-plugin-json', 'leave the plugin config alone')
    .option('--unmapped-to-nobody', 'files owned by ids outside the idmap go to the container\'s nobody (65534) instead of failing')
    .option('--fix-root-mode', 'make a rootfs top directory that locks others out (0700) traversable (0755)')
    .option('--keep-devices', 'keep the archive\'s device nodes in an unprivileged container (left out by default: lxc.autodev provides /dev)')
    .option('--minimize', 'copy only what the container runs: the closure of ThunderPlugin, the plugin library, the proxy stubs and glibc\'s modules (ELF dependencies), plus --root and --keep')
    .option('--root <path>', 'a further program, library or directory the minimised rootfs needs, with its libraries (repeatable; implies --minimize)', collect)
    .option('--keep <glob>', 'keep paths matching this glob in a minimised rootfs, e.g. "usr/share/zoneinfo/**" (repeatable; implies --minimize)', collect)
    .option('--no-thunder-roots', 'minimise around --root only, not around ThunderPlugin (a container that does not run a Thunder plugin)')
    .option('--dedupe-with-host', 'hard-link files identical to the image\'s own copies (same path) instead of copying them')
    .option('--memory <size>', 'memory limit, e.g. 128M (K, M, G, T: powers of 1024; bytes without)')
    .option('--memory-swap <size>', 'memory and swap together, at least --memory (equal: no swap)')
    .option('--pids <n>', 'most processes and threads at once (pids.max)')
    .option('--cpu-weight <n>', 'CPU share, 1-10000 (cpu.weight; 100 is the default; v1: cpu.shares)')
    .option('--cpus <list>', 'the CPUs it may run on, e.g. 0-1 (cpuset.cpus)')
    .option('--nofile <n>', 'open files limit, soft and hard (lxc.prlimit.nofile)')
    .addOption(new Option('--cgroup <layout>', 'the device\'s cgroup layout for the limits (default: read from the image)').choices(['v1', 'v2']))
    .option('--br2-config <file>', 'Buildroot .config to read the cgroup layout from too (default $BR2_CONFIG)')
    .option('--no-doctor', 'skip the checks (thunderbox doctor) after preparing')
    .option('--force', 'rebuild the container even if its inputs did not change')
    .option('--dry-run', 'print the plan and the diffs, change nothing')
    .option('--json', 'print a machine-readable summary')
    .option('-q, --quiet', 'print only errors')
    .option('-v, --verbose', 'print more detail')
    .addHelpText(
      'after',
      `
Examples:
  # the wiki's OCDM recipe, in the Buildroot output directory
  thunderbox prepare OCDM images/rootfs.tar --target target
  # privileged, seccomp off for this container only, a shared log directory
  thunderbox prepare OCDM rootfs.tar.xz --idmap none --seccomp off \\
      --mount /testshare:TestLogging:rw
  # every container of a manifest, as a Buildroot post-build script does
  thunderbox prepare --manifest board/raspberrypi3/thunderbox.yaml \\
      --target "$TARGET_DIR"
  # what would change
  thunderbox prepare OCDM rootfs.tar --dry-run
  # only what ThunderPlugin and the OCDM plugin need, files shared with the
  # image hard-linked
  thunderbox prepare OCDM rootfs.tar --minimize --keep 'etc/ssl/**' \\
      --dedupe-with-host
  # the wiki's shared folder: container uid 1000 is host uid 1000 and owns
  # /testshare
  thunderbox prepare OCDM rootfs.tar --share-uid 1000 \\
      --mount /testshare:TestLogging:rw:0770:1000

Shared directories and domain sockets: a process in an unprivileged container
that is not root can write to a socket the host created in a shared directory
only if the socket's mode lets it ("other" write, e.g. 0777 rather than 0775),
unless its uid is shared (--share-uid).`,
    )
    .action(async (callsign: string | undefined, rootfs: string | undefined, flags: PrepareFlags, cmd: Command) => {
      await runPrepare(callsign, rootfs, flags, cmd);
    });
}

function fromCli(cmd: Command, name: string): boolean {
  return cmd.getOptionValueSource(name) === 'cli';
}

function flagsToInput(rootfs: string | undefined, f: PrepareFlags, cmd: Command): ContainerInput {
  const i: ContainerInput = {};
  if (rootfs !== undefined) i.rootfs = rootfs === 'target' ? 'target' : path.resolve(rootfs);
  if (f.classname !== undefined) i.classname = f.classname;
  if (f.location !== undefined) i.location = f.location;
  if (f.consoleSize !== undefined && f.consoleLog === undefined) throw new UsageError('--console-size needs --console-log PATH', 'e.g. --console-log /var/log/OCDM.console.log --console-size 1MB');
  if (f.consoleLog !== undefined) i.console = { log: f.consoleLog, ...(f.consoleSize !== undefined ? { size: f.consoleSize } : {}) };
  if (f.arch !== undefined) i.arch = f.arch;
  if (f.idmap !== undefined) i.idmap = parseIdmapFlag(f.idmap);
  if (f.shareUid) i.share = f.shareUid.map(parseShareFlag);
  if (f.env) i.environment = f.env.map(parseEnvFlag);
  if (f.mount) i.mounts = f.mount.map(parseMountFlag);
  if (fromCli(cmd, 'tmp')) i.tmp = f.tmp;
  if (f.seccomp) i.seccomp = f.seccomp;
  if (f.runtime) i.runtime = f.runtime;
  if (f.containertype) i.containertype = f.containertype;
  if (fromCli(cmd, 'pluginJson')) i.pluginJson = f.pluginJson === false ? false : String(f.pluginJson);
  if (f.unmappedToNobody) i.unmappedToNobody = true;
  if (f.fixRootMode) i.fixRootMode = true;
  if (f.keepDevices) i.keepDevices = true;
  if (f.minimize) i.minimize = true;
  if (f.root) i.roots = f.root;
  if (f.keep) i.keep = f.keep;
  if (fromCli(cmd, 'thunderRoots')) i.thunderRoots = f.thunderRoots;
  if (f.dedupeWithHost) i.dedupeWithHost = true;
  const limits = { memory: f.memory, memorySwap: f.memorySwap, pids: f.pids, cpuWeight: f.cpuWeight, cpus: f.cpus, nofile: f.nofile };
  if (Object.values(limits).some((v) => v !== undefined)) i.limits = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
  const netFlags = ['link', 'ipv4', 'ipv6', 'gateway', 'gateway6', 'interconnect', 'route', 'hwaddr', 'vethPair'] as const;
  const flagName = (k: string) => `--${k.replace('vethPair', 'veth-pair')}`;
  const given = netFlags.filter((k) => f[k] !== undefined);
  const net = f.net ?? (f.link === undefined && (f.interconnect !== undefined || f.route !== undefined) ? 'routed' : given.length ? 'veth' : undefined);
  if (net === 'empty') {
    if (given.length) throw new UsageError(`${flagName(given[0]!)} needs --net veth or --net routed`);
    i.net = [{ type: 'empty' }];
  } else if (net === 'veth') {
    const stray = given.filter((k) => k === 'interconnect' || k === 'route');
    if (stray.length) throw new UsageError(`${flagName(stray[0]!)} needs --net routed`);
    if (!f.link) throw new UsageError('--net veth needs --link BRIDGE', 'e.g. --net veth --link lxcbr0 --ipv4 10.0.3.10/24');
    const n: NetSpec = { type: 'veth', link: f.link, ipv4: f.ipv4, ipv6: f.ipv6, gateway: f.gateway, gateway6: f.gateway6, hwaddr: f.hwaddr, vethPair: f.vethPair };
    i.net = [n];
  } else if (net === 'routed') {
    const stray = given.filter((k) => k === 'link' || k === 'gateway');
    if (stray.length) throw new UsageError(`${flagName(stray[0]!)} is for --net veth: a routed container's gateway is the interconnect's host side`);
    if (!f.interconnect) throw new UsageError('--net routed needs --interconnect A.B.C.D/30', 'e.g. --net routed --interconnect 198.18.100.0/30 --ipv4 198.18.200.5/32');
    const n: NetSpec = { type: 'routed', interconnect: f.interconnect, ipv4: f.ipv4 ? [f.ipv4] : undefined, ipv6: f.ipv6 ? [f.ipv6] : undefined, gateway6: f.gateway6, routes: f.route, hwaddr: f.hwaddr, vethPair: f.vethPair };
    i.net = [n];
  }
  return i;
}

function describe(r: ContainerReport, verbs: { create: string; replace: string; unchanged: string }): string {
  const f = r.facts;
  const parts: string[] = [];
  if (f) {
    parts.push(`${f.stats.entries} entries, ${formatBytes(f.stats.bytes)}`);
    parts.push(f.arch ? `${f.archName} -> lxc.arch ${f.arch}` : 'lxc.arch unset');
  }
  return `${r.callsign}: ${verbs[r.status]} ${r.dir}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

async function runPrepare(callsign: string | undefined, rootfs: string | undefined, f: PrepareFlags, cmd: Command): Promise<void> {
  const out = new Output(f);
  const chosen = chooseTarget(f.target);
  const t = f.targetFrom ? { ...chosen, from: f.targetFrom } : chosen;
  // yaml + zod cost start-up time; a plain run does not need them
  const manifest = f.manifest ? (await import('../profile/manifest.js')).loadManifest(f.manifest) : undefined;
  if (!callsign && !manifest) throw new UsageError('give a callsign and a rootfs, or --manifest FILE', 'e.g. thunderbox prepare OCDM output/images/rootfs.tar');
  refuseHostRoot(t);
  assertTargetUsable(t.target);
  // unset: the image's Thunder config says (thunder/device.ts)
  const datapath = f.datapath ?? manifest?.datapath;
  if (datapath !== undefined && !datapath.startsWith('/')) throw new UsageError(`--datapath ${datapath} must be an absolute path on the device`);
  // it goes into lxc.rootfs.path: a line break would start a config line of its own
  if (datapath !== undefined && /[\n\r\0]/.test(datapath)) throw new UsageError(`--datapath ${JSON.stringify(datapath)} has a line break or NUL`, 'give a one-line path');
  const cli = flagsToInput(rootfs, f, cmd);
  let wanted: { name: string; input: ContainerInput }[];
  if (manifest && !callsign) {
    if (rootfs) throw new UsageError('a rootfs argument needs a callsign', 'thunderbox prepare OCDM rootfs.tar --manifest FILE');
    wanted = manifest.containers.map((c) => ({ name: c.name, input: mergeInputs(c.input, cli) }));
  } else {
    const fromManifest = manifest?.containers.find((c) => c.name === callsign);
    if (manifest && !fromManifest) {
      const names = manifest.containers.map((c) => c.name);
      const near = nearest(callsign!, names);
      throw new UsageError(`${callsign} is not in ${manifest.file}${near.length ? `: did you mean ${near.join(' or ')}?` : ''}`, `containers there: ${names.join(', ') || 'none'}`);
    }
    wanted = [{ name: callsign!, input: mergeInputs(fromManifest?.input ?? {}, cli) }];
  }
  // addresses: allocated over the whole manifest (stable numbering), kept in thunderbox.lock
  let lock: { file: string; text: string } | undefined;
  if (manifest) {
    const { allocateForManifest } = await import('../net/manifest-nets.js');
    const a = allocateForManifest(manifest, wanted);
    wanted = a.wanted;
    lock = a.lock;
  }
  const containers = wanted.map((w) => resolveContainer(w.name, w.input, { target: t.target }));
  const bar = new ProgressBar(!f.quiet && !f.json);
  const req = {
    target: t.target,
    datapath,
    containers,
    thunderConfig: f.thunderConfig !== false && manifest?.editThunderConfig !== false,
    force: f.force === true,
    isRoot: process.getuid?.() === 0,
    toolVersion: VERSION,
    epoch: sourceDateEpoch(),
    cgroup: f.cgroup,
    br2Config: f.br2Config ?? process.env.BR2_CONFIG,
    onProgress: (cs: string, done: number, total: number) => bar.update(cs, done, total),
  };
  out.say(`image root: ${t.target} (from ${t.from})`);
  // a killed run's journal is rolled back before planning (a dry run only says it is there)
  if (f.dryRun) {
    if (journalPending(t.target)) out.say(`an interrupted run left ${JOURNAL_NAME} in ${t.target}: a real run rolls it back first; the plan below is of the tree as it is now`);
  } else if (settle(t.target)) {
    out.say('recovered: an interrupted earlier run was rolled back first');
  }
  const { plan, reports } = await planPrepare(req, { scan: f.dryRun === true });
  // the device's side of the manifest's networks (bridges, NAT, routed-up for a routed NIC's
  // script.up) in the same transaction: a routed container never lacks the script it runs
  if (manifest) {
    const { planNet } = await import('../net/render.js');
    const have = new Set(plan.ops.map((o) => o.path));
    plan.ops.push(...planNet(manifest, t.target, VERSION, req.epoch).ops.filter((o) => !have.has(o.path)));
  }
  out.diagnostics(plan.diagnostics);
  // a routed veth runs the image's routed-up (script.up), which `net render` writes from a manifest
  const routedUp = resolveInTarget(t.target, ROUTED_UP_SCRIPT);
  if (!manifest && containers.some((c) => c.net.some((n) => n.type === 'routed')) && !fs.existsSync(routedUp)) {
    out.diagnostics([{ code: 'NET_ROUTED_UP_MISSING', severity: 'warning', message: `the routed container's lxc.net script.up ${ROUTED_UP_SCRIPT} is not in the image (${routedUp}); LXC cannot start the container until it is there`, hint: 'describe the container in a manifest and run thunderbox net render --manifest FILE --target DIR (the Buildroot post-build hook does)' }]);
  }
  if (f.dryRun) {
    await printPlan(out, plan.ops, reports);
    out.json(true, [...plan.diagnostics, ...reports.flatMap((r) => r.facts?.warnings ?? [])], { dryRun: true, target: t.target, targetFrom: t.from, containers: reports.map(reportJson), ops: plan.ops.map((op) => ({ kind: op.kind, path: op.path, reason: op.reason })) });
    return;
  }
  let result;
  try {
    result = await applyPlan(plan);
  } finally {
    bar.clear();
  }
  if (lock) {
    if (readFileOrNull(lock.file)?.toString('utf8') !== lock.text) {
      writeFileAtomic(lock.file, lock.text, { mode: 0o644 });
      out.say(`addresses recorded in ${lock.file}`);
    }
  }
  for (const r of reports) {
    out.say(describe(r, { create: 'created', replace: 'replaced', unchanged: 'unchanged' }));
    if (r.pluginJson) out.say(`  plugin config ${r.pluginJson.path}: ${r.pluginJson.changed ? `${plan.ops.find((op) => op.kind === 'file' && op.path === r.pluginJson!.path)?.reason.replace(/^[^:]*: /, '') ?? 'mode set to "Container"'}` : 'already "Container"'}`);
    if (r.facts?.size) out.say(`  size: ${sizeLine(r.facts.size)}`);
    if (r.status !== 'unchanged') for (const n of r.facts?.notes ?? []) out.say(`  note: ${n}`);
    if (f.verbose && r.facts?.kept) for (const [p, why] of r.facts.kept) out.detail(`  kept /${p}: ${why}`);
    if (f.verbose && r.config) out.detail(r.config.trimEnd().replace(/^/gm, '  | '));
  }
  // a plugin JSON's edit was told with its container above
  const told = new Set(reports.flatMap((r) => (r.pluginJson ? [r.pluginJson.path] : [])));
  for (const op of plan.ops) {
    if (op.kind === 'file' && !told.has(op.path)) out.say(`${op.before === null ? 'wrote' : 'patched'} ${op.path}: ${op.reason}`);
    if (op.kind === 'dir') out.say(`directory ${op.path}: ${op.reason}`);
  }
  out.diagnostics(reports.flatMap((r) => r.facts?.warnings ?? []));
  if (result.changed.length === 0) out.say('nothing to do: everything is up to date');
  // the same checks as `thunderbox doctor`, for the containers made in this run and the
  // unchanged ones it has not found clean, or not with the image as it is now (the verdict and
  // a signature of what it read from the image are kept in the stamp)
  const doctor: Record<string, { errors: number; warnings: number; findings: Diagnostic[] }> = {};
  let doctorErrors = 0;
  const inputs = new Map<string, string>();
  if (f.doctor !== false) {
    const { doctorInputs } = await import('../thunder/doctor-inputs.js');
    for (const r of reports) inputs.set(r.callsign, doctorInputs(t.target, r.dir, r.callsign));
  }
  const check = f.doctor === false ? [] : reports.filter((x) => x.status !== 'unchanged' || x.doctor?.errors !== 0 || x.doctor.inputs !== inputs.get(x.callsign));
  const records: FileOp[] = [];
  if (check.length) {
    const { runDoctor } = await import('../thunder/doctor.js');
    for (const r of check) {
      const spec = containers.find((c) => c.callsign === r.callsign)!;
      const d = await runDoctor({ target: t.target, datapath, callsign: r.callsign, classname: spec.classname, pluginJson: spec.pluginJson === null ? null : r.pluginJson?.path });
      const op = doctorRecordOp(r.dir, { errors: d.errors, warnings: d.warnings, inputs: inputs.get(r.callsign) }, req.epoch);
      if (op) records.push(op);
      doctor[r.callsign] = { errors: d.errors, warnings: d.warnings, findings: d.findings };
      doctorErrors += d.errors;
      const shown = d.findings.filter((x) => x.severity !== 'note' || f.verbose);
      out.diagnostics(shown.map((x) => ({ ...x, message: `doctor: ${x.message}` })));
      if (!d.errors && !d.warnings) out.say(`${r.callsign}: doctor: no problems found`);
      if (d.errors) out.say(`${r.callsign}: doctor found ${d.errors} error(s): the container will not start on the device as it is (thunderbox doctor ${r.callsign} --target ${t.target} checks again)`);
    }
  }
  // the verdicts go into the stamps as a transaction of their own (lock, journal): a run killed
  // there is rolled back by the next one, which checks again
  if (records.length) await recordVerdicts(out, t.target, records, req.epoch);
  // diagnostics: the plan's, the builds', and the doctor's findings (each container's also under its doctor)
  const all = [...plan.diagnostics, ...reports.flatMap((r) => r.facts?.warnings ?? []), ...Object.values(doctor).flatMap((d) => d.findings)];
  out.json(doctorErrors === 0, all, { dryRun: false, target: t.target, targetFrom: t.from, changed: result.changed, containers: reports.map((r) => ({ ...reportJson(r), doctor: doctor[r.callsign] ?? null })) });
  if (doctorErrors) process.exitCode = 1;
}

async function recordVerdicts(out: Output, target: string, ops: FileOp[], epoch: number | undefined): Promise<void> {
  try {
    await applyPlan({ root: target, ops, diagnostics: [], dirMtime: epoch });
  } catch (err) {
    // another run took the lock in between: the verdicts are not kept, so the next run checks again
    if (!(err instanceof ThunderboxError) || err.code !== 'LOCKED') throw err;
    out.diagnostics([{ code: 'DOCTOR_NOT_RECORDED', severity: 'note', message: `another thunderbox run holds the lock on ${target}: the doctor's verdict is not kept in the stamp, so the next run checks again`, hint: 'nothing to do' }]);
  }
}

function sizeLine(s: SizeReport): string {
  const shared = s.sharedFiles ? `; ${s.sharedFiles} files (${formatBytes(s.sharedBytes)}) hard-linked to the image's copies` : '';
  return `${s.files} files, ${formatBytes(s.bytes)}: ${s.percent}% of the full rootfs (${s.fullFiles} files, ${formatBytes(s.fullBytes)})${shared}`;
}

function reportJson(r: ContainerReport) {
  return {
    callsign: r.callsign,
    status: r.status,
    dir: r.dir,
    deviceDir: r.deviceDir,
    config: path.join(r.dir, 'config'),
    rootfs: path.join(r.dir, 'rootfs'),
    source: r.source,
    arch: r.facts?.arch ?? null,
    archName: r.facts?.archName ?? null,
    counts: r.facts?.stats ?? null,
    size: r.facts?.size ?? null,
    permissionTableLines: r.facts?.tableLines ?? null,
    pluginJson: r.pluginJson ?? null,
    notes: r.facts?.notes ?? [],
  };
}

async function printPlan(out: Output, ops: Op[], reports: ContainerReport[]): Promise<void> {
  const { createTwoFilesPatch } = await import('diff');
  for (const op of ops) {
    if (op.kind === 'keep') out.say(`= ${op.path}: ${op.reason}`);
    else if (op.kind === 'tree') {
      const r = reports.find((x) => x.dir === op.path);
      out.say(`${r?.status === 'replace' ? '~' : '+'} ${op.path}: ${op.reason}`);
      if (r) out.say(`    ${describe(r, { create: 'would create', replace: 'would replace', unchanged: 'unchanged' })}`);
      for (const d of op.detail) out.say(`    ${d}`);
      if (r?.facts?.size) out.say(`    size: ${sizeLine(r.facts.size)}`);
      for (const n of r?.facts?.notes ?? []) out.say(`    note: ${n}`);
      for (const [p, why] of r?.facts?.kept ?? []) out.detail(`    would keep /${p}: ${why}`);
      if (r?.config) {
        // a container that is there already: the diff against its config, not the whole file
        const file = path.join(op.path, 'config');
        const now = readFileOrNull(file)?.toString('utf8') ?? null;
        if (now === r.config) out.say(`    ${file}: unchanged`);
        else out.say(createTwoFilesPatch(now === null ? '/dev/null' : file, file, now ?? '', r.config).trimEnd());
      }
    } else if (op.kind === 'dir') {
      out.say(`+ ${op.path}/: ${op.reason}`);
    } else {
      out.say(`~ ${op.path}: ${op.reason}`);
      out.say(createTwoFilesPatch(op.path, op.path, op.before ?? '', op.after).trimEnd());
    }
  }
}

