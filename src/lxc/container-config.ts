import { createHash } from 'node:crypto';
import type { ContainerSpec, NetSpec, RoutedNet } from '../profile/spec.js';
import { blankLine, commentLine, entryLine, renderConfig, type ConfigLine } from './document.js';
import { formatIdmapLine } from './idmap.js';
import { formatMountEntry } from './mount-entry.js';
import { limitLines } from './limits.js';
import type { CgroupLayout } from '../thunder/cgroup-layout.js';
import { formatCidr, formatIp, interconnectEnds, parseCidr, type Cidr } from '../net/ipv4.js';

// The LXC config of a Thunder plugin container, in the order the Thunder docs and the wiki
// use: includes first (later lines override what they set), then identity, ids, rootfs,
// mounts, environment, network. Nothing time- or host-dependent goes in: the same spec
// gives the same bytes.

export const LXC_CONFIG_DIR = '/usr/share/lxc/config';

export interface ConfigContext {
  /** The Container directory on the device, where Thunder finds it (thunder/device.ts), e.g. /usr/share/Thunder/OCDM/Container. */
  containerDir: string;
  toolVersion: string;
  /** lxc.arch value, or null to leave the host personality. */
  arch: string | null;
  /** The device's cgroup layout, for the limits' keys (and what said so); default v1. */
  cgroup?: { layout: CgroupLayout; from: string };
}

