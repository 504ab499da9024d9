import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Diagnostic } from '../core/diagnostic.js';
import { errnoCode, fail } from '../core/errors.js';
import { readFileOrNull, removeTree, writeFileAtomic } from '../core/fsutil.js';
import { resolveInTarget } from '../core/target-path.js';
import { containerMissingHint, containerMissingMessage, readStamp } from '../thunder/layout.js';
import { archNameOfLxcArch } from './arch.js';
import { ensureBinfmt } from './binfmt.js';
import { deviceModel } from '../thunder/device.js';
import { fstabEscape, fstabUnescape } from './mount-entry.js';
import { entries, parseConfig, renderConfig, setLineValue, values, type ConfigDocument } from './document.js';
import { parseIdmapValue, toHost, type IdMapLine } from './idmap.js';
import { missingRanges, neededRanges, subidFile, withRanges, type SubidRange } from './subids.js';

// `thunderbox try`: start a prepared container on this build host with the real lxc-execute.
// The config is the device's, with two rewrites in a temporary copy: lxc.rootfs.path points
// at the tree where it lies here, and an lxc.include of the device's LXC config dir uses the
// image's own copy when the image has one (else the host's). Idmap, mounts, environment and
// network stay as they are, so what starts here starts on the device.

export interface TryRequest {
  target: string;
  /** --datapath; default: the image's Thunder config. */
  datapath?: string;
  callsign: string;
  classname?: string;
  command: string[];
  /** Capture output instead of passing it through (for --json). */
  capture: boolean;
  keep: boolean;
  /** Stop the container after this long (default 30 s): exit 124. */
  timeoutMs?: number;
  /** Add missing /etc/subuid and /etc/subgid lines on this host. */
  fixHostSubids: boolean;
  /**
   * Start with lxc-start (the command is the container's init, as Thunder's LXC backend runs
   * it) instead of lxc-execute (lxc-init runs the command).
   */
  start?: boolean;
}

export interface TryResult {
  /** false when liblxc failed to start the container (the command never ran). */
  started: boolean;
  /** Stopped after the timeout. */
  timedOut?: boolean;
  exitCode: number;
  command: string[];
  config: string;
  notes: Diagnostic[];
  stdout?: string;
  stderr?: string;
  lxcLog?: string;
}

const BIN_DIRS = ['usr/bin', 'bin', 'usr/sbin', 'sbin', 'usr/local/bin'];

export const THUNDER_HOSTS = ['ThunderPlugin', 'WPEProcess'];

export function findOnPath(rootfs: string, name: string): string | null {
  for (const d of BIN_DIRS) {
    // resolved inside the rootfs: bin -> /usr/bin is the rootfs's /usr/bin, not this host's
    if (fs.lstatSync(resolveInTarget(rootfs, `/${d}/${name}`), { throwIfNoEntry: false })) return `/${d}/${name}`;
  }
  return null;
}

/**
 * With newuidmap installed, liblxc maps through it even as root, and /etc/subuid and
 * /etc/subgid must give the running user every mapped host range (shared ids included).
 * Missing lines are an error naming them, or are added with `fix`.
 */
function checkSubids(map: IdMapLine[], fix: boolean, notes: Diagnostic[]): void {
  if (map.length === 0 || !['/usr/bin/newuidmap', '/usr/bin/newgidmap'].some((t) => fs.existsSync(t))) return;
  const user = os.userInfo().username;
  const users = [user, String(process.getuid?.())];
  const todo: { file: string; text: string; missing: SubidRange[] }[] = [];
  for (const kind of ['u', 'g'] as const) {
    const file = subidFile(kind);
    const text = readFileOrNull(file)?.toString('utf8') ?? '';
    const myId = kind === 'u' ? process.getuid?.() : process.getgid?.();
    // mapping only the caller's own id, with range 1, needs no subordinate ids
    const ranges = neededRanges([map], kind).filter((r) => !(r.count === 1 && r.start === myId));
    const missing = missingRanges(text, users, ranges);
    if (missing.length) todo.push({ file, text, missing });
  }
  if (todo.length === 0) return;
  const lines = todo.flatMap((t) => t.missing.map((r) => `${t.file}: ${user}:${r.start}:${r.count}`));
  if (!fix) {
    fail('SUBID_MISSING', `newuidmap/newgidmap are installed, so liblxc needs these ranges for ${user}, and they are missing: ${lines.join('; ')}`, 'add them (thunderbox try --fix-host-subids does), then try again');
  }
  for (const t of todo) {
    try {
      writeFileAtomic(t.file, withRanges(t.text, user, t.missing), { mode: 0o644, uid: 0, gid: 0 });
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw err;
      fail('SUBID_FIX_DENIED', `cannot add ${lines.join('; ')}: ${code} writing ${t.file} as ${user}`, 'run it as root (sudo thunderbox try --host --fix-host-subids ...), or add the lines by hand', { file: t.file });
    }
  }
  notes.push({ code: 'SUBIDS_ADDED', severity: 'note', message: `added to this host: ${lines.join('; ')}` });
}

