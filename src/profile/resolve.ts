import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import type { Diagnostic } from '../core/diagnostic.js';
import { ThunderboxError, errnoCode, fail, failUsage } from '../core/errors.js';
import { LXC_ARCH_NAMES } from '../lxc/arch.js';
import { parseCidr, parseIp } from '../net/ipv4.js';
import { parseCidr6, parseIp6 } from '../net/ipv6.js';
import { DEFAULT_IDMAP, checkIdmap, parseIdmapValue, planIdmap, type IdMapLine } from '../lxc/idmap.js';
import { normalizeEntryPath } from '../rootfs/entry-path.js';
import { resolveLimits } from './limits.js';
import { positionOf, type ContainerInput, type IdmapInput, type SourcePos } from './input.js';
import { IFNAME, REQUIRED_ENV, type ContainerSpec, type EnvSpec, type MinimizeSpec, type MountSpec, type NetSpec } from './spec.js';

// ContainerInput (manifest + flags) -> ContainerSpec: defaults filled in, every value checked.
// Errors name the container and the value and say what to write instead.

export const CALLSIGN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function err(code: string, message: string, hint: string, at?: SourcePos): Diagnostic {
  return { code, severity: 'error', message, hint, ...at };
}

/** The manifest position of a container field (nothing for flags). */
type At = (field: string) => SourcePos | undefined;

export function checkCallsign(callsign: string, at?: SourcePos): void {
  if (!CALLSIGN.test(callsign)) {
    fail('CALLSIGN_INVALID', `"${callsign}" is not a usable callsign`, 'use letters, digits, "_", "." and "-" (at most 64 characters, as lxc.uts.name allows), e.g. OCDM', at);
  }
}

/** --mount HOST:PATH[:ro|rw[:MODE[:UID[:GID]]]] */
export function parseMountFlag(s: string): MountSpec {
  const parts = s.split(':');
  const [host, p, access, mode, uid, gid] = parts;
  const bad =
    parts.length < 2 ||
    parts.length > 6 ||
    (access !== undefined && access !== 'ro' && access !== 'rw') ||
    (mode !== undefined && !/^[0-7]{3,4}$/.test(mode)) ||
    (uid !== undefined && !/^\d+$/.test(uid)) ||
    (gid !== undefined && !/^\d+$/.test(gid));
  if (bad) {
    failUsage('MOUNT_FLAG', `--mount "${s}" is not HOST:PATH[:ro|rw[:MODE[:UID[:GID]]]]`, 'e.g. --mount /testshare:TestLogging:rw:0770:1000');
  }
  const m: MountSpec = { host: host!, path: p!, rw: access === 'rw', optional: false, ...(access === 'ro' ? { readOnlyAsked: true } : {}) };
  if (mode !== undefined) m.mode = parseInt(mode, 8);
  if (uid !== undefined) m.owner = { uid: Number(uid), gid: Number(gid ?? uid) };
  return m;
}

/** --env NAME[=VALUE] */
export function parseEnvFlag(s: string): EnvSpec {
  const eq = s.indexOf('=');
  return eq === -1 ? { name: s } : { name: s.slice(0, eq), value: s.slice(eq + 1) };
}

/** --idmap default|none|LINES (lines separated by ',' or ';') */
export function parseIdmapFlag(s: string): IdmapInput {
  if (s === 'default' || s === 'none') return { kind: s };
  const lines = s.split(/[;,\n]/).map((l) => l.trim()).filter(Boolean);
  for (const l of lines) {
    const r = parseIdmapValue(l);
    if ('error' in r) failUsage('IDMAP_SYNTAX', `--idmap line "${l}": ${r.error}`, 'write --idmap default, none, or lines such as "u 0 100000 65536;g 0 100000 65536"');
  }
  return { kind: 'lines', lines };
}

/** --share-uid UID[:GID] */
export function parseShareFlag(s: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(s);
  if (!m) failUsage('SHARE_FLAG', `--share-uid "${s}" is not UID[:GID]`, 'e.g. --share-uid 1000 or --share-uid 1000:1000');
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}

