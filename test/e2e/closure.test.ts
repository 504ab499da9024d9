import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { Closure, closureOf, ldSoConfDirs } from '../../src/rootfs/closure.js';
import { ArchiveIndex } from '../../src/rootfs/archive-index.js';
import { probeArchive, readArchive } from '../../src/rootfs/archive-reader.js';
import { DirView, resolve } from '../../src/rootfs/tree-view.js';
import { EF_ARM_ABI_FLOAT_HARD, EF_ARM_ABI_FLOAT_SOFT, EM } from '../../src/rootfs/elf.js';
import { buildElf } from '../helpers/elf-writer.js';
import { lddPaths } from '../helpers/host-rootfs.js';
import { tmpDir } from '../helpers/tmp.js';

// The dependency closure against the real thing: the host's own dynamic linker (ldd) on a
// multi-library program, and programs built here with RPATH, RUNPATH and $ORIGIN.

const libsOf = (objects: Map<string, unknown>) => [...objects.keys()].filter((p) => /\.so/.test(p)).map((p) => fs.realpathSync(`/${p}`)).sort();

/** What the host's dynamic linker loads for a program (ldd), as real paths. */
const lddReal = (program: string) => [...new Set(lddPaths(program).map((p) => fs.realpathSync(p)))].sort();

describe('closure against ldd', () => {
  for (const program of ['/usr/bin/lxc-start', '/usr/bin/bash', '/usr/bin/newuidmap']) {
    it(`finds what ldd finds for ${program}`, async () => {
      const view = new DirView('/');
      const c = closureOf(view, [{ path: program, why: 'test' }]);
      expect(c.problems).toEqual([]);
      const expected = lddReal(program);
      expect(expected.length).toBeGreaterThan(1);
      expect(libsOf(c.objects)).toEqual(expected);
    });
  }
});

