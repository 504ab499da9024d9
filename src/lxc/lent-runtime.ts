import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fail } from '../core/errors.js';
import { readElf } from '../rootfs/elf.js';

// What this build host lends to a device-faithful start (src/lxc/device-start.ts): the LXC
// runtime (lxc-start, lxc-stop and their libraries, run through the host's own dynamic loader
// with --library-path, so nothing of it leaks into the image's programs the way
// LD_LIBRARY_PATH would) and the tools that build the device's root (unshare, script, nsenter,
// setpriv).
// Everything is found here, before the start, by its real path: after pivot_root this host's
// root is under HOST_MOUNT, where a relative symlink such as /lib64 -> usr/lib64 still works
// but an absolute one (ld-linux-x86-64.so.2 -> /lib/...) would resolve in the image.

export const HOST_MOUNT = '/.thunderbox-host';

export interface LentRuntime {
  /** the host's dynamic loader (PT_INTERP of lxc-start), real path */
  loader: string;
  /** directories of every library lxc-start and env load, real paths, for --library-path */
  libraryPath: string[];
  lxcStart: string;
  lxcStop: string;
  /** GNU env: the one program run in the device's root before lxc-start, to clear the environment */
  env: string;
  unshare: string;
  /** util-linux script: gives lxc-start a terminal, so liblxc passes the container's console through */
  script: string;
  nsenter: string;
  /** util-linux setpriv: --pdeathsig, so the namespace dies with thunderbox even when it is killed */
  setpriv: string;
  /**
   * LXC's static lxc-init (init.lxc.static): a process 1 that reaps the orphans it is given
   * (the device's init does), for the device root of an OCI start, where runc's init is one
   */
  initStatic: string;
  /**
   * liblxc's compiled-in mount point for the container's rootfs (LXCROOTFSMOUNT; Debian:
   * /usr/lib/x86_64-linux-gnu/lxc/rootfs). Without it liblxc stops with "Failed to access to
   * ... lxc/rootfs" (measured): it belongs to the lent runtime, so it is made in the overlay.
   */
  rootfsMount: string;
}

const DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The real path of the first executable `name` in `dirs` (this host's), or null. */
export function hostProgram(name: string, dirs: readonly string[] = DIRS): string | null {
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.realpathSync(p);
    } catch {
      // next
    }
  }
  return null;
}

function which(name: string, pkg: string): string {
  return hostProgram(name, [...(process.env.PATH ?? '').split(':').filter((p) => p.startsWith('/')), ...DIRS])
    ?? fail('HOST_TOOL_MISSING', `${name} is not installed on this build host; a device-faithful start needs it`, `install ${pkg} (Debian: apt-get install ${pkg})`);
}

function ldd(program: string): string {
  try {
    return execFileSync('ldd', [program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    fail('HOST_LDD_FAILED', `ldd ${program} failed: ${String((err as { stderr?: string }).stderr ?? err).trim()}`, 'install libc-bin (ldd) and a working lxc');
  }
}

/** Directories ldd resolves a program's libraries to (real paths), from its output `out`. */
function libraryDirs(program: string, out: string): string[] {
  const dirs: string[] = [];
  for (const m of out.matchAll(/=> (\/\S+) \(0x/g)) {
    const missing = !fs.existsSync(m[1]!);
    if (missing) fail('HOST_LIBRARY_MISSING', `${program} needs ${m[1]}, which is missing`, 'reinstall lxc on this host');
    dirs.push(path.dirname(fs.realpathSync(m[1]!)));
  }
  if (/not found/.test(out)) fail('HOST_LIBRARY_MISSING', `${program} lacks libraries: ${out.split('\n').filter((l) => l.includes('not found')).join('; ').trim()}`, 'reinstall lxc on this host');
  return dirs;
}

let cached: LentRuntime | undefined;

export function lentRuntime(): LentRuntime {
  if (cached) return cached;
  const lxcStart = which('lxc-start', 'lxc');
  const elf = readElf(fs.readFileSync(lxcStart));
  const interp = elf?.ok ? elf.elf.interp : undefined;
  if (!interp) fail('HOST_LXC_STATIC', `${lxcStart} has no dynamic loader (PT_INTERP)`, 'use a dynamically linked lxc-start (Debian: apt-get install lxc)');
  const loader = fs.realpathSync(interp);
  const env = which('env', 'coreutils');
  const lddLxcStart = ldd(lxcStart);
  const dirs = [...libraryDirs(lxcStart, lddLxcStart), ...libraryDirs(env, ldd(env))];
  const liblxc = lddLxcStart.match(/liblxc\.so\S* => (\/\S+)/)?.[1];
  if (!liblxc) fail('HOST_LIBLXC_MISSING', `${lxcStart} does not link liblxc`, 'reinstall lxc on this host');
  // the one string in liblxc that ends in /lxc/rootfs is LXCROOTFSMOUNT
  const mount = fs.readFileSync(liblxc).toString('latin1').match(/\/[A-Za-z0-9_./-]*\/lxc\/rootfs(?=\0)/)?.[0];
  if (!mount) fail('HOST_LIBLXC_UNKNOWN', `cannot find liblxc's rootfs mount point (LXCROOTFSMOUNT) in ${liblxc}`, 'use Debian\'s liblxc (lxc 5.0)');
  cached = {
    loader,
    libraryPath: [...new Set([path.dirname(loader), ...dirs])],
    lxcStart,
    lxcStop: which('lxc-stop', 'lxc'),
    env,
    unshare: which('unshare', 'util-linux'),
    script: which('script', 'bsdutils'),
    nsenter: which('nsenter', 'util-linux'),
    setpriv: which('setpriv', 'util-linux'),
    initStatic: which('init.lxc.static', 'lxc'),
    rootfsMount: mount,
  };
  return cached;
}

/** argv that runs a lent program from inside the device's root: host loader, host libraries. */
export function lentArgv(rt: LentRuntime, program: string, args: string[]): string[] {
  return [HOST_MOUNT + rt.loader, '--library-path', rt.libraryPath.map((d) => HOST_MOUNT + d).join(':'), HOST_MOUNT + program, ...args];
}
