import { distance } from '../core/suggest.js';
import { parseIdmapValue } from './idmap.js';
import * as V from './values.js';
import { g, type Grammar } from './values.js';

// Every LXC config key, one row each: the single source for checking, migrating, rendering
// and `thunderbox lxc keys`. Rows follow liblxc's config_jump_table[] and
// config_jump_table_net[] (confile.c, identical in 5.0.2 and 6.0.6; 7.0 adds
// lxc.environment.runtime/.hooks and drops the cgroup-v1 lxc.cgroup.<controller> keys).
//
// How to add a key: add a row (name, grammar, versions, legacy names, doc); the completeness
// test in test/unit/lxc-keys.test.ts checks that every row parses, renders and reparses.

export type LxcVersion = 5 | 6 | 7;

export type NetType = 'empty' | 'veth' | 'vlan' | 'macvlan' | 'ipvlan' | 'phys' | 'none';
const NET_TYPES: readonly NetType[] = ['empty', 'veth', 'vlan', 'macvlan', 'ipvlan', 'phys', 'none'];

export interface KeyDef {
  /** The key; for prefix rows, the prefix including its final dot (lxc.cgroup2.). */
  key: string;
  prefix?: boolean;
  /** For prefix rows: a name that completes the key (devices.allow, nofile, ...). */
  exampleName?: string;
  grammar: Grammar;
  /** Repeats append (lists) instead of overriding. */
  multi?: boolean;
  since?: LxcVersion;
  /** Last version that has it. */
  until?: LxcVersion;
  /** Names LXC 2.x used (removed in 3.0). */
  legacy?: string[];
  /** An empty value is an error (instead of clearing). */
  emptyError?: boolean;
  /** Only an empty value is allowed (the key clears a list). */
  noValue?: boolean;
  /** liblxc checks the value only when the container starts (not when it loads the config). */
  atStart?: boolean;
  /** Versions whose liblxc loads a bad value without complaint: a warning there, not an error. */
  lenient?: LxcVersion[];
  doc: string;
}

/** A row of config_jump_table_net[], for lxc.net.<N>.<sub>. */
export interface NetKeyDef extends Omit<KeyDef, 'key' | 'prefix'> {
  sub: string;
  /** NIC types it belongs to; liblxc rejects it before `type` or on another type. Absent: all. */
  types?: NetType[];
}

const K = (key: string, grammar: Grammar, doc: string, more: Partial<KeyDef> = {}): KeyDef => ({ key, grammar, doc, ...more });

