import fs from 'node:fs';
import type { Diagnostic } from '../core/diagnostic.js';
import { failUsage } from '../core/errors.js';
import { nearest } from '../core/suggest.js';
import type { RuntimeMode } from '../profile/spec.js';
import { USERNS_SCRIPT_PREFIX } from '../oci/userns.js';
import { readStamp } from '../thunder/layout.js';
import { br2ArchName, parseBr2Config, type Br2Config } from './br2-config.js';
import { cgroupMountCheck } from './cgroup-mount.js';
import { readTextFile } from '../core/read-text.js';

/** The keys that choose Buildroot's architecture (br2ArchName reads them). */
const ARCH_KEYS = ['BR2_aarch64', 'BR2_arm', 'BR2_x86_64', 'BR2_i386'];

// `thunderbox buildroot post-build TARGET_DIR [args...]`, Buildroot's contract:
//   $1 is TARGET_DIR; then BR2_ROOTFS_POST_SCRIPT_ARGS (every post script gets them all, so
//   only --manifest FILE, --datapath PATH and --no-doctor are ours and the rest is ignored); the environment
//   has BR2_CONFIG, HOST_DIR, BINARIES_DIR, BASE_DIR, BR2_EXTERNAL_*; cwd is the Buildroot tree;
//   it runs as the building user, not root, not in fakeroot.
// The containers are prepared by `prepare` (a container whose rootfs is `target` copies the
// image as it is now, leaving out the containers already in it); this file reads the
// arguments and cross-checks the Buildroot configuration.

export interface PostBuildArgs {
  manifest?: string;
  datapath?: string;
  /** Skip the doctor's checks after preparing. */
  noDoctor?: boolean;
  /** Report the errors (Buildroot configuration, doctor) but let the build go on (exit 0). */
  keepGoing?: boolean;
  ignored: string[];
}

/** The post-build options in BR2_ROOTFS_POST_SCRIPT_ARGS; every other argument belongs to another post script. */
export const POST_BUILD_OPTIONS = ['--manifest', '--datapath', '--no-doctor', '--keep-going'];

/**
 * Every post script gets all of BR2_ROOTFS_POST_SCRIPT_ARGS, so an argument that is not ours
 * may be another script's (the Pi's post-image takes --add-miniuart-bt-overlay): it is
 * ignored. One a typo away from ours (--manifets) is a usage error naming it (exit 2): ignoring
 * it would build without what it meant.
 */
export function refuseNearMisses(args: readonly string[], ours: readonly string[], script: string): void {
  for (const a of args) {
    if (!a.startsWith('-')) continue;
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (ours.includes(name)) continue;
    const near = nearest(name.replace(/^-+/, ''), ours.map((o) => o.slice(2))).map((o) => `--${o}`);
    if (near.length) failUsage('USAGE', `unknown option ${name} in the ${script} arguments (BR2_ROOTFS_POST_SCRIPT_ARGS): did you mean ${near.join(' or ')}?`, `fix it in BR2_ROOTFS_POST_SCRIPT_ARGS; ${script} reads ${ours.join(', ')} and leaves other post scripts' arguments alone`);
  }
}

