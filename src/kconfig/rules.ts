// The kernel options containers need, one row each: the single source for `kconfig lint`
// and `kconfig check-config`. For each: its feature, whether LXC and Thunder containers
// need it (required / recommended), where the requirement comes from, the lxc-checkconfig
// section and label when that script checks it, and a condition when it matters only for
// some containers (an idmap, veth networking, NAT, the cgroup v1 hierarchy).

export type Feature = 'namespaces' | 'cgroups' | 'networking' | 'netfilter' | 'security' | 'storage' | 'checkpoint';
export type Need = 'required' | 'recommended' | 'no';
export type Source = 'lxc-checkconfig' | 'moby' | 'thunder-lxc-doc' | 'thunderbox';
export type Condition = 'idmap' | 'veth' | 'nat' | 'cgroup-v1' | 'seccomp' | 'memory' | 'memory-swap' | 'pids' | 'cpu-weight' | 'cpus';

export interface KRule {
  option: string;
  feature: Feature;
  lxc: Need;
  thunder: Need;
  sources: Source[];
  /** lxc-checkconfig's section and label (the check-config report is grouped like it). */
  check?: { section: 'Namespaces' | 'Control groups' | 'Misc' | 'Checkpoint/Restore'; label: string; mandatory?: boolean };
  /** Needed only when the containers use this. */
  when?: Condition;
  /** Used while the container starts: as a module (m) it must load by then. */
  atStart?: boolean;
  /** Required when the containers use all of one of these sets (a limit needs its controller). */
  requiredWhen?: Condition[][];
  /**
   * An option split out of this one in a later kernel (MEMCG_V1 from MEMCG in 6.11): absent
   * from a resolved config while this one is y, the kernel predates the split and has it built in.
   */
  splitFrom?: string;
  why: string;
}

const R = (option: string, feature: Feature, lxc: Need, thunder: Need, sources: Source[], why: string, more: Partial<KRule> = {}): KRule => ({ option, feature, lxc, thunder, sources, why, ...more });
const LCC = (section: NonNullable<KRule['check']>['section'], label: string, mandatory = false) => ({ check: { section, label, mandatory } });

