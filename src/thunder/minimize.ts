import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import type { Diagnostic } from '../core/diagnostic.js';
import { resolveInTarget } from '../core/target-path.js';
import { ancestors } from '../rootfs/entry-path.js';
import { Closure, type ClosureOptions, type ClosureRoot } from '../rootfs/closure.js';
import { resolve, type TreeView } from '../rootfs/tree-view.js';
import type { ContainerSpec, MinimizeSpec } from '../profile/spec.js';
import type { PluginConfig } from './plugin-json.js';
import { toContainer, type IdMapLine } from '../lxc/idmap.js';

// A minimised container rootfs: the closure of its roots (rootfs/closure.ts) plus kept files,
// instead of a copy of the whole image. The Thunder roots are what ThunderPlugin needs on the
// device: itself, the plugin library (dlopen()ed by name from the plugin JSON's locator), every
// proxy stub (dlopen()ed from a directory), the glibc modules a passwd/group lookup loads
// (root.user / root.group) and iconv's gconv modules when something uses iconv, and the
// files the C library reads.

/** What Thunder gives its processes as PATH when the container inherits it (lxc.environment = PATH). */
const DEVICE_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const HOST_PROGRAMS = ['ThunderPlugin', 'WPEProcess'] as const;
/** Plugin libraries: R5 (Thunder), R4 (WPEFramework). */
const PLUGIN_DIRS = ['/usr/lib/thunder/plugins', '/usr/lib/wpeframework/plugins'];
export const PROXYSTUB_DIRS = ['/usr/lib/thunder/proxystubs', '/usr/lib/wpeframework/proxystubs'];
/** Read by the C library at run time: kept when present. */
const LIBC_FILES = ['/etc/passwd', '/etc/group', '/etc/nsswitch.conf', '/etc/ld.so.conf', '/etc/ld.so.cache', '/etc/localtime'];
/** NSS services glibc (2.34 and later) has built in: no module file needed. */
const NSS_BUILTIN = new Set(['files', 'dns']);

export interface Selection {
  /** Entry paths to extract (with every parent directory). */
  paths: Set<string>;
  /** Selected path -> why (roots and what they pulled in). */
  why: Map<string, string>;
  problems: Diagnostic[];
  notes: string[];
}

export interface SelectContext {
  /** The plugin JSON on this host and its locator, when there is one. */
  plugin?: PluginConfig;
  /** Mount points (paths inside the container). */
  mountPaths: string[];
}

export interface ShareContext {
  /** The image root on this host. */
  target: string;
  /** The Container directory on this host (nothing in it is linked to). */
  containerDir: string;
  /** Where the new tree is built (links must be on its file system). */
  stageDir: string;
  /** sha256 of a file of the rootfs (archives: from the index; directories: undefined, read from disk). */
  sha256?: (rel: string) => string | undefined;
  /** The rootfs source directory (directory sources). */
  sourceDir?: string;
  /** The container's idmap (never empty: a privileged container's root could write any shared file). */
  idmap: IdMapLine[];
  /** Paths this run rewrites (a patched plugin JSON): never shared. */
  skip?: (rel: string) => boolean;
  /** Image files this run rewrites (by rename: a link to the old file would be stale). */
  rewritten?: ReadonlySet<string>;
}

/** A file of the image that a container shares: what must stay the same for the container to be unchanged. */
export type SharedFile = [host: string, ino: number, size: number, mtimeMs: number, mode: number, uid: number, gid: number];

/** The PATH a container's processes get: an explicit lxc.environment value, else Thunder's. */
function containerPath(spec: Pick<ContainerSpec, 'environment'>): string[] {
  const v = spec.environment.find((e) => e.name === 'PATH')?.value;
  return v ? v.split(':').filter((d) => d.startsWith('/')) : DEVICE_PATH;
}

/** How the container's processes load libraries: its PATH (for "#!/usr/bin/env") and LD_LIBRARY_PATH. */
export function closureOptions(environment: ContainerSpec['environment']): ClosureOptions {
  const ld = environment.find((e) => e.name === 'LD_LIBRARY_PATH')?.value;
  return { pathDirs: containerPath({ environment }), ldLibraryPath: ld ? ld.split(':').filter((d) => d.startsWith('/')) : [] };
}

export interface ThunderRoots {
  /** ThunderPlugin (or WPEProcess) on PATH, null when neither is there. */
  program: string | null;
  /** The plugin library the plugin JSON's locator names: where it was found, or where it was looked for. */
  plugin: { locator: string; found?: string; searched: string[] } | null;
  /** Proxy stubs in the stub directories. */
  stubs: number;
  /** What is there of the above, as closure roots, in that order. */
  roots: ClosureRoot[];
}

