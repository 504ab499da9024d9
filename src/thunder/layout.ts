import fs from 'node:fs';
import path from 'node:path';
import { nearest } from '../core/suggest.js';
import { resolveInTargetOrNull } from '../core/target-path.js';
import { PLUGIN_JSON_DIRS, deviceModel, type ContainerChoice, type DeviceModel } from './device.js';

// Where Thunder looks for things on the device.
// Plugin JSON directories: the device model's list (thunder/device.ts), in search order.
export { PLUGIN_JSON_DIRS } from './device.js';

export const DEFAULT_DATAPATH = '/usr/share/Thunder';
export const COMMON_CONF = '/usr/share/lxc/config/common.conf';

/** Directories every container needs as real directories in its rootfs. */
export const BASE_MOUNT_TARGETS: readonly { path: string; mode: number }[] = [
  { path: 'proc', mode: 0o555 },
  { path: 'sys', mode: 0o555 },
  { path: 'dev', mode: 0o755 },
];

export function pluginJsonCandidates(target: string, callsign: string): string[] {
  return PLUGIN_JSON_DIRS.map((d) => path.join(target, d, `${callsign}.json`));
}

/** What `prepare` leaves in each <Callsign>/Container directory: its inputs and findings. */
export const STAMP_NAME = 'thunderbox.stamp';
/** The ownership table of a container made without root (post-fakeroot applies it). */
export const TABLE_NAME = 'device_table.txt';
/** The OCI bundle's config, beside the LXC config (Thunder's runc backend reads <Container>/config.json). */
export const OCI_CONFIG_NAME = 'config.json';

/** The stamp of a prepared container directory, or null when there is none or it is unreadable. */
export function readStamp<T = { facts?: { archName?: string | null } }>(containerDir: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(containerDir, STAMP_NAME), 'utf8')) as T;
  } catch {
    return null;
  }
}

/** A callsign the image knows: from a plugin JSON's name, or a prepared container's directory. */
export interface KnownCallsign {
  callsign: string;
  /** Where it was seen, as device paths. */
  seen: string[];
}

/**
 * The callsigns near a mistyped one (OCMD, ocdm -> OCDM), among the plugin JSONs of the image
 * and its prepared containers (<datapath>/<X>/Container), with where each was seen.
 */
export function nearCallsigns(target: string, datapath: string | undefined, callsign: string, model: DeviceModel = deviceModel(target, { datapath })): KnownCallsign[] {
  const known = new Map<string, string[]>();
  const add = (cs: string, where: string) => known.set(cs, [...(known.get(cs) ?? []), where]);
  const list = (device: string): string[] => {
    const host = resolveInTargetOrNull(target, device);
    try {
      return host ? fs.readdirSync(host).sort() : [];
    } catch {
      return [];
    }
  };
  for (const p of model.plugins()) add(p.callsign, p.file);
  // containers where Thunder looks: <datapath>/<classname>, <persistentpath>/<callsign>
  for (const base of [model.thunder.datapath, model.thunder.persistentpath]) {
    for (const n of list(base)) {
      const c = path.posix.join(base, n, 'Container');
      const host = resolveInTargetOrNull(target, c);
      if (host && fs.statSync(host, { throwIfNoEntry: false })?.isDirectory()) add(n, c);
    }
  }
  return nearest(callsign, [...known.keys()]).map((cs) => ({ callsign: cs, seen: known.get(cs)! }));
}

/**
 * The hint for a callsign without a container: the near callsigns of the image first (a typo
 * is likelier than a container never made), then how to make one.
 */
export function containerMissingHint(target: string, datapath: string | undefined, callsign: string, model?: DeviceModel): string {
  const prepare = `thunderbox prepare ${callsign} <rootfs> --target ${target}${datapath !== undefined ? ` --datapath ${datapath}` : ''}`;
  const near = didYouMean(nearCallsigns(target, datapath, callsign, model));
  return near ? `${near}If ${callsign} is another plugin, make its container first: ${prepare}` : `run ${prepare} first`;
}

/** CONTAINER_MISSING's message: where Thunder looked for the callsign's container (doctor, try, try --host). */
export function containerMissingMessage(choice: ContainerChoice, callsign: string): string {
  return `no prepared container for ${callsign} where Thunder looks for it (classname ${choice.identity.classname}): ${choice.searched.map((s) => `${s.lxcpath}/Container`).join(', ')}`;
}

/** "did you mean OCDM (/etc/Thunder/plugins/OCDM.json, ...)?", or '' when nothing is near. */
export function didYouMean(near: KnownCallsign[]): string {
  if (!near.length) return '';
  return `did you mean ${near.map((k) => `${k.callsign} (${k.seen.join(', ')})`).join(' or ')}? `;
}