export const RULES: readonly KRule[] = [
  // namespaces
  R('NAMESPACES', 'namespaces', 'required', 'required', ['lxc-checkconfig', 'moby'], 'every container is a set of namespaces', LCC('Namespaces', 'Namespaces', true)),
  R('UTS_NS', 'namespaces', 'recommended', 'required', ['lxc-checkconfig', 'moby', 'thunderbox'], 'lxc.uts.name gives the container its own host name', LCC('Namespaces', 'Utsname namespace')),
  R('IPC_NS', 'namespaces', 'required', 'required', ['lxc-checkconfig', 'moby'], 'SysV IPC and POSIX queues per container', LCC('Namespaces', 'Ipc namespace', true)),
  R('PID_NS', 'namespaces', 'required', 'required', ['lxc-checkconfig', 'moby'], 'the container has its own pid 1', LCC('Namespaces', 'Pid namespace', true)),
  R('USER_NS', 'namespaces', 'recommended', 'required', ['lxc-checkconfig', 'thunderbox'], 'an lxc.idmap (unprivileged containers, thunderbox\'s default) needs user namespaces', { ...LCC('Namespaces', 'User namespace'), when: 'idmap' }),
  R('NET_NS', 'namespaces', 'recommended', 'required', ['lxc-checkconfig', 'moby', 'thunder-lxc-doc'], 'lxc.net.0.type = empty (Thunder\'s default) and veth both create a network namespace', LCC('Namespaces', 'Network namespace')),
  // cgroups
  R('CGROUPS', 'cgroups', 'recommended', 'required', ['lxc-checkconfig', 'moby'], 'LXC puts every container in a cgroup', LCC('Control groups', 'Cgroups')),
  R('CGROUP_DEVICE', 'cgroups', 'recommended', 'recommended', ['lxc-checkconfig', 'moby'], 'common.conf\'s device allow-list (cgroup v1)', LCC('Control groups', 'Cgroup device')),
  R('CGROUP_SCHED', 'cgroups', 'recommended', 'recommended', ['lxc-checkconfig', 'moby'], 'CPU shares per container (limits.cpu.weight)', { ...LCC('Control groups', 'Cgroup sched'), requiredWhen: [['cpu-weight']] }),
  R('FAIR_GROUP_SCHED', 'cgroups', 'no', 'recommended', ['moby', 'thunderbox'], 'cpu.shares (v1) and cpu.weight (v2) exist only with the fair group scheduler (limits.cpu.weight)', { requiredWhen: [['cpu-weight']] }),
  R('CGROUP_CPUACCT', 'cgroups', 'recommended', 'recommended', ['lxc-checkconfig', 'moby'], 'CPU accounting per container', LCC('Control groups', 'Cgroup cpu account')),
  R('MEMCG', 'cgroups', 'recommended', 'recommended', ['lxc-checkconfig', 'moby'], 'memory limits (limits.memory; the Pi also needs cgroup_enable=memory on the command line)', { ...LCC('Control groups', 'Cgroup memory controller'), requiredWhen: [['memory']] }),
  R('SWAP', 'cgroups', 'no', 'no', ['thunderbox'], 'limits.memory-swap: swap accounting is MEMCG with SWAP (MEMCG_SWAP was merged into them in 6.1); without SWAP there is no memory.memsw / memory.swap.max file and the start fails', { requiredWhen: [['memory-swap']] }),
  R('CPUSETS', 'cgroups', 'recommended', 'recommended', ['lxc-checkconfig', 'moby'], 'CPU pinning (limits.cpu.cpus)', { ...LCC('Control groups', 'Cgroup cpuset'), requiredWhen: [['cpus']] }),
  R('CGROUP_PIDS', 'cgroups', 'no', 'recommended', ['moby', 'thunderbox'], 'a process limit stops a fork bomb in a plugin (limits.pids)', { requiredWhen: [['pids']] }),
  R('CGROUP_FREEZER', 'cgroups', 'recommended', 'recommended', ['moby'], 'lxc-freeze and clean stops on cgroup v1'),
  R('CGROUP_BPF', 'cgroups', 'recommended', 'recommended', ['moby', 'thunderbox'], 'the device controller of cgroup v2 is a BPF program'),
  R('MEMCG_V1', 'cgroups', 'no', 'recommended', ['thunderbox'], 'the memory controller of the cgroup v1 hierarchy is off by default since 6.12: a v1 image (cgroupfs-mount) has no memory hierarchy: liblxc fails the start at a memory limit ("Failed to set memory.limit_in_bytes", measured), and Thunder\'s memory figures (memory.usage_in_bytes) are missing', { when: 'cgroup-v1', requiredWhen: [['cgroup-v1', 'memory']], splitFrom: 'MEMCG' }),
  R('CPUSETS_V1', 'cgroups', 'no', 'no', ['thunderbox'], 'limits.cpu.cpus on a v1 image: the v1 cpuset hierarchy is its own option since 6.12', { requiredWhen: [['cgroup-v1', 'cpus']], splitFrom: 'CPUSETS' }),
  // networking
  R('VETH', 'networking', 'recommended', 'recommended', ['lxc-checkconfig', 'moby'], 'lxc.net.N.type = veth', { ...LCC('Misc', 'Veth pair device'), atStart: true }),
  R('MACVLAN', 'networking', 'recommended', 'no', ['lxc-checkconfig'], 'lxc.net.N.type = macvlan', { ...LCC('Misc', 'Macvlan'), atStart: true }),
  R('VLAN_8021Q', 'networking', 'recommended', 'no', ['lxc-checkconfig'], 'lxc.net.N.type = vlan', { ...LCC('Misc', 'Vlan'), atStart: true }),
  R('BRIDGE', 'networking', 'recommended', 'recommended', ['lxc-checkconfig', 'moby'], 'a host bridge (lxcbr0) for veth containers', { ...LCC('Misc', 'Bridges'), atStart: true }),
  R('TUN', 'networking', 'no', 'recommended', ['thunderbox'], 'the wiki\'s TAP devices on a bridge'),
  R('POSIX_MQUEUE', 'namespaces', 'no', 'recommended', ['moby'], 'POSIX message queues inside containers'),
  // netfilter
  R('NETFILTER_ADVANCED', 'netfilter', 'recommended', 'no', ['lxc-checkconfig'], 'advanced netfilter options', LCC('Misc', 'Advanced netfilter')),
  R('IP_NF_TARGET_MASQUERADE', 'netfilter', 'recommended', 'recommended', ['lxc-checkconfig', 'moby'], 'NAT for the container network (iptables MASQUERADE)', { ...LCC('Misc', 'CONFIG_IP_NF_TARGET_MASQUERADE'), when: 'nat', atStart: true }),
  R('IP6_NF_TARGET_MASQUERADE', 'netfilter', 'recommended', 'no', ['lxc-checkconfig', 'moby'], 'IPv6 NAT', LCC('Misc', 'CONFIG_IP6_NF_TARGET_MASQUERADE')),
  R('NETFILTER_XT_TARGET_CHECKSUM', 'netfilter', 'recommended', 'no', ['lxc-checkconfig'], 'checksum fix-ups for DHCP on the bridge', LCC('Misc', 'CONFIG_NETFILTER_XT_TARGET_CHECKSUM')),
  R('NETFILTER_XT_MATCH_COMMENT', 'netfilter', 'recommended', 'no', ['lxc-checkconfig'], 'lxc-net tags its rules with comments', LCC('Misc', 'CONFIG_NETFILTER_XT_MATCH_COMMENT')),
  R('NETFILTER_XT_TARGET_MASQUERADE', 'netfilter', 'no', 'required', ['thunderbox'], 'MASQUERADE itself (selected by IP_NF_TARGET_MASQUERADE)', { when: 'nat', atStart: true }),
  R('NF_NAT', 'netfilter', 'no', 'required', ['moby', 'thunderbox'], 'the NAT core under MASQUERADE', { when: 'nat', atStart: true }),
  R('BRIDGE_NETFILTER', 'netfilter', 'no', 'recommended', ['moby'], 'iptables sees bridged container traffic', { when: 'veth' }),
  // security
  R('SECCOMP', 'security', 'recommended', 'required', ['moby', 'thunderbox'], 'common.conf loads a seccomp profile; without it the container fails to start', { when: 'seccomp' }),
  R('SECCOMP_FILTER', 'security', 'recommended', 'required', ['moby', 'thunderbox'], 'seccomp profiles are BPF filters', { when: 'seccomp' }),
  R('KEYS', 'security', 'no', 'recommended', ['moby'], 'lxc.keyring.session gives each container a session keyring'),
  // storage
  R('OVERLAY_FS', 'storage', 'no', 'recommended', ['moby', 'thunderbox'], 'overlay rootfs (a shared read-only base with a writable layer)'),
  R('FUSE_FS', 'storage', 'recommended', 'no', ['lxc-checkconfig'], 'lxcfs', LCC('Misc', 'FUSE (for use with lxcfs)')),
  // checkpoint / restore
  R('CHECKPOINT_RESTORE', 'checkpoint', 'recommended', 'no', ['lxc-checkconfig'], 'lxc-checkpoint', LCC('Checkpoint/Restore', 'checkpoint restore')),
  R('FHANDLE', 'checkpoint', 'recommended', 'no', ['lxc-checkconfig'], 'checkpoint/restore', LCC('Checkpoint/Restore', 'CONFIG_FHANDLE')),
  R('EVENTFD', 'checkpoint', 'recommended', 'no', ['lxc-checkconfig'], 'checkpoint/restore', LCC('Checkpoint/Restore', 'CONFIG_EVENTFD')),
  R('EPOLL', 'checkpoint', 'recommended', 'no', ['lxc-checkconfig'], 'checkpoint/restore', LCC('Checkpoint/Restore', 'CONFIG_EPOLL')),
  R('UNIX_DIAG', 'checkpoint', 'recommended', 'no', ['lxc-checkconfig'], 'checkpoint/restore', LCC('Checkpoint/Restore', 'CONFIG_UNIX_DIAG')),
  R('INET_DIAG', 'checkpoint', 'recommended', 'no', ['lxc-checkconfig'], 'checkpoint/restore', LCC('Checkpoint/Restore', 'CONFIG_INET_DIAG')),
  R('PACKET_DIAG', 'checkpoint', 'recommended', 'no', ['lxc-checkconfig'], 'checkpoint/restore', LCC('Checkpoint/Restore', 'CONFIG_PACKET_DIAG')),
  R('NETLINK_DIAG', 'checkpoint', 'recommended', 'no', ['lxc-checkconfig'], 'checkpoint/restore', LCC('Checkpoint/Restore', 'CONFIG_NETLINK_DIAG')),
];