export const KEYS: readonly KeyDef[] = [
  // identity and general
  K('lxc.include', g.with(g.path, '/usr/share/lxc/config/common.conf'), 'a config file, or a directory whose *.conf files are read', { multi: true }),
  K('lxc.arch', g.custom('an architecture (linux32, arm64, x86_64, armhf, ...)', (v, ver) => (V.archNames(ver).includes(v) ? null : `"${v}" is not an architecture LXC knows`), 'linux32'), 'the personality (32-bit names give linux32)', { emptyError: true }),
  K('lxc.uts.name', g.custom('a host name (at most 64 characters)', V.checkUtsName, 'OCDM'), 'the container host name', { legacy: ['lxc.utsname'] }),
  K('lxc.ephemeral', g.bool, 'remove the container when it stops'),
  K('lxc.no_new_privs', g.bool, 'set PR_SET_NO_NEW_PRIVS for the init'),
  K('lxc.sched.core', g.bool, 'core scheduling cookie'),
  K('lxc.keyring.session', g.bool, 'create a new session keyring'),
  K('lxc.group', g.with(g.string, 'onboot'), 'autostart groups', { multi: true }),
  K('lxc.start.auto', g.bool, 'start on boot'),
  K('lxc.start.delay', g.uint, 'seconds to wait after starting'),
  K('lxc.start.order', g.int, 'autostart order'),
  K('lxc.monitor.unshare', g.uint, 'unshare the mount namespace of the monitor'),
  K('lxc.monitor.signal.pdeath', g.custom('a signal', V.checkSignal, 'SIGKILL'), 'signal to the container when the monitor dies'),
  K('lxc.environment', g.custom('NAME=value, or NAME (inherits the caller\'s value, which must be set)', V.checkEnvironment, 'PATH'), 'environment of the init', { multi: true }),
  K('lxc.environment.runtime', g.custom('NAME=value or NAME', V.checkEnvironment, 'LOG=1'), 'environment of the init only (7.0)', { multi: true, since: 7 }),
  K('lxc.environment.hooks', g.custom('NAME=value or NAME', V.checkEnvironment, 'LOG=1'), 'environment of the hooks only (7.0)', { multi: true, since: 7 }),
  K('lxc.idmap', g.custom('u|g CONTAINER-ID HOST-ID RANGE', (v) => { const r = parseIdmapValue(v); return 'error' in r ? r.error : null; }, 'u 0 100000 65536'), 'id mapping for an unprivileged container; lines add up, and together they must make a map the kernel takes (no overlaps, range over 0, container root mapped)', { multi: true, legacy: ['lxc.id_map'] }),
  // init
  K('lxc.init.cmd', g.with(g.string, '/sbin/init'), 'the init command', { legacy: ['lxc.init_cmd'] }),
  K('lxc.execute.cmd', g.with(g.string, '/bin/true'), 'the command lxc-execute runs'),
  K('lxc.init.cwd', g.path, 'working directory of the init'),
  K('lxc.init.uid', g.custom('an unsigned number', (v) => V.checkUint(v, 2n ** 64n - 1n), '0'), 'uid of the init', { legacy: ['lxc.init_uid'] }), // 5.0.2 loads 4294967296 (seen with lxc-info)
  K('lxc.init.gid', g.uint, 'gid of the init', { legacy: ['lxc.init_gid'], lenient: [5] }), // 5.0.2 loads "x" (seen with lxc-info)
  K('lxc.init.groups', g.custom('comma-separated gids', V.checkGroups, '1,2'), 'extra groups of the init', { multi: true }),
  // signals
  K('lxc.signal.halt', g.custom('a signal (SIGPWR, 30, SIGRTMIN+3)', V.checkSignal, 'SIGPWR'), 'signal for lxc-stop without -k', { legacy: ['lxc.haltsignal'] }),
  K('lxc.signal.reboot', g.custom('a signal', V.checkSignal, 'SIGINT'), 'signal for reboot', { legacy: ['lxc.rebootsignal'] }),
  K('lxc.signal.stop', g.custom('a signal', V.checkSignal, 'SIGKILL'), 'signal for lxc-stop -k', { legacy: ['lxc.stopsignal'] }),
  // tty and console
  K('lxc.tty.max', g.uint, 'number of ttys', { legacy: ['lxc.tty'] }),
  K('lxc.tty.dir', g.custom('a directory name under /dev', (v) => (v.length < 256 ? null : 'name too long'), 'lxc'), 'where the ttys go under /dev', { legacy: ['lxc.devttydir'] }),
  K('lxc.pty.max', g.uint, 'maximum number of ptys', { legacy: ['lxc.pts'] }),
  K('lxc.console.path', g.with(g.path, 'none'), 'console device, or none', { legacy: ['lxc.console'] }),
  K('lxc.console.logfile', g.path, 'where console output goes'),
  K('lxc.console.rotate', g.bool, 'rotate the console log'),
  K('lxc.console.size', g.custom('auto or a size (1MB)', V.checkSize, '1MB'), 'console ring buffer size'),
  K('lxc.console.buffer.size', g.custom('auto or a size (1MB)', V.checkSize, 'auto'), 'console ring buffer size'),
  // dev
  K('lxc.autodev', g.bool, 'mount a tmpfs on /dev with the minimal devices'),
  K('lxc.autodev.tmpfs.size', g.with(g.string, '500000'), 'size of that tmpfs in bytes (bad values mean 500000)'),
  // rootfs
  K('lxc.rootfs.path', g.custom('[type:]path (dir:, btrfs:, zfs:, lvm:, rbd:, overlay:, loop:, nbd:)', () => null, 'dir:/usr/share/Thunder/OCDM/Container/rootfs'), 'the root filesystem', { legacy: ['lxc.rootfs'] }),
  K('lxc.rootfs.mount', g.path, 'where the rootfs is mounted on the host'),
  K('lxc.rootfs.options', g.custom('mount options', V.checkRootfsOptions, 'ro'), 'options for mounting the rootfs'),
  K('lxc.rootfs.managed', g.bool, 'whether LXC manages (and destroys) the rootfs'),
  // mounts
  K('lxc.mount.fstab', g.path, 'an fstab file of mounts', { emptyError: true, legacy: ['lxc.mount'] }),
  K('lxc.mount.entry', g.with(g.string, '/tmp tmp none rbind,optional 0 0'), 'one fstab line: source target type options [dump [pass]]', { multi: true, atStart: true }),
  K('lxc.mount.auto', g.custom('proc, sys, cgroup, cgroup2 (:mixed, :ro, :rw, :force), shmounts:HOST[:CONTAINER]', V.checkMountAuto, 'proc:mixed sys:ro'), 'automatic mounts', { multi: true }),
  // capabilities
  K('lxc.cap.drop', g.custom('capability names (sys_admin ...)', (v) => V.checkCaps(v, false), 'sys_module'), 'capabilities to drop', { multi: true }),
  K('lxc.cap.keep', g.custom('capability names, or none', (v) => V.checkCaps(v, true), 'none'), 'capabilities to keep (all others dropped)', { multi: true }),
  // cgroups
  K('lxc.cgroup.', g.with(g.string, 'c 1:3 rwm'), 'cgroup v1 setting lxc.cgroup.<controller>.<file>', { prefix: true, exampleName: 'devices.allow', multi: true, until: 6, atStart: true }),
  K('lxc.cgroup2.', g.with(g.string, 'c 1:3 rwm'), 'cgroup v2 setting lxc.cgroup2.<controller>.<file>', { prefix: true, exampleName: 'devices.allow', multi: true, atStart: true }),
  K('lxc.cgroup.dir', g.custom('a relative path', (v) => V.checkCgroupDir(v, false), 'thunder'), 'cgroup path of the container'),
  K('lxc.cgroup.dir.container', g.custom('a relative path', (v) => V.checkCgroupDir(v, false), 'thunder/c'), 'cgroup path of the container (with .monitor)'),
  K('lxc.cgroup.dir.monitor', g.custom('a relative path', (v) => V.checkCgroupDir(v, false), 'thunder/m'), 'cgroup path of the monitor'),
  K('lxc.cgroup.dir.monitor.pivot', g.custom('a relative path', (v) => V.checkCgroupDir(v, false), 'thunder/p'), 'cgroup the monitor moves to at exit'),
  K('lxc.cgroup.dir.container.inner', g.custom('one directory name', (v) => V.checkCgroupDir(v, true), 'inner'), 'inner cgroup for the payload'),
  K('lxc.cgroup.relative', g.bool, 'cgroup paths relative to the caller'),
  // limits, sysctl, proc
  K('lxc.prlimit.', g.custom('SOFT[:HARD], numbers or unlimited', V.checkPrlimit, '1024:4096'), 'resource limit lxc.prlimit.<name> (nofile, nproc, ...)', { prefix: true, exampleName: 'nofile', legacy: ['lxc.limit.'] }),
  K('lxc.sysctl.', g.with(g.string, '1'), 'a sysctl, lxc.sysctl.<key>', { prefix: true, exampleName: 'net.ipv4.ip_forward' }),
  K('lxc.proc.', g.with(g.string, '10'), 'a /proc/PID file, lxc.proc.<file>', { prefix: true, exampleName: 'oom_score_adj' }),
  // namespaces and time
  K('lxc.namespace.clone', g.custom('namespaces (user mnt pid uts ipc net cgroup time)', V.checkNamespaces, 'mnt pid uts ipc net'), 'namespaces to create'),
  K('lxc.namespace.keep', g.custom('namespaces (user mnt pid uts ipc net cgroup time)', V.checkNamespaces, 'user'), 'namespaces to keep from the caller'),
  K('lxc.namespace.share.', g.with(g.string, '1'), 'share a namespace: lxc.namespace.share.<ns> = PID, name or /lxcpath/name', { prefix: true, exampleName: 'net' }),
  K('lxc.time.offset.boot', g.custom('a number with a unit (h m s ms us ns)', V.checkTimeOffset, '10s'), 'boot clock offset (time namespace)'),
  K('lxc.time.offset.monotonic', g.custom('a number with a unit (h m s ms us ns)', V.checkTimeOffset, '-5ns'), 'monotonic clock offset (time namespace)'),
  // security
  K('lxc.apparmor.profile', g.with(g.string, 'unconfined'), 'AppArmor profile, or unconfined / unchanged / generated', { legacy: ['lxc.aa_profile'] }),
  K('lxc.apparmor.allow_incomplete', g.bool, 'start even without full AppArmor support', { legacy: ['lxc.aa_allow_incomplete'] }),
  K('lxc.apparmor.allow_nesting', g.bool, 'allow nested containers (generated profile)'),
  K('lxc.apparmor.raw', g.string, 'raw lines for the generated profile', { multi: true }),
  K('lxc.selinux.context', g.with(g.string, 'system_u:system_r:lxc_t:s0'), 'SELinux context', { legacy: ['lxc.se_context'] }),
  K('lxc.selinux.context.keyring', g.with(g.string, 'system_u:system_r:lxc_t:s0'), 'SELinux context of the keyring'),
  K('lxc.seccomp.profile', g.path, 'seccomp policy file (empty: none)', { legacy: ['lxc.seccomp'] }),
  K('lxc.seccomp.allow_nesting', g.bool, 'allow nested seccomp filters'),
  K('lxc.seccomp.notify.proxy', g.custom('unix:/path or unix:@name', V.checkSeccompProxy, 'unix:/run/seccomp.sock'), 'seccomp notify proxy'),
  K('lxc.seccomp.notify.cookie', g.string, 'cookie sent to the proxy'),
  // hooks
  K('lxc.hook', g.with(g.string, ''), 'only empty: clears every hook', { noValue: true }),
  K('lxc.hook.version', g.custom('0 or 1', (v) => (g.bool.check(v, 5) === null ? null : 'only hook versions 0 and 1 exist'), '1'), 'how hooks get their arguments'),
  ...['pre-start', 'pre-mount', 'mount', 'autodev', 'start-host', 'start', 'stop', 'post-stop', 'clone', 'destroy'].map((h) => K(`lxc.hook.${h}`, g.with(g.string, '/bin/true'), `command run at ${h}`, { multi: true })),
  // logging
  K('lxc.log.level', g.custom('0-8 or TRACE ... FATAL', V.checkLogLevel, 'WARN'), 'log level', { legacy: ['lxc.loglevel'] }),
  K('lxc.log.file', g.with(g.path, '/dev/null'), 'log file (opened when the config loads)', { legacy: ['lxc.logfile'] }),
  K('lxc.log.syslog', g.oneOf(V.SYSLOG_FACILITIES, true), 'syslog facility', { legacy: ['lxc.syslog'] }),
  // network
  K('lxc.net', g.with(g.string, ''), 'only empty: removes every NIC', { noValue: true, legacy: ['lxc.network'] }),
];

