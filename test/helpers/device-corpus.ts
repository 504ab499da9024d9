import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { ArchiveEntry } from '../../src/rootfs/archive-writer.js';
import type { ContainerInput } from '../../src/profile/input.js';
import { busyboxRootfs, deviceImage } from './device-image.js';
import { prepareIn } from './prepare.js';
import { START_SYSCALLS } from '../../src/thunder/doctor/seccomp-policy.js';

// The public corpus of the doctor: containers as integrators make and break them, each built
// here by code (a BusyBox image root from device-image.ts, a container prepared into it with
// prepare's library, then one breakage), each naming the doctor rules it exercises
// (src/thunder/doctor/rules.ts; none for a good one) and the start verdict a device-faithful
// start gave when it was written (liblxc 5.0.2, Debian 12). test/e2e/doctor-corpus.test.ts
// starts every case for real: the verdict must not have changed, and the doctor's must equal it.
//
// ThunderPlugin is a shell script printing MARKER: the case "started" when the marker is seen
// (the plugin host really ran, not only its exec: "#!/usr/bin/env bash" without bash execs env).

export const MARKER = 'TBX-CORPUS-THUNDERPLUGIN-RAN';
const PLUGIN = `#!/bin/sh\necho ${MARKER}\n`;

export interface CaseImage {
  target: string;
  callsign: string;
  /** Device path of the lxcpath. */
  lxcpath: string;
  /** The container dir, its rootfs and its config on this host. */
  dir: string;
  rootfs: string;
  config: string;
  /** A named network namespace the start runs in (network cases). */
  netns?: string;
}

export interface CorpusCase {
  name: string;
  /** Rule ids this case exercises (empty for a good case). */
  rules: string[];
  /** The start verdict when the case was written: true for the good ones. */
  starts: boolean;
  input?: ContainerInput;
  /** The network namespace the start needs, set up as the device would be at boot: bridges as NAME or NAME=ADDRESS/PREFIX. */
  net?: { bridges: string[] };
  /** The breakage (or the extra of a good case), applied after prepare. */
  apply?: (c: Tools) => void;
}

export interface Tools extends CaseImage {
  /** Append lines to the container's config. */
  append(...lines: string[]): void;
  /** Replace text in the container's config (must match). */
  sub(from: string | RegExp, to: string): void;
  /** Write a file at a device path of the image (parents made 0755). */
  image(devicePath: string, text: string | Buffer, mode?: number): string;
  /** Write a file at a path of the rootfs, owned by the container's root. */
  inRootfs(p: string, text: string, mode?: number): string;
  /** A device path of the image on this host. */
  host(devicePath: string): string;
}

const script = (body: string) => `#!/bin/sh\n${body}\n`;

function tools(c: CaseImage): Tools {
  const owner = fs.statSync(c.rootfs);
  const mkParents = (file: string, root: string, uid = 0, gid = 0) => {
    const rel = path.relative(root, path.dirname(file)).split(path.sep).filter(Boolean);
    let at = root;
    for (const part of rel) {
      at = path.join(at, part);
      if (!fs.existsSync(at)) {
        fs.mkdirSync(at, { mode: 0o755 });
        fs.chmodSync(at, 0o755);
        fs.lchownSync(at, uid, gid);
      }
    }
  };
  return {
    ...c,
    append: (...lines) => fs.appendFileSync(c.config, lines.map((l) => `${l}\n`).join('')),
    sub: (from, to) => {
      const text = fs.readFileSync(c.config, 'utf8');
      const next = text.replace(from, to);
      if (next === text) throw new Error(`corpus: ${String(from)} is not in ${c.config}`);
      fs.writeFileSync(c.config, next);
    },
    image: (p, text, mode = 0o644) => {
      const file = path.join(c.target, p);
      mkParents(file, c.target);
      fs.writeFileSync(file, text);
      fs.chmodSync(file, mode);
      return file;
    },
    inRootfs: (p, text, mode = 0o644) => {
      const file = path.join(c.rootfs, p);
      mkParents(file, c.rootfs, owner.uid, owner.gid);
      fs.writeFileSync(file, text);
      fs.chmodSync(file, mode);
      fs.lchownSync(file, owner.uid, owner.gid);
      return file;
    },
    host: (p) => path.join(c.target, p),
  };
}