export function parsePostScriptArgs(args: string[]): PostBuildArgs {
  const out: PostBuildArgs = { ignored: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const [k, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    if (k === '--no-doctor') out.noDoctor = true;
    else if (k === '--keep-going') out.keepGoing = true;
    else if (k === '--manifest' || k === '--datapath') {
      const v = inline ?? args[++i];
      if (v === undefined) break;
      if (k === '--manifest') out.manifest = v;
      else out.datapath = v;
    } else out.ignored.push(a);
  }
  return out;
}

export interface CrossCheckContainer {
  callsign: string;
  archName: string | null;
  limits?: boolean;
  runtime?: RuntimeMode;
  /** Its spec's idmap has lines: it runs in a user namespace. */
  unprivileged?: boolean;
}

/**
 * What the Buildroot configuration says against what prepare made. Errors are an image that
 * cannot run its containers (no LXC, no runc or unshare for an OCI one, owners never applied,
 * another architecture): they fail the build unless --keep-going.
 */
export function crossCheck(br2Config: string | undefined, containers: CrossCheckContainer[], nonRoot: boolean): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (!br2Config || !fs.existsSync(br2Config)) {
    out.push({ code: 'BR_NO_CONFIG', severity: 'warning', message: 'BR2_CONFIG is not set or missing: the Buildroot configuration was not checked', hint: 'run this from a Buildroot post-build script' });
    return out;
  }
  // a regular file, bounded: a directory or a FIFO as BR2_CONFIG is a mistake, not a hang
  const r = readTextFile(br2Config, 8 * 1024 * 1024);
  if (!r.ok) {
    out.push({ code: 'BR_CONFIG_UNREADABLE', severity: 'error', file: br2Config, message: `BR2_CONFIG ${br2Config} cannot be read: ${r.reason}`, hint: "point BR2_CONFIG at Buildroot's .config (Buildroot sets it for post-build scripts)" });
    return out;
  }
  const lines = parseBr2Config(r.text);
  const c: Br2Config = new Map([...lines].map(([k, v]) => [k, v.value]));
  const file = br2Config;
  /** where a key is set, or said to be not set ("# BR2_X is not set") */
  const at = (key: string): { line?: number } => {
    const l = lines.get(key)?.line ?? r.text.split('\n').findIndex((x) => x === `# ${key} is not set`) + 1;
    return l > 0 ? { line: l } : {};
  };
  // the backends the containers are made for (runtime lxc, the default, and both: LXC's; runc and both: runc's)
  const rt = (k: { runtime?: RuntimeMode }) => k.runtime ?? 'lxc';
  const lxcOnes = containers.filter((k) => rt(k) === 'lxc').map((k) => k.callsign);
  const runcOnes = containers.filter((k) => rt(k) === 'runc').map((k) => k.callsign);
  const bothOnes = containers.filter((k) => rt(k) === 'both').map((k) => k.callsign);
  const on = (k: string) => c.get(k) === 'y';
  if ((lxcOnes.length || containers.length === 0) && !on('BR2_PACKAGE_LXC')) out.push({ code: 'BR_LXC_MISSING', severity: 'error', file, ...at('BR2_PACKAGE_LXC'), message: 'BR2_PACKAGE_LXC is not enabled: the image has no LXC to start the containers', hint: 'set BR2_PACKAGE_LXC=y (BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_LXC selects it)' });
  if (runcOnes.length) {
    // Thunder's runc backend runs the image's /usr/bin/runc (RunCImplementation.cpp), built only with its backend selected
    if (!on('BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_RUNC')) out.push({ code: 'BR_RUNC_BACKEND_MISSING', severity: 'error', file, ...at('BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_RUNC'), message: `${runcOnes.join(', ')}: runtime runc, but BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_RUNC is not enabled: Thunder has no runc backend to start the bundle`, hint: 'set BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_RUNC=y (it selects BR2_PACKAGE_RUNC), e.g. with defconfigs/raspberrypi3_wpe_ml_runc_defconfig' });
    if (!on('BR2_PACKAGE_RUNC')) out.push({ code: 'BR_RUNC_MISSING', severity: 'error', file, ...at('BR2_PACKAGE_RUNC'), message: `${runcOnes.join(', ')}: runtime runc, but BR2_PACKAGE_RUNC is not enabled: the image has no /usr/bin/runc, which Thunder's runc backend runs`, hint: 'set BR2_PACKAGE_RUNC=y (BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_RUNC selects it)' });
  }
  // an unprivileged OCI bundle (runtime runc or both: joinsBootUserns) gets its user namespace at
  // boot from its S39thunderbox-userns-<callsign> script, which runs the image's `unshare --user`:
  // Buildroot's BusyBox config (package/busybox/busybox.config) leaves CONFIG_UNSHARE off, so it
  // is util-linux's
  const usernsOnes = containers.filter((k) => (rt(k) === 'runc' || rt(k) === 'both') && k.unprivileged).map((k) => k.callsign);
  const unshare = ['BR2_PACKAGE_UTIL_LINUX', 'BR2_PACKAGE_UTIL_LINUX_UNSHARE'].filter((k) => !on(k));
  if (usernsOnes.length && unshare.length) out.push({ code: 'BR_UNSHARE_MISSING', severity: 'error', file, ...at(unshare[0]!), message: `${usernsOnes.join(', ')}: an unprivileged OCI container (idmap, runtime ${[...new Set(containers.filter((k) => usernsOnes.includes(k.callsign)).map(rt))].join(' or ')}), but ${unshare.join(' and ')} ${unshare.length > 1 ? 'are' : 'is'} not enabled: the image has no unshare for ${USERNS_SCRIPT_PREFIX}<callsign>, which makes the user namespace at boot`, hint: "set BR2_PACKAGE_UTIL_LINUX=y and BR2_PACKAGE_UTIL_LINUX_UNSHARE=y (as defconfigs/raspberrypi3_wpe_ml_runc_defconfig does); Buildroot's BusyBox config has no unshare, and a custom one (BR2_PACKAGE_BUSYBOX_CONFIG) with CONFIG_UNSHARE=y is not read here, only util-linux's is checked" });
  if (bothOnes.length) {
    const lxc = on('BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_LXC') && on('BR2_PACKAGE_LXC');
    const runc = on('BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_RUNC') && on('BR2_PACKAGE_RUNC');
    if (!lxc && !runc) out.push({ code: 'BR_NO_CONTAINER_BACKEND', severity: 'error', file, message: `${bothOnes.join(', ')}: runtime both, but neither Thunder's LXC backend with LXC nor its runc backend with runc is enabled`, hint: 'set BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_LXC=y or BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_RUNC=y' });
    else if (lxc && runc) out.push({ code: 'BR_BACKEND_CHOICE', severity: 'note', file, message: `${bothOnes.join(', ')}: runtime both, and Thunder is built with the LXC and the runc backend: it uses the plugin JSON's containertype, else processcontainers.default in its config.json, and starts nothing with neither`, hint: 'set "containertype" in the plugin JSON, or "processcontainers": {"default": ...} in Thunder\'s config.json' });
  }
  const tables = c.get('BR2_ROOTFS_DEVICE_TABLE') ?? '';
  const fakeroot = c.get('BR2_ROOTFS_POST_FAKEROOT_SCRIPT') ?? '';
  if (nonRoot && !/post-fakeroot\.sh/.test(fakeroot) && !/device_table\.txt/.test(tables.replace(/system\/device_table\.txt/, ''))) {
    out.push({ code: 'BR_OWNERS_NOT_APPLIED', severity: 'error', file, ...at('BR2_ROOTFS_POST_FAKEROOT_SCRIPT'), message: 'the container owners are written to a permission table, but neither BR2_ROOTFS_POST_FAKEROOT_SCRIPT runs thunderbox\'s post-fakeroot.sh nor does BR2_ROOTFS_DEVICE_TABLE list a thunderbox table', hint: 'add $(BR2_EXTERNAL_THUNDERBOX_PATH)/board/raspberrypi3/post-fakeroot.sh to BR2_ROOTFS_POST_FAKEROOT_SCRIPT' });
  }
  if (!/post-fakeroot\.sh/.test(fakeroot)) {
    out.push({ code: 'BR_BUILD_FILES_SHIPPED', severity: 'warning', file, ...at('BR2_ROOTFS_POST_FAKEROOT_SCRIPT'), message: 'BR2_ROOTFS_POST_FAKEROOT_SCRIPT does not run thunderbox\'s post-fakeroot.sh, which leaves the build\'s own files (each container\'s device_table.txt and thunderbox.stamp) out of the filesystem image: they ship on the device', hint: 'add $(BR2_EXTERNAL_THUNDERBOX_PATH)/board/raspberrypi3/post-fakeroot.sh to BR2_ROOTFS_POST_FAKEROOT_SCRIPT' });
  }
  if (!/board\/raspberrypi3\/device_table\.txt/.test(tables) && (c.get('BR2_ROOTFS_OVERLAY') ?? '').includes('overlays/container-host')) {
    out.push({ code: 'BR_TABLE_MISSING', severity: 'warning', file, ...at('BR2_ROOTFS_DEVICE_TABLE'), message: 'BR2_ROOTFS_DEVICE_TABLE does not list thunderbox\'s board/raspberrypi3/device_table.txt, which gives the container-host overlay its modes', hint: 'add $(BR2_EXTERNAL_THUNDERBOX_PATH)/board/raspberrypi3/device_table.txt to BR2_ROOTFS_DEVICE_TABLE' });
  }
  out.push(...cgroupMountCheck(c, file, containers.filter((k) => k.limits).map((k) => k.callsign)));
  const build = br2ArchName(c);
  for (const k of containers) {
    if (!build || !k.archName) continue;
    const same = build === k.archName || (build === 'armhf' && k.archName === 'armel') || (build === 'arm' && k.archName.startsWith('arm'));
    if (!same) out.push({ code: 'BR_ARCH_MISMATCH', severity: 'error', file, ...at(ARCH_KEYS.find((k) => c.get(k) === 'y') ?? 'BR2_ARCH'), message: `${k.callsign}: the rootfs is ${k.archName}, the build is ${build}`, hint: 'use a rootfs of the image\'s architecture (rootfs: target, or the build\'s own images/rootfs.tar)' });
  }
  return out;
}

export function stampArch(containerDir: string): string | null {
  return readStamp(containerDir)?.facts?.archName ?? null;
}
