// IPv4 arithmetic on 32-bit unsigned numbers: enough for subnets, pools and allocation.

export interface Cidr {
  addr: number;
  prefix: number;
}

export function parseIp(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return null;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

export function parseCidr(s: string): Cidr | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m) return null;
  const addr = parseIp(m[1]!);
  const prefix = Number(m[2]);
  return addr === null || prefix > 32 ? null : { addr, prefix };
}

export function formatIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function networkOf(c: Cidr): number {
  return (c.addr & mask(c.prefix)) >>> 0;
}

/** The network a CIDR lies in, written NETWORK/PREFIX (198.18.0.7/24 -> 198.18.0.0/24). */
export function formatNet(c: Cidr): string {
  return formatCidr(networkOf(c), c.prefix);
}

export function size(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function contains(net: Cidr, addr: number): boolean {
  return ((addr & mask(net.prefix)) >>> 0) === networkOf(net);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.addr & mask(p)) >>> 0) === ((b.addr & mask(p)) >>> 0);
}

export function formatCidr(addr: number, prefix: number): string {
  return `${formatIp(addr)}/${prefix}`;
}

/** Interconnect: the host side is the first usable address, the container the second. */
export function interconnectEnds(c: Cidr): { host: number; container: number } {
  const net = networkOf(c);
  return c.prefix === 31 ? { host: net, container: net + 1 } : { host: net + 1, container: net + 2 };
}