/** What ThunderPlugin runs in the container: itself, the plugin library, every proxy stub. */
export function thunderRoots(view: TreeView, pathDirs: string[], config: PluginConfig | undefined): ThunderRoots {
  const roots: ClosureRoot[] = [];
  const program = findHostProgram(view, pathDirs);
  if (program) roots.push({ path: program, why: 'Thunder starts it in the container' });
  const locator = config?.locator ?? null;
  let plugin: ThunderRoots['plugin'] = null;
  if (locator) {
    const searched = locator.startsWith('/') ? [locator] : PLUGIN_DIRS.map((d) => `${d}/${locator}`);
    const found = searched.find((p) => resolve(view, p).rel !== null);
    plugin = { locator, searched, ...(found ? { found } : {}) };
    if (found) roots.push({ path: found, why: `the plugin library (locator in ${path.basename(config!.file)})` });
  }
  let stubs = 0;
  for (const d of PROXYSTUB_DIRS) {
    const r = resolve(view, d);
    if (r.rel === null || view.get(r.rel)?.kind !== 'dir') continue;
    roots.push({ path: d, why: 'proxy stubs (loaded by ThunderPlugin from this directory)', optional: true });
    stubs += view.list(r.rel).length;
  }
  return { program, plugin, stubs, roots };
}

/** ThunderPlugin (or WPEProcess) on PATH in the view. */
function findHostProgram(view: TreeView, pathDirs: string[]): string | null {
  for (const name of HOST_PROGRAMS) {
    for (const d of pathDirs) {
      const r = resolve(view, `${d}/${name}`);
      if (r.rel !== null && view.get(r.rel)?.kind !== 'dir') return `${d}/${name}`;
    }
  }
  return null;
}

