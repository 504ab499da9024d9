import fs from 'node:fs';
import path from 'node:path';
import { findNodeAtLocation, getNodeValue, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { lineCol, type Diagnostic } from '../../core/diagnostic.js';
import { resolveInTargetOrNull } from '../../core/target-path.js';
import { archOf } from '../../lxc/arch.js';
import { checkConfigText } from '../../lxc/check.js';
import { LXC_CONFIG_DIR } from '../../lxc/container-config.js';
import { entries, parseConfig, values, type ConfigLine } from '../../lxc/document.js';
import { includedConfigs } from '../../lxc/includes.js';
import { parseIdmapValue, toContainer, type IdMapLine } from '../../lxc/idmap.js';
import type { LxcVersion } from '../../lxc/keys.js';
import { fstabUnescape, mountFields } from '../../lxc/mount-entry.js';
import { parseTable } from '../../buildroot/permission-table.js';
import { REQUIRED_ENV, type EnvSpec } from '../../profile/spec.js';
import { closureOf } from '../../rootfs/closure.js';
import { EM, ET, describeElf, machineName, type ElfInfo } from '../../rootfs/elf.js';
import { DirView, resolve, type TreeView } from '../../rootfs/tree-view.js';
import { BASE_MOUNT_TARGETS, COMMON_CONF, TABLE_NAME, pluginJsonCandidates } from '../layout.js';
import { PROXYSTUB_DIRS, closureOptions, thunderRoots } from '../minimize.js';
import { MODE_PATH, parseJsonTree, pluginLocator, type PluginConfig } from '../plugin-json.js';
import { Findings, listed, statOrNull } from './findings.js';
import { TARGET_PROBES } from '../doctor-inputs.js';

// The doctor's first checks (before the start-time rule table, now rows of it, see rules.ts):
// the config as lxc check reads it, the environment Thunder needs, seccomp notes, the plugin
// JSON, the rootfs path, ThunderPlugin's closure, the architecture, mount points and owners.

/** Programs of the rootfs that tell its architecture when ThunderPlugin is not there. */
export const ROOTFS_PROBES = ['/bin/busybox', '/bin/sh', '/usr/bin/env', '/sbin/init', '/bin/ls'];
const MAX_SETID_FINDINGS = 20;

// ---------------------------------------------------------------------------------------
// the config

export interface OwnConfig {
  lines: ConfigLine[];
  last(key: string): ConfigLine | undefined;
  all(key: string): ConfigLine[];
  environment: EnvSpec[];
  idmap: IdMapLine[];
}

/** The container config's own entries (what the checks below read; includes are lxc check's). */
export function readOwnConfig(text: string, file: string): OwnConfig {
  const { doc } = parseConfig(text, file);
  const lines = entries(doc);
  const all = (key: string) => lines.filter((l) => l.key === key);
  let environment: EnvSpec[] = [];
  let idmap: IdMapLine[] = [];
  for (const l of lines) {
    const v = l.value ?? '';
    if (l.key === 'lxc.environment') {
      if (v === '') environment = [];
      else {
        const eq = v.indexOf('=');
        environment.push(eq === -1 ? { name: v.trim() } : { name: v.slice(0, eq).trim(), value: v.slice(eq + 1) });
      }
    } else if (l.key === 'lxc.idmap') {
      if (v === '') idmap = [];
      else {
        const r = parseIdmapValue(v);
        if (!('error' in r)) idmap.push(r);
      }
    }
  }
  return { lines, all, last: (key) => all(key).at(-1), environment, idmap };
}

export function checkLxc(f: Findings, text: string, configFile: string, target: string, version: LxcVersion): void {
  let ds: Diagnostic[];
  try {
    ds = checkConfigText(text, configFile, { version, sysroot: target });
  } catch (e) {
    f.error('CONFIG_UNREADABLE', `cannot check ${configFile}: ${e instanceof Error ? e.message : String(e)}`, 'make the config and its includes readable files');
    return;
  }
  const lxcDirMissing = !statOrNull(path.join(target, LXC_CONFIG_DIR))?.isDirectory();
  for (const d of ds) {
    if (d.code === 'LXC_PRLIMIT_START') continue; // the prlimit rule (limits.ts) says it, with the device's limits
    if (d.code === 'LXC_INCLUDE_MISSING' && lxcDirMissing && d.message.includes(`${LXC_CONFIG_DIR}/`)) {
      f.list.push({ ...d, message: `${d.message}: the image has no ${LXC_CONFIG_DIR} at all`, hint: 'build LXC into the image (Buildroot: BR2_PACKAGE_LXC=y); Thunder\'s container backend needs it on the device anyway' });
    } else {
      f.list.push({ ...d, hint: d.hint ?? 'see thunderbox lxc keys' });
    }
  }
}

export function checkEnvironment(f: Findings, cfg: OwnConfig, configFile: string): void {
  const names = new Set(cfg.environment.map((e) => e.name));
  for (const name of REQUIRED_ENV) {
    if (names.has(name)) continue;
    f.error('ENV_MISSING', `lxc.environment does not name ${name}: Thunder needs it in the container (${name === 'PATH' ? 'to find ThunderPlugin' : 'for its message dispatcher'})`, `add "lxc.environment = ${name}" (a bare name inherits Thunder's value; thunderbox prepare writes both)`, { file: configFile });
  }
}

/** `entries`: the config with everything it includes, in liblxc's order (view.ts flattenConfig): the last lxc.seccomp.profile wins. */
export function checkSeccomp(f: Findings, entries: readonly { key: string; value: string; file: string; line: number }[], configFile: string, target: string): void {
  const common = path.join(target, COMMON_CONF);
  const commonText = statOrNull(common)?.isFile() ? fs.readFileSync(common, 'utf8') : null;
  // the profile common.conf gives, with what it includes (common.conf.d/*.conf), the last one set
  const commonProfile = commonText === null ? undefined : includedConfigs(target, common, commonText).flatMap((c) => values(parseConfig(c.text, c.file).doc, 'lxc.seccomp.profile')).at(-1);
  // the container's view, in order: an include of common.conf sets its profile, a line of its own overrides what came before
  // (an included file's line counts where it is, as liblxc reads it)
  let profile: string | undefined;
  let from = '';
  let line: number | undefined;
  let file = configFile;
  for (const l of entries) {
    if (l.key !== 'lxc.seccomp.profile') continue;
    profile = l.value;
    from = l.file === configFile ? 'config' : path.resolve(l.file) === path.resolve(common) || l.file.startsWith(`${path.join(target, COMMON_CONF)}.d`) ? COMMON_CONF : l.file;
    line = l.line;
    file = l.file;
  }
  if (commonText === null) {
    f.note('SECCOMP_COMMON_CONF', `${common} does not exist: no global seccomp policy to report`, 'nothing to do unless the image should have LXC\'s common.conf', { file: common });
  } else if (commonProfile) {
    f.note('SECCOMP_COMMON_CONF', `common.conf sets lxc.seccomp.profile = ${commonProfile}: seccomp is on for every container that includes it`, 'to turn it off for this container only: thunderbox prepare --seccomp off (an empty lxc.seccomp.profile after the include)', { file: common });
  } else {
    f.note('SECCOMP_COMMON_CONF', `common.conf has no active lxc.seccomp.profile: seccomp is off for every container on the device`, 'prefer --seccomp off (this container only) over editing common.conf; restore the line to turn it back on', { file: common });
  }
  if (profile === undefined) {
    f.note('SECCOMP_STATE', 'seccomp: this container sets no lxc.seccomp.profile and does not get one from common.conf: no seccomp filter', 'nothing to do', { file: configFile });
  } else if (profile === '') {
    f.note('SECCOMP_STATE', `seccomp is off for this container (an empty lxc.seccomp.profile on line ${line}${file !== configFile ? ` of ${file}` : ''})`, 'remove that line to use common.conf\'s policy (thunderbox prepare --seccomp default)', { file, line });
  } else {
    f.note('SECCOMP_STATE', `seccomp is on for this container: profile ${profile}${from === COMMON_CONF ? ' (from common.conf)' : from !== 'config' ? ` (from ${file})` : ''}`, 'thunderbox prepare --seccomp off turns it off for this container only', { file, line });
    const host = resolveInTargetOrNull(target, profile);
    if (host === null || !statOrNull(host)?.isFile()) {
      f.error('SECCOMP_PROFILE_MISSING', `the seccomp profile ${profile} is not in the image (${host ?? path.join(target, profile)}): LXC fails to start the container`, 'install the profile file in the image, or turn seccomp off for this container (thunderbox prepare --seccomp off)', { file, ...(line !== undefined ? { line } : {}) });
    }
  }
}

export function checkPluginJson(f: Findings, target: string, callsign: string, given?: string, bundle = false): PluginConfig | undefined {
  const searched: string[] = [];
  for (const dev of given ? [given] : pluginJsonCandidates('', callsign)) {
    const host = given ?? resolveInTargetOrNull(target, dev);
    if (host === null) continue;
    searched.push(host);
    if (!statOrNull(host)?.isFile()) continue;
    const text = fs.readFileSync(host, 'utf8');
    const errors: ParseError[] = [];
    const tree = parseJsonTree(text, errors, { allowTrailingComma: true });
    const first = errors[0];
    if (first || !tree || tree.type !== 'object') {
      const { line } = lineCol(text, first?.offset ?? 0);
      f.error('PLUGIN_JSON_INVALID', `${host} is not a JSON object${first ? ` (${printParseErrorCode(first.error)})` : ''}: Thunder cannot load the plugin`, 'fix the JSON at that position', { file: host, line });
      return { file: host, locator: pluginLocator(text) };
    }
    const node = findNodeAtLocation(tree, [...MODE_PATH]);
    const mode = node ? getNodeValue(node) : undefined;
    const at = node ? lineCol(text, node.offset).line : undefined;
    if (mode !== 'Container') {
      const now = mode === undefined ? 'is not set (the plugin runs inside Thunder\'s own process)' : `is ${JSON.stringify(mode)}${mode === 'Local' ? ' (the plugin runs in a ThunderPlugin process on the device, outside the container)' : ''}`;
      f.error('PLUGIN_MODE', `configuration.root.mode in ${host} ${now}: Thunder does not start ${callsign} in its container`, `set "configuration": {"root": {"mode": "Container"}} (thunderbox prepare ${callsign} does, changing nothing else)`, { file: host, ...(at !== undefined ? { line: at } : {}) });
    }
    const typeNode = findNodeAtLocation(tree, ['configuration', 'root', 'configuration', 'containertype']);
    const ctype = typeNode ? getNodeValue(typeNode) : undefined;
    if (typeof ctype === 'string' && ctype.toLowerCase() === 'runc' && bundle) {
      // the container has an OCI bundle beside its LXC config (prepare --runtime runc or both): the oci-bundle rule checks it
      f.note('PLUGIN_CONTAINER_TYPE_RUNC', `configuration.root.configuration.containertype in ${host} is "runc": Thunder starts the OCI bundle (Container/config.json) with the image's /usr/bin/runc, not this LXC config`, 'the oci-bundle findings are the ones that matter for this plugin', { file: host, line: lineCol(text, typeNode!.offset).line });
    } else if (typeof ctype === 'string' && ctype.toLowerCase() === 'runc') {
      f.error('PLUGIN_CONTAINER_TYPE', `configuration.root.configuration.containertype in ${host} is "runc", but the container has no OCI bundle (Container/config.json): Thunder's runc backend finds nothing to start ("Runc container configuration for '${callsign}' not found")`, `prepare it with --runtime runc (or both), or set "containertype": "lxc"`, { file: host, line: lineCol(text, typeNode!.offset).line });
    } else if (typeof ctype === 'string' && ctype.toLowerCase() !== 'lxc') {
      f.error('PLUGIN_CONTAINER_TYPE', `configuration.root.configuration.containertype in ${host} is "${ctype}", not "lxc": Thunder hands the plugin to that backend, and this LXC container is never started`, 'set "containertype": "lxc", or remove it when Thunder is built with the LXC backend only', { file: host, line: lineCol(text, typeNode!.offset).line });
    }
    return { file: host, locator: pluginLocator(text) };
  }
  f.warning('PLUGIN_JSON_NOT_FOUND', `no plugin config for ${callsign}; searched ${searched.join(', ')}`, `install ${callsign}.json (from the plugin's package) with "configuration": {"root": {"mode": "Container"}}; thunderbox prepare sets the mode when the file is there`);
  return undefined;
}

// ---------------------------------------------------------------------------------------
// the rootfs

export interface Rootfs {
  /** The rootfs on this host. */
  host: string;
  /** lxc.rootfs.path without its backend prefix (a device path). */
  device: string;
}

/**
 * `l` is the last lxc.rootfs.path liblxc reads, the config's includes counted (an included file
 * that sets it after the config's own line wins); `file` is where that line is.
 */
export function checkRootfsPath(f: Findings, l: { value: string; line: number; file: string } | undefined, config: string, target: string, deviceDir: string): Rootfs | null {
  const configFile = l?.file ?? config;
  const expected = `dir:${deviceDir}/rootfs`;
  if (!l || !l.value) {
    f.error('ROOTFS_PATH_UNSET', 'the config sets no lxc.rootfs.path: LXC would run the container on the device\'s own root', `add "lxc.rootfs.path = ${expected}" (thunderbox prepare writes it)`, { file: configFile });
    return null;
  }
  const m = /^([a-z]+):(.*)$/.exec(l.value);
  if (m && m[1] !== 'dir') {
    f.note('ROOTFS_BACKEND', `lxc.rootfs.path uses the ${m[1]} backend: the rootfs is not checked`, `use ${expected} for a checked directory rootfs`, { file: configFile, line: l.line });
    return null;
  }
  const device = m ? m[2]! : l.value;
  if (!device.startsWith('/')) {
    f.error('ROOTFS_PATH_RELATIVE', `lxc.rootfs.path ${l.value} is relative: on the device it depends on where LXC runs`, `write the device path: lxc.rootfs.path = ${expected}`, { file: configFile, line: l.line });
    return null;
  }
  const host = resolveInTargetOrNull(target, device);
  const st = host === null ? null : statOrNull(host);
  if (host === null || !st?.isDirectory()) {
    f.error('ROOTFS_PATH_MISSING', `lxc.rootfs.path ${l.value} is ${host === null ? 'a symlink loop' : `${host}, which ${st ? 'is not a directory' : 'does not exist'}`} in the image`, `run thunderbox prepare again, or make lxc.rootfs.path the container's rootfs on the device (${expected})`, { file: configFile, line: l.line });
    return null;
  }
  return { host, device: device.replace(/\/+$/, '') };
}

/** The ELF info of the first probe that is an executable or shared object. */
export function probeElf(view: TreeView, probes: string[]): { path: string; elf: ElfInfo } | null {
  for (const p of probes) {
    const r = resolve(view, p);
    if (r.rel === null || view.get(r.rel)?.kind !== 'file') continue;
    const e = view.elf(r.rel);
    if (e?.ok && (e.elf.type === ET.EXEC || e.elf.type === ET.DYN)) return { path: p, elf: e.elf };
  }
  return null;
}

/** `dirs`: the PATH liblxc's execvp() searches for the init (the init's environment, Thunder's PATH by default). */
export function checkThunderPlugin(f: Findings, view: DirView, rootfsHost: string, env: EnvSpec[], pluginJson: PluginConfig | undefined, dirs?: string[]): { path: string; elf: ElfInfo } | null {
  const opts = { ...closureOptions(env), ...(dirs ? { pathDirs: dirs } : {}) };
  const t = thunderRoots(view, opts.pathDirs!, pluginJson);
  const program = t.program;
  if (!program) {
    f.error('THUNDERPLUGIN_MISSING', `neither ThunderPlugin nor WPEProcess is on the container's PATH (${opts.pathDirs!.join(':')}) in ${rootfsHost}: Thunder cannot start the plugin there`, 'build Thunder into the rootfs the container is made from (ThunderPlugin lives in /usr/bin), or fix the PATH given with lxc.environment', { file: rootfsHost });
    return null;
  }
  if (t.plugin && !t.plugin.found) f.error('PLUGIN_LIBRARY_MISSING', `the plugin library ${t.plugin.locator} (the locator in ${pluginJson!.file}) is not in the rootfs ${rootfsHost}; searched ${t.plugin.searched.join(', ')}`, 'install the plugin in the rootfs the container is made from (its Buildroot package), or fix "locator"', { file: rootfsHost });
  if (t.stubs === 0) f.warning('PROXYSTUBS_MISSING', `no proxy stubs in ${PROXYSTUB_DIRS.map((d) => path.join(rootfsHost, d)).join(' or ')}: ThunderPlugin cannot talk COM-RPC to Thunder`, 'keep /usr/lib/thunder/proxystubs in the rootfs (Thunder\'s and the plugin\'s packages install them)', { file: rootfsHost });
  const c = closureOf(view, t.roots, opts);
  for (const p of c.problems) {
    f.add(p.code, p.severity === 'note' ? 'note' : 'error', `${p.message} (in the rootfs ${rootfsHost})`, p.hint ?? 'install or keep the library in the rootfs', p.file ? { file: p.file } : {});
  }
  if (c.main) return c.main;
  // a script ThunderPlugin: its interpreter tells the architecture
  const r = resolve(view, program);
  const e = r.rel === null ? null : view.elf(r.rel);
  return e?.ok ? { path: program, elf: e.elf } : null;
}

interface ArchWant {
  bits?: 32 | 64;
  machines?: number[];
  littleEndian?: boolean;
  abi?: string;
  words: string;
}

/** What an lxc.arch name asks of the rootfs's programs. */
function archWant(name: string): ArchWant | null {
  switch (name) {
    case 'linux32':
      return { bits: 32, words: '32-bit programs' };
    case 'linux64':
      return { bits: 64, words: '64-bit programs' };
    case 'arm':
    case 'armv7l':
      return { bits: 32, machines: [EM.ARM], words: '32-bit ARM' };
    case 'armhf':
      return { bits: 32, machines: [EM.ARM], abi: 'hard', words: '32-bit ARM (hard-float)' };
    case 'armel':
      return { bits: 32, machines: [EM.ARM], abi: 'soft', words: '32-bit ARM (soft-float)' };
    case 'aarch64':
    case 'arm64':
      return { bits: 64, machines: [EM.AARCH64], words: 'AArch64' };
    case 'x86_64':
    case 'amd64':
      return { bits: 64, machines: [EM.X86_64], words: 'x86-64' };
    case 'i386':
    case 'i486':
    case 'i586':
    case 'i686':
    case 'athlon':
    case 'x86':
      return { bits: 32, machines: [EM.X86], words: '32-bit x86' };
    case 'mips':
    case 'mipsel':
      return { bits: 32, machines: [EM.MIPS], littleEndian: name === 'mipsel', words: `32-bit MIPS (${name === 'mipsel' ? 'little' : 'big'}-endian)` };
    case 'mips64':
    case 'mips64el':
      return { bits: 64, machines: [EM.MIPS], littleEndian: name === 'mips64el', words: `64-bit MIPS (${name === 'mips64el' ? 'little' : 'big'}-endian)` };
    case 'ppc':
    case 'powerpc':
      return { bits: 32, machines: [EM.PPC], words: '32-bit PowerPC' };
    case 'ppc64':
    case 'powerpc64':
      return { bits: 64, machines: [EM.PPC64], littleEndian: false, words: 'PowerPC64 (big-endian)' };
    case 'ppc64el':
    case 'ppc64le':
      return { bits: 64, machines: [EM.PPC64], littleEndian: true, words: 'PowerPC64 (little-endian)' };
    case 'riscv64':
      return { bits: 64, machines: [EM.RISCV], words: '64-bit RISC-V' };
    case 's390x':
      return { bits: 64, machines: [EM.S390], words: 's390x' };
    default:
      return null;
  }
}

/** Can a kernel built for `kernel`'s architecture run `prog` (natively or through its 32-bit compat layer)? */
export function kernelRuns(kernel: ElfInfo, prog: ElfInfo): boolean {
  if (kernel.littleEndian !== prog.littleEndian) return false;
  if (kernel.machine === prog.machine && kernel.bits === prog.bits) return true;
  if (kernel.bits !== 64 || prog.bits !== 32) return false;
  const compat: Record<number, number> = { [EM.AARCH64]: EM.ARM, [EM.X86_64]: EM.X86, [EM.MIPS]: EM.MIPS, [EM.PPC64]: EM.PPC, [EM.S390]: EM.S390 };
  return compat[kernel.machine] === prog.machine;
}

export function checkArch(f: Findings, cfg: OwnConfig, configFile: string, rootfsHost: string, prog: { path: string; elf: ElfInfo } | null, device: { path: string; elf: ElfInfo } | null): void {
  const l = cfg.last('lxc.arch');
  if (!prog) {
    f.warning('ROOTFS_ARCH_UNKNOWN', `no ELF program found in ${rootfsHost} (tried ThunderPlugin, ${ROOTFS_PROBES.join(', ')}): its architecture cannot be checked`, 'make sure the rootfs holds the programs it should run');
    return;
  }
  const e = prog.elf;
  const what = `${prog.path} in the rootfs is ${describeElf(e)}`;
  const guess = archOf(e);
  const suggest = guess ? `set lxc.arch = ${guess.lxcArch} (thunderbox prepare --arch auto detects it)` : `set lxc.arch to the name of ${machineName(e.machine)}`;
  if (l && l.value) {
    const want = archWant(l.value);
    if (want) {
      const fits = (want.bits === undefined || want.bits === e.bits) && (!want.machines || want.machines.includes(e.machine)) && (want.littleEndian === undefined || want.littleEndian === e.littleEndian);
      if (!fits) {
        f.error('ARCH_MISMATCH', `lxc.arch = ${l.value} is for ${want.words}, but ${what}`, suggest, { file: configFile, line: l.line });
      } else if (want.abi && e.abi && want.abi !== e.abi) {
        f.warning('ARCH_ABI_MISMATCH', `lxc.arch = ${l.value} names ${want.words}, but ${what}`, `write lxc.arch = ${e.abi === 'hard' ? 'armhf' : 'armel'}, or linux32 (LXC gives both the same 32-bit personality)`, { file: configFile, line: l.line });
      }
    }
  } else if (device && e.bits === 32 && device.elf.bits === 64) {
    f.warning('ARCH_UNSET', `the config sets no lxc.arch, and ${what} while the device is ${describeElf(device.elf)}: uname -m in the container reports the 64-bit machine`, suggest, { file: configFile });
  }
  if (!device) {
    f.note('DEVICE_ARCH_UNKNOWN', `the image has none of ${TARGET_PROBES.join(', ')} outside the container: the device's architecture is not known, so it is not compared with the rootfs's`, 'nothing to do unless the image is incomplete');
  } else if (!kernelRuns(device.elf, e)) {
    f.error('ARCH_DEVICE_MISMATCH', `${what}, but the image's own ${device.path} is ${describeElf(device.elf)}: the device cannot run this container`, 'prepare the container from a rootfs built for the device\'s architecture', { file: rootfsHost });
  }
}

// ---------------------------------------------------------------------------------------
// mounts

/** Walk `rel` (relative to the rootfs top) component by component; no symlink may be on the way. */
export function mountPoint(view: TreeView, rel: string): { state: 'ok' | 'missing' | 'symlink' | 'not-dir' | 'file'; at: string; link?: string } {
  const parts = rel.split('/').filter((s) => s !== '' && s !== '.');
  for (let i = 0; i < parts.length; i++) {
    const at = parts.slice(0, i + 1).join('/');
    const node = view.get(at);
    if (!node) return { state: 'missing', at };
    if (node.kind === 'symlink') return { state: 'symlink', at, link: node.linkpath ?? '' };
    if (i < parts.length - 1 && node.kind !== 'dir') return { state: 'not-dir', at };
    if (i === parts.length - 1 && node.kind !== 'dir') return { state: 'file', at };
  }
  return { state: 'ok', at: parts.join('/') };
}

/**
 * `entries`: the config with everything it includes, in liblxc's order (an included file's
 * lxc.mount.entry is mounted like the config's own); `unprivileged`: the effective idmap maps root.
 */
export function checkMounts(f: Findings, entries: readonly { key: string; value: string; file: string; line: number }[], unprivileged: boolean, target: string, view: TreeView, rootfs: Rootfs): void {
  for (const m of BASE_MOUNT_TARGETS) {
    const r = mountPoint(view, m.path);
    const host = path.join(rootfs.host, m.path);
    const fix = `make it a real directory: rm -f ${host} && mkdir -m ${m.mode.toString(8)} ${host} (thunderbox prepare does)`;
    if (r.state === 'symlink') f.error('MOUNT_POINT_SYMLINK', `/${m.path} in the rootfs (${host}) is a symbolic link (to ${r.link}): LXC refuses to mount ${m.path} onto it and the container does not start`, fix, { file: host });
    else if (r.state === 'missing') f.error('MOUNT_POINT_MISSING', `/${m.path} is missing from the rootfs (${host}): LXC cannot mount ${m.path}`, fix, { file: host });
    else if (r.state !== 'ok') f.error('MOUNT_POINT_NOT_DIR', `/${m.path} in the rootfs (${host}) is not a directory: LXC cannot mount ${m.path} onto it`, fix, { file: host });
  }
  for (const l of entries) {
    if (l.key !== 'lxc.mount.entry') continue;
    const fields = mountFields(l.value ?? '');
    if (fields.length < 4) continue; // lxc check reports it
    const source = fstabUnescape(fields[0]!);
    let dest = fstabUnescape(fields[1]!);
    const fstype = fields[2]!;
    const opts = fields[3]!.split(',');
    const optional = opts.includes('optional');
    const bind = opts.includes('bind') || opts.includes('rbind');
    const create = opts.find((x) => x.startsWith('create='))?.slice('create='.length);
    const where = { file: l.file, line: l.line };
    // the source: a path for binds (and fstype none); proc, sysfs, tmpfs, devices of other types are not paths in the image
    let sourceKind: 'dir' | 'file' | undefined;
    // a relative bind source: liblxc (utils.c safe_mount -> open_without_symlink(src, NULL))
    // walks it from the device's "/" but skips its first component, so "./share" is /share,
    // "data/share" is /share and "share" is "/" itself. Measured with liblxc 5.0.2: "share"
    // with bind in an unprivileged container fails ('Invalid argument - Failed to mount
    // "share"': a non-recursive bind of the root, whose submounts are locked), with rbind or
    // privileged it mounts the device's whole root; "./share" mounts /share.
    let src = source;
    if (bind && !source.startsWith('/')) {
      const rest = source.split('/').slice(1).filter((p) => p !== '' && p !== '.');
      src = `/${rest.join('/')}`;
      const sev = optional ? 'warning' : 'error';
      if (src === '/' && !opts.includes('rbind') && unprivileged) {
        f.add('MOUNT_SOURCE_RELATIVE', sev, `the bind mount's source ${source} is relative: liblxc walks it from / without its first component, which leaves the device's root, and a non-recursive bind of it fails in an unprivileged container (${optional ? 'LXC skips this optional mount' : 'the container does not start'})`, `write the absolute device path (e.g. /${source.replace(/^(\.\/)+/, '')})`, where);
        continue;
      }
      if (src === '/') f.warning('MOUNT_SOURCE_RELATIVE', `the bind mount's source ${source} is relative: liblxc walks it from / without its first component, so it mounts the device's whole root at ${dest}`, `write the absolute device path (e.g. /${source.replace(/^(\.\/)+/, '')})`, where);
      else if (`/${source.replace(/^(\.\/)+/, '')}` !== src) f.warning('MOUNT_SOURCE_RELATIVE', `the bind mount's source ${source} is relative: liblxc walks it from / without its first component, so it mounts ${src}`, `write the absolute device path you mean (${src}, or /${source.replace(/^(\.\/)+/, '')})`, where);
      else f.warning('MOUNT_SOURCE_RELATIVE', `the bind mount's source ${source} is relative: liblxc takes it as ${src}`, `write the absolute device path: ${src}`, where);
    }
    // /proc, /sys and /dev are the device kernel's (empty in the image): their sources cannot be seen here
    const kernelFs = /^\/(proc|sys|dev)(\/|$)/.test(src);
    if (src.startsWith('/') && (bind || fstype === 'none') && !kernelFs) {
      const host = resolveInTargetOrNull(target, src);
      const st = host === null ? null : statOrNull(host);
      if (!st) {
        const msg = `the mount source ${source}${src !== source ? ` (${src})` : ''} does not exist in the image (${host ?? path.join(target, src)})`;
        const fix = `create ${src} in the image (an overlay, or thunderbox prepare --mount ${src}:${dest} makes it), or drop the mount entry`;
        if (optional) f.warning('MOUNT_SOURCE_MISSING', `${msg}: LXC skips this optional mount`, fix, where);
        else f.error('MOUNT_SOURCE_MISSING', `${msg}: LXC fails to start the container`, `${fix}; or add "optional" to its options`, where);
      } else {
        sourceKind = st.isDirectory() ? 'dir' : 'file';
      }
    }
    // the target: relative to the rootfs, or absolute inside lxc.rootfs.path
    if (dest.startsWith('/')) {
      if (dest === rootfs.device || dest.startsWith(`${rootfs.device}/`)) dest = dest.slice(rootfs.device.length);
      else continue; // outside the rootfs: lxc check warns that LXC skips it
    }
    if (dest.split('/').includes('..')) continue; // lxc check reports it
    // below proc, sys and dev the kernel's file systems (mounted first) hold the mount point
    if (/^\/*(proc|sys|dev)\//.test(dest)) continue;
    const r = mountPoint(view, dest);
    const host = path.join(rootfs.host, r.at);
    const name = `/${dest.replace(/^\/+/, '')}`;
    const sev = optional ? 'warning' : 'error';
    const tail = optional ? 'LXC skips this optional mount' : 'the container does not start';
    if (r.state === 'symlink') {
      f.add('MOUNT_POINT_SYMLINK', sev, `the mount point ${name}: /${r.at} in the rootfs (${host}) is a symbolic link (to ${r.link}); LXC refuses to mount through a symlink, ${tail}`, `make /${r.at} a real directory in the rootfs (rm -f ${host} && mkdir ${host}), or mount somewhere else`, where);
    } else if (r.state === 'missing' && !create) {
      f.add('MOUNT_POINT_MISSING', sev, `the mount point ${name} does not exist in the rootfs (${host}): ${tail}`, `create it (mkdir -p ${path.join(rootfs.host, dest)}; thunderbox prepare --mount makes it), or add create=${sourceKind === 'file' ? 'file' : 'dir'} to the options`, where);
    } else if (r.state === 'not-dir') {
      f.add('MOUNT_POINT_NOT_DIR', sev, `the mount point ${name}: /${r.at} in the rootfs (${host}) is not a directory: ${tail}`, `make /${r.at} a directory in the rootfs`, where);
    } else if (r.state === 'file' && sourceKind === 'dir') {
      f.add('MOUNT_POINT_NOT_DIR', sev, `the mount point ${name} in the rootfs (${host}) is a file, and ${source} is a directory: ${tail}`, `make ${name} a directory in the rootfs`, where);
    } else if (r.state === 'ok' && sourceKind === 'file') {
      f.add('MOUNT_POINT_NOT_FILE', sev, `the mount point ${name} in the rootfs (${host}) is a directory, and ${source} is a file: ${tail}`, `make ${name} an empty file in the rootfs (or use create=file)`, where);
    }
  }
}

// ---------------------------------------------------------------------------------------
// ownership

interface Owned {
  /** Path as shown: a device path in the container (or a table name). */
  name: string;
  uid: number;
  gid: number;
  mode: number;
  file: boolean;
}

/** One sorted walk (lstat only): the first `sample` entries and every setuid/setgid file. */
function walkOwners(root: string, sample: number, target: string): { sampled: Owned[]; setid: Owned[]; total: number; shared: number } {
  const sampled: Owned[] = [];
  const setid: Owned[] = [];
  let total = 0;
  let shared = 0;
  const stack: string[] = [''];
  // depth first, sorted: each directory's entries in name order
  while (stack.length) {
    const rel = stack.pop()!;
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(rel === '' ? root : path.join(root, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const dirs: string[] = [];
    for (const d of names) {
      const child = rel === '' ? d.name : `${rel}/${d.name}`;
      total++;
      const wantStat = sampled.length < sample || d.isFile();
      if (wantStat) {
        const st = statOrNull(path.join(root, child));
        // a file shared with the image (--dedupe-with-host) has the image's owner on purpose
        const img = st?.isFile() && st.nlink > 1 ? resolveInTargetOrNull(target, `/${child}`) : null;
        const imgSt = img ? statOrNull(img) : null;
        if (st && imgSt && imgSt.ino === st.ino && imgSt.dev === st.dev) shared++;
        else if (st) {
          const o: Owned = { name: `/${child}`, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, file: st.isFile() };
          if (sampled.length < sample) sampled.push(o);
          if (o.file && o.mode & 0o6000) setid.push(o);
        }
      }
      if (d.isDirectory()) dirs.push(child);
    }
    for (let i = dirs.length - 1; i >= 0; i--) stack.push(dirs[i]!);
  }
  return { sampled, setid, total, shared };
}

/**
 * The same from a makedevs table (device_table.txt): owners as they will be on the device. A line
 * post-fakeroot would refuse is an error here too (read by the same parser).
 */
function tableOwners(f: Findings, text: string, file: string, sample: number): { sampled: Owned[]; setid: Owned[]; total: number; shared?: number } {
  const { lines, diagnostics } = parseTable(text, file);
  for (const d of diagnostics) f.error(d.code, d.message, `${d.hint}; or run thunderbox prepare again to write the table anew`, { file: d.file, line: d.line });
  const owned = lines.map((l): Owned => ({ name: l.name, uid: l.uid, gid: l.gid, mode: l.mode, file: l.type === 'f' }));
  return { sampled: owned.slice(0, sample), setid: owned.filter((o) => o.file && o.mode & 0o6000), total: owned.length };
}

export function checkOwnership(f: Findings, cfg: OwnConfig, configFile: string, containerDir: string, rootfs: Rootfs, sample: number, target: string): void {
  const table = path.join(containerDir, TABLE_NAME);
  const tableText = statOrNull(table)?.isFile() ? fs.readFileSync(table, 'utf8') : null;
  const from = tableText !== null ? `${table} (the owners post-fakeroot gives the tree)` : rootfs.host;
  const owners = tableText !== null ? tableOwners(f, tableText, table, sample) : walkOwners(rootfs.host, sample, target);
  if (owners.shared) {
    f.note('SHARED_WITH_IMAGE', `${owners.shared} files of the rootfs are the image's own files (hard links, --dedupe-with-host): they keep the image's owners, which the container sees as nobody`, 'nothing to do: they are readable (and programs executable) by everyone; prepare without --dedupe-with-host for copies owned through the idmap');
  }
  const map = cfg.idmap;
  if (map.length === 0) {
    f.note('PRIVILEGED', 'the config has no lxc.idmap: a privileged container (its root is the device\'s root; files keep their owners)', 'thunderbox prepare --idmap default makes it unprivileged', { file: configFile });
    const shifted = owners.sampled.filter((o) => o.uid >= 65536);
    if (owners.sampled.length > 0 && shifted.length === owners.sampled.length) {
      f.warning('OWNER_SHIFTED_PRIVILEGED', `every sampled file in ${from} is owned by a host id above 65535 (e.g. ${owners.sampled[0]!.name} is ${owners.sampled[0]!.uid}:${owners.sampled[0]!.gid}), as for an unprivileged container, but the config has no lxc.idmap: inside, root owns none of them`, 'prepare again with the same --idmap for both, or add the lxc.idmap lines the tree was shifted for', { file: configFile });
    }
    return;
  }
  const unmapped = (o: Owned) => toContainer(map, 'u', o.uid) === undefined || toContainer(map, 'g', o.gid) === undefined;
  const ids = (o: Owned) => `${o.uid}:${o.gid}`;
  const mapText = map.map((m) => `${m.kind} ${m.nsid} ${m.hostid} ${m.range}`).join(', ');
  const fix = tableText !== null
    ? `run thunderbox prepare again (it lists owners shifted by the idmap in ${TABLE_NAME}), and apply the table with post-fakeroot`
    : 'run thunderbox prepare again (it owns the rootfs by the idmap), or chown each file to the host id its container id maps to; --share-uid maps an id to itself';
  const badSetid = owners.setid.filter(unmapped);
  for (const o of badSetid.slice(0, MAX_SETID_FINDINGS)) {
    f.error('OWNER_UNMAPPED_SETID', `${o.name} (mode ${o.mode.toString(8)}) is owned by host ${ids(o)}, which the idmap (${mapText}) does not map: in the container it is set${o.mode & 0o4000 ? 'uid' : 'gid'} nobody`, fix, { file: tableText !== null ? table : path.join(rootfs.host, o.name) });
  }
  if (badSetid.length > MAX_SETID_FINDINGS) {
    f.error('OWNER_UNMAPPED_SETID', `${badSetid.length - MAX_SETID_FINDINGS} more setuid/setgid files are owned by host ids the idmap does not map: ${listed(badSetid.slice(MAX_SETID_FINDINGS).map((o) => o.name))}`, fix, { file: tableText !== null ? table : rootfs.host });
  }
  const setidNames = new Set(owners.setid.map((o) => o.name));
  const bad = owners.sampled.filter((o) => !setidNames.has(o.name) && unmapped(o));
  if (bad.length) {
    f.warning('OWNER_UNMAPPED', `${bad.length} of the first ${owners.sampled.length} entries of ${from} are owned by host ids the idmap (${mapText}) does not map, so the container sees them owned by nobody: ${listed(bad.map((o) => `${o.name} (${ids(o)})`))}`, fix, { file: tableText !== null ? table : rootfs.host });
  }
}
