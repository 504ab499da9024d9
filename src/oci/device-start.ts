import fs from 'node:fs';
import path from 'node:path';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fail, failUsage } from '../core/errors.js';
import { readFileOrNull, removeTree } from '../core/fsutil.js';
import { readTextFile } from '../core/read-text.js';
import { resolveInTarget, resolveInTargetOrNull } from '../core/target-path.js';
import { renderTemplate } from '../core/template.js';
import { deviceMounts, imageBinfmt, inImage, makeRunDir, serveCommunicator, type Communicator, type CommunicatorResult } from '../lxc/device-start.js';
import { HOST_MOUNT, hostProgram, lentRuntime } from '../lxc/lent-runtime.js';
import { ALL_CAPABILITIES } from './config.js';
import { USERNS_DIR, bootMakesNetns, bootScriptTexts, imageUsernsScripts, namespacePaths, type BootScript } from './userns.js';

// A start of an OCI bundle exactly as Thunder's runc backend (RunCImplementation.cpp) starts it
// on the device, inside Thunder's root (the image):
//   /usr/bin/runc --log <volatile>/<callsign>/<callsign>/runc.container.log create --no-new-keyring --bundle <dir>/Container <callsign>
//   /usr/bin/runc --log <same> exec --detach [--env NAME=value ...] <callsign> <command...>
//   /usr/bin/runc --log <same> delete --force <callsign>
// each with a 2 s timeout, --env for each process.env entry written NAME=$VAR whose VAR
// Thunder has (not empty). The command's stdout and stderr are the runtime's: Thunder's.
//
// The device's root is built as for LXC (templates/device-root.ejs: the image as the lower
// layer of an overlay, /proc, /sys, /dev, /run and the device's /tmp, pivot_root); a
// placeholder keeps the namespace while each runtime call enters it (nsenter, the root and
// mount and pid namespaces). The runtime is the image's own /usr/bin/runc (or /usr/bin/crun)
// when the image has one; otherwise this host's is lent at that path, bound into the overlay
// with the libraries it loads (those the image lacks: the image's own stay the image's). runc
// re-executes itself (/proc/self/exe init), so it cannot run through a lent loader the way
// lxc-start does.
// Measured on this host (Debian 12, cgroup v1 with a cgroup2 hierarchy holding hugetlb): crun
// 1.8.1 refuses it ("cgroups in hybrid mode not supported, drop all controllers from
// cgroupv2") and works once /sys/fs/cgroup/unified is not mounted, which a crun start here
// hides in its namespace.

export type OciRuntime = 'runc' | 'crun';

export interface OciStartRequest {
  /** image root on this host */
  target: string;
  /** DEVICE path of the bundle (…/Container), holding config.json */
  bundle: string;
  /** container id: Thunder uses the callsign */
  callsign: string;
  runtime: OciRuntime;
  command: string[];
  /** Thunder's environment: what --env draws from */
  env: Record<string, string>;
  /** Thunder's volatilepath (default /tmp): the log goes to <volatile>/<callsign>/<callsign>/ */
  volatilepath?: string;
  deviceTmp?: string;
  timeoutMs?: number;
  communicator?: boolean | string;
  /**
   * Named network namespaces of this host (/run/netns/<name>) that the device's init script
   * would have made at boot (S40thunderbox-net): bound at /var/run/netns/<name> in the device's root
   */
  netns?: string[];
  /**
   * User namespaces of this host (/run/thunderbox/userns/<name>) that the image's
   * S39thunderbox-userns script would have made at boot: bound at /var/run/thunderbox/userns/<name>
   */
  userns?: string[];
  /** stops the start (the command is killed, the container deleted, everything cleaned up), then rejects with its reason */
  signal?: AbortSignal;
  /** the command's (and the runtime's) output as it comes */
  onOutput?: (s: string) => void;
}

export interface OciCall {
  argv: string[];
  status: number | null;
  ms: number;
  stderr: string;
}