/** liblxc needs the mapped root to traverse every directory above the rootfs. */
function checkReachable(rootfs: string, idmap: IdMapLine[]): void {
  const uid = toHost(idmap, 'u', 0);
  const gid = toHost(idmap, 'g', 0);
  for (let d = path.dirname(rootfs); ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    const x = st.uid === uid ? st.mode & 0o100 : st.gid === gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!x) {
      fail('ROOTFS_UNREACHABLE', `the container's root (host uid ${uid}) cannot enter ${d} (mode ${(st.mode & 0o7777).toString(8)}), which lies above the rootfs`, `chmod o+x ${d} (liblxc starts the container as the mapped user)`);
    }
    if (d === path.dirname(d)) break;
  }
}

/** A foreign container runs through qemu-user: its architecture from the stamp prepare wrote, else lxc.arch. */
export function containerBinfmt(dir: string, doc: ConfigDocument, notes: Diagnostic[]): void {
  let archName: string | null;
  const facts = readStamp(dir)?.facts;
  if (facts) archName = facts.archName ?? null;
  else {
    const a = values(doc, 'lxc.arch').pop();
    archName = a === undefined ? null : archNameOfLxcArch(a);
  }
  if (archName) {
    const used = ensureBinfmt(archName);
    // the filter is for the container's architecture; what reaches this kernel is the emulator's
    // own calls (measured: a syscall the armhf policy denies works under qemu-arm)
    if (used) notes.push({ code: 'BINFMT', severity: 'note', message: `${archName} rootfs: running through ${used}; a seccomp policy is not in force in this start (the kernel sees the emulator's ${process.arch === 'x64' ? 'x86_64' : process.arch} system calls, not ${archName} ones), it is on the device` });
  }
}

