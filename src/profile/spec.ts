import type { IdMapLine } from '../lxc/idmap.js';

// The resolved description of one container: what the manifest and the flags say, with
// every default filled in. Planning reads only this.

export type SeccompMode = 'default' | 'off' | 'off-common-conf';

export interface EmptyNet {
  type: 'empty';
}

export interface VethNet {
  type: 'veth';
  link: string;
  ipv4?: string;
  ipv6?: string;
  /** Explicit MAC; when absent one is derived from the callsign (stable across builds). */
  hwaddr?: string;
  vethPair?: string;
}

export type NetSpec = EmptyNet | VethNet;

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
}

export interface EnvSpec {
  name: string;
  /** Absent: Thunder's own value is inherited (lxc.environment = NAME). */
  value?: string;
}

export type RootfsSource = { kind: 'archive'; path: string } | { kind: 'dir'; path: string };

export interface ContainerSpec {
  callsign: string;
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
  /** null: do not touch a plugin JSON; 'auto': search Thunder's plugin dirs; else this file. */
  pluginJson: string | null;
  /** Files owned by ids the idmap does not cover go to the container's nobody (65534) instead of failing. */
  unmappedToNobody: boolean;
  /** Make the rootfs top directory traversable (0755 at least) when the archive has it locked. */
  fixRootMode: boolean;
  /** Keep device nodes in an unprivileged container (they are skipped by default: lxc.autodev provides /dev). */
  keepDevices: boolean;
}

/** Thunder needs these two in every container (lxc.environment = NAME, value inherited). */
export const REQUIRED_ENV = ['PATH', 'MESSAGE_DISPATCHER_CONFIG'] as const;
