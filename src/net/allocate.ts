import fs from 'node:fs';
import type { Diagnostic } from '../core/diagnostic.js';
import { positionOf, type Positions, type SourcePos } from '../profile/input.js';
import type { HostNetwork, NetSpec } from '../profile/spec.js';
import { contains, formatCidr, formatIp, formatNet, interconnectEnds, networkOf, overlaps, parseCidr, parseIp, size, type Cidr } from './ipv4.js';
import { formatIp6, network6, parseCidr6, parseIp6 } from './ipv6.js';

// Addresses for the containers of a manifest:
//   - veth on a bridge, ipv4: auto: the lowest free address of the bridge's network (not the
//     network or broadcast address, not the bridge's own, not one given statically);
//   - routed, interconnect: auto: the next free /30 block of the manifest's routed pool.
// What was given once is kept: thunderbox.lock, beside the manifest, records every
// allocation by callsign and interface index, so adding a container never renumbers others.
// Collisions, addresses outside their network, a gateway inside routed addresses and a full
// pool are errors naming the containers involved.

export interface LockFile {
  version: 1;
  /** bridge -> "Callsign/nic" -> address */
  bridges: Record<string, Record<string, string>>;
  /** bridge -> "Callsign/nic" -> IPv6 address (ipv6: auto) */
  bridges6?: Record<string, Record<string, string>>;
  /** "Callsign/nic" -> interconnect network */
  interconnects: Record<string, string>;
}

export interface AllocationRow {
  callsign: string;
  nic: number;
  kind: 'bridge' | 'routed' | 'empty';
  via: string;
  address?: string;
  gateway?: string;
  routes?: string[];
}

export interface ContainerNets {
  callsign: string;
  net: NetSpec[];
  /** Where the manifest wrote the container's values (net.0.ipv4, ...). */
  at?: Positions;
}

export interface AllocationResult {
  containers: ContainerNets[];
  rows: AllocationRow[];
  lock: LockFile;
  errors: Diagnostic[];
}

export function readLock(file: string): LockFile | null {
  try {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as LockFile;
    return j.version === 1 ? j : null;
  } catch {
    return null;
  }
}

