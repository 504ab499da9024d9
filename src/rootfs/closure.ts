import path from 'node:path';
import picomatch from 'picomatch';
import type { Diagnostic } from '../core/diagnostic.js';
import { EM, describeElf, incompatibility, type ElfInfo } from './elf.js';
import { resolve, type Resolved, type TreeView } from './tree-view.js';

// The files a program needs to run in a rootfs, found the way the target's dynamic linker
// finds them (glibc's ld.so, musl's, uClibc's; all read the same ELF facts):
//   - the interpreter (PT_INTERP), by its absolute path;
//   - each DT_NEEDED without a '/': the loader's DT_RPATH, then its loaders' DT_RPATH up to the
//     executable (only while none of them has DT_RUNPATH), then the loader's own DT_RUNPATH,
//     then the directories of /etc/ld.so.conf (with its include globs; musl: the
//     /etc/ld-musl-ARCH.path file), then the arch's default directories. $ORIGIN, $LIB and
//     $PLATFORM are expanded. A candidate of another class, machine or float ABI is passed
//     over, as ld.so does; if only such candidates exist that is an error of its own.
//   - a script's "#!" interpreter (and for "#!/usr/bin/env NAME" the NAME on PATH).
// Every symlink on the way is part of the result: the tree needs the link as well as the file.

export interface ClosureRoot {
  /** Absolute path in the rootfs. */
  path: string;
  /** Why it is a root (shown in reports). */
  why: string;
  /** Missing is fine (a warning at most), e.g. a glibc module that this libc does not ship. */
  optional?: boolean;
}

export interface ClosureResult {
  /** Every path the tree needs (files and each symlink on the way; not their parent directories), with why. */
  paths: Map<string, string>;
  /** ELF objects reached, by their real path. */
  objects: Map<string, ElfInfo>;
  /** The first root that is a dynamic executable (the process the libraries are loaded into). */
  main?: { path: string; elf: ElfInfo };
  problems: Diagnostic[];
}

const TRIPLETS: Record<number, (e: ElfInfo) => string[]> = {
  [EM.X86_64]: () => ['x86_64-linux-gnu'],
  [EM.X86]: () => ['i386-linux-gnu'],
  [EM.AARCH64]: (e) => [e.littleEndian ? 'aarch64-linux-gnu' : 'aarch64_be-linux-gnu'],
  [EM.ARM]: (e) => (e.abi === 'soft' ? ['arm-linux-gnueabi'] : e.abi === 'hard' ? ['arm-linux-gnueabihf'] : ['arm-linux-gnueabihf', 'arm-linux-gnueabi']),
  [EM.MIPS]: (e) => [e.bits === 64 ? (e.littleEndian ? 'mips64el-linux-gnuabi64' : 'mips64-linux-gnuabi64') : e.littleEndian ? 'mipsel-linux-gnu' : 'mips-linux-gnu'],
  [EM.RISCV]: (e) => [e.bits === 64 ? 'riscv64-linux-gnu' : 'riscv32-linux-gnu'],
};

/** The directories a dynamic linker searches last, for this kind of object. */
function defaultLibDirs(e: ElfInfo, musl: boolean): string[] {
  if (musl) return ['/lib', '/usr/local/lib', '/usr/lib'];
  const triplets = TRIPLETS[e.machine]?.(e) ?? [];
  const dirs = triplets.flatMap((t) => [`/lib/${t}`, `/usr/lib/${t}`]);
  if (e.bits === 64) dirs.push('/lib64', '/usr/lib64');
  if (e.machine === EM.X86 || e.machine === EM.MIPS) dirs.push('/lib32', '/usr/lib32');
  dirs.push('/lib', '/usr/lib');
  return dirs;
}

function isGlob(s: string): boolean {
  return picomatch.scan(s).isGlob;
}

/** Absolute paths in the view matching a glob (each component may be a glob). */
function globView(view: TreeView, pattern: string): string[] {
  let current = [''];
  for (const part of pattern.split('/').filter(Boolean)) {
    const next: string[] = [];
    for (const dir of current) {
      const r = resolve(view, dir || '/');
      if (r.rel === null) continue;
      if (isGlob(part)) {
        const match = picomatch(part, { dot: false });
        for (const name of view.list(r.rel)) if (match(name)) next.push(dir ? `${dir}/${name}` : name);
      } else if (view.get(r.rel === '' ? part : `${r.rel}/${part}`) || resolve(view, `${dir}/${part}`).rel !== null) {
        next.push(dir ? `${dir}/${part}` : part);
      }
    }
    current = next;
  }
  return current.filter((p) => p !== '').map((p) => `/${p}`).sort();
}