const N = (sub: string, grammar: Grammar, doc: string, more: Partial<NetKeyDef> = {}): NetKeyDef => ({ sub, grammar, doc, ...more });

export const NET_KEYS: readonly NetKeyDef[] = [
  N('type', g.with(g.oneOf(NET_TYPES), 'veth'), 'NIC type; setting it resets the NIC: it must come first', { emptyError: true }),
  N('flags', g.with(g.string, 'up'), 'up (any value means up, even "down")'),
  N('link', g.with(g.string, 'lxcbr0'), 'host interface or bridge'),
  N('name', g.with(g.string, 'eth0'), 'interface name in the container (at most 15 characters)'),
  N('hwaddr', g.custom('a unicast MAC address, hex pairs with ":" (x: a random digit)', V.checkHwaddr, '00:16:3e:12:34:56'), 'MAC address (x digits are random)', { atStart: true }),
  N('mtu', g.custom('a number', (v) => (/^\d+$/.test(v) ? null : `"${v}" is not a number`), '1500'), 'MTU', { atStart: true }),
  N('ipv4.address', g.custom('a.b.c.d/prefix [broadcast]', V.checkIpv4Address, '198.18.0.2/24'), 'IPv4 address', { multi: true, legacy: ['ipv4'] }),
  N('ipv4.gateway', g.custom('auto, dev or an address', (v) => V.checkGateway(v, false), 'auto'), 'IPv4 gateway'),
  N('ipv6.address', g.custom('addr/prefix', V.checkIpv6Address, 'fd00::2/64'), 'IPv6 address', { multi: true, legacy: ['ipv6'] }),
  N('ipv6.gateway', g.custom('auto, dev or an address', (v) => V.checkGateway(v, true), 'dev'), 'IPv6 gateway'),
  N('script.up', g.with(g.string, '/bin/true'), 'script run when the NIC is up'),
  N('script.down', g.with(g.string, '/bin/true'), 'script run when the NIC goes down'),
  N('l2proxy', g.bool, 'proxy ARP/NDP for the addresses'),
  N('veth.mode', g.oneOf(['bridge', 'router']), 'bridge (default) or router', { types: ['veth'] }),
  N('veth.pair', g.with(g.string, 'veth-ocdm'), 'host-side name (at most 15 characters)', { types: ['veth'] }),
  N('veth.ipv4.route', g.custom('address/prefix', (v) => V.checkRoute(v, false), '198.18.1.0/24'), 'route to the container (router mode)', { types: ['veth'], multi: true }),
  N('veth.ipv6.route', g.custom('address/prefix', (v) => V.checkRoute(v, true), 'fd00:1::/64'), 'route to the container (router mode)', { types: ['veth'], multi: true }),
  N('veth.vlan.id', g.custom('none or 0-4094', (v) => V.checkVlanId(v, true), '10'), 'bridge VLAN (untagged)', { types: ['veth'] }),
  N('veth.vlan.tagged.id', g.custom('0-4094', (v) => (v === 'none' ? '"none" is only for veth.vlan.id' : V.checkVlanId(v, true)), '20'), 'bridge VLAN (tagged)', { types: ['veth'], multi: true }),
  N('veth.n_rxqueues', g.custom('a number over 0', V.checkQueues, '2'), 'receive queues', { types: ['veth'] }),
  N('veth.n_txqueues', g.custom('a number over 0', V.checkQueues, '2'), 'transmit queues', { types: ['veth'] }),
  N('vlan.id', g.custom('0-65535', (v) => V.checkVlanId(v, false), '100'), 'VLAN id', { types: ['vlan'] }),
  N('macvlan.mode', g.oneOf(['private', 'vepa', 'bridge', 'passthru']), 'macvlan mode', { types: ['macvlan'] }),
  N('ipvlan.mode', g.oneOf(['l3', 'l3s', 'l2']), 'ipvlan mode', { types: ['ipvlan'] }),
  N('ipvlan.isolation', g.oneOf(['bridge', 'private', 'vepa']), 'ipvlan isolation', { types: ['ipvlan'] }),
];

