import path from 'node:path';
import { resolve, type TreeView } from '../../rootfs/tree-view.js';
import { DEVICE_ROOT, execProblem, findProgram } from './exec.js';
import type { Findings } from './findings.js';
import { pathDirs, type ConfigEntry, type DeviceView } from './view.js';

// The container's network as liblxc sets it up at start (network.c), measured with liblxc
// 5.0.2 in network namespaces made by the tests:
// - a default gateway on two NICs: the second fails ("Failed to setup ipv4 gateway ... for
//   network device eth1"), the start with it;
// - a multicast MAC (first octet odd) is refused by the kernel ("Cannot assign requested
//   address - Failed to setup hw address");
// - script.up runs on the device's side like a hook (/bin/sh -c), as root: a program missing
//   from the image, or one it cannot run, fails the start;
// - a veth's link is a bridge that must exist when the container starts ("Failed to attach
//   ... to the bridge"): made at boot by the image's /etc/init.d/S40thunderbox-net (or another
//   init script), which the doctor can only assume has run: a note naming that assumption;
//   an error when nothing in the image makes it.
// lxc.net.N.type resets NIC N; lxc.net.N = and lxc.net = remove NICs.

interface Nic {
  index: number;
  type?: ConfigEntry;
  keys: Map<string, ConfigEntry>;
}

export function nicsOf(entries: ConfigEntry[]): Nic[] {
  const nics = new Map<number, Nic>();
  for (const e of entries) {
    if (e.key === 'lxc.net' && e.value === '') nics.clear();
    const whole = /^lxc\.net\.(\d+)$/.exec(e.key);
    if (whole && e.value === '') nics.delete(Number(whole[1]));
    const m = /^lxc\.net\.(\d+)\.(.+)$/.exec(e.key);
    if (!m) continue;
    const i = Number(m[1]);
    if (m[2] === 'type') {
      nics.set(i, { index: i, type: e, keys: new Map() });
      continue;
    }
    const nic = nics.get(i) ?? { index: i, keys: new Map() };
    nics.set(i, nic);
    if (e.value === '') nic.keys.delete(m[2]!);
    else nic.keys.set(m[2]!, e);
  }
  return [...nics.values()].sort((a, b) => a.index - b.index);
}

const at = (e: ConfigEntry) => ({ file: e.file, line: e.line });

export function checkGateways(v: DeviceView, f: Findings): void {
  const nics = nicsOf(v.entries).filter((n) => n.type && !['empty', 'none'].includes(n.type.value));
  for (const fam of ['ipv4', 'ipv6'] as const) {
    const gw = nics.filter((n) => n.keys.has(`${fam}.gateway`));
    if (gw.length < 2) continue;
    const second = gw[1]!.keys.get(`${fam}.gateway`)!;
    f.error('NET_GATEWAY_TWICE', `lxc.net.${gw[0]!.index} and lxc.net.${gw[1]!.index} both set ${fam}.gateway: a container has one default route, and liblxc fails at the second ("Failed to setup ${fam} gateway"), the start with it`, `keep the ${fam}.gateway on one NIC only (the one the default route goes through)`, at(second));
  }
  // ipv4.gateway = auto on a bridged veth: liblxc takes the bridge's own address as the
  // gateway, so the bridge needs one at start (measured: a bridge without an address fails,
  // "Bad address - Failed to automatically find ipv4 gateway address from link interface")
  for (const n of nics) {
    if (n.type?.value !== 'veth' || n.keys.get('veth.mode')?.value === 'router') continue;
    const link = n.keys.get('link');
    if (!link || !bridgeMaker(v.image, link.value)) continue; // net-bridge reports a missing bridge
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const g = n.keys.get(`${fam}.gateway`);
      if (g?.value !== 'auto') continue;
      const maker = bridgeAddressMaker(v.image, link.value, fam);
      if (maker) f.note('NET_GATEWAY_AUTO', `lxc.net.${n.index}.${fam}.gateway = auto: the bridge ${link.value}'s address, given at boot by ${maker} (assumed to have run)`, `keep ${maker} ordered before Thunder`, at(g));
      else f.error('NET_GATEWAY_AUTO_NO_ADDRESS', `lxc.net.${n.index}.${fam}.gateway = auto takes the bridge ${link.value}'s ${fam} address, but nothing in the image gives it one (no "ip addr add ... dev ${link.value}" in a boot script, no static /etc/network/interfaces stanza): liblxc fails ("Failed to automatically find ${fam} gateway address"), the start with it`, `give the bridge an address at boot (a manifest network: thunderbox prepare --manifest writes it into S40thunderbox-net), or write the gateway's address`, at(g));
    }
  }
}

