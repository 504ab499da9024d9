import fs from 'node:fs';
import path from 'node:path';
import { readFileOrNull } from '../../core/fsutil.js';
import { resolveInTargetOrNull } from '../../core/target-path.js';
import { parseConfig } from '../../lxc/document.js';
import { parseIdmapValue, toHost, type IdMapLine } from '../../lxc/idmap.js';
import type { LxcVersion } from '../../lxc/keys.js';
import { DirView, type TreeView } from '../../rootfs/tree-view.js';
import type { ElfInfo } from '../../rootfs/elf.js';
import type { ContainerChoice, DeviceModel } from '../device.js';
import { BUSYBOX_INIT_PATH, thunderEnvironment } from '../environment.js';
import type { PluginConfig } from '../plugin-json.js';
import { OCI_CONFIG_NAME } from '../layout.js';
import { checkPluginJson, checkRootfsPath, readOwnConfig, type OwnConfig, type Rootfs } from './base.js';
import { Findings, type Finding } from './findings.js';

// The device as one start sees it, read once for every rule: the container Thunder chooses,
// its config with everything it includes (in liblxc's order, resolved inside the image), the
// effective idmap and environment, Thunder's own environment, the rootfs. Rules read it and
// report; none of them reads the image on its own terms (paths always resolve inside it).

/** One line of the config or of a file it includes, as liblxc reads them: in order, includes in place. */
export interface ConfigEntry {
  key: string;
  value: string;
  /** The file on this host. */
  file: string;
  line: number;
}

export interface ViewOptions {
  target: string;
  callsign: string;
  lxcVersion: LxcVersion;
  pluginJson?: string | null;
  ownerSample: number;
}

export interface DeviceView {
  o: ViewOptions;
  target: string;
  callsign: string;
  device: DeviceModel;
  choice: ContainerChoice;
  /** Device path of the container directory (<lxcpath>/Container) and the lxcpath. */
  deviceDir: string;
  lxcpath: string;
  /** The same on this host. */
  containerDir: string;
  configFile: string;
  text: string;
  /** The container config's own entries (the first checks read these). */
  own: OwnConfig;
  /** The config with its includes, recursively, in liblxc's order. */
  entries: ConfigEntry[];
  /** The idmap as liblxc ends up with it (includes too; an empty value clears). */
  idmap: IdMapLine[];
  /** Host ids of the container's root; null for a privileged container (and for a map without 0, which lxc check refuses). */
  rootHost: { uid: number; gid: number } | null;
  /** The environment Thunder starts the container with (lxc-start's, and so the hooks'). */
  thunderEnv: Record<string, string>;
  /** The container's init's environment: lxc.environment, bare names taking Thunder's value. */
  initEnv: Map<string, string | undefined>;
  /** Findings of reading the plugin JSON and the rootfs path (reported by their rules). */
  pre: { plugin: Finding[]; rootfs: Finding[] };
  plugin: PluginConfig | undefined;
  rootfs: Rootfs | null;
  /** The rootfs as a tree, when it is a directory. */
  tree: DirView | null;
  /** The image as a tree (its root is the device's /). */
  image: TreeView;
  /** What one rule found that a later one reads (rules run in table order). */
  facts: { mainElf?: { path: string; elf: ElfInfo } | null };
}

/** The config and its includes, flattened in liblxc's order (a directory: its *.conf, sorted). */
export function flattenConfig(target: string, file: string, text: string, seen = new Set<string>()): ConfigEntry[] {
  if (seen.has(file)) return [];
  seen.add(file);
  const out: ConfigEntry[] = [];
  for (const l of parseConfig(text, file).doc.lines) {
    if (l.kind !== 'entry' || !l.key) continue;
    const value = l.value ?? '';
    out.push({ key: l.key, value, file, line: l.line });
    if (l.key !== 'lxc.include' || !value.startsWith('/')) continue;
    const inc = resolveInTargetOrNull(target, value);
    if (inc === null) continue;
    const st = fs.statSync(inc, { throwIfNoEntry: false });
    const members = st?.isDirectory() ? fs.readdirSync(inc).filter((n) => n.length >= 6 && n.endsWith('.conf')).sort().map((n) => path.posix.join(value, n)) : [value];
    for (const dp of members) {
      const f = resolveInTargetOrNull(target, dp);
      if (f === null || !fs.statSync(f, { throwIfNoEntry: false })?.isFile()) continue;
      const t = readFileOrNull(f)?.toString('utf8');
      if (t !== undefined) out.push(...flattenConfig(target, f, t, seen));
    }
  }
  return out;
}