/** The directories /etc/ld.so.conf lists, with its includes (relative includes are relative to the including file's directory). */
export function ldSoConfDirs(view: TreeView, file = '/etc/ld.so.conf', seen = new Set<string>()): string[] {
  if (seen.has(file) || seen.size > 64) return [];
  seen.add(file);
  const r = resolve(view, file);
  const text = r.rel === null ? null : view.read(r.rel, 1 << 20);
  if (!text) return [];
  const dirs: string[] = [];
  for (const raw of text.toString('utf8').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const inc = /^include\s+(.+)$/.exec(line);
    if (inc) {
      for (const pat of inc[1]!.split(/\s+/)) {
        const abs = pat.startsWith('/') ? pat : path.posix.join(path.posix.dirname(file), pat);
        for (const f of isGlob(abs) ? globView(view, abs) : [abs]) dirs.push(...ldSoConfDirs(view, f, seen));
      }
      continue;
    }
    if (/^hwcap\s/.test(line)) continue;
    for (const d of line.split(/[\s:,=]+/)) if (d.startsWith('/')) dirs.push(d.replace(/\/+$/, '') || '/');
  }
  return dirs;
}

interface Loaded {
  /** The path it was found at (its $ORIGIN is this path's directory). */
  asFound: string;
  real: string;
  elf: ElfInfo;
  /** The object whose DT_NEEDED (or dlopen(), for roots: the program) brought it in. */
  loader?: Loaded;
  /** The program whose process it is loaded into (itself for a program). */
  proc?: Loaded;
  why: string;
}

export interface ClosureOptions {
  /** The container's PATH, for "#!/usr/bin/env NAME". */
  pathDirs?: string[];
  /** LD_LIBRARY_PATH as the container's processes get it (an explicit lxc.environment value). */
  ldLibraryPath?: string[];
}

const DEFAULT_PATH = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/sbin', '/sbin'];

export class Closure {
  readonly result: ClosureResult = { paths: new Map(), objects: new Map(), problems: [] };
  private readonly confDirs: string[];
  private readonly pathDirs: string[];
  private readonly ldLibraryPath: string[];
  /** Objects by real path; per process (program), by the names they answer to there (SONAME, the name asked for). */
  private readonly byReal = new Map<string, Loaded>();
  private readonly names = new Map<Loaded | undefined, Map<string, Loaded>>();
  private readonly walked = new Set<string>();
  private readonly muslPaths = new Map<string, string[] | null>();
  /** Breadth first, as ld.so maps dependencies. */
  private readonly queue: Loaded[] = [];
  /** While adding a --keep root: its problems are warnings (a kept file need not be loadable). */
  private lenient = false;

  constructor(
    private readonly view: TreeView,
    o: ClosureOptions = {},
  ) {
    this.pathDirs = o.pathDirs ?? DEFAULT_PATH;
    this.ldLibraryPath = o.ldLibraryPath ?? [];
    this.confDirs = ldSoConfDirs(view);
  }

  private problem(code: string, message: string, hint: string): void {
    if (this.result.problems.some((p) => p.code === code && p.message === message)) return;
    this.result.problems.push({ code, severity: this.lenient ? 'warning' : 'error', message, hint });
  }

  private need(p: string, why: string): void {
    const rel = p.replace(/^\/+/, '');
    if (rel === '' || this.result.paths.has(rel)) return;
    this.result.paths.set(rel, why);
    // a hard link needs the file it shares (the archive stores the data once)
    const node = this.view.get(rel);
    if (node?.kind === 'hardlink' && node.linkpath) this.need(node.linkpath, `hard-linked from /${rel}`);
  }

  /** Resolve an absolute path; record it and its symlinks. */
  private reach(p: string, why: string, r: Resolved = resolve(this.view, p)): string | null {
    if (r.rel === null) return null;
    for (const l of r.chain) this.need(l, `symlink on the way to ${p}`);
    this.need(r.rel, why);
    return r.rel;
  }

