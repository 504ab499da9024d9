import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { Interrupted, fail, failUsage } from '../core/errors.js';
import { readFileOrNull, removeTree } from '../core/fsutil.js';
import { resolveInTarget, resolveInTargetOrNull } from '../core/target-path.js';
import { renderTemplate } from '../core/template.js';
import { elfIdent } from '../rootfs/elf.js';
import { parseThunderMode } from '../thunder/device.js';
import { archOf } from './arch.js';
import { ensureBinfmt } from './binfmt.js';
import { HOST_MOUNT, lentArgv, lentRuntime, type LentRuntime } from './lent-runtime.js';
import { withStartLock } from './start-lock.js';
import { readVerdict } from './start-verdict.js';

// A start of an LXC container exactly as Thunder's LXC backend starts it on the device:
// lxc_container_new(name, lxcpath), then start(c, 0, argv), so the command is the container's
// init, looked up by liblxc in the PATH of the launcher's environment. Here that is
//   lxc-start -n <name> -P <lxcpath> -F -l DEBUG -o <log> -- <command...>
// in a private mount namespace whose root is the image (templates/device-root.ejs builds it:
// an overlay over the image, pivot_root, not chroot: liblxc cannot create a user namespace
// inside a chroot). Every lxc.include, hook, seccomp profile, /etc/subuid, newuidmap, shell and
// /etc/lxc/lxc.conf is then the image's; this host lends only lxc-start with its libraries
// (through its own loader, see lent-runtime.ts) and the kernel (binfmt_misc for a foreign
// image, whose F flag makes qemu-user work in any mount namespace).
//
// Measured with liblxc 5.0.2 (Debian 12) and kept here because the code depends on it:
// - lxc-start -F with no terminal gives the container's console to nobody (the command's output
//   is lost, as under Thunder): lxc-start runs under `script`, whose terminal liblxc then takes
//   as the console's peer; the console's lines arrive with "\r\r\n", turned back into "\n".
//   lxc-start's own stderr goes to a file, so the output is the console alone.
// - lxc-start -F exits 0 when init exited 3, and when init could not load libc: whether the
//   command ran and how it ended is read from the log (start-verdict.ts).
// - A failed lxc.hook.pre-start (exit 1, no x bit: 126, a missing interpreter: 127) stops the
//   start: `Script exited with status N` then `Failed to run lxc.hook.pre-start`.
// - lxc.environment = NAME with NAME not in the environment: `Failed to parse config file ...
//   at line "lxc.environment = NAME"`, nothing starts.
// - The image's newuidmap is used only when it is setuid root or has file capabilities
//   (liblxc: "newuidmap is lacking necessary privileges", then it writes the map itself as root).
// - A second start of the same lxcpath and name while one runs, from any mount namespace:
//   "Container is already running" (start-lock.ts serialises them).
// - An unprivileged container whose mapped root cannot traverse the container dir (0700):
//   `Permission denied - Failed to open "<rootfs>"`: kept, it fails the same on the device.

export interface DeviceStartRequest {
  /** image root on this host (Buildroot TARGET_DIR): the device's "/" */
  target: string;
  /** DEVICE path of the lxcpath (e.g. /usr/share/Thunder/OCDM); the container is <lxcpath>/<name> */
  lxcpath: string;
  /** container name; Thunder always uses 'Container' */
  name: string;
  /** argv of init; argv[0] may be a bare name (ThunderPlugin), resolved by liblxc in the container's PATH */
  command: string[];
  /** the launcher's (Thunder's) whole environment, nothing else */
  env: Record<string, string>;
  /** host directory that serves as the device's /tmp (default: a fresh 1777 directory, removed after) */
  deviceTmp?: string;
  /** stop the container and report timedOut after this (default 30 s) */
  timeoutMs?: number;
  /** liblxc log level: TRACE, DEBUG (default) or INFO; the verdict needs INFO's lines */
  logLevel?: string;
  /**
   * Serve Thunder's COM-RPC socket as Thunder does: a unix socket made by this (root) process
   * before the start. true: Thunder's default "/tmp/communicator|0777"; a string: the value of
   * Thunder's `communicator` setting, "<device path under /tmp>[|<mode>]" (without a mode
   * the socket keeps the mode the umask gives, as Thunder's does). Whatever a client sends is
   * echoed back to it.
   */
  communicator?: boolean | string;
  /** SIGINT/SIGTERM: the container is stopped, everything cleaned up, then the reason is thrown */
  signal?: AbortSignal;
  /** the console's output as it arrives ("\n" line ends) */
  onOutput?: (text: string) => void;
  /**
   * A named network namespace (/run/netns/<name>, `ip netns add`) the start runs in, so that
   * the NICs liblxc makes (veth, its host side on a bridge) never touch this host's network:
   * tests give the bridges the device would have there. Default: this host's namespace.
   */
  netns?: string;
}