export interface OciStartResult {
  /** the exec of the command succeeded */
  started: boolean;
  /** how this start differs from the device's (a capability this host lacks) */
  notes: string[];
  /** what the command (and the runtime) wrote to Thunder's stdout and stderr */
  output: string;
  /** the runtime's --log file */
  log: string;
  logPath: string;
  /** which runtime ran: the image's, or this host's lent at the image's path */
  runtimeSource: 'image' | 'lent';
  runtimePath: string;
  calls: OciCall[];
  error?: string;
  timedOut: boolean;
  /** calls that took longer than Thunder's 2 s */
  slow: string[];
  communicator?: CommunicatorResult;
}

/** Thunder's RunCImplementation DEFAULT_TIMEOUT. */
export const THUNDER_RUNC_TIMEOUT_MS = 2000;
const CALL_LIMIT_MS = 30_000;
const READY = 'thunderbox-device-root-ready';

/** The --env arguments Thunder passes: config.json's NAME=$VAR entries whose VAR Thunder has, not empty. */
export function thunderEnvArgs(configText: string, env: Record<string, string>): string[] {
  let cfg: { process?: { env?: unknown } };
  try {
    cfg = JSON.parse(configText) as typeof cfg;
  } catch {
    return [];
  }
  const out: string[] = [];
  const list = Array.isArray(cfg.process?.env) ? (cfg.process.env as unknown[]) : [];
  for (const e of list) {
    if (typeof e !== 'string') continue;
    const m = /^([^=]+)=\$(.+)$/.exec(e);
    if (!m) continue;
    const v = env[m[2]!];
    if (v !== undefined && v !== '') out.push('--env', `${m[1]}=${v}`);
  }
  return out;
}

/** config.json's fixed environment entries (NAME=value, not NAME=$VAR), by name. */
function fixedEnvOf(configText: string): string[] {
  try {
    const env = (JSON.parse(configText) as { process?: { env?: unknown } }).process?.env;
    return (Array.isArray(env) ? env : []).filter((e): e is string => typeof e === 'string' && !/^[^=]+=\$/.test(e)).map((e) => e.split('=')[0]!);
  } catch {
    return [];
  }
}

