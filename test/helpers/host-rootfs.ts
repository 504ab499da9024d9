import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DirView, resolve } from '../../src/rootfs/tree-view.js';

// A small, runnable "Debian 12"-like rootfs made from this host's own programs: each program
// and every library `ldd` lists (and the dynamic linker), copied at the same paths with cp -a
// semantics (mode, owner, times; soname links stay links, e.g. libtinfo.so.6 -> libtinfo.so.6.4),
// under Debian 12's merged-usr links (bin -> usr/bin, lib -> usr/lib, lib64 -> usr/lib64,
// sbin -> usr/sbin). Only paths this x86_64 Debian 12 host has are used.
//
// Every write below goes through inRoot(), which resolves the destination inside the rootfs
// (links followed as if the rootfs were '/'): an absolute link copied from the host, such as
// usr/lib/x86_64-linux-gnu/libz.so -> /lib/..., can never make a write land on the host.

export interface HostRootfsOptions {
  /** Absolute host paths of programs to copy, with their libraries (default: bash, ls, cat, env). */
  programs?: string[];
  /** Further files: a host path copied to the same path, or to `to` (a path in the rootfs). */
  extra?: (string | { from: string; to: string; mode?: number })[];
  /** Thunder stand-ins: bash as /usr/bin/ThunderPlugin, libz as a plugin library and as a proxy stub. */
  thunderStandIn?: boolean | ThunderStandIn;
  /** Also write the tree to this archive (GNU tar, numeric owners). */
  tar?: string;
}

export interface ThunderStandIn {
  /** Host program copied to /usr/bin/ThunderPlugin (default /usr/bin/bash). */
  program?: string;
  /** File name of the plugin library in /usr/lib/thunder/plugins (default libThunderTest.so). */
  plugin?: string;
  /** File name of the proxy stub in /usr/lib/thunder/proxystubs (default libThunderTestProxyStubs.so). */
  proxyStub?: string;
  /** Host library whose real file is copied as the plugin and the stub (default libz.so.1). */
  library?: string;
}

export interface HostRootfs {
  dir: string;
  /** The archive, when `tar` was given. */
  archive?: string;
  /** Every path copied (in the rootfs, absolute), links included. */
  copied: string[];
  /** With thunderStandIn: where the stand-ins are. */
  thunder?: { program: string; plugin: string; proxyStub: string };
}

export const DEFAULT_PROGRAMS = ['/usr/bin/bash', '/usr/bin/ls', '/usr/bin/cat', '/usr/bin/env'];
const MULTIARCH = 'x86_64-linux-gnu';
const MERGED_USR: [string, string][] = [
  ['bin', 'usr/bin'],
  ['lib', 'usr/lib'],
  ['lib64', 'usr/lib64'],
  ['sbin', 'usr/sbin'],
];

/** The libraries and dynamic linker `ldd` lists for a program (absolute host paths, as ldd prints them). */
export function lddPaths(program: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // "not a dynamic executable" (a static program): nothing to add
    const err = e as { stdout?: string; stderr?: string };
    if (/not a dynamic executable/.test(`${err.stdout ?? ''}${err.stderr ?? ''}`)) return [];
    throw e;
  }
  const paths: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) paths.push(m[1]!);
    else if (/=>\s*not found/.test(line)) throw new Error(`ldd ${program}: ${line.trim()}`);
  }
  return paths;
}

/** Resolve a path inside `root` as if root were '/' (links followed in the tree, '..' stops at the top). */
function inRoot(root: string, p: string, followLast: boolean): string {
  const r = resolve(new DirView(root), p, followLast, true);
  if (r.rel === null) throw new Error(`${p} in ${root}: ${r.error}`);
  return path.join(root, r.rel);
}

function mkdirIn(root: string, dir: string): string {
  const parts = dir.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const at = inRoot(root, parts.slice(0, i).join('/'), true);
    if (!fs.existsSync(at)) fs.mkdirSync(at, { mode: 0o755 });
  }
  return inRoot(root, dir, true);
}

/** cp -a of one regular file (data, mode, owner, times). */
function copyFile(from: string, to: string, mode?: number): void {
  const st = fs.statSync(from);
  fs.rmSync(to, { force: true });
  fs.copyFileSync(from, to);
  if (process.getuid?.() === 0) fs.chownSync(to, st.uid, st.gid);
  fs.chmodSync(to, mode ?? st.mode & 0o7777);
  fs.utimesSync(to, st.atime, st.mtime);
}

/**
 * Copy host path `p` into the tree at the same path, following the host's links component by
 * component and recreating each link in the tree as it is (its target text unchanged).
 */