  /**
   * Add a root (and everything it needs). Returns false when it does not exist. `lenient`: a
   * kept file, whose problems are warnings.
   */
  add(root: ClosureRoot, lenient = false): boolean {
    const was = this.lenient;
    this.lenient = lenient;
    try {
      const r = resolve(this.view, root.path);
      if (r.rel === null) {
        // a dangling symlink (etc/resolv.conf -> ../tmp/resolv.conf) is kept as it is
        const own = resolve(this.view, root.path, false);
        if (own.rel !== null && this.view.get(own.rel)?.kind === 'symlink') {
          this.reach(root.path, root.why, own);
          return true;
        }
        if (!root.optional) this.problem('ROOT_MISSING', `${root.path} (${root.why}) is not in the rootfs: ${r.error}`, 'check the path, or leave the root out');
        return false;
      }
      const real = this.reach(root.path, root.why, r)!;
      if (this.view.get(real)?.kind === 'dir') this.addTree(real, real, root.why);
      // a program's $ORIGIN is its real directory (the kernel gives ld.so the resolved path); a
      // program is a process of its own, a library root is dlopen()ed by the main program
      else this.object(`/${real}`, real, root.why, this.isProgram(real) ? undefined : this.mainLoaded());
      this.drain();
      return true;
    } finally {
      this.lenient = was;
    }
  }

  private namesOf(proc: Loaded | undefined): Map<string, Loaded> {
    let m = this.names.get(proc);
    if (!m) this.names.set(proc, (m = new Map()));
    return m;
  }

  private isMusl(l: Loaded | undefined): boolean {
    return /ld-musl-/.test((l?.proc ?? l)?.elf.interp ?? this.result.main?.elf.interp ?? '');
  }

  private mainLoaded(): Loaded | undefined {
    const m = this.result.main;
    return m ? this.byReal.get(m.path.slice(1)) : undefined;
  }