/** Files to bind into the overlay: the host runtime at the image's path, and the libraries it loads that the image lacks. */
function lendRuntime(target: string, runtime: OciRuntime, devicePath: string): { from: string; at: string; dir: false }[] {
  const host = hostProgram(runtime, ['/usr/sbin', '/usr/bin', '/sbin', '/bin']);
  if (!host) fail('HOST_TOOL_MISSING', `the image has no ${devicePath} and this build host has no ${runtime} to lend`, `install ${runtime} here (apt-get install ${runtime}), or build the image with it (BR2_PACKAGE_RUNC)`);
  const binds = [{ from: host, at: path.relative(target, resolveInTarget(target, devicePath)), dir: false as const }];
  const out = execFileSync('ldd', [host], { encoding: 'utf8' });
  for (const m of out.matchAll(/^\s*(?:\S+ => )?(\/\S+) \(0x/gm)) {
    const lib = m[1]!;
    const inImg = resolveInTargetOrNull(target, lib);
    if (inImg !== null && fs.existsSync(inImg)) continue;
    binds.push({ from: fs.realpathSync(lib), at: path.relative(target, resolveInTarget(target, lib)), dir: false });
  }
  return binds;
}

export async function startOciOnDevice(req: OciStartRequest): Promise<OciStartResult> {
  if (!req.bundle.startsWith('/')) failUsage('START_BUNDLE', `the bundle ${req.bundle} is not an absolute device path`, 'give it as the device sees it, e.g. /usr/share/Thunder/OCDM/Container');
  if (req.command.length === 0) failUsage('START_COMMAND', 'no command to start', 'give the command, e.g. ThunderPlugin');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(req.callsign)) failUsage('START_CALLSIGN', `${JSON.stringify(req.callsign)} cannot be a runc container id`, 'Thunder uses the callsign: letters, digits, _ . -');
  const target = path.resolve(req.target);
  if (!fs.statSync(target, { throwIfNoEntry: false })?.isDirectory()) fail('TARGET_MISSING', `the image root ${target} is not a directory`, 'give --target the image root (Buildroot TARGET_DIR)');
  const cfgFile = resolveInTarget(target, path.posix.join(req.bundle, 'config.json'));
  const cfg = readTextFile(cfgFile);
  if (!cfg.ok) fail('BUNDLE_MISSING', `the image has no OCI bundle at ${req.bundle}: ${cfgFile} ${cfg.reason}`, 'prepare it with --runtime runc (or both)', { file: cfgFile });
  if (process.getuid?.() !== 0) fail('START_NEEDS_ROOT', 'a start as on the device needs root: mount namespaces, an overlay and pivot_root, and Thunder runs runc as root', 'run it as root (sudo)');
  const rt = lentRuntime();
  const runtimeDevice = `/usr/bin/${req.runtime}`;
  const own = resolveInTargetOrNull(target, runtimeDevice);
  const imageHas = own !== null && fs.statSync(own, { throwIfNoEntry: false })?.isFile() === true;
  const emulated = imageBinfmt(target, '/bin/sh');
  const binds: { from: string; at: string; dir: boolean }[] = imageHas ? [] : lendRuntime(target, req.runtime, runtimeDevice);
  const notes: string[] = [];
  const timeoutMs = req.timeoutMs ?? 30_000;
  const { dir, deviceTmp } = makeRunDir(req.deviceTmp);
  let communicator: Communicator | undefined;
  let ns: ReturnType<typeof spawn> | undefined;
  const madeNetns: string[] = [];
  const hostMade: string[] = [];
  try {
    // Thunder on the device holds every capability; this host may not (a container sandbox
    // without CAP_SYS_RESOURCE): a capability it lacks cannot be granted here (runc: "unable to
    // apply caps: operation not permitted"), so this start leaves it out, bound over the
    // bundle's config.json in the overlay only, and says so
    for (const n of req.netns ?? []) {
      if (!/^[A-Za-z0-9_.-]+$/.test(n) || !fs.existsSync(`/run/netns/${n}`)) failUsage('START_NETNS', `there is no network namespace /run/netns/${n} on this host`, 'make it first (ip netns add, or the image\'s S40thunderbox-net start)');
      binds.push({ from: `/run/netns/${n}`, at: path.relative(target, resolveInTarget(target, `/var/run/netns/${n}`)), dir: false });
    }
    for (const n of req.userns ?? []) {
      if (!/^[A-Za-z0-9_.-]+$/.test(n) || !fs.existsSync(`/run/thunderbox/userns/${n}`)) failUsage('START_USERNS', `there is no user namespace /run/thunderbox/userns/${n} on this host`, 'make it first (the image\'s S39thunderbox-userns script, start)');
      binds.push({ from: `/run/thunderbox/userns/${n}`, at: path.relative(target, resolveInTarget(target, `${USERNS_DIR}/${n}`)), dir: false });
    }
    // the namespaces the device's boot makes for the bundle (config.json names them by path)
    const boot = bootNamespaces(target, cfg.text, [...(req.netns ?? []).map((n) => `/var/run/netns/${n}`), ...(req.userns ?? []).map((n) => `${USERNS_DIR}/${n}`)]);
    if (emulated) {
      const sleepHost = hostProgram('sleep', ['/usr/bin', '/bin']) ?? fail('HOST_TOOL_MISSING', 'sleep is not installed on this build host', 'install coreutils');
      for (const b of boot.scripts) {
        // as BusyBox's rcS: /etc/init.d/S??* run as programs
        if ((b.mode & 0o111) === 0) {
          notes.push(`${b.device} is not executable: the device's rcS does not run it, and this start does not either`);
          continue;
        }
        const made = hostUserns(b, dir, rt.unshare, sleepHost);
        hostMade.push(made.user, ...(made.net ? [made.net] : []));
        if (b.userns) binds.push({ from: made.user, at: path.relative(target, resolveInTarget(target, b.userns)), dir: false });
        if (b.netns && made.net) binds.push({ from: made.net, at: path.relative(target, resolveInTarget(target, b.netns)), dir: false });
        notes.push(`${b.device}: qemu-user cannot make a user namespace (unshare fails with EINVAL in the emulator), so this host made it, with the script's maps${b.netns ? ', and the network namespace in it' : ''}; on the device the script does`);
      }
    }
    for (const n of boot.netns) {
      const name = `tbx-try-${process.pid}-${randomBytes(3).toString('hex')}`;
      execFileSync(ipTool(), ['netns', 'add', name], { stdio: 'ignore' });
      madeNetns.push(name);
      execFileSync(ipTool(), ['-n', name, 'link', 'set', 'dev', 'lo', 'up'], { stdio: 'ignore' });
      binds.push({ from: `/run/netns/${name}`, at: path.relative(target, resolveInTarget(target, n)), dir: false });
      notes.push(`${n}: the device's S40thunderbox-net makes this network namespace at boot, with its veths; this start joins an empty one (loopback only): try makes no network interfaces on this host`);
    }
    if (emulated && /"seccomp"\s*:/.test(cfg.text)) notes.push(`the image runs through qemu-user here: config.json's seccomp filter is for the container's architecture, and this kernel sees the emulator's ${process.arch === 'x64' ? 'x86_64' : process.arch} system calls, so the policy is not in force in this start (it is on the device)`);
    // crun 1.8.1's exec --env replaces process.env instead of adding to it (runc adds): the
    // fixed entries are not in a crun start (Thunder runs runc)
    const fixedEnv = fixedEnvOf(cfg.text);
    if (req.runtime === 'crun' && fixedEnv.length && thunderEnvArgs(cfg.text, req.env).length) notes.push(`crun 1.8.1's exec --env replaces config.json's process.env, so ${fixedEnv.join(', ')} ${fixedEnv.length > 1 ? 'are' : 'is'} not in this start; runc, which Thunder's runc backend runs, adds --env to them`);
    const lacking = capsBeyond(cfg.text, hostBoundingSet());
    if (lacking.config) {
      const adjusted = path.join(dir, 'config.json');
      fs.writeFileSync(adjusted, lacking.config);
      binds.push({ from: adjusted, at: path.relative(target, cfgFile), dir: false });
      notes.push(`this build host lacks ${lacking.names.join(', ')} itself, so this start leaves ${lacking.names.length > 1 ? 'them' : 'it'} out of the container's capabilities (the device's Thunder has ${lacking.names.length > 1 ? 'them' : 'it'})`);
    }
    const { dirs, mounts, tmp } = deviceMounts(target, rt, path.resolve(deviceTmp));
    if (req.communicator) communicator = await serveCommunicator(req.communicator, target, tmp, deviceTmp);
    // Thunder makes the backend's log directory <volatile>/<callsign>/<callsign>/ before create
    const volatile = (req.volatilepath ?? '/tmp').replace(/\/*$/, '');
    const logDevice = `${volatile}/${req.callsign}/${req.callsign}/runc.container.log`;
    const logRel = path.relative(tmp ?? '', inImage(target, logDevice).rel);
    const logHost = tmp !== null && !logRel.startsWith('..') ? path.join(deviceTmp, logRel) : null;
    if (logHost) fs.mkdirSync(path.dirname(logHost), { recursive: true });
    const sleep = hostProgram('sleep', ['/usr/bin', '/bin']) ?? fail('HOST_TOOL_MISSING', 'sleep is not installed on this build host', 'install coreutils');
    // process 1 of the device's root reaps orphans as the device's init does: runc's init and the
    // command it execs are reparented to it when runc exits, and a zombie there keeps runc's
    // delete --force polling for 10 s ("container init still running"; measured with a bare sleep)
    const placeholder = [HOST_MOUNT + rt.initStatic, '-n', 'thunderbox', '--', HOST_MOUNT + rt.loader, '--library-path', rt.libraryPath.map((d) => HOST_MOUNT + d).join(':'), HOST_MOUNT + sleep, 'infinity'];
    const script = renderTemplate('device-root.ejs', {
      header: `Generated by thunderbox for one start of an OCI bundle as Thunder's runc backend starts it; removed after it.`,
      run: dir, image: target, dirs, mounts, host: HOST_MOUNT, argv: placeholder, binds,
      hide: req.runtime === 'crun' ? [path.relative(target, resolveInTarget(target, '/sys')) + '/fs/cgroup/unified'] : [],
      ready: READY,
    });
    fs.writeFileSync(path.join(dir, 'start.sh'), script, { mode: 0o700 });
    const root = spawn(rt.setpriv, ['--pdeathsig', 'SIGKILL', rt.unshare, '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '/bin/sh', `${dir}/start.sh`], { env: {}, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    ns = root;
    const ready = await new Promise<boolean>((resolve) => {
      let seen = '';
      const t = setTimeout(() => resolve(false), 20_000);
      root.stdout!.on('data', (b: Buffer) => {
        seen += b.toString('utf8');
        if (seen.includes(READY)) {
          clearTimeout(t);
          resolve(true);
        }
      });
      root.on('close', () => {
        clearTimeout(t);
        resolve(false);
      });
    });
    if (!ready) {
      const stderr = readFileOrNull(path.join(dir, 'stderr'))?.toString('utf8') ?? '';
      fail('DEVICE_ROOT_FAILED', `building the device's root from ${target} failed: ${stderr.trim() || 'no reason given'}`, 'run as root on a kernel with overlayfs and mount namespaces');
    }
    const inner = fs.readFileSync(`/proc/${root.pid}/task/${root.pid}/children`, 'utf8').trim().split(/\s+/)[0];
    if (!inner) fail('DEVICE_ROOT_FAILED', 'the device root\'s namespace went away', 'run as root on a kernel with mount and pid namespaces');
    const envArgv = [HOST_MOUNT + rt.loader, '--library-path', rt.libraryPath.map((d) => HOST_MOUNT + d).join(':'), HOST_MOUNT + rt.env, '-i', ...Object.entries(req.env).map(([k, v]) => `${k}=${v}`)];
    const calls: OciCall[] = [];
    const slow: string[] = [];
    let output = '';
    const call = (args: string[], keepOutput: boolean, limit: number, until: 'exit' | 'close' = 'exit') =>
      new Promise<OciCall & { timedOut: boolean }>((resolve, reject) => {
        const argv = [runtimeDevice, '--log', logDevice, ...args];
        const t0 = Date.now();
        const c = spawn(rt.nsenter, ['-t', inner, '-m', '-p', '-r', '-w', '--', ...envArgv, ...argv], { env: {}, stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        let timedOut = false;
        const grab = (b: Buffer) => {
          if (!keepOutput) return;
          const s = b.toString('utf8');
          if (output.length < 1024 * 1024) output += s;
          req.onOutput?.(s);
        };
        c.stdout.on('data', grab);
        c.stderr.on('data', (b: Buffer) => {
          grab(b);
          if (stderr.length < 64 * 1024) stderr += b.toString('utf8');
        });
        // at the limit (or when stopped): the runtime call is killed and, for exec, the command
        // with every process of the container (kill --all): a detached command holds the
        // streams 'close' waits for as long as it lives
        const stop = () => {
          c.kill('SIGKILL');
          if (until === 'close') spawn(rt.nsenter, ['-t', inner, '-m', '-p', '-r', '-w', '--', ...envArgv, runtimeDevice, 'kill', '--all', req.callsign, 'KILL'], { env: {}, stdio: 'ignore' }).on('error', () => undefined);
        };
        const t = setTimeout(() => {
          timedOut = true;
          stop();
        }, limit);
        const onAbort = () => {
          clearTimeout(t);
          stop();
        };
        req.signal?.addEventListener('abort', onAbort, { once: true });
        c.on('close', () => req.signal?.removeEventListener('abort', onAbort));
        c.on('error', reject);
        // 'exit' for create and delete: the container's init keeps create's stdout and stderr
        // (Thunder's) open as long as it lives. 'close' for exec: the runtime exited and every
        // holder of its stdout and stderr (the detached command) closed them: the command ended
        c.on(until, (status: number | null) => {
          clearTimeout(t);
          const r = { argv, status, ms: Date.now() - t0, stderr, timedOut };
          calls.push({ argv, status, ms: r.ms, stderr });
          resolve(r);
        });
      });
    // the image's own boot scripts that make the user namespace (and a network namespace in it),
    // run as BusyBox's rcS runs /etc/init.d/S??*: `<script> start`
    for (const b of boot.scripts) {
      const want = (key: string) => {
        try {
          const m = (JSON.parse(cfg.text) as { linux?: Record<string, unknown> }).linux?.[key];
          return Array.isArray(m) ? (m as { containerID?: unknown; hostID?: unknown; size?: unknown }[]).map((x) => `${x?.containerID} ${x?.hostID} ${x?.size}`) : [];
        } catch {
          return [];
        }
      };
      if (b.maps && (b.maps.u.join(',') !== want('uidMappings').join(',') || b.maps.g.join(',') !== want('gidMappings').join(','))) {
        notes.push(`${b.device} writes the maps "${b.maps.u.join(', ')}" (uid), "${b.maps.g.join(', ')}" (gid), not config.json's: the container runs with the script's (thunderbox doctor: OCI_USERNS_MAP_DIFFERS)`);
      }
    }
    for (const script of emulated ? [] : boot.scripts) {
      const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        execFile(rt.nsenter, ['-t', inner, '-m', '-p', '-r', '-w', '--', ...envArgv.slice(0, envArgv.indexOf('-i') + 1), 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', script.device, 'start'], { env: {}, timeout: CALL_LIMIT_MS }, (err, _out, stderr) => resolve({ status: err ? ((err as { code?: unknown }).code as number | null) ?? 1 : 0, stderr: String(stderr) }));
      });
      if (r.status !== 0) notes.push(`${script.device} start failed (exit status ${r.status}): ${r.stderr.trim().replace(/\s+/g, ' ') || 'no reason given'}`);
    }
    // S40thunderbox-net brings loopback up in those at boot, and adds the veths, which a start
    // here does not make (they would be this host's)
    for (const n of boot.scripts.flatMap((b) => (b.netns ? [b.netns] : []))) {
      const file = `/proc/${inner}/root/${path.relative(target, resolveInTarget(target, n))}`;
      if (fs.existsSync(file)) spawnSync(rt.nsenter, [`--net=${file}`, ipTool(), 'link', 'set', 'dev', 'lo', 'up'], { stdio: 'ignore' });
      notes.push(`${n}: made by the image's boot script; the device's S40thunderbox-net gives it its veths at boot, which try does not make on this host (loopback only)`);
    }
    if (req.signal?.aborted) throw req.signal.reason;
    const create = await call(['create', '--no-new-keyring', '--bundle', req.bundle, req.callsign], true, CALL_LIMIT_MS);
    if (create.ms > THUNDER_RUNC_TIMEOUT_MS) slow.push(`create took ${create.ms} ms`);
    let started = false;
    let error: string | undefined;
    let timedOut = false;
    if (create.status !== 0) {
      error = `${req.runtime} create failed (${create.timedOut ? 'timed out' : `exit status ${create.status}`}): ${lastError(create.stderr, readFileOrNull(logHost ?? '')?.toString('utf8') ?? '')}`;
    } else {
      const envs = thunderEnvArgs(cfg.text, req.env);
      const exec = await call(['exec', '--detach', ...envs, req.callsign, ...req.command], true, timeoutMs, 'close');
      timedOut = exec.timedOut;
      started = exec.status === 0 || (exec.timedOut && exec.ms > 0 && !/exec failed|error/i.test(exec.stderr));
      if (!started) error = `${req.runtime} exec failed (exit status ${exec.status}): ${lastError(exec.stderr, readFileOrNull(logHost ?? '')?.toString('utf8') ?? '')}`;
      if (exec.timedOut) error = `stopped after ${timeoutMs / 1000} s, the command had not ended`;
    }
    // stopped: the container still goes (delete), then the start says why it ended
    const del = await call(['delete', '--force', req.callsign], false, CALL_LIMIT_MS);
    if (req.signal?.aborted) throw req.signal.reason;
    if (del.ms > THUNDER_RUNC_TIMEOUT_MS) slow.push(`delete took ${del.ms} ms`);
    const log = readFileOrNull(logHost ?? '')?.toString('utf8') ?? '';
    if (communicator) await communicator.close();
    return { started, notes, output, log, logPath: logDevice, runtimeSource: imageHas ? 'image' : 'lent', runtimePath: imageHas ? runtimeDevice : binds[0]!.from, calls, error, timedOut, slow, communicator: communicator?.result };
  } finally {
    if (ns && ns.exitCode === null) {
      ns.kill('SIGKILL');
      await new Promise<void>((resolve) => (ns!.exitCode !== null || ns!.signalCode !== null ? resolve() : ns!.once('close', () => resolve())));
    }
    if (communicator) {
      await communicator.close();
      fs.rmSync(communicator.file, { force: true });
    }
    for (const f of hostMade) spawnSync('umount', [f], { stdio: 'ignore' });
    removeTree(dir);
    for (const n of madeNetns) spawnSync(ipTool(), ['netns', 'del', n], { stdio: 'ignore' });
    await removeCgroups(cgroupsPathOf(cfg.text));
  }
}

/**
 * What the device's boot makes for a bundle's namespaces given by path: the image's
 * S39thunderbox-userns scripts that name one (run with start in the device's root), and the
 * named network namespaces none of those makes (S40thunderbox-net's `ip netns add`: an empty
 * one stands in). Paths in `bound` are provided already.
 */
export function bootNamespaces(target: string, configText: string, bound: string[]): { scripts: BootScript[]; netns: string[] } {
  const scripts = new Set<BootScript>();
  const netns: string[] = [];
  const all = imageUsernsScripts(target);
  let texts: { host: string; text: string }[] | undefined;
  for (const p of namespacePaths(configText).filter((x) => !bound.includes(x.path))) {
    const by = all.find((x) => x.userns === p.path || x.netns === p.path);
    if (by) scripts.add(by);
    // stood in for only when a boot script makes it (as the doctor reads them): else runc's
    // create fails here as on the device
    else if (p.type === 'network' && /^\/var\/run\/netns\/[A-Za-z0-9_.-]+$/.test(p.path) && bootMakesNetns((texts ??= bootScriptTexts(target)), path.posix.basename(p.path))) netns.push(p.path);
  }
  return { scripts: [...scripts], netns };
}

/**
 * What a boot script makes, made by this host instead (for an image whose programs run through
 * qemu-user, which cannot make a user namespace: unshare fails with EINVAL in the emulator's
 * threads): a user namespace with the script's maps (and a network namespace in it), kept by
 * bind mounts on files in dir.
 */
function hostUserns(s: BootScript, dir: string, unshare: string, sleep: string): { user: string; net: string | null } {
  if (!s.maps) fail('BOOT_SCRIPT_UNREADABLE', `${s.device}: the maps it writes cannot be read from it`, 'prepare the container again (it writes the script)');
  const tag = randomBytes(3).toString('hex');
  const user = path.join(dir, `userns-${tag}`);
  const net = s.netns ? path.join(dir, `netns-${tag}`) : null;
  const child = spawn(unshare, ['--user', ...(net ? ['--net'] : []), sleep, '30'], { stdio: 'ignore' });
  try {
    const self = fs.readlinkSync('/proc/self/ns/user');
    for (let i = 0; ; i++) {
      let now: string | null = null;
      try {
        now = fs.readlinkSync(`/proc/${child.pid}/ns/user`);
      } catch {
        // not there yet
      }
      if (now !== null && now !== self) break;
      if (i > 2000) fail('BOOT_USERNS_FAILED', `${s.device}: unshare --user made no user namespace on this host`, 'run as root on a kernel with user namespaces');
      execFileSync(sleep, ['0.005']);
    }
    fs.writeFileSync(`/proc/${child.pid}/uid_map`, s.maps.u.map((l) => `${l}\n`).join(''));
    fs.writeFileSync(`/proc/${child.pid}/gid_map`, s.maps.g.map((l) => `${l}\n`).join(''));
    fs.writeFileSync(user, '');
    execFileSync('mount', ['--bind', `/proc/${child.pid}/ns/user`, user], { stdio: 'pipe' });
    if (net) {
      fs.writeFileSync(net, '');
      execFileSync('mount', ['--bind', `/proc/${child.pid}/ns/net`, net], { stdio: 'pipe' });
    }
  } finally {
    child.kill('SIGKILL');
  }
  return { user, net };
}

function ipTool(): string {
  return hostProgram('ip', ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) ?? fail('HOST_TOOL_MISSING', 'ip is not installed on this build host; a bundle joining a named network namespace needs it here', 'install iproute2');
}

function cgroupsPathOf(text: string): string | null {
  try {
    const p = (JSON.parse(text) as { linux?: { cgroupsPath?: unknown } }).linux?.cgroupsPath;
    return typeof p === 'string' && /^\/[A-Za-z0-9_./-]+$/.test(p) && !p.includes('..') ? p : null;
  } catch {
    return null;
  }
}

/**
 * The container's cgroup, once everything in it is gone: delete --force removes it, but a
 * process still exiting then keeps it busy (measured: runc 1.1.5 leaves the directory behind now
 * and then on a loaded host). Only empty directories go (rmdir); a few tries.
 */
async function removeCgroups(p: string | null): Promise<void> {
  if (p === null) return;
  let roots: string[];
  try {
    roots = fs.readdirSync('/sys/fs/cgroup').map((n) => path.join('/sys/fs/cgroup', n));
  } catch {
    return;
  }
  const dirs = [...roots, '/sys/fs/cgroup'].map((r) => path.join(r, p));
  for (let tries = 0; dirs.length && tries < 20; tries++) {
    if (tries) await new Promise((r) => setTimeout(r, 100));
    for (let i = dirs.length - 1; i >= 0; i--) {
      try {
        fs.rmdirSync(dirs[i]!);
        dirs.splice(i, 1);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') dirs.splice(i, 1);
      }
    }
  }
}

/** The capabilities of this process's bounding set, by number (CapBnd of /proc/self/status). */
export function hostBoundingSet(): bigint {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : ~0n;
}

/** config.json without the capabilities outside `have`, when it names any (else config null). */
export function capsBeyond(text: string, have: bigint): { names: string[]; config: string | null } {
  let cfg: { process?: { capabilities?: Record<string, unknown> } };
  try {
    cfg = JSON.parse(text) as typeof cfg;
  } catch {
    return { names: [], config: null };
  }
  const caps = cfg.process?.capabilities;
  if (!caps || typeof caps !== 'object') return { names: [], config: null };
  const names = new Set<string>();
  for (const [set, list] of Object.entries(caps)) {
    if (!Array.isArray(list)) continue;
    caps[set] = list.filter((n) => {
      const i = typeof n === 'string' ? ALL_CAPABILITIES.indexOf(n.replace(/^CAP_/, '').toLowerCase() as (typeof ALL_CAPABILITIES)[number]) : -1;
      if (i < 0 || (have >> BigInt(i)) & 1n) return true;
      names.add(n as string);
      return false;
    });
  }
  return names.size ? { names: [...names].sort(), config: `${JSON.stringify(cfg, null, 2)}\n` } : { names: [], config: null };
}

/** The runtime's error: the error lines of its JSON log (runc), else its stderr lines (crun writes plain text). */
function lastError(stderr: string, log: string): string {
  const fromLog = log
    .split('\n')
    .map((l) => {
      try {
        return JSON.parse(l) as { level?: string; msg?: string };
      } catch {
        return null;
      }
    })
    .filter((x) => x?.level === 'error' && x.msg)
    .map((x) => x!.msg!);
  const lines = [...new Set(stderr.split('\n').map((l) => l.trim()).filter(Boolean))];
  const text = fromLog.length ? fromLog.at(-1)! : lines.length ? lines.join('; ') : 'no reason given';
  return text.replace(/\s+/g, ' ');
}
