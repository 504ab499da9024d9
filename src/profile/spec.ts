import type { IdMapLine } from '../lxc/idmap.js';
import type { LimitsSpec } from './limits.js';

/** An interface name as the kernel takes it: 1-15 characters, no blank, "/" or ":". */
export const IFNAME = /^[^\s/:]{1,15}$/;

// The resolved description of one container: what the manifest and the flags say, with
// every default filled in. Planning reads only this.

export type SeccompMode = 'default' | 'off' | 'off-common-conf';

/** Which of Thunder's container backends the container is made for: lxc (config), runc (config.json), or both. */
export type RuntimeMode = 'lxc' | 'runc' | 'both';
export const RUNTIMES: readonly RuntimeMode[] = ['lxc', 'runc', 'both'];

export interface EmptyNet {
  type: 'empty';
}

export interface VethNet {
  type: 'veth';
  link: string;
  /** ADDRESS/PREFIX, or 'auto': the next free address of the bridge's network (net/allocate.ts). */
  ipv4?: string;
  ipv6?: string;
  /** An address, or 'auto': the bridge's own address. */
  gateway?: string;
  gateway6?: string;
  /** Explicit MAC; when absent one is derived from the callsign (stable across builds). */
  hwaddr?: string;
  vethPair?: string;
}

/**
 * Routed veth (lxc.net.N.veth.mode = router): no bridge. Host and container share a small
 * interconnect network (a /30 or /31: the host side is its first address, the container its
 * second), and the routed addresses are the container's too, routed to it by the host.
 */
export interface RoutedNet {
  type: 'routed';
  /** The interconnect network (A.B.C.D/30 or /31), or 'auto' from the manifest's routed pool. */
  interconnect?: string;
  /** Addresses routed to the container (A.B.C.D/32 or a subnet), IPv4. */
  ipv4?: string[];
  /** IPv6: the container's addresses and the host side's (the gateway), given. */
  ipv6?: string[];
  gateway6?: string;
  /** Networks behind the container: the host routes them to the veth (veth.ipv4.route, veth.ipv6.route). */
  routes?: string[];
  hwaddr?: string;
  vethPair?: string;
}

export type NetSpec = EmptyNet | VethNet | RoutedNet;

/** A host network (bridge) of the device, from the manifest's `networks`. */
export interface HostNetwork {
  name: string;
  /** The bridge's address with the network's prefix, e.g. 10.0.3.1/24. */
  ipv4?: string;
  ipv6?: string;
  nat: boolean;
  forward: boolean;
  dhcp: boolean;
}

export interface MountSpec {
  /** Host (device) path, absolute. */
  host: string;
  /** Path inside the container, relative to the rootfs ('' never). */
  path: string;
  rw: boolean;
  optional: boolean;
  /** Mode of the mount-point directory made in the rootfs (and of the host directory). */
  mode?: number;
  /** Container uid (and gid) that owns the mount point and the host directory. */
  owner?: { uid: number; gid: number };
  /** Read-only written out (:ro, ro: true, rw: false), not the default: resolve() reads it and drops it. */
  readOnlyAsked?: boolean;
}

export interface EnvSpec {
  name: string;
  /** Absent: Thunder's own value is inherited (lxc.environment = NAME). */
  value?: string;
}

export type RootfsSource = { kind: 'archive'; path: string } | { kind: 'dir'; path: string };

/** A minimised rootfs: the closure of the roots plus kept files, not a copy of everything. */
export interface MinimizeSpec {
  /** Extra programs, libraries or directories (absolute paths in the container). */
  roots: string[];
  /** Globs of further paths to keep (relative to the rootfs top; a directory keeps all below it). */
  keep: string[];
  /** ThunderPlugin, the plugin library, proxy stubs, glibc's modules (on unless --no-thunder-roots). */
  thunderRoots: boolean;
}

/** lxc.console.logfile / lxc.console.size: ThunderPlugin's stdout and stderr kept in a file on the device. */
export interface ConsoleSpec {
  /** A device path on Thunder's side (its directory must exist when the container starts). */
  log: string;
  /** The console ring buffer, as LXC writes it (e.g. 1MB), or absent. */
  size?: string;
}

/** Where the container goes: where Thunder looks for it by classname (read-only images), or per callsign under the persistent path. */
export type LocationSpec = 'data' | 'persistent';

export interface ContainerSpec {
  callsign: string;
  /** The plugin's class when there is no plugin JSON to read it from (--classname); else the JSON's. */
  classname?: string;
  location: LocationSpec;
  console?: ConsoleSpec;
  rootfs: RootfsSource;
  /** 'auto' or an lxc.arch name. */
  arch: string;
  /** Empty: privileged (no lxc.idmap). */
  idmap: IdMapLine[];
  net: NetSpec[];
  /** Bind /tmp for Thunder's communicator socket. */
  tmpMount: boolean;
  mounts: MountSpec[];
  environment: EnvSpec[];
  seccomp: SeccompMode;
  /** lxc: the LXC config; runc and both: an OCI bundle config.json too (oci/config.ts). */
  runtime: RuntimeMode;
  /** the plugin JSON's containertype, asked for (default: the runtime, none for both) */
  containertype?: 'lxc' | 'runc';
  /** null: do not touch a plugin JSON; 'auto': search Thunder's plugin dirs; else this file. */
  pluginJson: string | null;
  /** Files owned by ids the idmap does not cover go to the container's nobody (65534) instead of failing. */
  unmappedToNobody: boolean;
  /** Make the rootfs top directory traversable (0755 at least) when the archive has it locked. */
  fixRootMode: boolean;
  /** Keep device nodes in an unprivileged container (they are skipped by default: lxc.autodev provides /dev). */
  keepDevices: boolean;
  /** Absent: the whole rootfs is copied. */
  minimize?: MinimizeSpec;
  /** Hard-link files identical to the image's own copies (same path) instead of copying them. */
  dedupeWithHost: boolean;
  /** Resource limits (cgroup and rlimit); absent: none. */
  limits?: LimitsSpec;
}

/** Thunder needs these two in every container (lxc.environment = NAME, value inherited). */
export const REQUIRED_ENV = ['PATH', 'MESSAGE_DISPATCHER_CONFIG'] as const;