  /**
   * A directory root: everything below it. A symlink in it is kept; a directory it points to is
   * walked only when it lies inside the same root (a link to / would otherwise pull in the
   * whole rootfs), and each directory once (usr/bin/X11 -> . loops).
   */
  private addTree(top: string, rel: string, why: string): void {
    if (this.walked.has(rel)) return;
    this.walked.add(rel);
    const inside = (p: string) => p === top || p.startsWith(`${top}/`) || top === '';
    for (const name of this.view.list(rel)) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const node = this.view.get(child);
      this.need(child, why);
      if (node?.kind === 'dir') this.addTree(top, child, why);
      else if (node?.kind === 'symlink') {
        const r = resolve(this.view, `/${child}`);
        if (r.rel === null) continue; // dangling: kept as it is
        const target = this.view.get(r.rel);
        if (target?.kind === 'dir') {
          if (inside(r.rel)) this.addTree(top, r.rel, why);
        } else {
          this.reach(`/${child}`, `${why} (symlink target)`, r);
          this.object(`/${r.rel}`, r.rel, why, this.mainLoaded());
        }
      } else if (node?.kind === 'file' || node?.kind === 'hardlink') this.object(`/${child}`, child, why, this.mainLoaded());
    }
  }

  private isProgram(real: string): boolean {
    const er = this.view.elf(real);
    return er !== null && er.ok && er.elf.interp !== undefined && er.elf.soname === undefined;
  }

  /** An executable, library or script at `real` (reached via `asFound`): queued for its dependencies. */
  private object(asFound: string, real: string, why: string, loader: Loaded | undefined, asName?: string): Loaded | null {
    const known = this.byReal.get(real);
    const proc = loader ? (loader.proc ?? loader) : undefined;
    if (known) {
      if (asName) this.namesOf(proc).set(asName, known);
      return known;
    }
    const er = this.view.elf(real);
    if (er === null) {
      this.script(real, why);
      return null;
    }
    if (!er.ok) {
      this.problem('ELF_MALFORMED', `/${real}: ${er.error}`, 'the file is damaged or not a complete ELF object; rebuild it');
      return null;
    }
    const elf = er.elf;
    const loaded: Loaded = { asFound, real, elf, loader, why };
    loaded.proc = proc ?? (elf.interp !== undefined && elf.soname === undefined ? loaded : undefined);
    this.byReal.set(real, loaded);
    const names = this.namesOf(loaded.proc);
    if (asName) names.set(asName, loaded);
    // glibc also knows an object by its SONAME; musl only by the name it was asked for
    if (elf.soname && !this.isMusl(loaded)) names.set(elf.soname, loaded);
    this.result.objects.set(real, elf);
    // a program has an interpreter and no SONAME (glibc's libc.so.6 has PT_INTERP too: it can be run)
    if (!this.result.main && elf.interp !== undefined && elf.soname === undefined) this.result.main = { path: `/${real}`, elf };
    const ref = this.result.main?.elf;
    // only what the dynamic linker loads has to match (a kept firmware blob or kernel module need not)
    if (ref && ref !== elf && (elf.dynamic || elf.interp !== undefined)) {
      const bad = incompatibility(ref, elf);
      if (bad) this.problem('ELF_WRONG_ARCH', `/${real} (${why}) is ${bad.replace(/, not .*/, '')}, but ${this.result.main!.path} is ${describeElf(ref)}`, 'install the build of this file for the target architecture');
    }
    if (elf.interp !== undefined) {
      const interp = this.reach(elf.interp, `interpreter of /${real}`);
      if (interp === null) this.problem('INTERP_MISSING', `/${real} needs the interpreter ${elf.interp}, which is not in the rootfs`, 'keep the C library\'s dynamic linker in the tree (or link the program statically)');
      else this.object(elf.interp, interp, `interpreter of /${real}`, loaded, path.posix.basename(elf.interp));
    }
    this.queue.push(loaded);
    return loaded;
  }

  private drain(): void {
    while (this.queue.length) {
      const l = this.queue.shift()!;
      for (const name of l.elf.needed) this.library(name, l);
    }
  }

  private expand(dir: string, origin: string, e: ElfInfo): string {
    const lib = e.bits === 64 && e.machine !== EM.AARCH64 ? 'lib64' : 'lib';
    const platform = e.machine === EM.X86_64 ? 'x86_64' : e.machine === EM.AARCH64 ? 'aarch64' : e.machine === EM.ARM ? 'v7l' : '';
    return dir
      .replace(/\$(\{ORIGIN\}|ORIGIN)/g, origin)
      .replace(/\$(\{LIB\}|LIB)/g, lib)
      .replace(/\$(\{PLATFORM\}|PLATFORM)/g, platform);
  }

  /** musl's /etc/ld-musl-ARCH.path, read once: its directories, or null without one. */
  private muslPath(arch: string): string[] | null {
    if (!this.muslPaths.has(arch)) {
      const file = resolve(this.view, `/etc/ld-musl-${arch}.path`);
      const text = file.rel !== null ? this.view.read(file.rel, 1 << 16) : null;
      this.muslPaths.set(arch, text ? text.toString('utf8').split(/[\n:]/).map((x) => x.trim()).filter((x) => x.startsWith('/')) : null);
    }
    return this.muslPaths.get(arch)!;
  }

  private pathsOf(l: Loaded, which: 'rpath' | 'runpath'): string[] {
    const origin = path.posix.dirname(l.asFound.startsWith('/') ? l.asFound : `/${l.asFound}`);
    return l.elf[which].map((d) => this.expand(d, origin, l.elf));
  }

  /**
   * Where a dependency of `l` is looked for.
   * glibc: the RPATHs of l and its loaders up to the program (only while l has no RUNPATH; an
   *   object with a RUNPATH contributes no RPATH), then the program's own RPATH, LD_LIBRARY_PATH,
   *   l's RUNPATH, the ld.so.conf directories (ld.so.cache), the default directories.
   * musl: LD_LIBRARY_PATH, the RUNPATH (else RPATH) of l and each of its loaders, then
   *   /etc/ld-musl-ARCH.path (ARCH as in the interpreter's name) or /lib:/usr/local/lib:/usr/lib.
   */
  private searchDirs(l: Loaded): string[] {
    const e = l.elf;
    const dirs: string[] = [];
    const interp = this.result.main?.elf.interp ?? e.interp ?? '';
    const musl = /ld-musl-([^/]+)\.so/.exec(interp);
    if (musl) {
      dirs.push(...this.ldLibraryPath);
      for (let p: Loaded | undefined = l; p; p = p.loader) dirs.push(...this.pathsOf(p, p.elf.runpath.length ? 'runpath' : 'rpath'));
      dirs.push(...(this.muslPath(musl[1]!) ?? defaultLibDirs(e, true)));
      return [...new Set(dirs)];
    }
    if (e.runpath.length === 0) {
      const seen = new Set<Loaded>();
      for (let p: Loaded | undefined = l; p && !seen.has(p); p = p.loader) {
        seen.add(p);
        if (p.elf.runpath.length === 0) dirs.push(...this.pathsOf(p, 'rpath'));
      }
      // the RPATH of the process's program itself (a dlopen()ed root's process is the main program's)
      const prog = l.proc;
      if (prog && !seen.has(prog) && prog.elf.runpath.length === 0) dirs.push(...this.pathsOf(prog, 'rpath'));
    }
    dirs.push(...this.ldLibraryPath);
    dirs.push(...this.pathsOf(l, 'runpath'));
    dirs.push(...this.confDirs, ...defaultLibDirs(e, false));
    return [...new Set(dirs)];
  }

  private library(name: string, loader: Loaded): void {
    const why = `needed by /${loader.real}`;
    // ld.so does not search again for a name an object already in the process answers to
    if (this.namesOf(loader.proc).has(name)) return;
    if (name.includes('/')) {
      const real = this.reach(name, why);
      if (real === null) this.problem('LIB_UNRESOLVED', `${name}, ${why}, is not in the rootfs`, 'add the library to the rootfs');
      else this.object(name, real, why, loader, name);
      return;
    }
    const dirs = this.searchDirs(loader);
    const rejected: string[] = [];
    for (const dir of dirs) {
      const cand = `${dir}/${name}`;
      const r = resolve(this.view, cand);
      if (r.rel === null) continue;
      const node = this.view.get(r.rel);
      if (node?.kind !== 'file' && node?.kind !== 'hardlink') continue;
      const er = this.view.elf(r.rel);
      if (!er || !er.ok) {
        rejected.push(`${cand} (${er ? er.error : 'not an ELF file'})`);
        continue;
      }
      const bad = incompatibility(this.result.main?.elf ?? loader.elf, er.elf);
      if (bad) {
        rejected.push(`${cand} (${describeElf(er.elf)})`);
        continue;
      }
      this.reach(cand, why, r);
      this.object(cand, r.rel, why, loader, name);
      return;
    }
    if (rejected.length) {
      this.problem('LIB_WRONG_ARCH', `${name}, ${why}, exists only for another architecture or ABI: ${rejected.join(', ')}; the process is ${describeElf(this.result.main?.elf ?? loader.elf)}`, 'install the library built for the target (same machine, class and float ABI)');
    } else {
      this.problem('LIB_UNRESOLVED', `${name}, ${why}, is not found in ${dirs.join(':')}`, 'add the library to the rootfs (or to --keep), or fix the RPATH/RUNPATH or /etc/ld.so.conf');
    }
  }

  /** Look a library name up the way the program would (a dlopen()ed module): its path, or null. */
  findLibrary(name: string): string | null {
    const main = this.mainLoaded();
    if (!main) return null;
    for (const dir of this.searchDirs(main)) {
      const r = resolve(this.view, `${dir}/${name}`);
      if (r.rel === null) continue;
      const er = this.view.elf(r.rel);
      if (er?.ok && !incompatibility(main.elf, er.elf)) return `${dir}/${name}`;
    }
    return null;
  }

  /** A "#!" script: its interpreter is needed too. */
  private script(real: string, why: string): void {
    const head = this.view.read(real, 256);
    if (!head || head[0] !== 0x23 || head[1] !== 0x21) return; // data or a non-ELF, non-script file
    const line = head.toString('latin1', 2).split('\n')[0]!.trim();
    let [interp, arg] = line.split(/\s+/, 2);
    if (!interp) return;
    // Linux reads 256 bytes of a "#!" line (BINPRM_BUF_SIZE, fs/binfmt_script.c): with no
    // newline there and an interpreter name running to the end it assumes the name truncated and
    // refuses the exec (ENOEXEC); execvp() and the shells then run the file with /bin/sh
    // (measured: such a ThunderPlugin ran under liblxc 5.0.2)
    const body = head.toString('latin1', 2);
    const start = body.length - body.replace(/^[ \t]+/, '').length;
    const token = /^[^ \t\0]*/.exec(body.slice(start))![0];
    if (head.length === 256 && !head.includes(0x0a) && 2 + start + token.length >= 255) {
      interp = '/bin/sh';
      arg = undefined;
    }
    const r = this.reach(interp, `interpreter of /${real}`);
    if (r === null) {
      this.problem('INTERP_MISSING', `/${real} (${why}) is a script for ${interp}, which is not in the rootfs`, `keep ${interp} in the tree`);
      return;
    }
    this.object(interp, r, `interpreter of /${real}`, undefined);
    if (path.posix.basename(interp) === 'env' && arg && !arg.startsWith('-')) {
      const found = this.pathDirs.map((d) => `${d}/${arg}`).find((p) => resolve(this.view, p).rel !== null);
      if (found) this.add({ path: found, why: `run by /${real} through env` }, this.lenient);
      else this.problem('INTERP_MISSING', `/${real} runs "${arg}" through env, and no ${arg} is on PATH (${this.pathDirs.join(':')})`, `keep ${arg} in the tree`);
    }
  }

  /** A file the program reads (not loaded): the path and its symlinks. */
  addFile(p: string, why: string): boolean {
    return this.reach(p, why) !== null;
  }
}

/** ELF problems of one program in a tree (for doctor): the closure of `root` alone. */
export function closureOf(view: TreeView, roots: ClosureRoot[], o: ClosureOptions = {}): ClosureResult {
  const c = new Closure(view, o);
  for (const r of roots) c.add(r);
  return c.result;
}