/** A stable, locally administered-style MAC in LXC's 00:16:3e range, from the callsign. */
export function derivedHwaddr(callsign: string, index: number): string {
  const h = createHash('sha256').update(`thunderbox:${callsign}:${index}`).digest();
  return ['00', '16', '3e', ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** Host-side name of a routed veth: stable, at most 15 characters (the routed-up script matches on it). */
export function derivedVethPair(callsign: string, index: number): string {
  return `tbx${createHash('sha256').update(`thunderbox:${callsign}:${index}`).digest('hex').slice(0, 8)}`;
}

/** The container-side name of a veth S40thunderbox-net makes for an OCI bundle's network namespace (moved into it as ethN). */
export function derivedVethPeer(callsign: string, index: number): string {
  return `tbxc${createHash('sha256').update(`thunderbox:${callsign}:${index}:peer`).digest('hex').slice(0, 8)}`;
}

/**
 * A routed NIC's IPv4 side, for both runtimes (lxc.net.N.ipv4.address/gateway here, the OCI
 * bundle's namespace in S40thunderbox-net): the interconnect's container end first, then the
 * routed addresses; the gateway is the interconnect's host end. Null without an interconnect.
 */
export function routedIpv4(n: RoutedNet): { interconnect: Cidr; addresses: string[]; gateway: string } | null {
  const ic = parseCidr(n.interconnect ?? '');
  if (!ic) return null;
  const ends = interconnectEnds(ic);
  return { interconnect: ic, addresses: [formatCidr(ends.container, ic.prefix), ...(n.ipv4 ?? [])], gateway: formatIp(ends.host) };
}

/** Run by LXC on the host when a routed veth comes up: gives the host side its address. */
export const ROUTED_UP_SCRIPT = '/etc/thunderbox/routed-up';

function netLines(callsign: string, nets: NetSpec[]): ConfigLine[] {
  const out: ConfigLine[] = [];
  nets.forEach((n, i) => {
    const k = (sub: string) => `lxc.net.${i}.${sub}`;
    if (n.type === 'routed') {
      // router mode: LXC routes the container's addresses to the host-side veth and answers
      // ARP for the gateway there; the host side gets the gateway address from routed-up
      const v4 = routedIpv4(n);
      out.push(entryLine(k('type'), 'veth'), entryLine(k('veth.mode'), 'router'), entryLine(k('flags'), 'up'));
      out.push(entryLine(k('hwaddr'), n.hwaddr ?? derivedHwaddr(callsign, i)));
      out.push(entryLine(k('veth.pair'), n.vethPair ?? derivedVethPair(callsign, i)));
      if (v4) {
        for (const a of v4.addresses) out.push(entryLine(k('ipv4.address'), a));
        out.push(entryLine(k('ipv4.gateway'), v4.gateway));
      }
      for (const r of n.ipv6 ?? []) out.push(entryLine(k('ipv6.address'), r));
      if (n.gateway6) out.push(entryLine(k('ipv6.gateway'), n.gateway6));
      for (const r of n.routes ?? []) out.push(entryLine(k(r.includes(':') ? 'veth.ipv6.route' : 'veth.ipv4.route'), r));
      out.push(entryLine(k('script.up'), ROUTED_UP_SCRIPT));
      return;
    }
    out.push(entryLine(k('type'), n.type));
    if (n.type === 'veth') {
      out.push(entryLine(k('link'), n.link));
      out.push(entryLine(k('flags'), 'up'));
      out.push(entryLine(k('hwaddr'), n.hwaddr ?? derivedHwaddr(callsign, i)));
      if (n.vethPair) out.push(entryLine(k('veth.pair'), n.vethPair));
      if (n.ipv4) out.push(entryLine(k('ipv4.address'), n.ipv4));
      if (n.gateway) out.push(entryLine(k('ipv4.gateway'), n.gateway));
      if (n.ipv6) out.push(entryLine(k('ipv6.address'), n.ipv6));
      if (n.gateway6) out.push(entryLine(k('ipv6.gateway'), n.gateway6));
    }
  });
  return out;
}

export function containerConfigLines(spec: ContainerSpec, ctx: ConfigContext): ConfigLine[] {
  const dir = ctx.containerDir;
  const L: ConfigLine[] = [
    commentLine(`Generated by thunderbox ${ctx.toolVersion} for the Thunder plugin ${spec.callsign}.`),
    commentLine('Change the thunderbox manifest or flags and run `thunderbox prepare` again rather than editing this file.'),
    blankLine(),
    entryLine('lxc.include', `${LXC_CONFIG_DIR}/common.conf`),
  ];
  if (spec.idmap.length > 0) L.push(entryLine('lxc.include', `${LXC_CONFIG_DIR}/userns.conf`));
  if (spec.seccomp === 'off') {
    L.push(commentLine('seccomp off for this container only (an empty value clears common.conf\'s profile)'));
    L.push(entryLine('lxc.seccomp.profile', ''));
  }
  L.push(blankLine());
  L.push(entryLine('lxc.uts.name', spec.callsign));
  if (ctx.arch) L.push(entryLine('lxc.arch', ctx.arch));
  if (spec.idmap.length > 0) {
    L.push(blankLine(), commentLine('unprivileged: container ids -> host ids (the rootfs is owned accordingly)'));
    for (const m of spec.idmap) L.push(entryLine('lxc.idmap', formatIdmapLine(m)));
  }
  L.push(blankLine());
  L.push(entryLine('lxc.rootfs.path', `dir:${dir}/rootfs`));
  // rbind, not bind: in a user namespace a plain bind of a /tmp that has mounts below it
  // fails with EINVAL (it would reveal what they cover), and `optional` would hide that.
  if (spec.tmpMount) L.push(entryLine('lxc.mount.entry', formatMountEntry({ source: '/tmp', target: 'tmp', options: ['rbind', 'optional'] })));
  for (const m of spec.mounts) {
    const opts = ['rbind', m.rw ? 'rw' : 'ro'];
    if (m.optional) opts.push('optional');
    L.push(entryLine('lxc.mount.entry', formatMountEntry({ source: m.host, target: m.path, options: opts })));
  }
  if (spec.console) {
    L.push(blankLine(), commentLine('ThunderPlugin\'s stdout and stderr (the container console), kept on the device'));
    L.push(entryLine('lxc.console.logfile', spec.console.log));
    if (spec.console.size !== undefined) L.push(entryLine('lxc.console.size', spec.console.size));
  }
  const limits = limitLines(spec.limits, ctx.cgroup?.layout ?? 'v1', ctx.cgroup?.from ?? 'assumed');
  if (limits.length) L.push(blankLine(), ...limits);
  L.push(blankLine(), commentLine('a name alone inherits Thunder\'s value'));
  for (const e of spec.environment) L.push(entryLine('lxc.environment', e.value === undefined ? e.name : `${e.name}=${e.value}`));
  L.push(blankLine());
  L.push(...netLines(spec.callsign, spec.net.length > 0 ? spec.net : [{ type: 'empty' }]));
  return L;
}

export function renderContainerConfig(spec: ContainerSpec, ctx: ConfigContext): string {
  return renderConfig({ file: 'config', lines: containerConfigLines(spec, ctx) });
}