/** Symbols removed from the kernel: a fragment line for them is lost. */
export const REMOVED_SYMBOLS: Readonly<Record<string, string>> = {
  DEVPTS_MULTIPLE_INSTANCES: 'always on since Linux 4.7',
  MEMCG_SWAP: 'merged into MEMCG in 6.1',
  MEMCG_KMEM: 'always on with MEMCG since 4.6',
  NF_NAT_IPV4: 'merged into NF_NAT in 5.1',
  NF_NAT_NEEDED: 'removed in 5.2',
  NF_CONNTRACK_IPV4: 'merged into NF_CONNTRACK in 4.19',
  CFQ_GROUP_IOSCHED: 'the CFQ scheduler was removed in 5.0',
};

/** What the containers use, which decides the conditional rules. */
export type Uses = ReadonlySet<Condition>;

/** thunderbox's defaults: unprivileged (idmap) with seccomp. */
export const DEFAULT_USES: Uses = new Set<Condition>(['idmap', 'seccomp']);

/** The conditions a container's limits (as the manifest gives them) bring: each limit needs its controller. */
export function limitConditions(l: { memory?: unknown; memorySwap?: unknown; pids?: unknown; cpuWeight?: unknown; cpus?: unknown } | undefined): Condition[] {
  if (!l) return [];
  const out: Condition[] = [];
  if (l.memory !== undefined) out.push('memory');
  if (l.memorySwap !== undefined) out.push('memory-swap');
  if (l.pids !== undefined) out.push('pids');
  if (l.cpuWeight !== undefined) out.push('cpu-weight');
  if (l.cpus !== undefined) out.push('cpus');
  return out;
}

/** A conditional option is needed only when the containers use what it is for. */
export function needOf(rule: KRule, uses: Uses): Need {
  if (rule.requiredWhen?.some((set) => set.every((c) => uses.has(c)))) return 'required';
  if (rule.when && !uses.has(rule.when)) return 'no';
  return rule.thunder;
}