function resolveIdmap(input: IdmapInput | undefined, share: { uid: number; gid: number }[], errors: Diagnostic[], at: At): IdMapLine[] {
  const m = input ?? { kind: 'default' };
  let lines: IdMapLine[] = [];
  if (m.kind === 'none') {
    if (share.length) errors.push(err('SHARE_WITHOUT_IDMAP', '--share-uid needs an idmap, but the idmap is "none"', 'drop --share-uid, or use --idmap default'));
    return [];
  }
  if (m.kind === 'default') lines = planIdmap({ ...DEFAULT_IDMAP, share });
  else if (m.kind === 'plan') lines = planIdmap({ base: m.base, size: m.size, share: [...m.share, ...share] });
  else {
    if (share.length) errors.push(err('SHARE_WITH_LINES', '--share-uid cannot be combined with explicit idmap lines', 'write the 1:1 lines yourself, or use --idmap default with --share-uid'));
    m.lines.forEach((l, i) => {
      const r = parseIdmapValue(l);
      if ('error' in r) errors.push(err('IDMAP_SYNTAX', `idmap line "${l}": ${r.error}`, 'write lines as "u 0 100000 65536" and "g 0 100000 65536"', at(`idmap.${i}`)));
      else lines.push(r);
    });
  }
  for (const d of checkIdmap(lines)) errors.push({ ...d, ...at('idmap') });
  return lines;
}

/**
 * The idmap lines a container's input resolves to, as resolveContainer makes them (empty:
 * privileged, no user namespace), without its other checks: for callers that have the input
 * of a container already prepared (post-build's cross-check).
 */
export function idmapLinesOf(input: ContainerInput): IdMapLine[] {
  return resolveIdmap(input.idmap, input.share ?? [], [], () => undefined);
}

function resolveMount(m: MountSpec, errors: Diagnostic[], at: At): MountSpec | null {
  if (!m.host.startsWith('/')) {
    errors.push(err('MOUNT_HOST_RELATIVE', `mount source "${m.host}" is not an absolute path on the device`, 'write it as an absolute path, e.g. /testshare', at('host')));
    return null;
  }
  const p = normalizeEntryPath(m.path.replace(/^\/+/, ''));
  if (!p.ok || p.path === '') {
    errors.push(err('MOUNT_PATH_INVALID', `mount path "${m.path}" must name a directory inside the container`, 'e.g. TestLogging or /var/log/shared (no "..")', at('path')));
    return null;
  }
  if (m.mode !== undefined && (!Number.isInteger(m.mode) || m.mode < 0 || m.mode > 0o7777)) {
    errors.push(err('MOUNT_MODE_INVALID', `mount mode ${m.mode} for ${m.path} is not a permission mode`, 'give an octal mode such as "0770"', at('mode')));
  }
  if (m.host === '/' || normalizeEntryPath(m.host.slice(1)).ok === false) {
    errors.push(err('MOUNT_HOST_INVALID', `mount source "${m.host}" must be a directory below / without ".."`, 'e.g. /testshare', at('host')));
  }
  return { ...m, path: p.path };
}

const isCidr4 = (s: string): boolean => s === s.trim() && parseCidr(s) !== null;
const isCidr6 = (s: string): boolean => parseCidr6(s) !== null;