describe('closure rules on programs built here', () => {
  async function build(dir: string): Promise<void> {
    fs.mkdirSync(path.join(dir, 'src'));
    fs.writeFileSync(path.join(dir, 'src/a.c'), 'int a(void) { return 7; }\n');
    fs.writeFileSync(path.join(dir, 'src/b.c'), 'int a(void); int b(void) { return a() + 1; }\n');
    fs.writeFileSync(path.join(dir, 'src/main.c'), '#include <stdio.h>\nint b(void);\nint main(void) { printf("%d\\n", b()); return b(); }\n');
    const cc = (...args: string[]) => execa('gcc', args, { cwd: dir });
    const root = path.join(dir, 'root');
    for (const d of ['opt/app/bin', 'opt/app/lib', 'opt/other', 'usr/bin']) fs.mkdirSync(path.join(root, d), { recursive: true });
    await cc('-shared', '-fPIC', '-o', 'root/opt/other/liba.so', '-Wl,-soname,liba.so', 'src/a.c');
    // libb finds liba through its own RUNPATH
    await cc('-shared', '-fPIC', '-o', 'root/opt/app/lib/libb.so.1.0', '-Wl,-soname,libb.so.1', 'src/b.c', '-Lroot/opt/other', '-la', '-Wl,--enable-new-dtags,-rpath,/opt/other');
    fs.symlinkSync('libb.so.1.0', path.join(root, 'opt/app/lib/libb.so.1'));
    // main: DT_RPATH with $ORIGIN (old dtags)
    await cc('-o', 'root/opt/app/bin/main-rpath', 'src/main.c', '-Lroot/opt/app/lib', '-l:libb.so.1', '-Lroot/opt/other', '-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib', '-Wl,-rpath-link,root/opt/other');
    // main: DT_RUNPATH with $ORIGIN
    await cc('-o', 'root/opt/app/bin/main-runpath', 'src/main.c', '-Lroot/opt/app/lib', '-l:libb.so.1', '-Wl,--enable-new-dtags,-rpath,${ORIGIN}/../lib', '-Wl,-rpath-link,root/opt/other');
    // reached through a symlink in another directory: $ORIGIN is the real directory
    fs.symlinkSync('/opt/app/bin/main-rpath', path.join(root, 'usr/bin/app'));
    // the C library, where the host has it (merged /usr: /lib64 -> usr/lib64)
    for (const f of ['/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/libc.so.6']) {
      const dest = path.join(root, 'usr', f.replace(/^\/lib64/, 'lib64').replace(/^\/lib/, 'lib'));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(fs.realpathSync(f), dest);
    }
    fs.symlinkSync('usr/lib64', path.join(root, 'lib64'));
    fs.symlinkSync('usr/lib', path.join(root, 'lib'));
  }

  it('follows RPATH with $ORIGIN, RUNPATH, the interpreter and the symlink chain, and the program runs there', async () => {
    const dir = tmpDir();
    await build(dir);
    const root = path.join(dir, 'root');
    const view = new DirView(root);
    const c = closureOf(view, [{ path: '/usr/bin/app', why: 'test' }]);
    expect(c.problems).toEqual([]);
    const paths = [...c.paths.keys()].sort();
    expect(paths).toEqual(['lib', 'lib64', 'opt/app/bin/main-rpath', 'opt/app/lib/libb.so.1', 'opt/app/lib/libb.so.1.0', 'opt/other/liba.so', 'usr/bin/app', 'usr/lib/x86_64-linux-gnu/libc.so.6', 'usr/lib64/ld-linux-x86-64.so.2']);
    // the truth: the program runs in a tree of exactly these files
    const min = path.join(dir, 'min');
    for (const p of paths) {
      fs.mkdirSync(path.dirname(path.join(min, p)), { recursive: true });
      fs.cpSync(path.join(root, p), path.join(min, p), { verbatimSymlinks: true });
    }
    // with /proc, as in a container: ld.so takes the program's $ORIGIN from /proc/self/exe (its real path)
    fs.mkdirSync(path.join(min, 'proc'));
    const r = await execa('unshare', ['--mount', '--pid', '--fork', 'sh', '-c', 'mount -t proc proc "$1/proc" && exec chroot "$1" /usr/bin/app', 'sh', min], { reject: false });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('8');
    expect(r.exitCode).toBe(8);
  });

  it('RUNPATH is searched for the object only; a library missing from the tree is an error naming the directories', async () => {
    const dir = tmpDir();
    await build(dir);
    const root = path.join(dir, 'root');
    const ok = closureOf(new DirView(root), [{ path: '/opt/app/bin/main-runpath', why: 'test' }]);
    expect(ok.problems).toEqual([]);
    fs.rmSync(path.join(root, 'opt/other/liba.so'));
    const bad = closureOf(new DirView(root), [{ path: '/opt/app/bin/main-runpath', why: 'test' }]);
    expect(bad.problems).toHaveLength(1);
    expect(bad.problems[0]!.code).toBe('LIB_UNRESOLVED');
    expect(bad.problems[0]!.message).toContain('liba.so, needed by /opt/app/lib/libb.so.1.0');
    expect(bad.problems[0]!.message).toContain('/opt/other');
  });

  it('passes over a library of another architecture and reports it when nothing else is there', async () => {
    const dir = tmpDir();
    await build(dir);
    const root = path.join(dir, 'root');
    const armhf = path.join(process.cwd(), 'test/.cache/busybox-armhf');
    fs.copyFileSync(armhf, path.join(root, 'opt/other/liba.so'));
    const c = closureOf(new DirView(root), [{ path: '/usr/bin/app', why: 'test' }]);
    expect(c.problems.map((p) => p.code)).toEqual(['LIB_WRONG_ARCH']);
    expect(c.problems[0]!.message).toContain('/opt/other/liba.so (ELF 32-bit LSB ARM');
  });

  it('reads /etc/ld.so.conf with include globs, relative includes and comments', () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'etc/ld.so.conf.d'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'etc/more'));
    fs.writeFileSync(path.join(dir, 'etc/ld.so.conf'), '# comment\n/opt/first\ninclude ld.so.conf.d/*.conf\ninclude /etc/more/x.conf\n');
    fs.writeFileSync(path.join(dir, 'etc/ld.so.conf.d/b.conf'), '/opt/b # trailing comment\n');
    fs.writeFileSync(path.join(dir, 'etc/ld.so.conf.d/a.conf'), '/opt/a1:/opt/a2\n');
    fs.writeFileSync(path.join(dir, 'etc/ld.so.conf.d/a.txt'), '/opt/not-included\n');
    fs.writeFileSync(path.join(dir, 'etc/more/x.conf'), '/opt/x\ninclude /etc/ld.so.conf\n');
    expect(ldSoConfDirs(new DirView(dir))).toEqual(['/opt/first', '/opt/a1', '/opt/a2', '/opt/b', '/opt/x']);
  });

  it('resolves symlinks inside the rootfs, never on the host', () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'usr/lib'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'usr/lib/real'), 'x');
    fs.symlinkSync('/usr/lib', path.join(dir, 'libdir'));
    fs.symlinkSync('../../../../../usr/lib/real', path.join(dir, 'usr/lib/up'));
    fs.symlinkSync('/etc/passwd', path.join(dir, 'hostfile'));
    fs.symlinkSync('loop2', path.join(dir, 'loop1'));
    fs.symlinkSync('loop1', path.join(dir, 'loop2'));
    const v = new DirView(dir);
    expect(resolve(v, '/libdir/real')).toEqual({ rel: 'usr/lib/real', chain: ['libdir'] });
    expect(resolve(v, 'usr/lib/up')).toEqual({ rel: 'usr/lib/real', chain: ['usr/lib/up'] });
    expect(resolve(v, '/hostfile').rel).toBeNull(); // /etc/passwd of the host is not in this tree
    expect(resolve(v, '/loop1').error).toMatch(/too many levels/);
  });
});

