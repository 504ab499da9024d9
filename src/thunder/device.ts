import fs from 'node:fs';
import path from 'node:path';
import { findNodeAtLocation, getNodeValue, type Node, type ParseError } from 'jsonc-parser';
import { lineCol, type Diagnostic } from '../core/diagnostic.js';
import { resolveInTargetOrNull } from '../core/target-path.js';
import { parseJsonTree } from './plugin-json.js';

// The device as the image describes it: one model for prepare, doctor and try. The image root
// is the device's "/": every path here is a device path, resolved inside the image
// (resolveInTarget), never on the build host.
//
// Thunder's rules, read from its source (rdkcentral/Thunder, R5 master):
//   - config.json: /etc/Thunder/config.json (R5), /etc/WPEFramework/config.json (R4). Its
//     "datapath", "persistentpath", "volatilepath" are normalised with a trailing "/"
//     (Core::Directory::Normalize). Absent, the values Thunder's own generated config carries
//     apply (GenericConfig.cmake: datapath ${DATAROOTDIR}/${NAMESPACE}, persistentpath
//     ${LOCALSTATEDIR}/${NAMESPACE}; Config.h: volatilepath "/tmp").
//   - A plugin's paths (Source/common/Configuration.h, Plugin::Config):
//       DataPath(base)       = base + classname + "/"
//       PersistentPath(base) = base + (persistentpathpostfix || callsign) + "/"
//       VolatilePath(base)   = base + (volatilepathpostfix || callsign) + "/"
//   - The container search (Source/com/Communicator.h, ContainerProcess): volatile, persistent,
//     data, in that order; each is an lxcpath, and the first that holds a container named
//     exactly "Container" (liblxc list_defined_containers: a directory with a "config" file)
//     wins.
//   - Messaging (Source/messaging/MessageUnit.h Settings::Configure): the directory is
//     volatilepath + messaging.path ("MessageDispatcher" by default); "NAME|MODE" makes Thunder
//     chmod it MODE when it creates it (Core::ParsePathInfo; the number is read as C reads it,
//     so 0777 is octal). An existing directory keeps its mode (it is only emptied).
//   - processcontainers.default names the backend when several are built; a plugin's
//     root.configuration.containertype overrides it.

export type ThunderRelease = 'R5' | 'R4';

/** Where Thunder's config lives, newest first. How to add one: append here and extend test/unit/device.test.ts. */
export const THUNDER_CONFIGS: readonly { file: string; release: ThunderRelease }[] = [
  { file: '/etc/Thunder/config.json', release: 'R5' },
  { file: '/etc/WPEFramework/config.json', release: 'R4' },
];

const DEFAULTS: Record<ThunderRelease, { datapath: string; persistentpath: string; volatilepath: string }> = {
  R5: { datapath: '/usr/share/Thunder', persistentpath: '/var/Thunder', volatilepath: '/tmp' },
  R4: { datapath: '/usr/share/WPEFramework', persistentpath: '/var/WPEFramework', volatilepath: '/tmp' },
};

export const DEFAULT_MESSAGING_FOLDER = 'MessageDispatcher';

/** A value read from a JSON file, with where it is (for diagnostics). */
export interface Located<T> {
  value: T;
  line: number;
  col: number;
}

export interface ThunderConfig {
  /** Device path of the config.json read; null when the image has none (Thunder's defaults apply). */
  file: string | null;
  /** The same file on this host. */
  host: string | null;
  text: string | null;
  release: ThunderRelease;
  /** Device paths, without a trailing slash ('/' stays '/'). */
  datapath: string;
  persistentpath: string;
  volatilepath: string;
  /** Which of the three the file sets (the others are defaults). */
  given: { datapath: boolean; persistentpath: boolean; volatilepath: boolean };
  messaging: MessagingConfig;
  /** processcontainers.default, when set. */
  containersDefault: Located<string> | null;
  /** process.umask (Thunder's umask, a decimal JSON number), when set. */
  umask: { value: number; line: number; col: number } | null;
  /** Where plugin JSONs are read from, besides the usual directories ("configs"). */
  configs: string | null;
  /** Problems reading the file (a malformed config is a finding, not an exception). */
  diagnostics: Diagnostic[];
}

