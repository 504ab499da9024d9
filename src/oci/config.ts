import type { ContainerSpec } from '../profile/spec.js';
import { toHost, type IdMapLine } from '../lxc/idmap.js';
import type { OciSeccomp } from './seccomp.js';
import { weightToShares } from '../profile/limits.js';

// The OCI runtime-spec config.json of a Thunder plugin container, for Thunder's runc backend,
// from the same ContainerSpec that renders the LXC config (lxc/container-config.ts), served by
// the same rootfs directory beside it. Thunder drives it as
//   runc --log <volatile>/<callsign>/<callsign>/runc.container.log create --no-new-keyring --bundle <dir>/Container <callsign>
//   runc ... exec --detach [--env NAME=value ...] <callsign> ThunderPlugin <args>
// and never `runc start`: process.args only feeds the init runc leaves waiting, yet runc
// looks it up at create (an absolute path that exists; with PATH written "$PATH" a bare name
// is not found), so it must be a program of the rootfs. An env entry "NAME=$NAME" gets
// Thunder's value through --env when Thunder has one.
//
// What an LXC common.conf container gets, carried over:
// - capabilities: the full set less common.conf's lxc.cap.drop;
// - /proc with /proc/sys and /proc/sysrq-trigger read-only (proc:mixed), /sys read-only
//   (sys:mixed), a tmpfs /dev (lxc.autodev) with devpts, shm and mqueue;
// - the seccomp policy common.conf names, converted (oci/seccomp.ts);
// - the open-files limit the container inherits on the device: Thunder's, from init, the
//   kernel's 1024 soft / 4096 hard (LXC sets none and inherits it).
// Measured with runc 1.1.5 and crun 1.8.1 (Debian 12): ociVersion 1.1.0 is taken by both
// (crun refuses 1.2.0: "unknown version specified"); an unprivileged container joins a user
// namespace made at boot, which owns its network namespace (oci/userns.ts), so it mounts its
// own sysfs, read-only, but no /sys/fs/cgroup.

export const OCI_VERSION = '1.1.0';

/** The named network namespace an OCI container joins (S40thunderbox-net makes it at boot). */
export function ociNetnsName(callsign: string): string {
  return `tbx-${callsign}`;
}

export function ociNetnsPath(callsign: string): string {
  return `/var/run/netns/${ociNetnsName(callsign)}`;
}

/** Every capability of Linux up to 5.9 (CAP_CHECKPOINT_RESTORE, 40), in number order. */
export const ALL_CAPABILITIES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'linux_immutable',
  'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner', 'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace',
  'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice', 'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write',
  'audit_control', 'setfcap', 'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read', 'perfmon', 'bpf',
  'checkpoint_restore',
] as const;

/** Debian's and LXC upstream's common.conf: lxc.cap.drop = mac_admin mac_override sys_time sys_module sys_rawio */
export const COMMON_CONF_CAP_DROP = ['mac_admin', 'mac_override', 'sys_time', 'sys_module', 'sys_rawio'];

export const DEFAULT_NOFILE = { soft: 1024, hard: 4096 };