describe('archive index', () => {
  it('sees the same tree as the directory it was made from', async () => {
    const dir = tmpDir();
    const root = path.join(dir, 'root');
    fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
    fs.copyFileSync('/usr/bin/bash', path.join(root, 'usr/bin/bash'));
    fs.linkSync(path.join(root, 'usr/bin/bash'), path.join(root, 'usr/bin/sh'));
    fs.symlinkSync('usr/bin', path.join(root, 'bin'));
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc/ld.so.conf'), '/opt/x\n');
    await execa('tar', ['-cf', path.join(dir, 'r.tar'), '-C', root, '.']);
    const index = new ArchiveIndex({ hash: true });
    await readArchive(path.join(dir, 'r.tar'), probeArchive(path.join(dir, 'r.tar')), index);
    const dv = new DirView(root);
    for (const p of ['bin', 'etc/ld.so.conf']) expect(index.get(p)?.kind).toBe(dv.get(p)?.kind);
    // tar stores the data with the first name it meets, the other is a hard link to it
    expect([index.get('usr/bin/sh')?.kind, index.get('usr/bin/bash')?.kind].sort()).toEqual(['file', 'hardlink']);
    expect(index.elf('usr/bin/sh')).toEqual(dv.elf('usr/bin/bash'));
    expect(index.elf('usr/bin/bash')).toEqual(dv.elf('usr/bin/bash'));
    expect(ldSoConfDirs(index)).toEqual(['/opt/x']);
    expect(index.list('usr/bin')).toEqual(['bash', 'sh']);
    expect(index.totals().files).toBe(2);
  });
});

