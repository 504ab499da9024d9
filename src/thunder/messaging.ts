import fs from 'node:fs';
import type { Diagnostic } from '../core/diagnostic.js';
import { hiddenAtBoot, type DeviceModel } from './device.js';
import { setJsonString } from './plugin-json.js';

// Thunder's messaging must be usable by an unprivileged container's root (a host id such as
// 100000, "other" to everything Thunder makes as root), or every message ThunderPlugin logs is
// lost without a word. Two things stand in the way (measured with real Thunder, R5 master):
//   - the directory <volatilepath>/MessageDispatcher, which Thunder makes 0755 unless the config
//     says "messaging": {"path": "MessageDispatcher|0777"}; the mode applies only when Thunder
//     creates it (an existing directory is emptied and keeps its mode; MessageUnit::Open);
//   - the sockets Thunder binds in it (md.doorbell, md.0.metadata), whose mode is 0777 less
//     Thunder's umask (022 by default: srwxr-xr-x root), so the container's process cannot ring
//     the doorbell, and a reader waiting for the bell (MessageControl) misses its messages.
//     "process": {"umask": 0} in the config lets it; that is Thunder's umask for every file it
//     makes, and is said so in the plan.
//
// What thunderbox does:
//   - the image holds the directory already (a volatilepath that is not a tmpfs on the device):
//     it is made 0777 in the image (a directory op); else messaging.path gets "|0777";
//   - process.umask 0 when the umask in force would take "others" write away.
// Nothing that "others" may do already.

/** A mode lets a process that is neither owner nor group write and enter. */
const othersMayWrite = (mode: number): boolean => (mode & 0o003) === 0o003;

export interface MessagingPlan {
  /** The Thunder config, edited. */
  config?: { file: string; before: string; after: string; reasons: string[] };
  /** The image's own messaging directory, made 0777. */
  dir?: { host: string; reason: string };
  /** What is fine already. */
  ok: string[];
  diagnostics: Diagnostic[];
}

/** The messaging directory as the image holds it, when the device will see it (not hidden under a tmpfs). */
export function imageMessagingDir(device: DeviceModel): { host: string; mode: number; uid: number; gid: number } | null {
  const m = device.thunder.messaging;
  const host = device.resolve(m.dir);
  const st = host === null ? undefined : fs.statSync(host, { throwIfNoEntry: false });
  return st?.isDirectory() && !hiddenAtBoot(device.target, m.dir) ? { host: host!, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } : null;
}

/** Thunder's umask when the config does not set one (its init script and Thunder leave the usual 022). */
export const DEFAULT_UMASK = 0o022;

export function planMessaging(device: DeviceModel): MessagingPlan {
  const tc = device.thunder;
  const m = tc.messaging;
  const plan: MessagingPlan = { ok: [], diagnostics: [] };
  const want: { keys: string[]; value: string | number; reason: string }[] = [];
  const existing = imageMessagingDir(device);
  if (existing) {
    if (othersMayWrite(existing.mode)) plan.ok.push(`the image's ${m.dir} is ${existing.mode.toString(8)} already`);
    else plan.dir = { host: existing.host, reason: `the image holds ${m.dir} (Thunder keeps the mode of an existing directory): made 0777 so that the unprivileged container's root can write its messages there` };
  } else if (m.mode !== null && othersMayWrite(m.mode)) {
    plan.ok.push(`Thunder creates ${m.dir} ${m.mode.toString(8).padStart(4, '0')} (messaging.path ${JSON.stringify(m.raw?.value)})`);
  } else {
    want.push({ keys: ['messaging', 'path'], value: `${m.folder}|0777`, reason: `messaging.path ${m.raw ? `"${m.raw.value}" ->` : 'set to'} "${m.folder}|0777": Thunder creates ${m.dir} 0777, so that an unprivileged container's root can write its messages there` });
  }
  const umask = tc.umask?.value ?? DEFAULT_UMASK;
  if (umask & 0o003) {
    want.push({ keys: ['process', 'umask'], value: 0, reason: `process.umask ${tc.umask ? `${tc.umask.value} ->` : 'set to'} 0: the sockets Thunder makes in ${m.dir} (the doorbell) must let the unprivileged container's root ring them; this is Thunder's umask for every file it makes` });
  } else {
    plan.ok.push(`Thunder's umask (${umask}) lets others use its messaging sockets`);
  }
  if (!want.length) return plan;
  if (tc.file === null || tc.host === null || tc.text === null) {
    plan.diagnostics.push({ code: 'THUNDER_CONFIG_MISSING', severity: 'warning', message: `the image has no Thunder config (/etc/Thunder/config.json): Thunder will create ${m.dir} 0755 and bind its sockets with umask 022, and an unprivileged container's messages are lost`, hint: 'install Thunder in the image first and prepare again, or give its config.json "messaging": {"path": "MessageDispatcher|0777"} and "process": {"umask": 0}' });
    return plan;
  }
  if (tc.diagnostics.some((d) => d.severity === 'error')) {
    plan.diagnostics.push({ ...tc.diagnostics[0]!, severity: 'warning', message: `${tc.diagnostics[0]!.message} (the messaging edit for unprivileged containers was not made)` });
    return plan;
  }
  let after = tc.text;
  const reasons: string[] = [];
  for (const w of want) {
    if (w.keys[0] === 'messaging' && m.externalFile !== null) {
      plan.diagnostics.push({ code: 'THUNDER_MESSAGING_FILE', severity: 'warning', message: `${tc.file} takes its messaging settings from ${m.externalFile}, which thunderbox does not edit: Thunder creates ${m.dir} 0755 unless its "path" ends in "|0777"`, hint: `set "path": "${m.folder}|0777" in ${m.externalFile}`, file: tc.host });
      continue;
    }
    const e = setJsonString(after, tc.host, w.keys, w.value);
    if (e.changed) reasons.push(w.reason);
    after = e.after;
  }
  if (after !== tc.text) plan.config = { file: tc.host, before: tc.text, after, reasons };
  return plan;
}