export interface CommunicatorResult {
  /** a process connected to the socket */
  connected: boolean;
  /** what it sent (echoed back) */
  bytes?: string;
  /** the socket on the device and its mode */
  path: string;
  mode: number;
}

export interface DeviceStartResult {
  /** true ONLY when the command really ran */
  started: boolean;
  /** the command's exit status when it ran and ended (128+N for signal N) */
  exitCode: number | null;
  /** what the command wrote (the container's console) */
  output: string;
  lxcLog: string;
  /** liblxc's first specific error line when it did not start */
  error?: string;
  timedOut: boolean;
  communicator?: CommunicatorResult;
}

const LEVELS = ['TRACE', 'DEBUG', 'INFO'];
const OUTPUT_LIMIT = 8 * 1024 * 1024;
/** after lxc-stop -k, how long the container gets to go before its namespace is killed */
const STOP_GRACE_MS = 3000;

export async function startOnDevice(req: DeviceStartRequest): Promise<DeviceStartResult> {
  const level = (req.logLevel ?? 'DEBUG').toUpperCase();
  if (!LEVELS.includes(level)) failUsage('START_LOG_LEVEL', `log level ${req.logLevel} hides the lines that say whether the command ran`, `use one of ${LEVELS.join(', ')}`);
  if (!req.lxcpath.startsWith('/')) failUsage('START_LXCPATH', `the lxcpath ${req.lxcpath} is not an absolute device path`, 'give it as the device sees it, e.g. /usr/share/Thunder/OCDM');
  if (req.name === '' || req.name.includes('/')) failUsage('START_NAME', `${JSON.stringify(req.name)} is not a container name`, "Thunder's containers are named Container");
  if (req.command.length === 0) failUsage('START_COMMAND', 'no command to start', 'give the command, e.g. ThunderPlugin');
  if (req.netns !== undefined && !/^[A-Za-z0-9_.-]+$/.test(req.netns)) failUsage('START_NETNS', `${JSON.stringify(req.netns)} is not a network namespace name`, 'give the name ip netns add made');
  for (const [k, v] of Object.entries(req.env)) {
    if (!/^[^=\0]+$/.test(k) || v.includes('\0')) failUsage('START_ENV', `${JSON.stringify(k)} cannot be an environment variable`, 'names have no = and no NUL');
  }
  const target = path.resolve(req.target);
  if (!fs.statSync(target, { throwIfNoEntry: false })?.isDirectory()) fail('TARGET_MISSING', `the image root ${target} is not a directory`, 'give --target the image root (Buildroot TARGET_DIR)');
  const config = resolveInTarget(target, path.posix.join(req.lxcpath, req.name, 'config'));
  if (!fs.existsSync(config)) fail('CONTAINER_MISSING', `the image has no container ${req.lxcpath}/${req.name} (${config} does not exist)`, 'prepare it first (thunderbox prepare)');
  if (process.getuid?.() !== 0) fail('START_NEEDS_ROOT', 'a start as on the device needs root: it makes mount namespaces, an overlay and pivot_root, and liblxc starts the container as root, as Thunder does', 'run it as root (sudo)');
  const rt = lentRuntime();
  imageBinfmt(target);
  const timeoutMs = req.timeoutMs ?? 30_000;
  return withStartLock(req.lxcpath, req.name, timeoutMs + 30_000, () => run(req, target, rt, level, timeoutMs));
}