describe('closure for other architectures (Debian armhf and armel libc6)', () => {
  const deb = (arch: string) => path.join(process.cwd(), 'test/.cache', `deb-${arch}`);
  /** An ARM EABI5 program (hard or soft float) needing libc.so.6 through the armhf interpreter. */
  function program(float: 'hard' | 'soft'): Buffer {
    const flags = 0x05000000 | (float === 'hard' ? EF_ARM_ABI_FLOAT_HARD : EF_ARM_ABI_FLOAT_SOFT);
    return Buffer.from(buildElf({ bits: 32, littleEndian: true, machine: EM.ARM, flags, type: 3, interp: '/lib/ld-linux-armhf.so.3', needed: ['libc.so.6'] }).bytes);
  }
  function tree(): string {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'usr/bin'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'lib/arm-linux-gnueabihf'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'usr/lib/arm-linux-gnueabihf'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'usr/bin/prog'), program('hard'), { mode: 0o755 });
    for (const f of ['ld-linux-armhf.so.3', 'libc.so.6']) fs.copyFileSync(path.join(deb('armhf'), 'lib/arm-linux-gnueabihf', f), path.join(dir, 'lib/arm-linux-gnueabihf', f));
    fs.symlinkSync('arm-linux-gnueabihf/ld-linux-armhf.so.3', path.join(dir, 'lib/ld-linux-armhf.so.3'));
    return dir;
  }

  it('an armhf program finds armhf libc in the triplet directory, through the interpreter symlink', () => {
    const c = closureOf(new DirView(tree()), [{ path: '/usr/bin/prog', why: 'test' }]);
    expect(c.problems).toEqual([]);
    expect([...c.paths.keys()].sort()).toEqual(['lib/arm-linux-gnueabihf/ld-linux-armhf.so.3', 'lib/arm-linux-gnueabihf/libc.so.6', 'lib/ld-linux-armhf.so.3', 'usr/bin/prog']);
  });

  it('an armel libc first in the search path is passed over for the armhf one; alone, it is an error naming the float ABI', () => {
    const dir = tree();
    // ld.so.conf puts a directory with armel's libc first
    fs.mkdirSync(path.join(dir, 'etc'));
    fs.mkdirSync(path.join(dir, 'opt/armel'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'etc/ld.so.conf'), '/opt/armel\n');
    fs.copyFileSync(path.join(deb('armel'), 'lib/arm-linux-gnueabi/libc.so.6'), path.join(dir, 'opt/armel/libc.so.6'));
    const ok = closureOf(new DirView(dir), [{ path: '/usr/bin/prog', why: 'test' }]);
    expect(ok.problems).toEqual([]);
    expect(ok.paths.has('lib/arm-linux-gnueabihf/libc.so.6')).toBe(true);
    expect(ok.paths.has('opt/armel/libc.so.6')).toBe(false);

    fs.rmSync(path.join(dir, 'lib/arm-linux-gnueabihf/libc.so.6'));
    const bad = closureOf(new DirView(dir), [{ path: '/usr/bin/prog', why: 'test' }]);
    expect(bad.problems.map((p) => p.code)).toEqual(['LIB_WRONG_ARCH']);
    expect(bad.problems[0]!.message).toContain('/opt/armel/libc.so.6 (ELF 32-bit LSB ARM (soft-float))');
    expect(bad.problems[0]!.message).toContain('the process is ELF 32-bit LSB ARM (hard-float)');
  });

  it('an arm64 library for an armhf program is the wrong class and machine', () => {
    const dir = tree();
    fs.copyFileSync(path.join(deb('arm64'), 'lib/aarch64-linux-gnu/libc.so.6'), path.join(dir, 'lib/arm-linux-gnueabihf/libc.so.6'));
    const c = closureOf(new DirView(dir), [{ path: '/usr/bin/prog', why: 'test' }]);
    expect(c.problems.map((p) => p.code)).toEqual(['LIB_WRONG_ARCH']);
    expect(c.problems[0]!.message).toContain('ELF 64-bit LSB AArch64');
  });

  it('a root of another architecture than the program is reported', () => {
    const dir = tree();
    fs.writeFileSync(path.join(dir, 'usr/bin/soft'), program('soft'), { mode: 0o755 });
    const c = closureOf(new DirView(dir), [{ path: '/usr/bin/prog', why: 'test' }, { path: '/usr/bin/soft', why: 'a second root' }]);
    expect(c.problems.map((p) => p.code)).toContain('ELF_WRONG_ARCH');
  });
});