/** The boot file that gives a bridge an address of a family, if any. */
function bridgeAddressMaker(image: TreeView, name: string, fam: 'ipv4' | 'ipv6'): string | null {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const addr = fam === 'ipv4' ? '\\d+\\.[0-9./]+' : '[0-9a-fA-F]*:[0-9a-fA-F:/]*';
  return scriptNaming(image, [
    new RegExp(`ip\\s+(-[46]\\s+)?addr(ess)?\\s+add\\s+${addr}\\s+(\\S+\\s+)*dev\\s+${esc}\\b`),
    new RegExp(`ifconfig\\s+${esc}\\s+${fam === 'ipv4' ? '(inet\\s+)?\\d+\\.' : 'inet6\\s+add\\s+'}`),
    new RegExp(`^\\s*iface\\s+${esc}\\s+${fam === 'ipv4' ? 'inet' : 'inet6'}\\s+static\\b`, 'm'),
  ]);
}

export function checkHwaddr(v: DeviceView, f: Findings): void {
  for (const n of nicsOf(v.entries)) {
    const e = n.keys.get('hwaddr');
    if (!e || !n.type || ['empty', 'none'].includes(n.type.value)) continue;
    const first = /^([0-9a-fA-F])([0-9a-fA-F])[:-]/.exec(e.value.trim());
    if (first && parseInt(first[2]!, 16) % 2 === 1) {
      f.error('NET_HWADDR_MULTICAST', `lxc.net.${n.index}.hwaddr = ${e.value} is a multicast address (the first octet is odd): the kernel refuses it for an interface ("Cannot assign requested address"), the start fails`, `use a unicast, locally administered address: the first octet even with bit 2 set, e.g. 02${e.value.trim().slice(2)} (thunderbox derives one from the callsign)`, at(e));
    }
  }
}

export function checkNetScripts(v: DeviceView, f: Findings): void {
  const dirs = pathDirs(v.thunderEnv.PATH);
  for (const n of nicsOf(v.entries)) {
    for (const key of ['script.up']) {
      const e = n.keys.get(key);
      if (!e) continue;
      const word = e.value.trim().split(/\s+/)[0]!;
      const prog = findProgram(v.image, word, dirs);
      const p = 'error' in prog ? { message: prog.error } : execProblem(v.image, prog.rel, DEVICE_ROOT, prog.path, dirs);
      if (p) f.error('NET_SCRIPT_UP', `lxc.net.${n.index}.${key} = ${e.value}: ${p.message} in the image; liblxc runs it on the device's side when it brings the NIC up, and the start fails`, 'install the script in the image (thunderbox prepare --manifest writes /etc/thunderbox/routed-up for a routed NIC), or remove the line', at(e));
    }
  }
}

/** Files of the image that may make a bridge at boot, and how each names it. */
function bridgeMaker(image: TreeView, name: string): string | null {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return scriptNaming(image, [new RegExp(`ip\\s+link\\s+add\\s+(name\\s+)?${esc}\\s+type\\s+bridge`), new RegExp(`brctl\\s+addbr\\s+${esc}\\b`), new RegExp(`^\\s*iface\\s+${esc}\\b[\\s\\S]*?bridge[_-]ports`, 'm')]);
}

/** The first of the image's boot files that the boot runs and whose text matches one of the patterns. */
function scriptNaming(image: TreeView, patterns: RegExp[]): string | null {
  const files = ['/etc/init.d/S40thunderbox-net', '/etc/network/interfaces'];
  const initd = resolve(image, '/etc/init.d');
  if (initd.rel !== null) for (const n of image.list(initd.rel)) files.push(`/etc/init.d/${n}`);
  for (const p of [...new Set(files)]) {
    const r = resolve(image, p);
    const node = r.rel === null ? undefined : image.get(r.rel);
    if (r.rel === null || node?.kind !== 'file') continue;
    // BusyBox's rcS (Buildroot's /etc/init.d/rcS) runs /etc/init.d/S??* only: "NAME.sh" is
    // sourced, anything else is run as "NAME start", which needs an x bit
    if (p.startsWith('/etc/init.d/')) {
      const base = path.posix.basename(p);
      if (!/^S../.test(base)) continue;
      if (!base.endsWith('.sh') && (node.mode & 0o111) === 0) continue;
    }
    const text = image.read(r.rel, 1 << 20)?.toString('utf8') ?? '';
    if (patterns.some((re) => re.test(text))) return p;
  }
  return null;
}