/** Legacy keys that were dropped without a successor (lxc-update-config deletes them). */
export const REMOVED_LEGACY: readonly { key: string; note: string }[] = [
  { key: 'lxc.rootfs.backend', note: 'its driver becomes the prefix of lxc.rootfs.path' },
  { key: 'lxc.pivotdir', note: 'no longer used' },
  { key: 'lxc.kmsg', note: 'no longer used' },
];

export function available(def: { since?: LxcVersion; until?: LxcVersion }, version: LxcVersion): boolean {
  return (def.since ?? 5) <= version && version <= (def.until ?? 7);
}

export type KeyMatch =
  | { kind: 'key'; def: KeyDef; sub?: string }
  | { kind: 'net'; def: NetKeyDef; index: number }
  | { kind: 'net-bad'; reason: string }
  | { kind: 'legacy'; replacement: string; note?: string }
  | { kind: 'removed'; note: string }
  | { kind: 'unknown' }
  | { kind: 'version'; def: KeyDef; version: LxcVersion };

const exact = new Map(KEYS.filter((k) => !k.prefix).map((k) => [k.key, k]));
// longer prefixes first: lxc.cgroup2. before lxc.cgroup.
const prefixes = KEYS.filter((k) => k.prefix).sort((a, b) => b.key.length - a.key.length);
const netSubs = new Map(NET_KEYS.map((k) => [k.sub, k]));
/** Legacy key -> its current name (exact keys; legacy prefixes are handled by lookupKey). */
export const legacyExact = new Map<string, string>();
for (const k of KEYS) for (const l of k.legacy ?? []) if (!l.endsWith('.')) legacyExact.set(l, k.key);