describe('dynamic linker rules on synthetic objects', () => {
  // x86-64 objects made by the test's ELF writer: enough for the closure, which reads only the ELF facts
  const X = { bits: 64 as const, littleEndian: true, machine: EM.X86_64 };
  const exe = (o: { interp?: string; needed?: string[]; rpath?: string; runpath?: string }) => Buffer.from(buildElf({ ...X, type: 3, interp: o.interp ?? '/lib64/ld-linux-x86-64.so.2', needed: o.needed ?? [], rpath: o.rpath, runpath: o.runpath }).bytes);
  const lib = (soname: string, o: { needed?: string[]; rpath?: string; runpath?: string } = {}) => Buffer.from(buildElf({ ...X, type: 3, soname, needed: o.needed ?? [], rpath: o.rpath, runpath: o.runpath }).bytes);
  function put(root: string, files: Record<string, Buffer | string>): void {
    for (const [p, data] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      if (typeof data === 'string') fs.symlinkSync(data, path.join(root, p));
      else fs.writeFileSync(path.join(root, p), data, { mode: 0o755 });
    }
  }
  const base = () => ({ 'lib64/ld-linux-x86-64.so.2': lib('ld-linux-x86-64.so.2'), 'lib/libc.so.6': lib('libc.so.6', { needed: ['ld-linux-x86-64.so.2'] }) });

  it("a dlopen()ed root finds its libraries through the program's RPATH; a name already loaded is not searched again", () => {
    const root = tmpDir();
    put(root, {
      ...base(),
      'usr/bin/ThunderPlugin': exe({ needed: ['libcore.so.1', 'libc.so.6'], rpath: '/opt/thunder/lib' }),
      'opt/thunder/lib/libcore.so.1': lib('libcore.so.1', { needed: ['libc.so.6'] }),
      'opt/thunder/lib/libhelper.so': lib('libhelper.so', { needed: ['libc.so.6'] }),
      // libhelper is only on the program's RPATH
      'usr/lib/thunder/plugins/libp.so': lib('libp.so', { needed: ['libhelper.so'] }),
      // with a RUNPATH of its own, the program's RPATH is not searched; libcore is loaded already
      'usr/lib/thunder/plugins/libq.so': lib('libq.so', { needed: ['libcore.so.1'], runpath: '/nowhere' }),
      'usr/lib/thunder/plugins/libr.so': lib('libr.so', { needed: ['libhelper.so'], runpath: '/nowhere' }),
    });
    const c = closureOf(new DirView(root), [
      { path: '/usr/bin/ThunderPlugin', why: 'program' },
      { path: '/usr/lib/thunder/plugins/libp.so', why: 'plugin' },
      { path: '/usr/lib/thunder/plugins/libq.so', why: 'plugin' },
    ]);
    expect(c.problems).toEqual([]);
    expect(c.paths.has('opt/thunder/lib/libhelper.so')).toBe(true);
    // libr asks for libhelper before anything loaded it: only /nowhere and the system directories are searched
    const r = closureOf(new DirView(root), [
      { path: '/usr/bin/ThunderPlugin', why: 'program' },
      { path: '/usr/lib/thunder/plugins/libr.so', why: 'plugin' },
    ]);
    expect(r.problems.map((p) => p.code)).toEqual(['LIB_UNRESOLVED']);
  });

  it('RUNPATH is not inherited (glibc), LD_LIBRARY_PATH comes before RUNPATH', () => {
    const root = tmpDir();
    put(root, {
      ...base(),
      'usr/bin/prog': exe({ needed: ['liba.so'], runpath: '/opt/a' }),
      'opt/a/liba.so': lib('liba.so', { needed: ['libb.so'] }),
      'opt/a/libb.so': lib('libb.so'),
      'opt/ld/liba.so': lib('liba.so', { needed: ['libb.so'] }),
    });
    const glibc = closureOf(new DirView(root), [{ path: '/usr/bin/prog', why: 'p' }]);
    // libb is only in the program's RUNPATH, which does not serve liba's own needs
    expect(glibc.problems.map((p) => p.code)).toEqual(['LIB_UNRESOLVED']);
    expect(glibc.problems[0]!.message).toContain('libb.so, needed by /opt/a/liba.so');
    const withLd = closureOf(new DirView(root), [{ path: '/usr/bin/prog', why: 'p' }], { ldLibraryPath: ['/opt/ld', '/opt/a'] });
    expect(withLd.paths.has('opt/ld/liba.so')).toBe(true);
    expect(withLd.problems).toEqual([]);
  });

  it('musl: /etc/ld-musl-ARCH.path named as the interpreter is, and RUNPATH of the loaders counts', () => {
    const root = tmpDir();
    put(root, {
      'lib/ld-musl-x86_64.so.1': lib('libc.musl-x86_64.so.1'),
      'usr/bin/prog': exe({ interp: '/lib/ld-musl-x86_64.so.1', needed: ['liba.so'], runpath: '/opt/a' }),
      'opt/a/liba.so': lib('liba.so', { needed: ['libb.so', 'libc.so'] }),
      'opt/a/libb.so': lib('libb.so'),
      'opt/musl/libc.so': '/lib/ld-musl-x86_64.so.1',
    });
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc/ld-musl-x86_64.path'), '/opt/musl\n/lib\n');
    const c = closureOf(new DirView(root), [{ path: '/usr/bin/prog', why: 'p' }]);
    expect(c.problems).toEqual([]);
    expect(c.paths.has('opt/a/libb.so')).toBe(true);
    expect(c.paths.has('opt/musl/libc.so')).toBe(true);
  });

  it('a directory root: a symlink loop is walked once, a link out of it is kept but not followed, hard links need their file', () => {
    const root = tmpDir();
    put(root, { ...base(), 'usr/bin/prog': exe({ needed: ['libc.so.6'] }), 'opt/kit/bin/tool': exe({ needed: ['libc.so.6'] }), 'opt/kit/X11': '.', 'opt/kit/all': '/', 'opt/kit/up': '..' });
    const c = closureOf(new DirView(root), [{ path: '/usr/bin/prog', why: 'p' }, { path: '/opt/kit', why: 'kit' }]);
    expect(c.problems).toEqual([]);
    expect([...c.paths.keys()].filter((p) => p.startsWith('opt/')).sort()).toEqual(['opt/kit', 'opt/kit/X11', 'opt/kit/all', 'opt/kit/bin', 'opt/kit/bin/tool', 'opt/kit/up']);
  });

  it('each program is a process of its own: another program\'s RPATH and loaded names do not serve it', () => {
    const root = tmpDir();
    put(root, {
      ...base(),
      'usr/bin/a': exe({ needed: ['libz.so.1', 'libc.so.6'], rpath: '/opt/a/lib' }),
      'opt/a/lib/libz.so.1': lib('libz.so.1', { needed: ['libc.so.6'] }),
      'usr/bin/b': exe({ needed: ['libz.so.1', 'libc.so.6'] }),
      'usr/lib/libz.so.1': lib('libz.so.1', { needed: ['libc.so.6'] }),
    });
    const c = closureOf(new DirView(root), [{ path: '/usr/bin/a', why: 'a' }, { path: '/usr/bin/b', why: 'b' }]);
    expect(c.problems).toEqual([]);
    expect(c.paths.has('opt/a/lib/libz.so.1')).toBe(true);
    expect(c.paths.has('usr/lib/libz.so.1')).toBe(true);
  });

  it('a kept dangling symlink is kept as it is (etc/resolv.conf -> ../tmp/resolv.conf)', () => {
    const root = tmpDir();
    put(root, { ...base(), 'usr/bin/prog': exe({ needed: ['libc.so.6'] }), 'etc/resolv.conf': '../tmp/resolv.conf' });
    const c = new Closure(new DirView(root));
    c.add({ path: '/usr/bin/prog', why: 'p' });
    expect(c.add({ path: '/etc/resolv.conf', why: 'kept' }, true)).toBe(true);
    expect(c.result.problems).toEqual([]);
    expect(c.result.paths.get('etc/resolv.conf')).toBe('kept');
  });

  it('a kept file is checked leniently: a foreign static blob is fine, a missing library is a warning', () => {
    const root = tmpDir();
    put(root, { ...base(), 'usr/bin/prog': exe({ needed: ['libc.so.6'] }), 'usr/bin/extra': exe({ needed: ['libgone.so'] }) });
    fs.mkdirSync(path.join(root, 'lib/firmware'));
    fs.copyFileSync(path.join(process.cwd(), 'test/.cache/busybox-armhf'), path.join(root, 'lib/firmware/coproc.elf'));
    const c = new Closure(new DirView(root));
    c.add({ path: '/usr/bin/prog', why: 'p' });
    c.add({ path: '/lib/firmware', why: 'kept' }, true);
    c.add({ path: '/usr/bin/extra', why: 'kept' }, true);
    expect(c.result.problems.map((p) => [p.code, p.severity])).toEqual([['LIB_UNRESOLVED', 'warning']]);
  });
});

