import fs from 'node:fs';
import path from 'node:path';
import { resolve } from '../../rootfs/tree-view.js';
import { planMessaging } from '../messaging.js';
import { hiddenAtBoot } from '../device.js';
import type { Findings } from './findings.js';
import { lastEntry, type DeviceView } from './view.js';

// What Thunder does around the start (thunder/device.ts models it; measured with real Thunder,
// R5 master, see ../shared/DESIGN.md):
// - it searches <volatilepath>/<callsign>/, <persistentpath>/<callsign>/, then
//   <datapath>/<classname>/ and starts the first Container it finds: one the image holds at an
//   earlier path shadows the one after it;
// - it makes its messaging directory as root, 0755, unless messaging.path carries a mode
//   ("MessageDispatcher|0777"), and keeps the mode of one that exists: an unprivileged
//   container's root cannot write its messages there, and they are lost without a word;
// - with root.user (root.group) in the plugin JSON that the rootfs's /etc/passwd (group)
//   does not name, the plugin runs as uid 0, silently.
// And liblxc opens lxc.console.logfile on the device's side before the container starts: its
// directory must exist then ("Failed to create console"), and a directory under a tmpfs the
// device mounts at boot (/tmp, /run) is not there yet, whatever the image holds.

export function checkShadowing(v: DeviceView, f: Findings): void {
  const [first, ...later] = v.choice.found;
  if (!first || later.length === 0) return;
  f.error('CONTAINER_SHADOWED', `the image holds a container at ${first.dir}, which Thunder searches before ${later.map((c) => c.dir).join(' and ')}: Thunder starts ${first.dir}, the other is never used`, `remove ${first.host} from the image, or prepare into it (thunderbox prepare --location ${first.kind === 'data' ? 'data' : 'persistent'})`, { file: first.host });
}

export function checkMessaging(v: DeviceView, f: Findings): void {
  if (!v.rootHost) return;
  const p = planMessaging(v.device);
  const m = v.device.thunder.messaging;
  const who = `the unprivileged container's root (host ${v.rootHost.uid})`;
  const fix = 'run thunderbox prepare without --no-thunder-config (it sets "MessageDispatcher|0777" and "umask": 0, or makes the directory 0777)';
  if (p.dir) f.warning('MESSAGING_NOT_WRITABLE', `the image holds ${m.dir} already (${fs.statSync(p.dir.host).mode.toString(8).slice(-4)}), and Thunder keeps the mode of an existing directory: ${who} cannot write there, and every message the plugin logs is lost`, fix, { file: p.dir.host });
  if (p.config) {
    const dirEdit = p.config.reasons.some((r) => r.startsWith('messaging.path'));
    const umaskEdit = p.config.reasons.some((r) => r.startsWith('process.umask'));
    if (dirEdit) f.warning('MESSAGING_NOT_WRITABLE', `Thunder creates ${m.dir} 0755 as root (messaging.path has no "|0777"): ${who} cannot write there, and every message the plugin logs is lost`, fix, { file: p.config.file });
    if (umaskEdit) f.warning('MESSAGING_NOT_WRITABLE', `Thunder binds its messaging sockets in ${m.dir} under umask ${(v.device.thunder.umask?.value ?? 0o022).toString(8).padStart(3, '0')} (srwxr-xr-x root): ${who} cannot ring the doorbell, and a reader waiting for it misses the plugin's messages`, fix, { file: p.config.file });
  }
  for (const d of p.diagnostics) f.list.push({ ...d, hint: d.hint ?? 'make the messaging directory writable for the container\'s root' });
}

export function checkRootUser(v: DeviceView, f: Findings): void {
  const plugin = v.choice.plugin;
  if (!plugin || !v.tree || !v.rootfs) return;
  for (const [field, file] of [['user', '/etc/passwd'], ['group', '/etc/group']] as const) {
    const want = plugin[field];
    if (!want || want.value === '') continue;
    const r = resolve(v.tree, file);
    const text = r.rel === null ? null : (v.tree.read(r.rel, 1 << 20)?.toString('utf8') ?? null);
    const names = (text ?? '').split('\n').map((l) => l.split(':')[0]);
    if (text !== null && names.includes(want.value)) continue;
    f.error('ROOT_USER_UNKNOWN', `configuration.root.${field} in ${plugin.host} is "${want.value}", and the rootfs ${text === null ? `has no ${file}` : `${file} does not name it`}: Thunder runs the plugin as ${field === 'user' ? 'uid' : 'gid'} 0, silently`, `add ${want.value} to ${file} in the rootfs the container is made from, or remove root.${field}`, { file: plugin.host, line: want.line });
  }
}

export function checkConsoleLog(v: DeviceView, f: Findings): void {
  const e = lastEntry(v, 'lxc.console.logfile');
  if (!e || e.value === '' || !e.value.startsWith('/')) return;
  const dir = path.posix.dirname(e.value);
  const host = v.device.resolve(dir);
  const exists = host !== null && fs.statSync(host, { throwIfNoEntry: false })?.isDirectory() === true;
  // where the directory is once the image's symlinks are followed (Buildroot's /var/log is a
  // symlink to ../tmp): a tmpfs there hides what the image holds
  const real = host === null ? dir : `/${path.relative(v.target, host)}`.replace(/^\/$/, '/');
  const volatile = [dir, real].some((d) => ['/tmp', '/run'].some((t) => d.startsWith(`${t}/`)) || (d !== v.device.thunder.volatilepath && hiddenAtBoot(v.device.target, d) && !['/tmp', '/run'].includes(d)));
  if (exists && !volatile) return;
  f.error('CONSOLE_LOG_DIR', `lxc.console.logfile = ${e.value}: the directory ${dir}${real !== dir ? ` (${real} in the image)` : ''} ${exists ? 'is in the image, but under a tmpfs the device mounts at boot, so it is not there when Thunder starts the container' : 'does not exist in the image'}: liblxc fails to create the console, the start fails`, `log to a directory that exists on the device at boot (e.g. /var/log, or /tmp itself), or create ${dir} in the image`, { file: e.file, line: e.line });
}

/**
 * liblxc keeps its lock files under /run (RUNTIME_PATH: /run/lxc/lock/<lxcpath>); without a /run
 * directory lxc_container_new fails and lxc-start says "Failed to create lxc_container"
 * (measured with liblxc 5.0.2). Buildroot's skeleton has it, and mounts a tmpfs there at boot.
 */
export function checkRunDir(v: DeviceView, f: Findings): void {
  const host = v.device.resolve('/run');
  if (host !== null && fs.statSync(host, { throwIfNoEntry: false })?.isDirectory()) return;
  f.error('RUN_MISSING', `the image has no /run directory: liblxc keeps its locks in /run/lxc/lock, so it cannot make the container ("Failed to create lxc_container"); the device's tmpfs on /run needs the directory too`, 'create /run in the image (Buildroot\'s skeleton has it: check BR2_ROOTFS_SKELETON)', { file: path.join(v.target, 'run') });
}