/** Every path of the view below `rel` (not `rel` itself). */
export function walk(view: TreeView, rel: string, out: string[]): void {
  for (const name of view.list(rel)) {
    const child = rel === '' ? name : `${rel}/${name}`;
    out.push(child);
    if (view.get(child)?.kind === 'dir') walk(view, child, out);
  }
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function err(code: string, message: string, hint: string, severity: Diagnostic['severity'] = 'error'): Diagnostic {
  return { code, severity, message, hint };
}

export function selectMinimal(view: TreeView, spec: ContainerSpec, m: MinimizeSpec, ctx: SelectContext): Selection {
  const opts = closureOptions(spec.environment);
  const c = new Closure(view, opts);
  const notes: string[] = [];
  const problems: Diagnostic[] = [];
  if (m.thunderRoots) {
    const t = thunderRoots(view, opts.pathDirs!, ctx.plugin);
    if (!t.program) problems.push(err('THUNDERPLUGIN_MISSING', `${spec.callsign}: neither ThunderPlugin nor WPEProcess is on the container's PATH (${opts.pathDirs!.join(':')}) in ${spec.rootfs.path}`, m.roots.length ? 'build Thunder into the rootfs, or pass --no-thunder-roots for a container that does not run a Thunder plugin' : 'build Thunder into the rootfs; for another program pass --no-thunder-roots --root /path/to/it'));
    if (ctx.plugin && !t.plugin) problems.push(err('PLUGIN_LOCATOR_MISSING', `${spec.callsign}: ${ctx.plugin.file} has no "locator" (the plugin library)`, 'add "locator": "libThunder<Name>.so" to the plugin config, or --root the library', 'warning'));
    if (t.plugin && !t.plugin.found) problems.push(err('PLUGIN_LIBRARY_MISSING', `${spec.callsign}: the plugin library ${t.plugin.locator} is not in the rootfs; searched ${t.plugin.searched.join(', ')}`, 'install the plugin in the rootfs (its Buildroot package), or fix "locator"'));
    for (const r of t.roots) c.add(r);
    if (t.stubs === 0) notes.push('no proxy stubs in the rootfs (/usr/lib/thunder/proxystubs)');
  }
  for (const r of m.roots) c.add({ path: r.startsWith('/') ? r : `/${r}`, why: 'given with --root' });
  for (const f of LIBC_FILES) c.addFile(f, 'read by the C library');
  for (const f of ['/etc/ld.so.conf.d']) if (resolve(view, f).rel !== null) c.add({ path: f, why: 'ld.so.conf includes' });
  for (const mp of ['proc', 'sys', 'dev', 'tmp', ...ctx.mountPaths]) {
    const r = resolve(view, mp, false);
    if (r.rel !== null) c.addFile(`/${mp}`, 'mount point');
  }

  // what glibc loads with dlopen(): NSS modules for passwd/group, gconv for iconv
  const glibc = [...c.result.objects].find(([, e]) => e.soname === 'libc.so.6');
  if (glibc && c.result.main) {
    const conf = resolve(view, '/etc/nsswitch.conf');
    const text = conf.rel !== null ? (view.read(conf.rel, 1 << 16)?.toString('utf8') ?? '') : '';
    const services = new Set<string>();
    for (const db of ['passwd', 'group']) {
      const line = text.split('\n').find((l) => l.replace(/#.*/, '').trim().startsWith(`${db}:`));
      const words = line ? line.replace(/#.*/, '').split(':')[1]!.replace(/\[[^\]]*\]/g, ' ').split(/\s+/).filter(Boolean) : ['files'];
      for (const w of words) services.add(w);
    }
    for (const s of services) {
      const lib = c.findLibrary(`libnss_${s}.so.2`);
      if (lib) c.add({ path: lib, why: `NSS module for passwd/group (${s}), loaded by glibc for root.user / root.group` });
      else if (!NSS_BUILTIN.has(s)) problems.push(err('NSS_MODULE_MISSING', `${spec.callsign}: /etc/nsswitch.conf names "${s}" for passwd/group, and libnss_${s}.so.2 is not in the rootfs`, `install it, or drop "${s}" from nsswitch.conf`, 'warning'));
    }
  }
  const all: string[] = [];
  if (m.keep.length) walk(view, '', all);
  for (const kept of m.keep) {
    const pattern = kept.replace(/^\/+/, '');
    const match = picomatch(pattern, { dot: true });
    const hits = all.filter((p) => match(p));
    if (hits.length === 0) problems.push(err('KEEP_NO_MATCH', `${spec.callsign}: --keep ${kept} matches nothing in the rootfs`, 'check the pattern (paths are relative to the rootfs top, e.g. usr/share/zoneinfo/**)', 'warning'));
    for (const h of hits) c.add({ path: `/${h}`, why: `kept (--keep ${kept})` }, true);
  }
  // gconv: after the kept files, which may use iconv too
  if (glibc && c.result.main) {
    const users = [...c.result.objects].filter(([, e]) => e.imports?.includes('iconv_open')).map(([p]) => `/${p}`);
    if (users.length) {
      // glibc's GCONV_PATH default: <libdir>/gconv (Debian: the multiarch libdir; Buildroot: /usr/lib/gconv)
      const triplet = path.posix.basename(path.posix.dirname(glibc[0]));
      const cands = [...new Set([`/${path.posix.dirname(glibc[0])}/gconv`, `/usr/lib/${triplet}/gconv`, '/usr/lib/gconv', '/usr/lib64/gconv'])];
      const gconv = cands.find((d) => { const r = resolve(view, d); return r.rel !== null && view.get(r.rel)?.kind === 'dir'; });
      if (gconv) {
        c.add({ path: gconv, why: 'gconv modules (iconv_open is used)' });
        notes.push(`kept ${gconv}: iconv_open is used`);
      } else {
        problems.push(err('GCONV_MISSING', `${spec.callsign}: ${users.slice(0, 3).join(', ')} use iconv_open, and the rootfs has no gconv modules (${cands.join(', ')})`, 'build them into the image (Buildroot: BR2_TOOLCHAIN_GLIBC_GCONV_LIBS_COPY) if the program converts character sets', 'warning'));
      }
    }
  }
  problems.push(...c.result.problems.map((p) => ({ ...p, message: `${spec.callsign}: ${p.message}` })));

  const paths = new Set<string>(['']);
  for (const p of c.result.paths.keys()) {
    paths.add(p);
    for (const a of ancestors(p)) paths.add(a);
  }
  return { paths, why: c.result.paths, problems, notes };
}

/**
 * Selected files the image already has, byte for byte, at the same path: hard-link them
 * instead of copying. Only where sharing the inode is invisible and harmless: same size and
 * mode; no setuid/setgid bits; writable by nobody but its owner, and that owner is an id the
 * container does not map (so no process in it can write, chmod or chown the file: the image's
 * root, seen as nobody); readable (and, for programs, executable) by everyone. A privileged
 * container never shares: its root is the device's.
 */
export function findShared(view: TreeView, paths: Iterable<string>, ctx: ShareContext, notes: string[]): { links: Map<string, string>; files: SharedFile[] } {
  const links = new Map<string, string>();
  const files: SharedFile[] = [];
  if (ctx.idmap.length === 0) return { links, files };
  let probe = ctx.stageDir; // a dry run has no stage yet: the nearest existing parent
  while (!fs.existsSync(probe)) probe = path.dirname(probe);
  const dev = fs.statSync(probe).dev;
  for (const rel of paths) {
    const node = view.get(rel);
    if (node?.kind !== 'file' || node.size === 0 || ctx.skip?.(rel)) continue;
    const host = resolveInTarget(ctx.target, `/${rel}`);
    if (!path.relative(ctx.containerDir, host).startsWith('..') || ctx.rewritten?.has(host)) continue; // never into the tree being replaced, nor what this run rewrites
    const st = fs.lstatSync(host, { throwIfNoEntry: false });
    if (!st?.isFile() || st.dev !== dev || st.size !== node.size || (st.mode & 0o7777) !== node.mode || node.mode & 0o6000 || node.mode & 0o022) continue;
    if (toContainer(ctx.idmap, 'u', st.uid) !== undefined) continue;
    if (!(node.mode & 0o004) || (node.mode & 0o100 && !(node.mode & 0o001))) continue;
    const same = ctx.sourceDir ? path.resolve(ctx.sourceDir, rel) === host || sha256File(path.join(ctx.sourceDir, rel)) === sha256File(host) : ctx.sha256?.(rel) === sha256File(host);
    if (!same) continue;
    links.set(rel, host);
    files.push([host, st.ino, st.size, st.mtimeMs, st.mode, st.uid, st.gid]);
  }
  if (links.size) notes.push(`${links.size} files are hard links to the image's own copies; the container sees them owned by nobody (they belong to the image's root), readable as before`);
  return { links, files };
}