export interface MessagingConfig {
  /** "messaging" is a quoted string: a file of its own holds the settings (not edited here). */
  externalFile: string | null;
  /** The folder name under volatilepath, as written before any "|". */
  folder: string;
  /** The mode after "|", when written. */
  mode: number | null;
  /** messaging.path as written, and where. */
  raw: Located<string> | null;
  /** The device directory: volatilepath + folder. */
  dir: string;
}

/** A directory path as Thunder writes it, without the trailing slash Normalize adds. */
function devDir(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

function located(text: string, node: Node | undefined): Located<string> | null {
  if (!node || node.type !== 'string') return null;
  const { line, col } = lineCol(text, node.offset);
  return { value: String(getNodeValue(node)), line, col };
}

/** Thunder's number parser on the text after "|": 0x.. hex, 0.. octal, else decimal. */
export function parseThunderMode(s: string): number | null {
  const t = s.trim();
  const n = /^0[xX][0-9a-fA-F]+$/.test(t) ? parseInt(t, 16) : /^0[0-7]*$/.test(t) ? parseInt(t || '0', 8) : /^[1-9][0-9]*$/.test(t) ? parseInt(t, 10) : NaN;
  return Number.isFinite(n) && n <= 0xffff ? n : null;
}

/** The parsed tree of a JSON file, or a diagnostic (never an exception). */
export function readJsonTree(text: string, file: string, code: string): { tree: Node | null; diagnostic?: Diagnostic } {
  const errors: ParseError[] = [];
  const tree = parseJsonTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (tree === null) return { tree: null, diagnostic: { code, severity: 'error', message: 'the JSON is nested too deeply to read', hint: 'fix the file', file, line: 1, col: 1 } };
  if (errors.length || !tree) {
    const { line, col } = lineCol(text, errors[0]?.offset ?? 0);
    return { tree: null, diagnostic: { code, severity: 'error', message: 'malformed JSON: Thunder cannot read this file', hint: 'fix the JSON syntax at that position', file, line, col } };
  }
  if (tree.type !== 'object') return { tree: null, diagnostic: { code, severity: 'error', message: `the file holds a ${tree.type}, not an object`, hint: 'a Thunder config is a JSON object', file, line: 1, col: 1 } };
  return { tree };
}

function readText(host: string): string | null {
  try {
    const st = fs.statSync(host);
    if (!st.isFile() || st.size > 4 << 20) return null;
    return fs.readFileSync(host, 'utf8');
  } catch {
    return null;
  }
}

export function readThunderConfig(target: string): ThunderConfig {
  for (const c of THUNDER_CONFIGS) {
    const host = resolveInTargetOrNull(target, c.file);
    const text = host === null ? null : readText(host);
    if (text === null || host === null) continue;
    return thunderConfigFromText(text, c.file, host, c.release);
  }
  return thunderConfigFromText(null, null, null, 'R5');
}

export function thunderConfigFromText(text: string | null, file: string | null, host: string | null, release: ThunderRelease): ThunderConfig {
  const d = DEFAULTS[release];
  const diagnostics: Diagnostic[] = [];
  let tree: Node | null = null;
  if (text !== null) {
    const r = readJsonTree(text, host ?? file ?? 'config.json', 'THUNDER_CONFIG_INVALID');
    tree = r.tree;
    if (r.diagnostic) diagnostics.push(r.diagnostic);
  }
  const str = (keys: string[]) => (tree && text !== null ? located(text, findNodeAtLocation(tree, keys)) : null);
  const dp = str(['datapath']);
  const pp = str(['persistentpath']);
  const vp = str(['volatilepath']);
  const volatilepath = devDir(vp?.value || d.volatilepath);
  // "messaging": an object of settings, or a quoted string naming a file that holds them
  const mnode = tree ? findNodeAtLocation(tree, ['messaging']) : undefined;
  const externalFile = mnode?.type === 'string' ? String(getNodeValue(mnode)) : null;
  const raw = mnode?.type === 'object' ? str(['messaging', 'path']) : null;
  const spec = raw?.value ?? DEFAULT_MESSAGING_FOLDER;
  const bar = spec.indexOf('|');
  const folder = bar === -1 ? spec : spec.slice(0, bar);
  const mode = bar === -1 ? null : parseThunderMode(spec.slice(bar + 1));
  const um = tree ? findNodeAtLocation(tree, ['process', 'umask']) : undefined;
  const umask = um?.type === 'number' && text !== null ? { value: Number(getNodeValue(um)), ...lineCol(text, um.offset) } : null;
  const pc = tree ? findNodeAtLocation(tree, ['processcontainers']) : undefined;
  const containersDefault = pc?.type === 'object' && text !== null ? located(text, findNodeAtLocation(tree!, ['processcontainers', 'default'])) : null;
  return {
    file,
    host,
    text,
    release,
    datapath: devDir(dp?.value || d.datapath),
    persistentpath: devDir(pp?.value || d.persistentpath),
    volatilepath,
    given: { datapath: !!dp?.value, persistentpath: !!pp?.value, volatilepath: !!vp?.value },
    messaging: { externalFile, folder, mode, raw, dir: path.posix.join(volatilepath, folder) },
    containersDefault,
    umask,
    configs: str(['configs'])?.value ?? null,
    diagnostics,
  };
}


// ---------------------------------------------------------------------------------------
// plugins

/** Plugin JSON directories, newest layout first (the search order is this list's). */
export const PLUGIN_JSON_DIRS: readonly string[] = [
  '/etc/Thunder/plugins', // R5: <dir of config.json>/plugins/
  '/etc/Thunder/plugin', // as the Thunder LXC docs and the wiki write it
  '/etc/WPEFramework/plugins', // R4 and earlier
];

export interface ThunderPlugin {
  /** Device path of the plugin JSON; host path beside it. */
  file: string;
  host: string;
  text: string;
  /** "callsign", else the file name. */
  callsign: string;
  /** "classname" as written; null when absent (Thunder cannot instantiate such a plugin). */
  classname: Located<string> | null;
  locator: string | null;
  volatilepathpostfix: string | null;
  persistentpathpostfix: string | null;
  mode: Located<string> | null;
  user: Located<string> | null;
  group: Located<string> | null;
  containertype: Located<string> | null;
  /** root.configuration.console (Thunder's own console capture, a size). */
  console: Located<string> | null;
  /**
   * Where its out-of-process settings are: configuration.root, or R5's top-level "root" (the
   * whole plugin out of process: PluginServer.h, Service::Activate) when the JSON has that
   * object and no configuration.root.
   */
  root: readonly string[];
  diagnostics: Diagnostic[];
}

export function pluginFromText(text: string, file: string, host: string): ThunderPlugin {
  const r = readJsonTree(text, host, 'PLUGIN_JSON_INVALID');
  const tree = r.tree;
  const str = (keys: string[]) => (tree ? located(text, findNodeAtLocation(tree, keys)) : null);
  const cs = str(['callsign']);
  const isObject = (keys: string[]) => tree !== null && findNodeAtLocation(tree, keys)?.type === 'object';
  const root = !isObject(['configuration', 'root']) && isObject(['root']) ? ['root'] : ['configuration', 'root'];
  return {
    file,
    host,
    text,
    callsign: cs?.value || path.posix.basename(file, '.json'),
    classname: str(['classname']),
    locator: str(['locator'])?.value || null,
    volatilepathpostfix: str(['volatilepathpostfix'])?.value || null,
    persistentpathpostfix: str(['persistentpathpostfix'])?.value || null,
    mode: str([...root, 'mode']),
    user: str([...root, 'user']),
    group: str([...root, 'group']),
    containertype: str([...root, 'configuration', 'containertype']),
    console: str([...root, 'configuration', 'console']),
    root,
    diagnostics: r.diagnostic ? [r.diagnostic] : [],
  };
}

/** The plugin JSON directories of this image: the config's "configs" first, then the usual ones. */
export function pluginDirs(tc: ThunderConfig): string[] {
  const dirs = [...(tc.configs ? [devDir(tc.configs)] : []), ...PLUGIN_JSON_DIRS];
  return [...new Set(dirs)];
}

/** Every plugin JSON the image holds, in search order (a callsign's first file wins). */
export function listPlugins(target: string, tc: ThunderConfig): ThunderPlugin[] {
  const out: ThunderPlugin[] = [];
  for (const dir of pluginDirs(tc)) {
    const host = resolveInTargetOrNull(target, dir);
    if (host === null) continue;
    let names: string[];
    try {
      names = fs.readdirSync(host).filter((n) => n.endsWith('.json')).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const file = path.posix.join(dir, n);
      const h = resolveInTargetOrNull(target, file);
      const text = h === null ? null : readText(h);
      if (text === null || h === null) continue;
      out.push(pluginFromText(text, file, h));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// where Thunder looks for a plugin's container

export type SearchKind = 'volatile' | 'persistent' | 'data';

export interface SearchPath {
  kind: SearchKind;
  /** The lxcpath (device path, no trailing slash); the container is <lxcpath>/Container. */
  lxcpath: string;
}

/** What the search needs of a plugin: with a plugin JSON, its fields; without one, the callsign and a classname. */
export interface PluginIdentity {
  callsign: string;
  classname: string;
  volatilepathpostfix?: string | null;
  persistentpathpostfix?: string | null;
}

export function identityOf(p: ThunderPlugin): PluginIdentity {
  return { callsign: p.callsign, classname: p.classname?.value ?? p.callsign, volatilepathpostfix: p.volatilepathpostfix, persistentpathpostfix: p.persistentpathpostfix };
}

/** Thunder's search order for a plugin's container. */
export function searchPaths(tc: ThunderConfig, p: PluginIdentity): SearchPath[] {
  return [
    { kind: 'volatile', lxcpath: path.posix.join(tc.volatilepath, p.volatilepathpostfix || p.callsign) },
    { kind: 'persistent', lxcpath: path.posix.join(tc.persistentpath, p.persistentpathpostfix || p.callsign) },
    { kind: 'data', lxcpath: path.posix.join(tc.datapath, p.classname) },
  ];
}

export const CONTAINER_NAME = 'Container';

/** Where prepare puts a container: the data path (read-only images; by classname) or the persistent path (per callsign). */
export type ContainerLocation = 'data' | 'persistent';

export function containerHome(tc: ThunderConfig, p: PluginIdentity, location: ContainerLocation): SearchPath {
  return searchPaths(tc, p).find((s) => s.kind === location)!;
}

export interface FoundContainer extends SearchPath {
  /** <lxcpath>/Container on the device, and on this host. */
  dir: string;
  host: string;
}

/**
 * The container Thunder would start for the plugin: the first search path that holds a
 * directory "Container" with a "config" file in it (liblxc's list_defined_containers reads
 * only that; a symlinked Container or config is followed, as stat follows it on the device).
 */
/**
 * Is a device directory under a file system the device mounts empty at boot: /tmp and /run
 * (Buildroot's skeleton fstab mounts tmpfs there), or a tmpfs/ramfs of the image's /etc/fstab?
 * What the image holds there is hidden on the device.
 */
export function hiddenAtBoot(target: string, dir: string, mounts: string[] = bootTmpfsMounts(target)): boolean {
  const under = (mnt: string) => dir === mnt || dir.startsWith(mnt.endsWith('/') ? mnt : `${mnt}/`);
  return ['/tmp', '/run'].some(under) || mounts.some(under);
}

/** The tmpfs/ramfs mount points (not /) of the image's /etc/fstab; none when it has none or cannot be read. */
function bootTmpfsMounts(target: string): string[] {
  const fstab = resolveInTargetOrNull(target, '/etc/fstab');
  let text = '';
  try {
    if (fstab !== null) text = fs.readFileSync(fstab, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((l) => {
    const [, mnt, type] = l.trim().split(/\s+/);
    return !l.trim().startsWith('#') && (type === 'tmpfs' || type === 'ramfs') && mnt !== undefined && mnt !== '/' ? [mnt] : [];
  });
}

export function locateContainers(target: string, tc: ThunderConfig, p: PluginIdentity): FoundContainer[] {
  const out: FoundContainer[] = [];
  const mounts = bootTmpfsMounts(target); // /etc/fstab, read once for every search path
  for (const s of searchPaths(tc, p)) {
    // a Container the image holds under /tmp (the volatile path) is not there when Thunder looks
    if (hiddenAtBoot(target, s.lxcpath, mounts)) continue;
    const dir = path.posix.join(s.lxcpath, CONTAINER_NAME);
    const host = resolveInTargetOrNull(target, dir);
    if (host === null) continue;
    const cfg = resolveInTargetOrNull(target, path.posix.join(dir, 'config'));
    let isDir = false;
    try {
      isDir = fs.statSync(host).isDirectory() && cfg !== null && fs.statSync(cfg).isFile();
    } catch {
      isDir = false;
    }
    if (isDir) out.push({ ...s, dir, host });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// the model

/** The image, as the device will see it. Read once; the readers below are cheap. */
export class DeviceModel {
  readonly target: string;
  readonly thunder: ThunderConfig;
  private pluginList: ThunderPlugin[] | undefined;

  constructor(target: string, thunder?: ThunderConfig) {
    this.target = path.resolve(target);
    this.thunder = thunder ?? readThunderConfig(this.target);
  }

  /** A device path on this host (inside the image), null on a symlink loop. */
  resolve(devicePath: string): string | null {
    return resolveInTargetOrNull(this.target, devicePath);
  }

  plugins(): ThunderPlugin[] {
    this.pluginList ??= listPlugins(this.target, this.thunder);
    return this.pluginList;
  }

  /** The plugin JSON Thunder reads for this callsign (the first in search order), or null. */
  plugin(callsign: string): ThunderPlugin | null {
    return this.plugins().find((p) => p.callsign === callsign) ?? null;
  }

  /** A plugin JSON given by path (host path inside the image, or a device path). */
  pluginAt(file: string): ThunderPlugin | null {
    const inside = (p: string) => !path.relative(this.target, p).startsWith('..');
    const abs = path.resolve(file);
    let host: string | null = null;
    let dev: string | null = null;
    if (inside(abs) && fs.existsSync(abs)) {
      host = abs;
      dev = '/' + path.relative(this.target, abs).split(path.sep).join('/');
    } else if (file.startsWith('/')) {
      const h = this.resolve(file);
      if (h !== null && fs.existsSync(h)) {
        host = h;
        dev = file;
      }
    }
    if (host === null || dev === null) return null;
    const text = readText(host);
    return text === null ? null : pluginFromText(text, dev, host);
  }

  searchPaths(p: PluginIdentity): SearchPath[] {
    return searchPaths(this.thunder, p);
  }

  /** Every search path holding a container, first the one Thunder starts. */
  containers(p: PluginIdentity): FoundContainer[] {
    return locateContainers(this.target, this.thunder, p);
  }

  home(p: PluginIdentity, location: ContainerLocation): SearchPath {
    return containerHome(this.thunder, p, location);
  }

  /**
   * The container Thunder starts for a callsign: its plugin JSON (found by callsign, or the
   * given file; none with pluginJson null) gives the classname and the postfixes, and the first
   * search path holding a Container wins.
   */
  choose(callsign: string, opts: { classname?: string; pluginJson?: string | null } = {}): ContainerChoice {
    const plugin = opts.pluginJson === null ? null : opts.pluginJson !== undefined ? this.pluginAt(opts.pluginJson) : this.plugin(callsign);
    const identity: PluginIdentity = plugin ? { ...identityOf(plugin), callsign } : { callsign, classname: opts.classname ?? callsign };
    if (plugin && !plugin.classname && opts.classname) identity.classname = opts.classname;
    const found = this.containers(identity);
    return { plugin, identity, searched: this.searchPaths(identity), found, chosen: found[0] ?? null };
  }
}

export interface ContainerChoice {
  plugin: ThunderPlugin | null;
  identity: PluginIdentity;
  /** Thunder's search paths for this plugin, in order. */
  searched: SearchPath[];
  /** Those holding a container, in order. */
  found: FoundContainer[];
  /** The one Thunder starts. */
  chosen: FoundContainer | null;
}

/** The model with the paths a command line or manifest sets instead of the image's config (e.g. --datapath). */
export function withPaths(tc: ThunderConfig, o: { datapath?: string; persistentpath?: string; volatilepath?: string }): ThunderConfig {
  const volatilepath = o.volatilepath !== undefined ? devDir(o.volatilepath) : tc.volatilepath;
  return {
    ...tc,
    datapath: o.datapath !== undefined ? devDir(o.datapath) : tc.datapath,
    persistentpath: o.persistentpath !== undefined ? devDir(o.persistentpath) : tc.persistentpath,
    volatilepath,
    messaging: { ...tc.messaging, dir: path.posix.join(volatilepath, tc.messaging.folder) },
  };
}

/** The device model of an image root, with a --datapath override. */
export function deviceModel(target: string, o: { datapath?: string } = {}): DeviceModel {
  const tc = readThunderConfig(path.resolve(target));
  return new DeviceModel(target, o.datapath !== undefined ? withPaths(tc, o) : tc);
}