/** The image's own programs (hooks, newuidmap, its shell) run here too: a foreign image needs qemu-user. */
/** Make binfmt_misc run the image's programs (hooks, newuidmap, a runtime) when their architecture is not this host's: told by devicePath's ELF header. */
/** Makes sure the image's programs run here; true when they run through qemu-user (binfmt_misc). */
export function imageBinfmt(target: string, devicePath = '/bin/sh'): boolean {
  const sh = resolveInTargetOrNull(target, devicePath);
  const head = Buffer.alloc(64);
  let fd: number;
  try {
    // an image without a shell runs none of its own programs here: nothing to lend for it
    if (sh === null || !fs.statSync(sh).isFile()) return false;
    fd = fs.openSync(sh, 'r');
  } catch {
    return false;
  }
  try {
    fs.readSync(fd, head, 0, 64, 0);
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
  const id = elfIdent(head);
  const arch = id ? archOf(id) : null;
  return arch ? ensureBinfmt(arch.name) !== null : false;
}

/** A device path resolved inside the image, as a path relative to the image root ('' = the root). */
export function inImage(target: string, devicePath: string): { rel: string; stat: fs.Stats | undefined } {
  const host = resolveInTarget(target, devicePath);
  return { rel: path.relative(target, host), stat: fs.statSync(host, { throwIfNoEntry: false }) };
}

export interface Mount {
  type: 'proc' | 'tmpfs' | 'bind' | 'rbind';
  at: string;
  from?: string;
}

/** What the device's root gets beside the image: the kernel's file systems and the device's /tmp. */
export function deviceMounts(target: string, rt: LentRuntime, deviceTmp: string): { dirs: string[]; mounts: Mount[]; tmp: string | null } {
  const dirs: string[] = [];
  const mounts: Mount[] = [];
  for (const [p, type, from] of [['/proc', 'proc'], ['/sys', 'rbind', '/sys'], ['/dev', 'rbind', '/dev']] as const) {
    const r = inImage(target, p);
    if (r.stat && !r.stat.isDirectory()) continue; // the device's kernel could not mount there either
    if (!r.stat) dirs.push(r.rel);
    mounts.push({ type, at: r.rel, from });
  }
  // the device's init mounts a tmpfs on /run (Buildroot's fstab); an image without /run gets none
  const runDir = inImage(target, '/run');
  if (runDir.stat?.isDirectory()) mounts.push({ type: 'tmpfs', at: runDir.rel });
  // the device's /tmp is the image's /tmp, wherever its symlinks lead; an image without one has none
  const tmp = inImage(target, '/tmp');
  const hasTmp = tmp.stat?.isDirectory() === true;
  if (hasTmp) mounts.push({ type: 'bind', at: tmp.rel, from: deviceTmp });
  dirs.push(inImage(target, rt.rootfsMount).rel, HOST_MOUNT.slice(1));
  return { dirs, mounts, tmp: hasTmp ? tmp.rel : null };
}

export interface Communicator {
  result: CommunicatorResult;
  close: () => Promise<void>;
  file: string;
}

/** Listen where Thunder listens: a socket made by root in the device's /tmp, chmod'ed to its mode. */
export async function serveCommunicator(spec: true | string, target: string, tmpRel: string | null, deviceTmp: string): Promise<Communicator> {
  const value = spec === true ? '/tmp/communicator|0777' : spec;
  const [devicePath, modeText] = value.split('|') as [string, string | undefined];
  // Thunder's number parser: 0777 octal, 0x1ff hex, 511 decimal (thunder/device.ts)
  const mode = modeText === undefined ? null : parseThunderMode(modeText);
  if (modeText !== undefined && (mode === null || mode > 0o7777)) failUsage('COMMUNICATOR_MODE', `the communicator's mode ${modeText} is not a file mode`, 'write it as Thunder does: /tmp/communicator|0777');
  if (tmpRel === null) fail('COMMUNICATOR_NO_TMP', `the image has no /tmp, so there is no ${devicePath} to listen on`, 'give the image a /tmp directory (Buildroot\'s skeleton has one)');
  const rel = path.relative(tmpRel, inImage(target, devicePath).rel);
  if (!devicePath.startsWith('/') || rel === '' || rel.startsWith('..')) failUsage('COMMUNICATOR_PATH', `the communicator ${devicePath} is not in the device's /tmp`, 'use a path under /tmp, the directory the container binds (lxc.mount.entry = /tmp tmp ...)');
  const file = path.join(deviceTmp, rel);
  fs.rmSync(file, { force: true });
  const result: CommunicatorResult = { connected: false, path: devicePath, mode: 0 };
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    result.connected = true;
    sockets.add(s);
    s.on('data', (b) => {
      chunks.push(b);
      s.write(b);
    });
    s.on('end', () => s.end());
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => resolve());
  });
  if (mode !== null) fs.chmodSync(file, mode);
  result.mode = fs.statSync(file).mode & 0o7777;
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
      if (chunks.length) result.bytes = Buffer.concat(chunks).toString('utf8');
    }));
  return { result, file, close };
}