export interface OciContext {
  /** process.args: a program of the rootfs, by absolute path (what runc's waiting init names) */
  args: string[];
  /** lxc.cap.drop of the image's common.conf (names without CAP_, lower case) */
  capDrop: readonly string[];
  /** the converted seccomp policy, or null for none */
  seccomp: OciSeccomp | null;
  /** join this named network namespace (made at boot) instead of a new one */
  netnsPath?: string;
  /** join this user namespace, made at boot with the container's id map (oci/userns.ts), instead of a new one */
  usernsPath?: string;
  /** a cgroup path per container (default /thunderbox/<callsign>) */
  cgroupsPath?: string;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** Capability bit mask of a set of names, as /proc/<pid>/status prints CapBnd (hex). */
export function capMask(names: readonly string[]): bigint {
  let m = 0n;
  for (const n of names) {
    const i = ALL_CAPABILITIES.indexOf(n as (typeof ALL_CAPABILITIES)[number]);
    if (i >= 0) m |= 1n << BigInt(i);
  }
  return m;
}

export function ociCapabilities(capDrop: readonly string[]): string[] {
  const drop = new Set(capDrop.map((c) => c.toLowerCase().replace(/^cap_/, '')));
  return ALL_CAPABILITIES.filter((c) => !drop.has(c));
}

function idMappings(map: readonly IdMapLine[], kind: 'u' | 'g'): { containerID: number; hostID: number; size: number }[] {
  return map.filter((l) => l.kind === kind).map((l) => ({ containerID: l.nsid, hostID: l.hostid, size: l.range }));
}

export function ociMounts(spec: ContainerSpec): OciMount[] {
  const userns = spec.idmap.length > 0;
  const m: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    // gid 5 (tty) as LXC's devpts: mapped in every idmap thunderbox plans (0..size-1)
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(userns && toHost(spec.idmap, 'g', 5) === undefined ? [] : ['gid=5'])] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  ];
  // a user namespace's root may mount sysfs when it owns the network namespace, as it does here
  // (a new one, or the one made inside it at boot, oci/userns.ts); cgroupfs it may not
  if (userns) m.push({ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] });
  else {
    m.push({ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] });
    m.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
  }
  // rbind, as for LXC: a plain bind of a /tmp with mounts below it fails in a user namespace
  if (spec.tmpMount) m.push({ destination: '/tmp', type: 'bind', source: '/tmp', options: ['rbind', 'rw'] });
  for (const s of spec.mounts) m.push({ destination: `/${s.path}`, type: 'bind', source: s.host, options: ['rbind', s.rw ? 'rw' : 'ro'] });
  return m;
}

/**
 * The manifest's limits as linux.resources (the same as the LXC config's lxc.cgroup keys, as
 * runc writes them into the container's cgroup: memory.swap is memory and swap together, cpu
 * shares from the weight as for cgroup v1; runc converts shares for a cgroup v2 device).
 */
export function ociResources(spec: ContainerSpec): Record<string, unknown> | undefined {
  const l = spec.limits;
  if (!l) return undefined;
  const r: Record<string, unknown> = {};
  if (l.memory !== undefined) r.memory = { limit: l.memory, ...(l.memorySwap !== undefined ? { swap: l.memorySwap } : {}) };
  if (l.pids !== undefined) r.pids = { limit: l.pids };
  if (l.cpu?.weight !== undefined || l.cpu?.cpus !== undefined) r.cpu = { ...(l.cpu.weight !== undefined ? { shares: weightToShares(l.cpu.weight) } : {}), ...(l.cpu.cpus !== undefined ? { cpus: l.cpu.cpus } : {}) };
  return Object.keys(r).length ? r : undefined;
}

export function ociConfig(spec: ContainerSpec, ctx: OciContext): Record<string, unknown> {
  const userns = spec.idmap.length > 0;
  const caps = ociCapabilities(ctx.capDrop).map((c) => `CAP_${c.toUpperCase()}`);
  const namespaces: Record<string, string>[] = [{ type: 'pid' }, ctx.netnsPath ? { type: 'network', path: ctx.netnsPath } : { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (userns) namespaces.push(ctx.usernsPath ? { type: 'user', path: ctx.usernsPath } : { type: 'user' });
  const linux: Record<string, unknown> = {
    ...(userns ? { uidMappings: idMappings(spec.idmap, 'u'), gidMappings: idMappings(spec.idmap, 'g') } : {}),
    cgroupsPath: ctx.cgroupsPath ?? `/thunderbox/${spec.callsign}`,
    namespaces,
    readonlyPaths: ['/proc/sys', '/proc/sysrq-trigger'],
    ...(ociResources(spec) ? { resources: ociResources(spec) } : {}),
    ...(ctx.seccomp ? { seccomp: ctx.seccomp } : {}),
  };
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ctx.args,
      env: spec.environment.map((e) => (e.value === undefined ? `${e.name}=$${e.name}` : `${e.name}=${e.value}`)),
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      // limits.nofile as lxc.prlimit.nofile sets it (soft and hard), else what the device gives Thunder
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: spec.limits?.nofile ?? DEFAULT_NOFILE.hard, soft: spec.limits?.nofile ?? DEFAULT_NOFILE.soft }],
    },
    root: { path: 'rootfs', readonly: false },
    hostname: spec.callsign,
    mounts: ociMounts(spec),
    linux,
  };
}

/** config.json's text: 2-space JSON, a final newline; the same spec and context give the same bytes. */
export function renderOciConfig(spec: ContainerSpec, ctx: OciContext): string {
  return `${JSON.stringify(ociConfig(spec, ctx), null, 2)}\n`;
}