function resolveNet(nets: NetSpec[], errors: Diagnostic[], atNet: At): NetSpec[] {
  // one default route per family: the kernel refuses the second (liblxc: "Failed to setup ipv4
  // gateway ... for network device "eth1"" at start); a routed NIC always has one (its host side)
  for (const [fam, has] of [
    ['IPv4', (n: NetSpec) => (n.type === 'veth' && n.gateway !== undefined) || (n.type === 'routed' && n.interconnect !== undefined)],
    ['IPv6', (n: NetSpec) => (n.type === 'veth' || n.type === 'routed') && n.gateway6 !== undefined],
  ] as const) {
    const at = nets.flatMap((n, i) => (has(n) ? [i] : []));
    if (at.length > 1) {
      errors.push(err('NET_GATEWAY_TWICE', `interfaces ${at.map((i) => `${i} (${nets[i]!.type})`).join(' and ')} each set an ${fam} default gateway: the kernel takes one default route, and liblxc fails to start the container at the second ("Failed to setup ${fam.toLowerCase()} gateway")`, `keep the gateway on one interface: drop ${fam === 'IPv4' ? 'gateway' : 'gateway6'} from the veth (a routed interface always routes through its interconnect's host side), or leave one interface out`, atNet(`net.${at[1]}`)));
    }
  }
  nets.forEach((n, i) => {
    const at = (f: string) => atNet(`net.${i}.${f}`);
    if (n.type === 'routed') {
      if (n.interconnect === undefined || n.interconnect === 'auto') errors.push(err('NET_INTERCONNECT_UNSET', 'a routed interface needs an interconnect network', 'give interconnect: A.B.C.D/30, or interconnect: auto with routed-pool in the manifest', at('interconnect')));
      else if (!isCidr4(n.interconnect) || !/\/3[01]$/.test(n.interconnect)) errors.push(err('NET_INTERCONNECT', `interconnect "${n.interconnect}" is not a /30 or /31 network`, 'e.g. 198.18.100.0/30', at('interconnect')));
      for (const r of n.ipv4 ?? []) if (!isCidr4(r)) errors.push(err('NET_IPV4_INVALID', `routed address "${r}" is not ADDRESS/PREFIX`, 'e.g. 198.18.200.5/32', at('ipv4')));
      for (const r of n.ipv6 ?? []) if (!isCidr6(r)) errors.push(err('NET_IPV6_INVALID', `ipv6 "${r}" is not ADDRESS/PREFIX`, 'e.g. fd00::10/128', at('ipv6')));
      for (const r of n.routes ?? []) if (!(r.includes(':') ? isCidr6(r) : isCidr4(r))) errors.push(err('NET_ROUTE', `route "${r}" is not NETWORK/PREFIX`, 'e.g. 198.18.210.0/24', at('routes')));
      if (n.gateway6 !== undefined && parseIp6(n.gateway6) === null) errors.push(err('NET_GATEWAY_INVALID', `gateway6 "${n.gateway6}" is not an IPv6 address`, 'e.g. fd00:7::1', at('gateway6')));
      if (n.ipv6?.length && !n.gateway6) errors.push(err('NET_GATEWAY6_UNSET', 'IPv6 on a routed interface needs gateway6 (the host side\'s address)', 'e.g. gateway6: fd00:7::1', at('ipv6')));
      if (n.vethPair !== undefined && !IFNAME.test(n.vethPair)) errors.push(err('NET_VETH_PAIR_INVALID', `veth pair name "${n.vethPair}" is not a valid interface name (at most 15 characters)`, 'pick a shorter name', at('veth-pair')));
      return;
    }
    if (n.type !== 'veth') return;
    if (n.ipv4 === 'auto' || n.gateway === 'auto' || n.ipv6 === 'auto' || n.gateway6 === 'auto') errors.push(err('NET_AUTO_UNRESOLVED', `ipv4/ipv6/gateway: auto for ${n.link} needs the manifest's networks`, 'give the address, or use --manifest with networks: { ' + n.link + ': { ipv4: 10.0.3.1/24 } }', at('ipv4')));
    if (n.gateway !== undefined && n.gateway !== 'auto' && parseIp(n.gateway) === null) errors.push(err('NET_GATEWAY_INVALID', `gateway "${n.gateway}" is not an IPv4 address`, 'e.g. 10.0.3.1, or auto', at('gateway')));
    if (!IFNAME.test(n.link)) errors.push(err('NET_LINK_INVALID', `bridge name "${n.link}" is not a valid interface name`, 'interface names are 1-15 characters without "/", ":" or blanks, e.g. lxcbr0', at('link')));
    if (n.vethPair !== undefined && !IFNAME.test(n.vethPair)) errors.push(err('NET_VETH_PAIR_INVALID', `veth pair name "${n.vethPair}" is not a valid interface name (at most 15 characters)`, 'pick a shorter name, e.g. veth-ocdm', at('veth-pair')));
    if (n.hwaddr !== undefined && !MAC.test(n.hwaddr)) errors.push(err('NET_HWADDR_INVALID', `hwaddr "${n.hwaddr}" is not a MAC address`, 'write six hex pairs such as 00:16:3e:12:34:56 (no "xx": thunderbox derives a stable one if you leave it out)', at('hwaddr')));
    if (n.ipv4 !== undefined && n.ipv4 !== 'auto' && !isCidr4(n.ipv4)) errors.push(err('NET_IPV4_INVALID', `ipv4 "${n.ipv4}" is not ADDRESS/PREFIX`, 'e.g. 10.0.3.10/24', at('ipv4')));
    if (n.gateway6 !== undefined && n.gateway6 !== 'auto' && parseIp6(n.gateway6) === null) errors.push(err('NET_GATEWAY_INVALID', `gateway6 "${n.gateway6}" is not an IPv6 address`, 'e.g. fd00:3::1, or auto', at('gateway6')));
    if (n.ipv6 !== undefined && n.ipv6 !== 'auto' && !isCidr6(n.ipv6)) errors.push(err('NET_IPV6_INVALID', `ipv6 "${n.ipv6}" is not ADDRESS/PREFIX`, 'e.g. fd00::10/64', at('ipv6')));
  });
  return nets;
}