/**
 * A start's run directory (after the stale ones of killed runs are gone): the owner's pid, the
 * overlay's mount points, and the device's /tmp unless one is given. The device's /tmp lives in
 * the run directory: the container reaches it through the bind mount, whose source path it
 * never walks (so 0700 above it is fine). The LXC and the OCI start share it.
 */
export function makeRunDir(givenTmp: string | undefined): { dir: string; deviceTmp: string } {
  const tmpRoot = os.tmpdir();
  if (!/^[A-Za-z0-9_./-]+$/.test(tmpRoot)) fail('TMPDIR_UNUSABLE', `the temporary directory ${tmpRoot} has characters overlayfs options cannot carry`, 'set TMPDIR to a plain path such as /tmp');
  removeStaleRuns(tmpRoot);
  const dir = fs.mkdtempSync(path.join(tmpRoot, RUN_PREFIX));
  const deviceTmp = givenTmp ?? path.join(dir, 'tmp');
  try {
    fs.writeFileSync(path.join(dir, OWNER), `${process.pid}\n`);
    if (givenTmp === undefined) {
      fs.mkdirSync(deviceTmp);
      fs.chmodSync(deviceTmp, 0o1777);
    }
    for (const d of ['layers', 'lower', 'root']) fs.mkdirSync(path.join(dir, d));
  } catch (err) {
    removeTree(dir);
    throw err;
  }
  return { dir, deviceTmp };
}

async function run(req: DeviceStartRequest, target: string, rt: LentRuntime, level: string, timeoutMs: number): Promise<DeviceStartResult> {
  // the run directory holds the script, the log, and empty mount points on this side; the
  // mounts themselves exist only in the namespace and go with it
  const { dir, deviceTmp } = makeRunDir(req.deviceTmp);
  let communicator: Communicator | undefined;
  try {
    const { dirs, mounts, tmp } = deviceMounts(target, rt, path.resolve(deviceTmp));
    if (req.communicator) communicator = await serveCommunicator(req.communicator, target, tmp, deviceTmp);
    const log = path.join(dir, 'lxc.log');
    const lxcStart = lentArgv(rt, rt.lxcStart, ['-n', req.name, '-P', req.lxcpath, '-F', '-l', level, '-o', HOST_MOUNT + log, '--', ...req.command]);
    const argv = withEnv(rt, req.env, lxcStart);
    const script = renderTemplate('device-root.ejs', { header: 'Generated by thunderbox for one device-faithful start; removed after it.', run: dir, image: target, dirs, mounts, host: HOST_MOUNT, argv });
    fs.writeFileSync(path.join(dir, 'start.sh'), script, { mode: 0o700 });
    const r = await launch(req, rt, dir, timeoutMs);
    const lxcLog = readFileOrNull(log)?.toString('utf8') ?? '';
    const stderr = readFileOrNull(path.join(dir, 'stderr'))?.toString('utf8') ?? '';
    if (lxcLog === '' && !r.stopped && !/lxc-start|lxc_container/.test(stderr)) {
      fail('DEVICE_ROOT_FAILED', `building the device's root from ${target} failed: ${(stderr || r.stderr).trim() || `exit status ${r.status}`}`, 'run as root on a kernel with overlayfs and mount namespaces');
    }
    const v = readVerdict(lxcLog, r.output, { stderr, stopped: r.stopped });
    if (!v.started && r.timedOut) v.error = `stopped after ${timeoutMs / 1000} s, before the command ran${v.error ? ` (${v.error})` : ''}`;
    if (r.interrupted) throw req.signal?.reason instanceof Interrupted ? req.signal.reason : new Interrupted('SIGINT');
    if (communicator) await communicator.close();
    return { started: v.started, exitCode: v.exitCode, output: r.output, lxcLog, error: v.error, timedOut: r.timedOut, communicator: communicator?.result };
  } finally {
    if (communicator) {
      await communicator.close();
      fs.rmSync(communicator.file, { force: true });
    }
    removeTree(dir);
  }
}

/** env -i (the host's, through the host's loader) then exactly the launcher's environment */
function withEnv(rt: LentRuntime, env: Record<string, string>, argv: string[]): string[] {
  return lentArgv(rt, rt.env, ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv]);
}

/** iproute2's ip, for starts in a named network namespace. */
function ipTool(): string {
  const ip = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => fs.existsSync(p));
  if (!ip) fail('START_NETNS_IP', 'a start in a network namespace needs iproute2\'s ip, which is not installed', 'install iproute2');
  return ip;
}