/** Look a key up as liblxc does, then explain legacy and misspelt ones. */
export function lookupKey(key: string, version: LxcVersion): KeyMatch {
  const e = exact.get(key);
  if (e) return available(e, version) ? { kind: 'key', def: e } : { kind: 'version', def: e, version };
  const net = /^lxc\.net\.(\d+)\.(.+)$/.exec(key);
  if (net) {
    const d = netSubs.get(net[2]!);
    if (d) return { kind: 'net', def: d, index: Number(net[1]) };
    const legacy = NET_KEYS.find((k) => k.legacy?.includes(net[2]!));
    if (legacy) return { kind: 'legacy', replacement: `lxc.net.${net[1]}.${legacy.sub}` };
    return { kind: 'net-bad', reason: `"${net[2]}" is not a network key` };
  }
  if (/^lxc\.net\.[^.]+$/.test(key) || /^lxc\.net\.\d+$/.test(key)) {
    if (/^lxc\.net\.\d+$/.test(key)) return { kind: 'key', def: { key, grammar: g.string, doc: 'removes NIC N', noValue: true } };
    return { kind: 'net-bad', reason: 'network keys need an index: lxc.net.<N>.<key>' };
  }
  for (const p of prefixes) {
    if (key.startsWith(p.key) && key.length > p.key.length) {
      // lxc.cgroup.dir* are exact keys that would also match the lxc.cgroup. prefix
      return available(p, version) ? { kind: 'key', def: p, sub: key.slice(p.key.length) } : { kind: 'version', def: p, version };
    }
  }
  const leg = legacyExact.get(key);
  if (leg) return { kind: 'legacy', replacement: leg };
  const removed = REMOVED_LEGACY.find((r) => r.key === key);
  if (removed) return { kind: 'removed', note: removed.note };
  if (key.startsWith('lxc.limit.')) return { kind: 'legacy', replacement: `lxc.prlimit.${key.slice('lxc.limit.'.length)}` };
  const oldNet = /^lxc\.network(?:\.(\d+))?\.(.+)$/.exec(key);
  if (oldNet) {
    const sub = oldNet[2]!;
    const d = NET_KEYS.find((k) => k.sub === sub || k.legacy?.includes(sub));
    return { kind: 'legacy', replacement: `lxc.net.${oldNet[1] ?? 'N'}.${d?.sub ?? sub}`, note: oldNet[1] ? undefined : 'N counts lxc.network.type lines from 0' };
  }
  return { kind: 'unknown' };
}

/** The closest known key, for "did you mean". */
export function suggest(key: string): string | undefined {
  let best: { k: string; d: number } | undefined;
  const all = [...exact.keys(), ...NET_KEYS.map((n) => `lxc.net.0.${n.sub}`)];
  for (const k of all) {
    const d = distance(key, k);
    if (!best || d < best.d) best = { k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(key.length / 6)) ? best.k : undefined;
}