export function allocate(input: ContainerNets[], networks: HostNetwork[], pool: string | undefined, lock: LockFile | null, file: string, top?: Positions): AllocationResult {
  const errors: Diagnostic[] = [];
  const e = (code: string, message: string, hint: string, at?: SourcePos) => errors.push({ code, severity: 'error', file, message, hint, ...at });
  /** The manifest position of a NIC's value ('ipv4', 'routes.1'). */
  const at = (k: ContainerNets, i: number, f: string) => positionOf(k.at, `net.${i}.${f}`);
  const out: LockFile = { version: 1, bridges: {}, interconnects: {} };
  const rows: AllocationRow[] = [];
  const bridges = new Map<string, { net: Cidr; gw: number; used: Map<number, string> }>();
  for (const n of networks) {
    if (!n.ipv4) continue;
    const c = parseCidr(n.ipv4);
    if (!c) {
      e('NET_BRIDGE_ADDRESS', `network ${n.name}: "${n.ipv4}" is not ADDRESS/PREFIX`, 'e.g. 10.0.3.1/24 (the bridge\'s address and the network\'s prefix)', positionOf(top, `networks.${n.name}.ipv4`));
      continue;
    }
    bridges.set(n.name, { net: c, gw: c.addr, used: new Map([[c.addr, `the bridge ${n.name}`]]) });
  }
  // static addresses first, so auto never takes one of them
  /** on a bridge the manifest does not describe (no networks: entry): who has which address */
  const undeclared = new Map<string, Map<number, string>>();
  for (const k of input) {
    k.net.forEach((n, i) => {
      if (n.type !== 'veth' || !n.ipv4 || n.ipv4 === 'auto') return;
      const b = bridges.get(n.link);
      const c = parseCidr(n.ipv4);
      if (!c) return;
      const who = `${k.callsign} (lxc.net.${i})`;
      if (!b) {
        // its network is not known, but one address twice on one bridge is a collision anyway
        const used = undeclared.get(n.link) ?? new Map<number, string>();
        undeclared.set(n.link, used);
        const other = used.get(c.addr);
        if (other) return void e('NET_COLLISION', `${who} and ${other} both have ${formatIp(c.addr)} on ${n.link}`, 'give one of them another address', at(k, i, 'ipv4'));
        used.set(c.addr, who);
        return;
      }
      if (!contains(b.net, c.addr)) return void e('NET_OUTSIDE', `${who}: ${n.ipv4} is outside ${n.link}'s network ${formatNet(b.net)}`, `pick an address in ${formatNet(b.net)}, or ipv4: auto`, at(k, i, 'ipv4'));
      const other = b.used.get(c.addr);
      if (other) return void e('NET_COLLISION', `${who} and ${other} both have ${formatIp(c.addr)}`, 'give one of them another address, or ipv4: auto', at(k, i, 'ipv4'));
      b.used.set(c.addr, who);
    });
  }
  // then what the lock file gave earlier, so a new container never takes an old one's address
  const kept = new Map<string, number>();
  for (const k of input) {
    k.net.forEach((n, i) => {
      if (n.type !== 'veth' || n.ipv4 !== 'auto') return;
      const b = bridges.get(n.link);
      const prev = parseIp(lock?.bridges[n.link]?.[`${k.callsign}/${i}`] ?? '');
      if (!b || prev === null || !contains(b.net, prev) || b.used.has(prev)) return;
      const last = networkOf(b.net) + size(b.net.prefix) - 1;
      if (prev === networkOf(b.net) || prev === last) return;
      b.used.set(prev, `${k.callsign} (lxc.net.${i})`);
      kept.set(`${k.callsign}/${i}`, prev);
    });
  }
  const poolCidr = pool ? parseCidr(pool) : undefined;
  const used6 = new Map<string, Set<bigint>>();
  if (pool && !poolCidr) e('NET_POOL', `routed-pool "${pool}" is not a network (ADDRESS/PREFIX)`, 'e.g. 198.18.100.0/24', positionOf(top, 'routed-pool'));
  const takenIc: { net: Cidr; who: string }[] = [];
  const keptIc = new Map<string, Cidr>();
  for (const k of input) {
    k.net.forEach((n, i) => {
      if (n.type !== 'routed') return;
      const who = `${k.callsign} (lxc.net.${i})`;
      if (n.interconnect && n.interconnect !== 'auto') {
        const c = parseCidr(n.interconnect);
        if (c) takenIc.push({ net: { addr: networkOf(c), prefix: c.prefix }, who });
      }
    });
  }
  for (const k of input) {
    k.net.forEach((n, i) => {
      if (n.type !== 'routed' || (n.interconnect !== undefined && n.interconnect !== 'auto')) return;
      const prev = parseCidr(lock?.interconnects[`${k.callsign}/${i}`] ?? '');
      if (prev && poolCidr && contains(poolCidr, prev.addr) && !takenIc.some((t) => overlaps(t.net, prev))) {
        takenIc.push({ net: prev, who: `${k.callsign} (lxc.net.${i})` });
        keptIc.set(`${k.callsign}/${i}`, prev);
      }
    });
  }
  const containers = input.map((k) => ({
    callsign: k.callsign,
    net: k.net.map((n, i): NetSpec => {
      const key = `${k.callsign}/${i}`;
      const who = `${k.callsign} (lxc.net.${i})`;
      if (n.type === 'empty') {
        rows.push({ callsign: k.callsign, nic: i, kind: 'empty', via: 'loopback only' });
        return n;
      }
      if (n.type === 'veth') {
        const b = bridges.get(n.link);
        let ipv4 = n.ipv4;
        if (ipv4 === 'auto' || n.gateway === 'auto') {
          if (!b) {
            e('NET_NO_NETWORK', `${who}: ${ipv4 === 'auto' ? 'ipv4' : 'gateway'}: auto needs the bridge ${n.link} in the manifest's networks`, `add networks: { ${n.link}: { ipv4: 10.0.3.1/24 } }`, at(k, i, ipv4 === 'auto' ? 'ipv4' : 'gateway'));
            return n;
          }
        }
        if (ipv4 === 'auto' && b) {
          let addr: number | undefined = kept.get(key);
          if (addr === undefined) {
            const first = networkOf(b.net) + 1;
            const last = networkOf(b.net) + size(b.net.prefix) - 2;
            for (let a = first; a <= last; a++) {
              if (!b.used.has(a)) {
                addr = a;
                break;
              }
            }
          }
          if (addr === undefined) {
            e('NET_FULL', `${who}: ${n.link}'s network ${formatNet(b.net)} has no free address left`, 'use a larger network (a shorter prefix)', at(k, i, 'ipv4'));
            return n;
          }
          b.used.set(addr, who);
          ipv4 = formatCidr(addr, b.net.prefix);
        }
        if (ipv4 && b) {
          out.bridges[n.link] ??= {};
          out.bridges[n.link]![key] = ipv4.split('/')[0]!;
        }
        const gateway = n.gateway === 'auto' ? (b ? formatIp(b.gw) : undefined) : n.gateway;
        // IPv6: auto is the bridge's network with the same host number as the IPv4 address
        // (or the next free one), so both families tell the same container apart
        let ipv6 = n.ipv6;
        let gateway6 = n.gateway6;
        const hn = networks.find((x) => x.name === n.link);
        const b6 = hn?.ipv6 ? parseCidr6(hn.ipv6) : null;
        if ((ipv6 === 'auto' || gateway6 === 'auto') && !b6) {
          e('NET_NO_NETWORK', `${who}: ipv6/gateway6: auto needs an ipv6 address for ${n.link} in the manifest's networks`, `add networks: { ${n.link}: { ipv6: fd00:3::1/64 } }`, at(k, i, ipv6 === 'auto' ? 'ipv6' : 'gateway6'));
        } else if (b6) {
          if (ipv6 === 'auto') {
            const prev = lock?.bridges6?.[n.link]?.[key];
            const host = prev ? parseIp6(prev) : null;
            const v4host = ipv4 && b ? BigInt((parseIp(ipv4.split('/')[0]!) ?? 0) - networkOf(b.net)) : 2n;
            const taken = used6.get(n.link) ?? new Set<bigint>([b6.addr]);
            used6.set(n.link, taken);
            let addr = host !== null && network6({ addr: host, prefix: b6.prefix }) === network6(b6) && !taken.has(host) ? host : network6(b6) + v4host;
            while (taken.has(addr)) addr += 1n;
            taken.add(addr);
            ipv6 = `${formatIp6(addr)}/${b6.prefix}`;
            out.bridges6 ??= {};
            out.bridges6[n.link] ??= {};
            out.bridges6[n.link]![key] = formatIp6(addr);
          }
          if (gateway6 === 'auto') gateway6 = formatIp6(b6.addr);
        }
        rows.push({ callsign: k.callsign, nic: i, kind: 'bridge', via: n.link, address: [ipv4, ipv6].filter(Boolean).join(' ') || undefined, gateway: [gateway, gateway6].filter(Boolean).join(' ') || undefined });
        return { ...n, ipv4, gateway, ipv6, gateway6 };
      }
      // routed
      let ic = n.interconnect;
      if (ic === undefined || ic === 'auto') {
        if (!poolCidr) {
          e('NET_NO_POOL', `${who}: interconnect: auto needs routed-pool in the manifest`, 'add routed-pool: 198.18.100.0/24 (or give interconnect: A.B.C.D/30)', at(k, i, 'interconnect'));
          return n;
        }
        const free = (c: Cidr) => contains(poolCidr, c.addr) && !takenIc.some((t) => overlaps(t.net, c));
        let got: Cidr | undefined = keptIc.get(key);
        for (let a = networkOf(poolCidr); !got && a + 4 <= networkOf(poolCidr) + size(poolCidr.prefix); a += 4) {
          const c = { addr: a, prefix: 30 };
          if (free(c)) got = c;
        }
        if (!got) {
          e('NET_POOL_FULL', `${who}: the routed pool ${pool} has no free /30 left`, 'use a larger routed-pool', at(k, i, 'interconnect'));
          return n;
        }
        if (!keptIc.has(key)) takenIc.push({ net: got, who });
        ic = formatCidr(got.addr, got.prefix);
      }
      const c = parseCidr(ic);
      if (!c || (c.prefix !== 30 && c.prefix !== 31)) {
        e('NET_INTERCONNECT', `${who}: interconnect "${ic}" is not a /30 or /31 network`, 'e.g. 198.18.100.0/30, or interconnect: auto', at(k, i, 'interconnect'));
        return n;
      }
      out.interconnects[key] = formatNet(c);
      const ends = interconnectEnds(c);
      for (const [j, r] of (n.ipv4 ?? []).entries()) {
        const pos = at(k, i, `ipv4.${j}`);
        const rc = parseCidr(r);
        if (!rc) {
          e('NET_ROUTE', `${who}: routed address "${r}" is not ADDRESS/PREFIX`, 'e.g. 198.18.200.5/32', pos);
          continue;
        }
        if (contains(rc, ends.host)) e('NET_GATEWAY_ROUTED', `${who}: the gateway ${formatIp(ends.host)} lies inside the routed addresses ${r}`, 'route addresses outside the interconnect network', pos);
        for (const [name, b] of bridges) if (overlaps(rc, b.net)) e('NET_COLLISION', `${who}: routed ${r} overlaps the network of ${name}`, 'route another range', pos);
      }
      for (const [j, r] of (n.routes ?? []).entries()) {
        const pos = at(k, i, `routes.${j}`);
        if (r.includes(':')) {
          if (!parseCidr6(r)) e('NET_ROUTE', `${who}: route "${r}" is not an IPv6 NETWORK/PREFIX`, 'e.g. fd00:10::/64', pos);
          continue;
        }
        const rc = parseCidr(r);
        if (!rc) {
          e('NET_ROUTE', `${who}: route "${r}" is not NETWORK/PREFIX`, 'e.g. 198.18.210.0/24', pos);
          continue;
        }
        if (contains(rc, ends.host) || contains(rc, ends.container)) e('NET_GATEWAY_ROUTED', `${who}: the route ${r} covers the interconnect ${formatNet(c)}`, 'route a network outside the interconnect', pos);
        for (const [name, b] of bridges) if (overlaps(rc, b.net)) e('NET_COLLISION', `${who}: route ${r} overlaps the network of ${name}`, 'route another range', pos);
      }
      rows.push({ callsign: k.callsign, nic: i, kind: 'routed', via: `interconnect ${formatNet(c)}`, address: formatCidr(ends.container, c.prefix), gateway: formatIp(ends.host), routes: [...(n.ipv4 ?? []), ...(n.ipv6 ?? []), ...(n.routes ?? [])] });
      return { ...n, interconnect: formatNet(c) };
    }),
  }));
  return { containers, rows, lock: out, errors };
}