export async function tryContainer(req: TryRequest): Promise<TryResult> {
  const notes: Diagnostic[] = [];
  // the container Thunder would start (thunder/device.ts)
  const model = deviceModel(req.target, { datapath: req.datapath });
  const choice = model.choose(req.callsign, { classname: req.classname });
  if (!choice.chosen) fail('CONTAINER_MISSING', containerMissingMessage(choice, req.callsign), containerMissingHint(req.target, req.datapath, req.callsign, model));
  const dir = choice.chosen.host;
  notes.push({ code: 'CONTAINER_CHOSEN', severity: 'note', message: `the container Thunder starts for ${req.callsign}: ${choice.chosen.dir}` });
  const configFile = path.join(dir, 'config');
  let text: string;
  try {
    text = fs.readFileSync(configFile, 'utf8');
  } catch {
    fail('CONTAINER_MISSING', `no prepared container for ${req.callsign}: ${configFile} does not exist`, `run thunderbox prepare ${req.callsign} <rootfs> --target ${req.target} first`);
  }
  const { doc, diagnostics } = parseConfig(text, configFile);
  if (diagnostics.length) fail(diagnostics[0]!.code, diagnostics[0]!.message, diagnostics[0]!.hint ?? '', { file: configFile, line: diagnostics[0]!.line });
  const rootfs = path.join(dir, 'rootfs');
  doc.lines = doc.lines.map((l) => {
    if (l.kind !== 'entry') return l;
    if (l.key === 'lxc.rootfs.path') return setLineValue(l, `dir:${rootfs}`);
    if (l.key === 'lxc.mount.entry' && l.value) {
      // a shared directory lives in the image (prepare made it there); /tmp stays this host's
      const [src, ...rest] = l.value.split(/[ \t]+/);
      const source = fstabUnescape(src ?? '');
      if (source.startsWith('/') && source !== '/tmp') {
        const inImage = resolveInTarget(req.target, source);
        if (fs.existsSync(inImage)) {
          notes.push({ code: 'MOUNT_FROM_IMAGE', severity: 'note', message: `${source} is mounted from the image: ${inImage}` });
          return setLineValue(l, [fstabEscape(inImage), ...rest].join(' '));
        }
      }
    }
    if (/^lxc\.net\.\d+\.script\.(up|down)$/.test(l.key ?? '') && l.value?.startsWith('/')) {
      // scripts LXC runs on the host (routed-up): the image's copy
      const inImage = resolveInTarget(req.target, l.value);
      if (fs.existsSync(inImage)) return setLineValue(l, inImage);
    }
    if (l.key === 'lxc.include' && l.value?.startsWith('/')) {
      const inImage = resolveInTarget(req.target, l.value);
      if (fs.existsSync(inImage)) return setLineValue(l, inImage);
      if (!fs.existsSync(l.value)) fail('INCLUDE_MISSING', `${configFile}:${l.line} includes ${l.value}, which neither the image nor this host has`, 'install lxc on this host (apt-get install lxc) or in the image');
    }
    return l;
  });
  const idmap = values(doc, 'lxc.idmap')
    .map(parseIdmapValue)
    .filter((m): m is IdMapLine => !('error' in m));
  checkSubids(idmap, req.fixHostSubids, notes);

  containerBinfmt(dir, doc, notes);

  // Variables the config inherits must exist, or liblxc refuses the config.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const l of entries(doc).filter((e) => e.key === 'lxc.environment' && e.value && !e.value.includes('='))) {
    if (env[l.value!] === undefined) {
      env[l.value!] = '';
      notes.push({ code: 'ENV_EMPTY', severity: 'note', message: `${l.value} is not set here; the container gets it empty (Thunder sets it on the device)` });
    }
  }

  let command = req.command;
  if (command.length === 0) {
    const host = THUNDER_HOSTS.map((n) => findOnPath(rootfs, n)).find((p) => p !== null);
    command = host ? [host] : ['/bin/sh', '-c', 'true'];
  }
  // a command the rootfs does not have: lxc-init could only exit 255 without a word
  const prog = command[0]!;
  // lstat: a symlink (to busybox, often absolute) is looked at inside the rootfs, not followed on this host
  const found = prog.includes('/') ? fs.lstatSync(resolveInTarget(rootfs, prog.startsWith('/') ? prog : `/${prog}`), { throwIfNoEntry: false }) !== undefined : findOnPath(rootfs, prog) !== null;
  if (!found) fail('TRY_COMMAND_MISSING', `${prog} is not in the rootfs of ${req.callsign} (${rootfs})`, prog.includes('/') ? 'give a program the rootfs has, e.g. -- /bin/sh -c ...' : `give its full path; it is not in ${BIN_DIRS.map((d) => `/${d}`).join(', ')}`);

  if (idmap.length) checkReachable(rootfs, idmap);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'thunderbox-try-'));
  fs.chmodSync(tmp, 0o711); // the container's mapped root must traverse the lxcpath
  const name = `tbx-${req.callsign}-${process.pid}-${path.basename(tmp).slice(-6)}`;
  const tmpConfig = path.join(tmp, 'config');
  const consoleLog = path.join(tmp, 'console.log');
  // under lxc-start the command's output goes to the container console: keep it in a file
  const rendered = renderConfig(doc) + (req.start ? `lxc.console.logfile = ${consoleLog}\n` : '');
  fs.writeFileSync(tmpConfig, rendered);
  const log = path.join(tmp, 'lxc.log');
  try {
    const { execa } = await import('execa');
    const tool = req.start ? 'lxc-start' : 'lxc-execute';
    const child = execa(tool, ['-n', name, '-P', tmp, '-f', tmpConfig, ...(req.start ? ['-F'] : []), '-l', 'ERROR', '-o', log, '--', ...command], {
      env,
      extendEnv: false,
      reject: false,
      stdin: req.capture ? 'ignore' : 'inherit',
      stdout: req.capture ? 'pipe' : 'inherit',
      stderr: req.capture ? 'pipe' : 'inherit',
    });
    // SIGINT/SIGTERM stop the container, then the temp lxcpath goes. lxc-execute passes the
    // signal to lxc-init; under lxc-start the command is init, which ignores SIGTERM, so
    // lxc-stop kills it.
    const stop = (sig: NodeJS.Signals) => {
      if (req.start) void execa('lxc-stop', ['-n', name, '-P', tmp, '-k'], { reject: false });
      else child.kill(sig);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // a container liblxc never finishes starting (lxc.mount.auto = shmounts: without a path
    // makes lxc-execute run the command and then wait for ever): stopped after the timeout,
    // lxc-stop first, then the tool itself
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void execa('lxc-stop', ['-n', name, '-P', tmp, '-k', '-t', '3'], { reject: false, timeout: 5000 }).finally(() => child.kill('SIGKILL'));
    }, req.timeoutMs ?? 30_000);
    let r;
    try {
      r = await child;
    } finally {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    if ((r as { code?: string }).code === 'ENOENT') fail('LXC_MISSING', `${tool} is not installed on this host`, 'install LXC (Debian: apt-get install lxc), then run as root');
    const lxcLog = readFileOrNull(log)?.toString('utf8') ?? '';
    // under lxc-start the command's output is in the console log (printed now unless captured)
    const console = req.start ? (readFileOrNull(consoleLog)?.toString('utf8') ?? '') : undefined;
    if (console !== undefined && !req.capture) process.stdout.write(console);
    const stdout = req.capture ? (console ?? String(r.stdout)) : undefined;
    // liblxc's own failure to start (a missing bridge, a bad mount): not the command's status
    const started = !/Failed to spawn container|Failed to start container/.test(lxcLog);
    if (timedOut) notes.push({ code: 'TRY_TIMEOUT', severity: 'error', message: `${req.callsign}: stopped after ${(req.timeoutMs ?? 30_000) / 1000} s`, hint: 'raise --timeout, or make the command end (a start liblxc never finishes is what the doctor checks: thunderbox doctor)' });
    return { exitCode: timedOut ? 124 : (r.exitCode ?? 1), started, timedOut, command, config: rendered, notes, stdout, stderr: req.capture ? String(r.stderr) : undefined, lxcLog };
  } finally {
    if (!req.keep) removeTree(tmp);
  }
}