/** The image's own newuidmap/newgidmap (setuid root) with the libraries they load, as a glibc device has them. */
function installNewuidmap(t: Tools): void {
  for (const tool of ['/usr/bin/newuidmap', '/usr/bin/newgidmap']) {
    const libs = execFileSync('ldd', [tool], { encoding: 'utf8' }).split('\n').map((l) => /(\/\S+) \(0x/.exec(l)?.[1]).filter((x): x is string => !!x);
    for (const lib of libs) if (!fs.existsSync(t.host(lib))) t.image(lib, fs.readFileSync(lib), 0o755);
    t.image(tool, fs.readFileSync(tool), 0o755);
    fs.chmodSync(t.host(tool), 0o4755);
  }
}

/** An image with a container prepared into it, the case's breakage not yet applied. */
export async function buildCase(dir: string, c: CorpusCase, callsign: string): Promise<Tools> {
  const target = await deviceImage(dir);
  const extra: ArchiveEntry[] = [
    { path: 'usr', type: 'Directory', mode: 0o755, mtime: 1700000000 },
    { path: 'usr/bin', type: 'Directory', mode: 0o755, mtime: 1700000000 },
    { path: 'usr/bin/ThunderPlugin', type: 'File', mode: 0o755, data: PLUGIN, mtime: 1700000000 },
  ];
  const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'), { extra });
  const r = await prepareIn(target, callsign, { rootfs, ...c.input });
  const t = tools({ target, callsign, lxcpath: path.posix.join('/usr/share/Thunder', callsign), dir: r.dir, rootfs: path.join(r.dir, 'rootfs'), config: path.join(r.dir, 'config') });
  c.apply?.(t);
  return t;
}

const good = (name: string, rules: string[], apply?: (t: Tools) => void, input?: ContainerInput, net?: CorpusCase['net']): CorpusCase => ({ name, rules, starts: true, ...(apply ? { apply } : {}), ...(input ? { input } : {}), ...(net ? { net } : {}) });
const bad = (name: string, rules: string[], apply: (t: Tools) => void, input?: ContainerInput, net?: CorpusCase['net']): CorpusCase => ({ name, rules, starts: false, apply, ...(input ? { input } : {}), ...(net ? { net } : {}) });

const PRIV: ContainerInput = { idmap: { kind: 'none' } };
const hook = (t: Tools, at: string, body = 'exit 0', mode = 0o755) => t.image(at, script(body), mode);
const seccomp = (t: Tools, text: string) => {
  t.image('/etc/tbx/corpus.seccomp', text);
  t.append('lxc.seccomp.profile = /etc/tbx/corpus.seccomp');
};
const veth = (i: number, link: string, more: string[] = []) => [`lxc.net.${i}.type = veth`, `lxc.net.${i}.link = ${link}`, `lxc.net.${i}.flags = up`, `lxc.net.${i}.name = eth${i}`, ...more.map((m) => `lxc.net.${i}.${m}`)];
const noNet = (t: Tools) => t.sub('lxc.net.0.type = empty\n', '');
const S40 = (bridge: string) => script(`# made by thunderbox\nstart() {\n\tip link add name ${bridge} type bridge\n}\nstart`);

export const CORPUS: readonly CorpusCase[] = [
  // -- good ------------------------------------------------------------------------------
  good('good-unprivileged', ['architecture', 'ownership']),
  good('good-privileged', ['ownership'], undefined, PRIV),
  good('good-shared-uid', ['ownership'], undefined, { share: [{ uid: 1000, gid: 1000 }] }),
  good('good-mount', ['mount-points', 'traverse-mount-sources'], undefined, { mounts: [{ host: '/share', path: 'data', rw: true, optional: false }] }),
  good('good-seccomp-default', ['seccomp-state'], undefined, { seccomp: 'default' }),
  good('good-seccomp-off', ['seccomp-state'], undefined, { seccomp: 'off' }),
  good('good-seccomp-custom', ['seccomp-policy'], (t) => seccomp(t, '2\nblacklist\nreject_force_umount  # comment\n[all]\nkexec_load errno 1\nnot_a_syscall errno 1\n[x86_64]\nopen_by_handle_at errno 1\n')),
  good('good-seccomp-allowlist', ['seccomp-policy'], (t) => seccomp(t, `2\nallowlist\n${START_SYSCALLS.map((x) => (Array.isArray(x) ? x.join('\n') : x)).join('\n')}\n`)),
  good('good-hooks', ['hooks-host', 'hooks-start'], (t) => {
    hook(t, '/usr/share/tbx/pre-start');
    hook(t, '/usr/share/tbx/mount');
    hook(t, '/usr/share/tbx/start-host');
    t.inRootfs('/usr/share/tbx/start', script('exit 0'), 0o755);
    t.image('/etc/tbx/hooks.conf', 'lxc.hook.mount = /usr/share/tbx/mount\n');
    t.append('lxc.hook.pre-start = /usr/share/tbx/pre-start', 'lxc.include = /etc/tbx/hooks.conf', 'lxc.hook.start-host = /usr/share/tbx/start-host', 'lxc.hook.start = /usr/share/tbx/start', 'lxc.hook.stop = /usr/share/tbx/nowhere', 'lxc.hook.autodev = true');
  }),
  good('good-mount-dot-relative', ['mount-points'], (t) => {
    t.image('/share/keep', 'x\n');
    t.append('lxc.mount.entry = ./share mnt none rbind,create=dir 0 0');
  }),
  good('good-fstab', ['mount-fstab'], (t) => {
    t.image('/share/keep', 'x\n');
    t.image('/etc/tbx/corpus.fstab', '# a comment\n\n/share mnt none bind,create=dir 0 0\n');
    t.append('lxc.mount.fstab = /etc/tbx/corpus.fstab');
  }),
  good('good-sysctl-net', ['sysctl'], (t) => t.append('lxc.sysctl.net.ipv4.ip_local_port_range = 40000 50000')),
  good('good-init', ['init-cwd', 'init-ids'], (t) => t.append('lxc.init.cwd = /etc', 'lxc.init.uid = 1000', 'lxc.init.gid = 1000')),
  // this host mounts cgroup v1, as an image with cgroupfs-mount does
  good('good-cgroup-v1-limits', ['cgroup-limits'], (t) => {
    t.image('/usr/bin/cgroupfs-mount', script('exit 0'), 0o755);
    t.append('lxc.cgroup.memory.limit_in_bytes = 67108864', 'lxc.cgroup.pids.max = 64', 'lxc.cgroup.cpuset.cpus = 0', 'lxc.prlimit.nofile = 1024');
  }),
  // starts (liblxc drops the v2 keys with a warning): the doctor warns, no error
  good('cgroup-v2-limits-on-v1-image', ['cgroup-limits'], (t) => {
    t.image('/usr/bin/cgroupfs-mount', script('exit 0'), 0o755);
    t.append('lxc.cgroup2.memory.max = 67108864');
  }),
  good('good-prlimit', ['prlimit'], (t) => t.append('lxc.prlimit.nofile = 1024:4096', 'lxc.prlimit.nproc = 1', 'lxc.prlimit.core = 0')),
  good('good-prlimit-empty-hard', ['prlimit'], (t) => t.append('lxc.prlimit.nofile = 1024:', 'lxc.prlimit.core = -1')),
  good('good-newuidmap', ['newuidmap-subids'], (t) => {
    installNewuidmap(t);
    t.image('/etc/subuid', 'root:100000:30000\nroot:130000:35536\n');
    t.image('/etc/subgid', '0:100000:65536\n');
  }),
  good('good-newuidmap-not-setuid', ['newuidmap-subids'], (t) => {
    installNewuidmap(t);
    for (const tool of ['/usr/bin/newuidmap', '/usr/bin/newgidmap']) fs.chmodSync(t.host(tool), 0o755);
  }),
  good('good-env', ['environment-inherited'], (t) => t.append('lxc.environment = HOME', 'lxc.environment = TBX_CORPUS=with a value')),
  good('good-thunderplugin-plain-script', ['thunderplugin-exec'], (t) => t.inRootfs('/usr/bin/ThunderPlugin', `echo ${MARKER}\n`, 0o755)),
  good('good-rootfs-top-0700-mapped', ['traverse-container'], (t) => fs.chmodSync(t.rootfs, 0o700)),
  // Linux reads 256 bytes of a "#!" line: an interpreter name running past them is taken as
  // truncated (ENOEXEC) and execvp() runs the script with /bin/sh
  good('good-thunderplugin-shebang-past-256', ['thunderplugin-closure'], (t) => t.inRootfs('/usr/bin/ThunderPlugin', `#!   /opt/${'interpreter-'.repeat(24)}\necho ${MARKER}\n`, 0o755)),
  good('good-usr-bin-group', ['thunderplugin-exec'], (t) => {
    fs.chownSync(path.join(t.rootfs, 'usr/bin'), 0, 100000);
    fs.chmodSync(path.join(t.rootfs, 'usr/bin'), 0o750);
  }),
  good('good-console-log', ['console-log'], (t) => {
    t.image('/var/log/keep', '');
    t.append('lxc.console.logfile = /var/log/tbx-console.log');
  }),
  good('good-veth-bridge', ['net-bridge', 'net-hwaddr', 'net-gateway', 'net-veth-pair'], (t) => {
    t.image('/etc/init.d/S40thunderbox-net', S40('tbxbr0'), 0o755);
    noNet(t);
    t.append(...veth(0, 'tbxbr0', ['hwaddr = 02:16:3e:00:00:01', 'ipv4.address = 198.18.20.2/24', 'ipv4.gateway = 198.18.20.1', 'veth.pair = tbxgood0']));
  }, undefined, { bridges: ['tbxbr0'] }),
  // an included file's lxc.rootfs.path comes before the config's own line (common.conf is
  // included first): the own line wins
  good('good-rootfs-path-overridden', ['rootfs-path'], (t) => t.image('/usr/share/lxc/config/common.conf.d/60-corpus.conf', 'lxc.rootfs.path = dir:/var/lib/lxc/old/rootfs\n')),
  good('good-gateway-auto', ['net-gateway'], (t) => {
    t.image('/etc/init.d/S40thunderbox-net', script('start() {\n\tip link add name tbxbr0 type bridge\n\tip addr add 198.18.23.1/24 dev tbxbr0\n}\nstart'), 0o755);
    noNet(t);
    t.append(...veth(0, 'tbxbr0', ['ipv4.address = 198.18.23.2/24', 'ipv4.gateway = auto']));
  }, undefined, { bridges: ['tbxbr0=198.18.23.1/24'] }),
  good('good-routed', ['net-script-up'], (t) => {
    hook(t, '/etc/thunderbox/routed-up');
    noNet(t);
    t.append('lxc.net.0.type = veth', 'lxc.net.0.veth.mode = router', 'lxc.net.0.flags = up', 'lxc.net.0.ipv4.address = 198.18.21.2/32', 'lxc.net.0.script.up = /etc/thunderbox/routed-up');
  }, undefined, { bridges: [] }),

  // -- today's checks --------------------------------------------------------------------
  bad('config-unknown-key', ['lxc-config'], (t) => t.append('lxc.bogus.key = 1')),
  bad('config-include-missing', ['lxc-config'], (t) => t.append('lxc.include = /etc/lxc/nothere.conf')),
  bad('env-path-missing', ['environment-required'], (t) => {
    t.sub('lxc.environment = PATH\n', '');
    fs.renameSync(path.join(t.rootfs, 'usr/bin/ThunderPlugin'), t.inRootfs('/usr/sbin/ThunderPlugin', ''));
  }),
  // common.conf.d is read after common.conf's own line: its profile is the one loaded
  bad('seccomp-profile-in-common-conf-d', ['seccomp-state'], (t) => t.image('/usr/share/lxc/config/common.conf.d/60-corpus.conf', 'lxc.seccomp.profile = /usr/share/lxc/config/corpus-nothere.seccomp\n')),
  bad('seccomp-profile-missing', ['seccomp-state'], (t) => t.append('lxc.seccomp.profile = /etc/tbx/nothere.seccomp')),
  bad('rootfs-path-missing', ['rootfs-path'], (t) => t.sub(/^lxc\.rootfs\.path = .*$/m, 'lxc.rootfs.path = dir:/nowhere/rootfs')),
  // the last lxc.rootfs.path liblxc reads wins, wherever it is: here an include of an include after the own line
  bad('rootfs-path-in-include', ['rootfs-path'], (t) => {
    t.image('/etc/tbx/site-rootfs.conf', 'lxc.rootfs.path = dir:/var/lib/lxc/old/rootfs\n');
    t.image('/etc/tbx/site.conf', 'lxc.include = /etc/tbx/site-rootfs.conf\n');
    t.append('lxc.include = /etc/tbx/site.conf');
  }),
  bad('mount-proc-symlink', ['mount-points'], (t) => {
    fs.rmSync(path.join(t.rootfs, 'proc'), { recursive: true });
    fs.symlinkSync('/dev/null', path.join(t.rootfs, 'proc'));
  }),
  // an included file's mount entries are mounted like the config's own (here an include of an include)
  bad('mount-in-include-no-target', ['mount-points'], (t) => {
    t.image('/share/keep', 'x\n');
    t.image('/etc/tbx/mounts-inner.conf', 'lxc.mount.entry = /share srv/share none bind 0 0\n');
    t.image('/etc/tbx/mounts.conf', 'lxc.include = /etc/tbx/mounts-inner.conf\n');
    t.append('lxc.include = /etc/tbx/mounts.conf');
  }),
  bad('mount-source-missing', ['mount-points'], (t) => t.append('lxc.mount.entry = /nothere data none bind,create=dir 0 0')),
  // liblxc walks a relative bind source from / without its first component: data/share is /share
  bad('mount-source-relative', ['mount-points'], (t) => {
    t.image('/data/share/keep', 'x\n');
    t.append('lxc.mount.entry = data/share mnt none bind,create=dir 0 0');
  }),
  bad('thunderplugin-missing', ['thunderplugin-closure'], (t) => fs.rmSync(path.join(t.rootfs, 'usr/bin/ThunderPlugin'))),
  // liblxc execvp()s the init with Thunder's PATH (BusyBox init's: no /usr/local)
  bad('thunderplugin-off-thunder-path', ['thunderplugin-closure'], (t) => {
    fs.rmSync(path.join(t.rootfs, 'usr/bin/ThunderPlugin'));
    t.inRootfs('/usr/local/sbin/ThunderPlugin', PLUGIN, 0o755);
  }),
  bad('thunderplugin-interpreter-missing', ['thunderplugin-closure'], (t) => t.inRootfs('/usr/bin/ThunderPlugin', `#!/bin/bash\necho ${MARKER}\n`, 0o755)),

  // -- programs liblxc runs: hooks ---------------------------------------------------------
  bad('hook-pre-start-missing', ['hooks-host'], (t) => t.append('lxc.hook.pre-start = /usr/share/tbx/nothere')),
  bad('hook-pre-start-not-executable', ['hooks-host'], (t) => {
    hook(t, '/usr/share/tbx/hook', 'exit 0', 0o644);
    t.append('lxc.hook.pre-start = /usr/share/tbx/hook');
  }),
  bad('hook-pre-start-exits-1', ['hooks-host'], (t) => {
    hook(t, '/usr/share/tbx/hook', '# nothing to do yet\nexit 1');
    t.append('lxc.hook.pre-start = /usr/share/tbx/hook');
  }),
  bad('hook-mount-false', ['hooks-host'], (t) => t.append('lxc.hook.mount = false')),
  bad('hook-pre-start-interpreter-missing', ['hooks-host'], (t) => {
    t.image('/usr/share/tbx/hook', '#!/bin/bash\nexit 0\n', 0o755);
    t.append('lxc.hook.pre-start = /usr/share/tbx/hook');
  }),
  bad('hook-pre-start-crlf', ['hooks-host'], (t) => {
    t.image('/usr/share/tbx/hook', '#!/bin/sh\r\nexit 0\r\n', 0o755);
    t.append('lxc.hook.pre-start = /usr/share/tbx/hook');
  }),
  bad('hook-in-include', ['hooks-host'], (t) => {
    t.image('/etc/tbx/extra.conf', 'lxc.hook.pre-start = /usr/share/tbx/nothere\n');
    t.append('lxc.include = /etc/tbx/extra.conf');
  }),
  bad('hook-in-include-of-include', ['hooks-host'], (t) => {
    t.image('/etc/tbx/inner.conf', 'lxc.hook.mount = /usr/share/tbx/nothere\n');
    t.image('/etc/tbx/outer.conf', 'lxc.include = /etc/tbx/inner.conf\n');
    t.append('lxc.include = /etc/tbx/outer.conf');
  }),
  bad('hook-in-common-conf-d', ['hooks-host'], (t) => t.image('/usr/share/lxc/config/common.conf.d/60-corpus.conf', 'lxc.hook.autodev = /usr/share/tbx/nothere\n')),
  bad('hook-mount-only-in-rootfs', ['hooks-host'], (t) => {
    t.inRootfs('/usr/share/tbx/mount', script('exit 0'), 0o755);
    t.append('lxc.hook.mount = /usr/share/tbx/mount');
  }),
  bad('hook-start-host-only-in-rootfs', ['hooks-host'], (t) => {
    t.inRootfs('/usr/share/tbx/start-host', script('exit 0'), 0o755);
    t.append('lxc.hook.start-host = /usr/share/tbx/start-host');
  }),
  bad('hook-start-not-in-rootfs', ['hooks-start'], (t) => {
    hook(t, '/usr/share/tbx/start');
    t.append('lxc.hook.start = /usr/share/tbx/start');
  }),
  bad('hook-start-with-arguments', ['hooks-start'], (t) => {
    t.inRootfs('/usr/share/tbx/start', script('exit 0'), 0o755);
    t.append('lxc.hook.start = /usr/share/tbx/start now');
  }),
  bad('hook-start-not-executable', ['hooks-start'], (t) => {
    t.inRootfs('/usr/share/tbx/start', script('exit 0'), 0o644);
    t.append('lxc.hook.start = /usr/share/tbx/start');
  }),

  // -- directories the container's root must enter -------------------------------------
  bad('traverse-container-dir-0700', ['traverse-container'], (t) => fs.chmodSync(t.dir, 0o700)),
  bad('traverse-lxcpath-0700', ['traverse-container'], (t) => fs.chmodSync(path.dirname(t.dir), 0o700)),
  bad('traverse-datapath-0700', ['traverse-container'], (t) => fs.chmodSync(t.host('/usr/share/Thunder'), 0o700)),
  bad('traverse-rootfs-top-0700', ['traverse-container'], (t) => {
    fs.chownSync(t.rootfs, 0, 0);
    fs.chmodSync(t.rootfs, 0o700);
  }),
  bad('traverse-mount-source-parent', ['traverse-mount-sources'], (t) => {
    t.image('/share/data/keep', 'x\n');
    fs.chmodSync(t.host('/share'), 0o700);
    t.append('lxc.mount.entry = /share/data mnt none bind,create=dir 0 0');
  }),

  // -- ThunderPlugin itself ---------------------------------------------------------------
  bad('thunderplugin-not-executable', ['thunderplugin-exec'], (t) => fs.chmodSync(path.join(t.rootfs, 'usr/bin/ThunderPlugin'), 0o644)),
  bad('thunderplugin-crlf', ['thunderplugin-exec'], (t) => t.inRootfs('/usr/bin/ThunderPlugin', `#!/bin/sh\r\necho ${MARKER}\r\n`, 0o755)),
  bad('thunderplugin-root-0700', ['thunderplugin-exec'], (t) => {
    const p = path.join(t.rootfs, 'usr/bin/ThunderPlugin');
    fs.chownSync(p, 0, 0);
    fs.chmodSync(p, 0o700);
  }),
  bad('thunderplugin-dir-0700', ['thunderplugin-exec'], (t) => {
    fs.chownSync(path.join(t.rootfs, 'usr/bin'), 0, 0);
    fs.chmodSync(path.join(t.rootfs, 'usr/bin'), 0o700);
  }),
  bad('thunderplugin-env-bash', ['thunderplugin-closure'], (t) => {
    fs.symlinkSync('/bin/busybox', path.join(t.rootfs, 'usr/bin/env'));
    t.inRootfs('/usr/bin/ThunderPlugin', `#!/usr/bin/env bash\necho ${MARKER}\n`, 0o755);
  }),

  // -- the seccomp profile, as liblxc parses it ---------------------------------------------
  bad('seccomp-bad-version', ['seccomp-policy'], (t) => seccomp(t, 'version 2\ndenylist\n')),
  bad('seccomp-bad-policy', ['seccomp-policy'], (t) => seccomp(t, '2\nblocklist\nkexec_load errno 1\n')),
  bad('seccomp-debug', ['seccomp-policy'], (t) => seccomp(t, '2\ndenylist debug\n')),
  bad('seccomp-bad-action', ['seccomp-policy'], (t) => seccomp(t, '2\ndenylist\nkexec_load deny\n')),
  bad('seccomp-errno-without-number', ['seccomp-policy'], (t) => seccomp(t, '2\ndenylist\nkexec_load errno\n')),
  bad('seccomp-bad-arch', ['seccomp-policy'], (t) => seccomp(t, '2\ndenylist\n[sparc]\nkexec_load errno 1\n')),
  bad('seccomp-allowlist-too-short', ['seccomp-policy'], (t) => seccomp(t, '2\nallowlist\nwrite\nread\n')),
  bad('seccomp-denies-execve', ['seccomp-policy'], (t) => seccomp(t, '2\ndenylist\nexecve errno 1\n')),
  bad('seccomp-denylist-default-errno', ['seccomp-policy'], (t) => seccomp(t, '2\ndenylist errno 38\nkexec_load errno 1\n')),
  bad('seccomp-v1-denylist', ['seccomp-policy'], (t) => seccomp(t, '1\ndenylist\n')),

  // -- lxc.mount.fstab -----------------------------------------------------------------
  bad('fstab-missing', ['mount-fstab'], (t) => t.append('lxc.mount.fstab = /etc/tbx/nothere.fstab')),
  bad('fstab-three-fields', ['mount-fstab'], (t) => {
    t.image('/share/keep', 'x\n');
    t.image('/etc/tbx/corpus.fstab', '/share mnt none\n');
    t.append('lxc.mount.fstab = /etc/tbx/corpus.fstab');
  }),
  bad('fstab-source-missing', ['mount-fstab'], (t) => {
    t.image('/etc/tbx/corpus.fstab', '/nothere mnt none bind,create=dir 0 0\n');
    t.append('lxc.mount.fstab = /etc/tbx/corpus.fstab');
  }),

  // -- the image's newuidmap and subordinate ids --------------------------------------------
  bad('subuid-missing', ['newuidmap-subids'], (t) => installNewuidmap(t)),
  bad('subuid-too-short', ['newuidmap-subids'], (t) => {
    installNewuidmap(t);
    t.image('/etc/subuid', 'root:100000:1000\n');
    t.image('/etc/subgid', 'root:100000:65536\n');
  }),
  bad('subgid-missing', ['newuidmap-subids'], (t) => {
    installNewuidmap(t);
    t.image('/etc/subuid', 'root:100000:65536\n');
  }),
  bad('subuid-other-user', ['newuidmap-subids'], (t) => {
    installNewuidmap(t);
    t.image('/etc/subuid', 'thunder:100000:65536\n');
    t.image('/etc/subgid', 'root:100000:65536\n');
  }),
  bad('newuidmap-no-passwd', ['newuidmap-subids'], (t) => {
    installNewuidmap(t);
    t.image('/etc/subuid', 'root:100000:65536\n');
    t.image('/etc/subgid', 'root:100000:65536\n');
    t.image('/etc/passwd', 'thunder:x:1000:1000::/:/bin/sh\n');
  }),

  // -- settings the kernel refuses ------------------------------------------------------
  bad('prlimit-nofile-3', ['prlimit'], (t) => t.append('lxc.prlimit.nofile = 3')),
  bad('prlimit-soft-over-hard', ['prlimit'], (t) => t.append('lxc.prlimit.nofile = 4096:1024')),
  bad('prlimit-nofile-over-nr-open', ['prlimit'], (t) => t.append('lxc.prlimit.nofile = unlimited')),
  bad('prlimit-unknown', ['prlimit'], (t) => t.append('lxc.prlimit.files = 1024')),
  bad('prlimit-fsize-0', ['prlimit'], (t) => t.append('lxc.prlimit.fsize = 0')),
  // read as liblxc reads them: an empty soft part is 0, -1 wraps to unlimited
  bad('prlimit-nofile-empty-soft', ['prlimit'], (t) => t.append('lxc.prlimit.nofile = :1024')),
  bad('prlimit-nofile-minus-one', ['prlimit'], (t) => t.append('lxc.prlimit.nofile = -1')),
  bad('tty-max-4000', ['tty-max'], (t) => t.append('lxc.tty.max = 4000')),
  bad('sysctl-kernel-pid-max', ['sysctl'], (t) => t.append('lxc.sysctl.kernel.pid_max = 32768')),
  bad('sysctl-net-unknown', ['sysctl'], (t) => t.append('lxc.sysctl.net.core.tbx_corpus_nothere = 1')),
  bad('proc-oom-score-negative', ['proc-oom'], (t) => t.append('lxc.proc.oom_score_adj = -17')),
  bad('net-gateway-twice', ['net-gateway'], (t) => {
    t.image('/etc/init.d/S40thunderbox-net', S40('tbxbr0'), 0o755);
    noNet(t);
    t.append(...veth(0, 'tbxbr0', ['ipv4.address = 198.18.30.2/24', 'ipv4.gateway = 198.18.30.1']), ...veth(1, 'tbxbr0', ['ipv4.address = 198.18.31.2/24', 'ipv4.gateway = 198.18.31.1']));
  }, undefined, { bridges: ['tbxbr0'] }),
  // the bridge made by ifupdown without an address: gateway auto has nothing to take
  bad('net-gateway-auto-no-address', ['net-gateway'], (t) => {
    t.image('/etc/network/interfaces', 'auto lo\niface lo inet loopback\n\nauto tbxbr0\niface tbxbr0 inet manual\n\tbridge_ports none\n');
    noNet(t);
    t.append(...veth(0, 'tbxbr0', ['ipv4.address = 198.18.24.2/24', 'ipv4.gateway = auto']));
  }, undefined, { bridges: ['tbxbr0'] }),
  bad('net-hwaddr-multicast', ['net-hwaddr'], (t) => {
    t.image('/etc/init.d/S40thunderbox-net', S40('tbxbr0'), 0o755);
    noNet(t);
    t.append(...veth(0, 'tbxbr0', ['hwaddr = 01:16:3e:00:00:01']));
  }, undefined, { bridges: ['tbxbr0'] }),
  bad('net-script-up-missing', ['net-script-up'], (t) => {
    noNet(t);
    t.append('lxc.net.0.type = veth', 'lxc.net.0.veth.mode = router', 'lxc.net.0.flags = up', 'lxc.net.0.ipv4.address = 198.18.32.2/32', 'lxc.net.0.script.up = /etc/thunderbox/routed-up');
  }, undefined, { bridges: [] }),
  // rcS runs /etc/init.d/S??* only: a script of another name never makes the bridge
  bad('net-bridge-script-not-run', ['net-bridge'], (t) => {
    t.image('/etc/init.d/bridge-setup', S40('tbxbr2'), 0o755);
    noNet(t);
    t.append(...veth(0, 'tbxbr2'));
  }, undefined, { bridges: [] }),
  bad('net-veth-pair-is-bridge', ['net-veth-pair'], (t) => {
    t.image('/etc/init.d/S40thunderbox-net', S40('tbxbr3'), 0o755);
    noNet(t);
    t.append(...veth(0, 'tbxbr3', ['veth.pair = tbxbr3']));
  }, undefined, { bridges: ['tbxbr3'] }),
  bad('net-phys-not-made', ['net-phys'], (t) => {
    noNet(t);
    t.append('lxc.net.0.type = phys', 'lxc.net.0.link = dummy0', 'lxc.net.0.flags = up');
  }, undefined, { bridges: [] }),
  bad('net-bridge-missing', ['net-bridge'], (t) => {
    noNet(t);
    t.append(...veth(0, 'tbxbr9'));
  }, undefined, { bridges: [] }),

  // -- lxc.init.cwd, lxc.init.uid / gid ------------------------------------------------
  bad('init-cwd-missing', ['init-cwd'], (t) => t.append('lxc.init.cwd = /srv/nothere')),
  bad('init-cwd-file', ['init-cwd'], (t) => t.append('lxc.init.cwd = /etc/passwd')),
  bad('init-cwd-denied', ['init-cwd'], (t) => {
    fs.mkdirSync(path.join(t.rootfs, 'srv'), { mode: 0o700 });
    fs.chmodSync(path.join(t.rootfs, 'srv'), 0o700);
    t.append('lxc.init.cwd = /srv');
  }),
  bad('idmap-cleared-in-config', ['idmap-clear'], (t) => t.append('lxc.idmap =', 'lxc.idmap = u 0 100000 65536', 'lxc.idmap = g 0 100000 65536')),
  bad('init-uid-unmapped', ['init-ids'], (t) => t.append('lxc.init.uid = 70000')),
  bad('init-gid-unmapped', ['init-ids'], (t) => t.append('lxc.init.gid = 70000')),

  // -- the console log, opened on the device's side ------------------------------------------
  // an image root without /run (not Buildroot's skeleton): liblxc's lock directory
  bad('image-without-run', ['run-dir'], (t) => fs.rmSync(t.host('/run'), { recursive: true, force: true })),
  bad('console-log-dir-missing', ['console-log'], (t) => t.append('lxc.console.logfile = /var/log/tbx-nothere/console.log')),
  // /var/log a symlink into /run (a tmpfs at boot): what the image holds there is hidden
  bad('console-log-symlink-to-run', ['console-log'], (t) => {
    t.image('/run/log/keep', '');
    fs.mkdirSync(t.host('/var'), { recursive: true });
    fs.symlinkSync('/run/log', t.host('/var/log'));
    t.append('lxc.console.logfile = /var/log/console.log');
  }),
  bad('console-log-under-tmp', ['console-log'], (t) => {
    t.image('/tmp/tbx-logs/keep', 'the device mounts a tmpfs on /tmp at boot\n');
    t.append('lxc.console.logfile = /tmp/tbx-logs/console.log');
  }),

  // -- lxc.environment names Thunder does not have ---------------------------------------
  bad('env-unset-name', ['environment-inherited'], (t) => t.append('lxc.environment = TBX_NOT_IN_THUNDER')),
  bad('env-unset-in-include', ['environment-inherited'], (t) => t.image('/usr/share/lxc/config/common.conf.d/60-corpus.conf', 'lxc.environment = TBX_NOT_IN_THUNDER\n')),
];