export function effectiveIdmap(entries: ConfigEntry[]): IdMapLine[] {
  let map: IdMapLine[] = [];
  for (const e of entries) {
    if (e.key !== 'lxc.idmap') continue;
    if (e.value === '') map = [];
    else {
      const r = parseIdmapValue(e.value);
      if (!('error' in r)) map.push(r);
    }
  }
  return map;
}

/** lxc.environment as the init gets it: NAME=value, or a bare NAME with the launcher's value (undefined: not set there). */
export function initEnvironment(entries: ConfigEntry[], launcher: Record<string, string>): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const e of entries) {
    if (e.key !== 'lxc.environment') continue;
    if (e.value === '') {
      env.clear();
      continue;
    }
    const eq = e.value.indexOf('=');
    if (eq === -1) env.set(e.value.trim(), launcher[e.value.trim()]);
    else env.set(e.value.slice(0, eq).trim(), e.value.slice(eq + 1));
  }
  return env;
}

/** The PATH directories of an environment (BusyBox init's default when it has none). */
export function pathDirs(p: string | undefined): string[] {
  return (p ?? BUSYBOX_INIT_PATH).split(':').filter((d) => d.startsWith('/'));
}

export function buildView(o: ViewOptions, device: DeviceModel, choice: ContainerChoice, deviceDir: string, containerDir: string, text: string): DeviceView {
  const target = device.target;
  const configFile = path.join(containerDir, 'config');
  const own = readOwnConfig(text, configFile);
  const entries = flattenConfig(target, configFile, text);
  const idmap = effectiveIdmap(entries);
  const rootUid = idmap.length ? toHost(idmap, 'u', 0) : undefined;
  const rootGid = idmap.length ? toHost(idmap, 'g', 0) : undefined;
  const thunderEnv = thunderEnvironment({ volatilepath: device.thunder.volatilepath, messagingPath: device.thunder.messaging.folder });
  const pluginFindings = new Findings();
  let plugin: PluginConfig | undefined;
  if (o.pluginJson === null) pluginFindings.note('PLUGIN_JSON_SKIPPED', `the plugin config of ${o.callsign} was not checked (prepare --no-plugin-json)`, 'prepare without --no-plugin-json to have its mode set and checked');
  // the plugin JSON Thunder reads for the callsign (by "callsign", whatever the file's name)
  else plugin = checkPluginJson(pluginFindings, target, o.callsign, o.pluginJson ?? device.plugin(o.callsign)?.host, fs.existsSync(path.join(containerDir, OCI_CONFIG_NAME)));
  const rootfsFindings = new Findings();
  const rootfsEntry = entries.filter((e) => e.key === 'lxc.rootfs.path').at(-1);
  const rootfs = checkRootfsPath(rootfsFindings, rootfsEntry, configFile, target, deviceDir);
  return {
    o,
    target,
    callsign: o.callsign,
    device,
    choice,
    deviceDir,
    lxcpath: path.posix.dirname(deviceDir),
    containerDir,
    configFile,
    text,
    own,
    entries,
    idmap,
    rootHost: rootUid !== undefined && rootGid !== undefined ? { uid: rootUid, gid: rootGid } : null,
    thunderEnv,
    initEnv: initEnvironment(entries, thunderEnv),
    pre: { plugin: pluginFindings.list, rootfs: rootfsFindings.list },
    plugin,
    rootfs,
    tree: rootfs ? new DirView(rootfs.host) : null,
    image: new DirView(target),
    facts: {},
  };
}

// ---------------------------------------------------------------------------------------
// helpers the rules share

/** The last value of a key (includes counted), with where it is. */
export function lastEntry(v: DeviceView, key: string): ConfigEntry | undefined {
  return v.entries.filter((e) => e.key === key).at(-1);
}

/** Is host id `id` of kind k inside the idmap's host ranges? */
export function mapped(map: IdMapLine[], kind: 'u' | 'g', id: number): boolean {
  return map.some((m) => m.kind === kind && id >= m.hostid && id < m.hostid + m.range);
}

/** Every directory from the image's / down to `devicePath` (included when `self`), as host paths with their device paths. */
export function dirsDown(target: string, devicePath: string, self: boolean): { device: string; host: string; st: fs.Stats }[] {
  const parts = devicePath.split('/').filter(Boolean);
  const out: { device: string; host: string; st: fs.Stats }[] = [];
  const upto = self ? parts.length : parts.length - 1;
  for (let i = 0; i <= upto; i++) {
    const dev = `/${parts.slice(0, i).join('/')}`;
    const host = resolveInTargetOrNull(target, dev);
    if (host === null) break;
    let st: fs.Stats;
    try {
      st = fs.statSync(host);
    } catch {
      break;
    }
    if (!st.isDirectory()) break;
    out.push({ device: dev, host, st });
  }
  return out;
}