export const RUN_PREFIX = 'thunderbox-device-';
export const OWNER = 'owner';

/**
 * Run directories of starts whose thunderbox was killed (SIGKILL: the namespace died with it,
 * setpriv --pdeathsig, but the directory stayed). Only those whose owner is gone; one without
 * an owner file yet is a start between its mkdtemp and its first write, if it is young.
 */
export function removeStaleRuns(tmpRoot: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(tmpRoot).filter((n) => n.startsWith(RUN_PREFIX));
  } catch {
    return;
  }
  for (const n of names) {
    const dir = path.join(tmpRoot, n);
    const owner = Number.parseInt(readFileOrNull(path.join(dir, OWNER))?.toString('utf8') ?? '', 10);
    const st = fs.statSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory() || st.uid !== process.getuid?.()) continue;
    const stale = Number.isInteger(owner) ? owner !== process.pid && !alive(owner) : Date.now() - st.mtimeMs > 60_000;
    if (stale) removeTree(dir);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

interface Launched {
  output: string;
  /** what setpriv, unshare or script said (the script's own errors go to its file) */
  stderr: string;
  status: number | null;
  /** we stopped it: timeout or signal */
  stopped: boolean;
  timedOut: boolean;
  interrupted: boolean;
}

/**
 * setpriv execs unshare (same pid), which makes the mount and pid namespaces; script (pid 1
 * there) gives lxc-start a terminal;
 * the rendered script builds the root and execs lxc-start. --kill-child: when unshare dies, its
 * child, the pid namespace's init, is killed, and with it every process in the namespace, so
 * the mounts go too.
 */
function launch(req: DeviceStartRequest, rt: LentRuntime, dir: string, timeoutMs: number): Promise<Launched> {
  return new Promise((resolve, reject) => {
    // its own process group (detached): a terminal's ^C reaches thunderbox alone, which stops
    // the container with lxc-stop; setpriv --pdeathsig: if thunderbox itself is killed, unshare
    // gets SIGKILL and --kill-child takes the namespace with it
    const argv = [rt.setpriv, '--pdeathsig', 'SIGKILL', rt.unshare, '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', rt.script, '-q', '-e', '-c', `exec /bin/sh ${dir}/start.sh`, '/dev/null'];
    // ip netns exec execs setpriv in the namespace (same pid) with a /sys of that namespace
    // (liblxc finds bridges in /sys/class/net, which shows the namespace that mounted it)
    if (req.netns !== undefined) argv.unshift(ipTool(), 'netns', 'exec', req.netns);
    const child = spawn(argv[0]!, argv.slice(1), {
      env: {},
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    let pendingCr = '';
    let size = 0;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      // the console's "\r\r\n" (two terminals' onlcr) back to "\n"; a "\r" at a chunk's end waits
      let text = (pendingCr + s).replace(/\r+\n/g, '\n');
      const m = /\r+$/.exec(text);
      pendingCr = m ? m[0] : '';
      if (m) text = text.slice(0, -m[0].length);
      if (size < OUTPUT_LIMIT) {
        output += text;
        req.onOutput?.(text);
      }
      size += text.length;
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (t: string) => {
      if (stderr.length < 64 * 1024) stderr += t;
    });
    let stopped = false;
    let timedOut = false;
    let interrupted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      // lxc-stop -k in the namespace: liblxc kills init and removes its cgroups itself. It
      // loads the config too, so it needs the names lxc.environment inherits (measured)
      const argv = withEnv(rt, req.env, lentArgv(rt, rt.lxcStop, ['-n', req.name, '-P', req.lxcpath, '-k']));
      execFile(rt.nsenter, ['-t', String(child.pid), '-m', '-r', ...(req.netns !== undefined ? ['-n'] : []), ...argv], { env: {}, timeout: STOP_GRACE_MS }, () => undefined);
      killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    const onAbort = () => {
      interrupted = true;
      stop();
    };
    if (req.signal?.aborted) onAbort();
    req.signal?.addEventListener('abort', onAbort);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      req.signal?.removeEventListener('abort', onAbort);
      if (size > OUTPUT_LIMIT) output += `\n[thunderbox: ${size - OUTPUT_LIMIT} more characters of output not kept]\n`;
      resolve({ output: output + pendingCr, stderr, status, stopped, timedOut, interrupted });
    });
  });
}