export function checkBridges(v: DeviceView, f: Findings): void {
  for (const n of nicsOf(v.entries)) {
    if (n.type?.value !== 'veth') continue;
    const link = n.keys.get('link');
    if (!link || n.keys.get('veth.mode')?.value === 'router') continue;
    const maker = bridgeMaker(v.image, link.value);
    if (maker) f.note('NET_BRIDGE_AT_BOOT', `lxc.net.${n.index}.link = ${link.value}: the bridge is made at boot by ${maker}; the container starts only when that has run before Thunder starts it (assumed here)`, `keep ${maker} enabled and ordered before Thunder`, at(link));
    else f.error('NET_BRIDGE_MISSING', `lxc.net.${n.index}.link = ${link.value}: nothing in the image makes a bridge ${link.value} (no /etc/init.d/S?? script that the boot's rcS runs, sourced as NAME.sh or executable, nor /etc/network/interfaces does): liblxc cannot attach the veth to it, the start fails`, `let thunderbox make it (a manifest network: thunderbox prepare --manifest writes /etc/init.d/S40thunderbox-net), or create it in the image's boot scripts`, at(link));
  }
}

/** Names the kernel's drivers give network devices (eth0, wlan0, usb0, can0, predictable enp1s0, wlp2s0, ...). */
const KERNEL_NIC = /^(eth|wlan|usb|can|wwan|bond|lo)\d+$|^(en|wl|ww)[a-z0-9]+$/;

/**
 * A phys NIC moves an existing device of the device's namespace into the container: liblxc
 * fails when there is none of that name ("No such device - Failed to retrieve ifindex for
 * ..."). Whether the device's hardware has it cannot be seen in the image: a name a driver
 * gives is a note naming that assumption; another name that nothing in the image makes
 * (an init script's "ip link add NAME", /etc/network/interfaces) is an error.
 */
export function checkPhys(v: DeviceView, f: Findings): void {
  for (const n of nicsOf(v.entries)) {
    if (n.type?.value !== 'phys') continue;
    const link = n.keys.get('link');
    if (!link) continue;
    const maker = nicMaker(v.image, link.value);
    if (maker) f.note('NET_PHYS_AT_BOOT', `lxc.net.${n.index}.link = ${link.value}: made at boot by ${maker}; the container starts only when it exists and no other namespace holds it (assumed here)`, `keep ${maker} ordered before Thunder`, at(link));
    else if (KERNEL_NIC.test(link.value)) f.note('NET_PHYS_ASSUMED', `lxc.net.${n.index}.link = ${link.value}: a phys NIC must exist on the device when the container starts (assumed: a driver names it so)`, `check that the device has ${link.value} (ip link)`, at(link));
    else f.error('NET_PHYS_MISSING', `lxc.net.${n.index}.link = ${link.value}: no driver names a device so, and nothing in the image makes it (no /etc/init.d/S?? script nor /etc/network/interfaces): liblxc cannot move it into the container, the start fails ("Failed to retrieve ifindex")`, `name a network device the device has (ip link; e.g. eth1), or create ${link.value} in the image's boot scripts`, at(link));
  }
}

function nicMaker(image: TreeView, name: string): string | null {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return scriptNaming(image, [new RegExp(`ip\\s+link\\s+add\\s+(name\\s+)?${esc}\\b`), new RegExp(`ip\\s+tuntap\\s+add\\s+(dev\\s+)?${esc}\\b`), new RegExp(`tunctl\\s+(-\\S+\\s+)*-t\\s+${esc}\\b`), new RegExp(`^\\s*(auto|iface)\\s+${esc}\\b`, 'm'), new RegExp(`brctl\\s+addbr\\s+${esc}\\b`)]);
}

/**
 * lxc.net.N.veth.pair names the veth's device-side end, which liblxc creates at start: a name
 * the device already has fails it ("File exists - Failed to create veth pair", measured with
 * liblxc 5.0.2), e.g. a tap device made at boot for it, as a guide to TAP devices does
 * ("ip tuntap add dev tap0", then "veth.pair = tap0"), or the bridge itself.
 */
export function checkVethPair(v: DeviceView, f: Findings): void {
  const nics = nicsOf(v.entries);
  const links = new Set(nics.map((n) => n.keys.get('link')?.value).filter((x): x is string => !!x));
  for (const n of nics) {
    if (n.type?.value !== 'veth') continue;
    const pair = n.keys.get('veth.pair');
    if (!pair || pair.value === '') continue;
    const maker = links.has(pair.value) ? `lxc.net.*.link (the bridge ${pair.value})` : nicMaker(v.image, pair.value);
    if (maker) f.error('NET_VETH_PAIR_EXISTS', `lxc.net.${n.index}.veth.pair = ${pair.value}: liblxc creates that device at start, but ${maker} makes a device of that name first: the start fails ("File exists - Failed to create veth pair")`, `leave veth.pair out (liblxc picks a free vethXXXXXX name) or use a name nothing else makes; a veth needs no tap device, only the bridge`, at(pair));
  }
}
