import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileOrNull } from '../core/fsutil.js';
import { resolveInTargetOrNull } from '../core/target-path.js';
import { entries, parseConfig } from '../lxc/document.js';
import { includedConfigs } from '../lxc/includes.js';
import { fstabUnescape, mountFields } from '../lxc/mount-entry.js';
import { pluginJsonCandidates } from './layout.js';
import { imageLxcVersion } from '../lxc/image-version.js';
import { ociUsernsScript } from '../oci/userns.js';

// What the doctor reads from the image outside the container tree, as one signature: the files
// the config includes (and theirs), the seccomp profiles they name, the mount sources, the
// plugin JSON, the image's own programs that tell its architecture, and what the start-time
// rules read (hook programs, fstab, subuid, newuidmap, init scripts, the directories above the
// container and the mount sources). `prepare` keeps the
// signature with the doctor's verdict, and checks an unchanged container again when it differs
// (the image lost its LXC configuration, a mount source went away, ...). Cheap: a few small
// reads and stats, no rootfs walk.

/** Files of the image the rules read besides the config's (thunder/doctor/): the shell hooks run with, the ids newuidmap reads, what makes bridges at boot, Thunder's config, what mounts cgroups (cgroup-layout.ts). */
const DEVICE_FILES = ['/bin/sh', '/run', '/etc/passwd', '/etc/subuid', '/etc/subgid', '/etc/init.d', '/etc/init.d/S40thunderbox-net', '/etc/network/interfaces', '/etc/fstab', '/etc/Thunder/config.json', '/etc/WPEFramework/config.json', '/usr/bin/cgroupfs-mount', '/usr/lib/systemd/systemd', '/lib/systemd/systemd'];
const PATH_DIRS = ['/sbin', '/usr/sbin', '/bin', '/usr/bin'];

/** The image's programs the doctor reads the device's architecture from. */
export const TARGET_PROBES = ['/usr/bin/WPEFramework', '/usr/bin/Thunder', '/bin/busybox', '/bin/sh', '/sbin/init', '/usr/bin/env'];

/** A file as the doctor sees it, by its path in the image: reproducible (no inode, no mtime), so two images made from the same inputs get the same stamp. */
function describe(target: string, file: string): string {
  const rel = path.relative(target, file);
  const st = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!st) return `${rel} -`;
  const own = `${st.mode.toString(8)} ${st.uid}:${st.gid}`;
  if (st.isDirectory()) return `${rel} d ${own} [${fs.readdirSync(file).sort().join('/')}]`;
  if (st.isSymbolicLink()) return `${rel} l ${fs.readlinkSync(file)}`;
  const small = st.isFile() && st.size <= 256 << 10; // configuration files; a program is known by its size
  return `${rel} f ${own} ${st.size}${small ? ` ${createHash('sha256').update(fs.readFileSync(file)).digest('hex')}` : ''}`;
}

export function doctorInputs(target: string, containerDir: string, callsign: string): string {
  const files = new Set<string>();
  const config = path.join(containerDir, 'config');
  const text = readFileOrNull(config)?.toString('utf8');
  const add = (devicePath: string, parents = false) => {
    if (!devicePath.startsWith('/')) return;
    const host = resolveInTargetOrNull(target, devicePath);
    if (host !== null) files.add(host);
    // the directories on the way (their modes decide whether the container's root gets there)
    if (parents) for (let d = path.posix.dirname(devicePath); d !== '/'; d = path.posix.dirname(d)) add(d);
  };
  const onPath = (word: string) => (word.startsWith('/') ? add(word) : PATH_DIRS.forEach((d) => add(`${d}/${word}`)));
  for (const c of text === undefined ? [] : includedConfigs(target, config, text, (inc) => files.add(inc))) {
    for (const l of entries(parseConfig(c.text, c.file).doc)) {
      const v = l.value ?? '';
      const word = v.trim().split(/\s+/)[0] ?? '';
      if (l.key === 'lxc.seccomp.profile' || l.key === 'lxc.mount.fstab') add(v);
      else if (l.key === 'lxc.mount.entry') add(fstabUnescape(mountFields(v)[0] ?? ''), true);
      else if (l.key === 'lxc.console.logfile') add(path.posix.dirname(v), true);
      else if (/^lxc\.hook\.(pre-start|pre-mount|mount|autodev|start-host)$/.test(l.key!) || /^lxc\.net\.\d+\.script\.up$/.test(l.key!)) onPath(word);
    }
  }
  // the directories above the container dir (not its own listing, which prepare's stamp changes)
  add(path.posix.dirname(`/${path.relative(target, containerDir).split(path.sep).join('/')}`), true);
  for (const p of DEVICE_FILES) add(p);
  for (const t of ['newuidmap', 'newgidmap', 'unshare']) onPath(t);
  // an OCI bundle's: the runtime Thunder runs, the boot script of its user namespace
  add('/usr/bin/runc');
  add(ociUsernsScript(callsign));
  // the LXC release whose grammar the config is checked against
  const lxc = imageLxcVersion(target);
  if (lxc) add(lxc.file);
  for (const p of [...pluginJsonCandidates('', callsign), ...TARGET_PROBES]) {
    const host = resolveInTargetOrNull(target, p);
    if (host !== null) files.add(host);
  }
  const h = createHash('sha256');
  for (const f of [...files].sort()) h.update(describe(target, f) + '\n');
  return h.digest('hex');
}