export interface ResolveContext {
  /** The image root (for rootfs: target). */
  target: string;
}

export function resolveContainer(callsign: string, input: ContainerInput, ctx: ResolveContext): ContainerSpec {
  const at: At = (f) => positionOf(input.at, f);
  checkCallsign(callsign, at(''));
  const errors: Diagnostic[] = [];
  if (!input.rootfs) {
    // a usage error (exit 2) on the command line; in a manifest, at the container's key
    throw new ThunderboxError({ code: 'ROOTFS_MISSING', severity: 'error', message: `no rootfs given for ${callsign}`, hint: `pass it: thunderbox prepare ${callsign} output/images/rootfs.tar (or "target" to copy the image's own root)${at('') ? ', or give rootfs: in the manifest' : ''}`, ...at('') }, { usage: true });
  }
  const runtime = input.runtime ?? 'lxc';
  if (input.containertype !== undefined && runtime !== 'both' && input.containertype !== runtime) {
    throw new ThunderboxError({ code: 'CONTAINERTYPE_NOT_MADE', severity: 'error', message: `${callsign}: containertype ${input.containertype}, but runtime ${runtime} makes no ${input.containertype === 'runc' ? 'OCI bundle' : 'LXC container'}${input.containertype === 'lxc' ? ' Thunder\'s LXC backend would start (its config is written, but the plugin is meant for runc)' : ''}`, hint: `give runtime ${input.containertype} or both, or leave containertype out (runtime ${runtime} sets "${runtime}")`, ...at('containertype') }, { usage: true });
  }
  const rootfsPath = input.rootfs === 'target' ? ctx.target : path.resolve(input.rootfs);
  let st: fs.Stats;
  try {
    st = fs.statSync(rootfsPath);
  } catch (e) {
    fail('ROOTFS_UNREADABLE', `rootfs ${rootfsPath} for ${callsign}: ${errnoCode(e) === 'ENOENT' ? 'no such file or directory' : String(e)}`, 'give an existing rootfs archive or directory', at('rootfs'));
  }
  // a pipe (/dev/stdin, <(...)) or a device: the archive is probed, then read (twice to minimise)
  if (!st.isFile() && !st.isDirectory()) {
    fail('ROOTFS_NOT_FILE', `rootfs ${input.rootfs} for ${callsign} is ${st.isFIFO() ? 'a pipe' : st.isSocket() ? 'a socket' : 'a device'}, not a file or directory: thunderbox reads an archive more than once`, 'write the archive to a file first, e.g. gzip -dc rootfs.tar.gz > rootfs.tar', at('rootfs'));
  }
  const arch = input.arch ?? 'auto';
  if (arch !== 'auto' && !(LXC_ARCH_NAMES as readonly string[]).includes(arch)) {
    errors.push(err('ARCH_INVALID', `"${arch}" is not an lxc.arch name`, `use auto, or one of: ${LXC_ARCH_NAMES.join(' ')}`, at('arch')));
  }
  const idmap = resolveIdmap(input.idmap, input.share ?? [], errors, at);
  const mounts = (input.mounts ?? []).map((m, i) => resolveMount(m, errors, (f) => at(`mounts.${i}.${f}`))).filter((m): m is MountSpec => m !== null);
  const seen = new Set<string>();
  const environment: EnvSpec[] = [];
  const required = REQUIRED_ENV.length;
  for (const [i, e] of [...REQUIRED_ENV.map((name): EnvSpec => ({ name })), ...(input.environment ?? [])].entries()) {
    if (!ENV_NAME.test(e.name)) {
      errors.push(err('ENV_NAME_INVALID', `"${e.name}" is not an environment variable name`, 'use letters, digits and "_", not starting with a digit', at(`environment.${i - required}`)));
      continue;
    }
    // one lxc.environment line holds the value: a line break would start a config line of its own
    if (e.value !== undefined && /[\n\r\0]/.test(e.value)) {
      errors.push(err('ENV_VALUE_INVALID', `the value of ${e.name} has a line break or NUL (${JSON.stringify(e.value)}): it would write a line of its own into the LXC config`, 'give a one-line value', at(`environment.${i - required}`)));
      continue;
    }
    if (seen.has(e.name)) {
      if (e.value !== undefined) {
        const i = environment.findIndex((x) => x.name === e.name);
        environment[i] = e;
      }
      continue;
    }
    seen.add(e.name);
    environment.push(e);
  }
  const net = resolveNet(input.net ?? [{ type: 'empty' }], errors, at);
  const tmpMount = input.tmp ?? true;
  const merged = (tmpMount ? mergeTmpMounts(mounts, errors, at) : mounts).map(({ readOnlyAsked: _, ...m }) => m);
  if (input.classname !== undefined && !CALLSIGN.test(input.classname)) errors.push(err('CLASSNAME_INVALID', `"${input.classname}" is not a usable classname`, 'a plugin class name such as OCDM (letters, digits, "_", "." and "-")', at('classname')));
  const consoleSpec = input.console === undefined ? undefined : resolveConsole(input.console, errors, at);
  const minimize = resolveMinimize(input, errors, at);
  const limits = resolveLimits(input.limits, at);
  errors.push(...limits.errors);
  if (errors.length) throw new ThunderboxError(errors.map((e) => ({ ...e, message: `${callsign}: ${e.message}` })));
  return {
    callsign,
    rootfs: st.isDirectory() ? { kind: 'dir', path: rootfsPath } : { kind: 'archive', path: rootfsPath },
    arch,
    idmap,
    net,
    tmpMount,
    mounts: merged,
    location: input.location ?? 'data',
    ...(input.classname !== undefined ? { classname: input.classname } : {}),
    ...(consoleSpec ? { console: consoleSpec } : {}),
    environment,
    seccomp: input.seccomp ?? 'default',
    runtime: input.runtime ?? 'lxc',
    ...(input.containertype !== undefined ? { containertype: input.containertype } : {}),
    pluginJson: input.pluginJson === false ? null : (input.pluginJson ?? 'auto'),
    unmappedToNobody: input.unmappedToNobody ?? false,
    fixRootMode: input.fixRootMode ?? false,
    keepDevices: input.keepDevices ?? false,
    ...(minimize ? { minimize } : {}),
    dedupeWithHost: input.dedupeWithHost ?? false,
    ...(limits.limits ? { limits: limits.limits } : {}),
  };
}

