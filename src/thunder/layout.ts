import fs from 'node:fs';
import path from 'node:path';
import { PLUGIN_JSON_DIRS } from './device.js';

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

/** The stamp of a prepared container directory, or null when there is none or it is unreadable. */
export function readStamp<T = { facts?: { archName?: string | null } }>(containerDir: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(containerDir, STAMP_NAME), 'utf8')) as T;
  } catch {
    return null;
  }
}