function mirror(root: string, p: string, copied: Set<string>, depth = 0): void {
  if (depth > 40) throw new Error(`too many links copying ${p}`);
  const parts = p.split('/').filter((s) => s && s !== '.');
  let host = '/';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '..') {
      host = path.dirname(host);
      continue;
    }
    const next = path.join(host, part);
    const st = fs.lstatSync(next);
    const rel = next.slice(1);
    if (st.isSymbolicLink()) {
      const to = fs.readlinkSync(next);
      const dst = inRoot(root, rel, false);
      if (!fs.lstatSync(dst, { throwIfNoEntry: false })) {
        mkdirIn(root, path.posix.dirname(rel));
        fs.symlinkSync(to, dst);
        if (process.getuid?.() === 0) fs.lchownSync(dst, st.uid, st.gid);
      }
      copied.add(next);
      const rest = parts.slice(i + 1).join('/');
      const target = to.startsWith('/') ? to : path.posix.join(host, to);
      mirror(root, rest ? `${target}/${rest}` : target, copied, depth + 1);
      return;
    }
    if (i === parts.length - 1) {
      if (st.isDirectory()) mkdirIn(root, rel);
      else if (st.isFile()) {
        mkdirIn(root, path.posix.dirname(rel));
        if (!copied.has(next)) copyFile(next, inRoot(root, rel, true));
      } else throw new Error(`${next} is neither a file, a directory nor a link`);
      copied.add(next);
      return;
    }
    if (!st.isDirectory()) throw new Error(`${next} is not a directory`);
    host = next;
  }
}

function writeIn(root: string, p: string, text: string, mode = 0o644): void {
  mkdirIn(root, path.posix.dirname(p));
  fs.writeFileSync(inRoot(root, p, true), text, { mode });
}

/** Build the tree in `dir` (made if missing). */
export function buildHostRootfs(dir: string, o: HostRootfsOptions = {}): HostRootfs {
  const root = path.resolve(dir);
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.chmodSync(root, 0o755);
  for (const d of ['usr', 'usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', `usr/lib/${MULTIARCH}`, 'etc', 'etc/ld.so.conf.d', 'var', 'run', 'root', 'proc', 'sys', 'dev', 'tmp']) {
    fs.mkdirSync(path.join(root, d), { recursive: true, mode: 0o755 });
  }
  fs.chmodSync(path.join(root, 'proc'), 0o555);
  fs.chmodSync(path.join(root, 'sys'), 0o555);
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  fs.chmodSync(path.join(root, 'root'), 0o700);
  for (const [link, to] of MERGED_USR) if (!fs.lstatSync(path.join(root, link), { throwIfNoEntry: false })) fs.symlinkSync(to, path.join(root, link));

  writeIn(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  writeIn(root, 'etc/group', 'root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n');
  writeIn(root, 'etc/nsswitch.conf', 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n');
  writeIn(root, 'etc/ld.so.conf', 'include /etc/ld.so.conf.d/*.conf\n');
  writeIn(root, `etc/ld.so.conf.d/${MULTIARCH}.conf`, `# Multiarch support\n/usr/local/lib/${MULTIARCH}\n/lib/${MULTIARCH}\n/usr/lib/${MULTIARCH}\n`);
  writeIn(root, 'etc/hostname', 'thunderbox-test\n');

  const copied = new Set<string>();
  const stand = o.thunderStandIn === true ? {} : o.thunderStandIn || undefined;
  const programs = [...(o.programs ?? DEFAULT_PROGRAMS)];
  const program = stand?.program ?? '/usr/bin/bash';
  if (stand && !programs.includes(program)) programs.push(program);
  for (const prog of programs) {
    mirror(root, prog, copied);
    for (const lib of lddPaths(prog)) mirror(root, lib, copied);
  }
  // /bin/sh as on Debian: usr/bin/sh -> dash
  mirror(root, '/bin/sh', copied);
  for (const lib of lddPaths('/bin/sh')) mirror(root, lib, copied);

  let thunder: HostRootfs['thunder'];
  if (stand) {
    const lib = realLibrary(stand.library ?? 'libz.so.1');
    for (const l of lddPaths(lib)) mirror(root, l, copied);
    thunder = {
      program: '/usr/bin/ThunderPlugin',
      plugin: `/usr/lib/thunder/plugins/${stand.plugin ?? 'libThunderTest.so'}`,
      proxyStub: `/usr/lib/thunder/proxystubs/${stand.proxyStub ?? 'libThunderTestProxyStubs.so'}`,
    };
    mkdirIn(root, 'usr/lib/thunder/plugins');
    mkdirIn(root, 'usr/lib/thunder/proxystubs');
    copyFile(fs.realpathSync(program), inRoot(root, thunder.program, true));
    copyFile(lib, inRoot(root, thunder.plugin, true));
    copyFile(lib, inRoot(root, thunder.proxyStub, true));
    for (const p of Object.values(thunder)) copied.add(p);
  }

  for (const e of o.extra ?? []) {
    if (typeof e === 'string') {
      mirror(root, e, copied);
      continue;
    }
    mkdirIn(root, path.posix.dirname(e.to));
    copyFile(e.from, inRoot(root, e.to, true), e.mode);
    copied.add(e.to);
  }

  let archive: string | undefined;
  if (o.tar) {
    archive = path.resolve(o.tar);
    execFileSync('tar', ['--numeric-owner', '--format=gnu', '-cf', archive, '-C', root, '.'], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return { dir: root, archive, copied: [...copied].sort(), thunder };
}

/** The real file of a host library in the multiarch directory (libz.so.1 -> /usr/lib/x86_64-linux-gnu/libz.so.1.2.13). */
export function realLibrary(name: string): string {
  return fs.realpathSync(path.join('/usr/lib', MULTIARCH, name));
}