/**
 * A mount onto the container's /tmp beside the communicator's bind of /tmp (on by default):
 * the device's /tmp itself is the same mount (merged: one entry, read-write as the communicator
 * needs), another directory would cover the socket (refused).
 */
function mergeTmpMounts(mounts: MountSpec[], errors: Diagnostic[], at: At): MountSpec[] {
  return mounts.filter((m, i) => {
    if (m.path !== 'tmp') return true;
    if (path.posix.normalize(m.host) === '/tmp' && m.mode === undefined && m.owner === undefined && !m.readOnlyAsked) return false;
    if (path.posix.normalize(m.host) === '/tmp' && m.readOnlyAsked) {
      errors.push(err('MOUNT_TMP_CONFLICT', `the mount ${m.host}:${m.path} asks for the container's /tmp read-only, where Thunder's communicator bind of the device's /tmp is read-write: the plugin could not create its communicator socket`, 'leave the mount out: /tmp is bound read-write already (the communicator needs it); pass --no-tmp (tmp: false) only if the plugin never talks to Thunder', at(`mounts.${i}`)));
      return false;
    }
    errors.push(err('MOUNT_TMP_CONFLICT', `the mount ${m.host}:${m.path} lands on the container's /tmp, where Thunder's communicator bind of the device's /tmp already is`, path.posix.normalize(m.host) === '/tmp' ? 'leave it out: /tmp is bound read-write already (the communicator needs it); to change its mode, change the device\'s /tmp' : 'mount it elsewhere in the container, or pass --no-tmp (tmp: false) to replace the communicator\'s bind, and Thunder cannot reach the plugin', at(`mounts.${i}`)));
    return false;
  });
}

