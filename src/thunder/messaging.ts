import fs from 'node:fs';
import type { Diagnostic } from '../core/diagnostic.js';
import type { DeviceModel } from './device.js';
import { setJsonString } from './plugin-json.js';

// Thunder's messaging directory (<volatilepath>/MessageDispatcher) must be writable by an
// unprivileged container's root (a host id such as 100000), or every message ThunderPlugin
// logs is lost without a word. Thunder makes the directory as root, 0755, unless the config
// says "messaging": {"path": "MessageDispatcher|0777"}; the mode applies only when Thunder
// creates it (an existing directory is emptied and keeps its mode; MessageUnit::Open).
//
// What thunderbox does, in this order:
//   - the image holds the directory already (a volatilepath that is not a tmpfs on the device):
//     it is made 0777 in the image (a directory op);
//   - else config.json gets the "|0777" suffix on messaging.path (inserted when absent).
// Nothing when "others" may write and enter already.

/** A mode lets a process that is neither owner nor group write and enter. */
const othersMayWrite = (mode: number): boolean => (mode & 0o003) === 0o003;

export const MESSAGING_MODE = 0o777;

export type MessagingPlan =
  | { kind: 'ok'; reason: string }
  | { kind: 'config'; file: string; before: string; after: string; reason: string }
  | { kind: 'dir'; host: string; reason: string }
  | { kind: 'cannot'; diagnostic: Diagnostic };

/** Whether the device mounts a tmpfs at this path (the image's /etc/fstab), hiding what the image holds there. */
export function tmpfsOnDevice(device: DeviceModel, dir: string): boolean {
  const fstab = device.resolve('/etc/fstab');
  let text = '';
  try {
    if (fstab !== null) text = fs.readFileSync(fstab, 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((l) => {
    const [, mnt, type] = l.trim().split(/\s+/);
    return !l.trim().startsWith('#') && (type === 'tmpfs' || type === 'ramfs') && mnt !== undefined && (dir === mnt || dir.startsWith(mnt.endsWith('/') ? mnt : `${mnt}/`));
  });
}

export function planMessaging(device: DeviceModel): MessagingPlan {
  const tc = device.thunder;
  const m = tc.messaging;
  const host = device.resolve(m.dir);
  const st = host === null ? undefined : fs.statSync(host, { throwIfNoEntry: false });
  if (st?.isDirectory() && !tmpfsOnDevice(device, m.dir)) {
    if (othersMayWrite(st.mode)) return { kind: 'ok', reason: `the image's ${m.dir} is ${(st.mode & 0o7777).toString(8)} already` };
    return { kind: 'dir', host: host!, reason: `the image holds ${m.dir} (Thunder keeps the mode of an existing directory): made 0777 so that the unprivileged container's root can write its messages there` };
  }
  if (m.mode !== null && othersMayWrite(m.mode)) return { kind: 'ok', reason: `Thunder creates ${m.dir} ${m.mode.toString(8).padStart(4, '0')} (messaging.path ${JSON.stringify(m.raw?.value)})` };
  if (tc.file === null || tc.host === null || tc.text === null) {
    return {
      kind: 'cannot',
      diagnostic: { code: 'THUNDER_CONFIG_MISSING', severity: 'warning', message: `the image has no Thunder config (/etc/Thunder/config.json): Thunder will create ${m.dir} 0755 and an unprivileged container's messages are lost`, hint: 'install Thunder in the image first and prepare again, or add "messaging": {"path": "MessageDispatcher|0777"} to its config.json' },
    };
  }
  if (m.externalFile !== null) {
    return {
      kind: 'cannot',
      diagnostic: { code: 'THUNDER_MESSAGING_FILE', severity: 'warning', message: `${tc.file} takes its messaging settings from ${m.externalFile}, which thunderbox does not edit: Thunder creates ${m.dir} 0755 unless its "path" ends in "|0777"`, hint: `set "path": "${m.folder}|0777" in ${m.externalFile}`, file: tc.host },
    };
  }
  if (tc.diagnostics.some((d) => d.severity === 'error')) {
    return { kind: 'cannot', diagnostic: { ...tc.diagnostics[0]!, severity: 'warning', message: `${tc.diagnostics[0]!.message} (the messaging edit for unprivileged containers was not made)` } };
  }
  const value = `${m.folder}|0777`;
  const edit = setJsonString(tc.text, tc.host, ['messaging', 'path'], value);
  return { kind: 'config', file: tc.host, before: tc.text, after: edit.after, reason: `messaging.path ${edit.previous === undefined ? 'set to' : `"${edit.previous}" ->`} "${value}": Thunder creates ${m.dir} 0777, so that an unprivileged container's root can write its messages there` };
}