describe('archive index details', () => {
  const meta = (p: string, kind: 'file' | 'hardlink', size = 0, linkpath?: string) => ({ path: p, kind, mode: 0o755, uid: 0, gid: 0, mtime: 0, size, ...(linkpath ? { linkpath } : {}) });
  it('finds an ELF file whose bytes arrive one at a time (a decompressor may split anywhere)', () => {
    const bytes = Buffer.from(readFileBash());
    const index = new ArchiveIndex({ hash: false });
    const sink = index.entry(meta('usr/bin/bash', 'file', bytes.length))!;
    for (let i = 0; i < 64; i++) sink.write(bytes.subarray(i, i + 1));
    sink.write(bytes.subarray(64));
    sink.end();
    expect(index.elf('usr/bin/bash')).toEqual(new DirView('/').elf('usr/bin/bash'));
  });

  it('a hard link keeps the file as it was when the link was read, as tar extracts it', () => {
    const index = new ArchiveIndex({ hash: true });
    const write = (p: string, data: string) => {
      const s = index.entry(meta(p, 'file', data.length))!;
      s.write(Buffer.from(data));
      s.end();
    };
    write('a', 'version 1');
    index.entry(meta('b', 'hardlink', 0, 'a'));
    write('a', 'version 2 is longer');
    expect(index.read('b', 100)?.toString()).toBe('version 1');
    expect(index.read('a', 100)?.toString()).toBe('version 2 is longer');
    expect(index.sha256('b')).not.toBe(index.sha256('a'));
  });
});

function readFileBash(): Buffer {
  return fs.readFileSync('/usr/bin/bash');
}