/** A size as LXC's lxc.console.size takes it: a number with an optional kB/MB/GB unit, or auto/0. */
const CONSOLE_SIZE = /^(auto|0|[1-9][0-9]*\s*([kKmMgG][bB]?|[bB])?)$/;

function resolveConsole(c: { log: string; size?: string }, errors: Diagnostic[], at: At): { log: string; size?: string } | undefined {
  if (!c.log.startsWith('/') || /[\n\r\0]/.test(c.log) || path.posix.normalize(c.log).endsWith('/')) {
    errors.push(err('CONSOLE_LOG_INVALID', `console log "${c.log}" is not an absolute file path on the device`, 'e.g. /var/log/OCDM.console.log (its directory must exist on the device when the container starts)', at('console.log')));
    return undefined;
  }
  if (c.size !== undefined && !CONSOLE_SIZE.test(c.size)) {
    errors.push(err('CONSOLE_SIZE_INVALID', `console size "${c.size}" is not a size LXC takes`, 'e.g. 1MB, 64kB, or leave it out', at('console.size')));
    return undefined;
  }
  return { log: path.posix.normalize(c.log), ...(c.size !== undefined ? { size: c.size } : {}) };
}

function resolveMinimize(input: ContainerInput, errors: Diagnostic[], at: At): MinimizeSpec | undefined {
  const implied = (input.roots?.length ?? 0) > 0 || (input.keep?.length ?? 0) > 0 || input.thunderRoots === false;
  if (input.minimize === false) {
    if (implied) errors.push(err('MINIMIZE_OFF', 'roots, keep or thunder-roots are given but minimize is off', 'drop them, or turn minimize on', at('minimize')));
    return undefined;
  }
  if (!input.minimize && !implied) return undefined;
  const roots: string[] = [];
  for (const [i, r] of (input.roots ?? []).entries()) {
    const p = normalizeEntryPath(r.replace(/^\/+/, ''));
    if (!p.ok || p.path === '') errors.push(err('ROOT_INVALID', `root "${r}" is not a path inside the container`, 'give an absolute path such as /usr/bin/ThunderPlugin (no "..")', at(`roots.${i}`)));
    else roots.push(`/${p.path}`);
  }
  const thunderRoots = input.thunderRoots ?? true;
  if (!thunderRoots && roots.length === 0) errors.push(err('MINIMIZE_NO_ROOTS', 'without the Thunder roots a minimised rootfs needs at least one --root', 'e.g. --no-thunder-roots --root /usr/bin/myprogram', at('thunderRoots')));
  const keep: string[] = [];
  for (const [i, k] of (input.keep ?? []).entries()) {
    const pattern = k.replace(/^\/+/, ''); // as minimize matches it: relative to the rootfs top
    let why: string | null = pattern.trim() === '' ? 'it names no path' : null;
    if (!why) {
      try {
        picomatch(pattern, { dot: true });
      } catch (e) {
        why = (e as Error).message;
      }
    }
    if (why) errors.push(err('KEEP_INVALID', `keep pattern "${k}" is not a glob: ${why}`, 'give a glob of paths in the rootfs, e.g. usr/share/zoneinfo/**', at(`keep.${i}`)));
    else keep.push(k);
  }
  return { roots, keep, thunderRoots };
}
