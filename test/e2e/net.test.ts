import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa, type ResultPromise } from 'execa';
import { describe, expect, it } from 'vitest';
import { writeArchive, type ArchiveEntry } from '../../src/rootfs/archive-writer.js';
import { BIN, tbx } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

// Container networking with real traffic, inside network namespaces the tests make
// (ip netns add), with addresses from 198.18.0.0/15; the host's interfaces, routes and
// netfilter rules are never touched, and every namespace is removed, also on failure.

const APPLETS = ['sh', 'ping', 'sleep', 'ip', 'cat', 'nc', 'echo', 'id', 'true'];

function rootfs(dir: string): string {
  const bb = fs.readFileSync('/bin/busybox');
  const e: ArchiveEntry[] = [{ path: './', type: 'Directory' }, { path: 'bin', type: 'Directory' }, { path: 'bin/busybox', type: 'File', mode: 0o755, data: bb }];
  for (const a of APPLETS) e.push({ path: `bin/${a}`, type: 'SymbolicLink', linkpath: 'busybox' });
  const f = path.join(dir, 'rootfs.tar');
  writeArchive(f, e);
  return f;
}

async function withNetns<T>(fn: (ns: (cmd: string[]) => Promise<{ code: number; stdout: string; stderr: string }>, name: string, track: (p: ResultPromise) => void) => Promise<T>): Promise<T> {
  const name = `tbx${randomBytes(4).toString('hex')}`;
  const extra: string[] = [];
  const bg: ResultPromise[] = [];
  await execa('ip', ['netns', 'add', name]);
  try {
    await execa('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    const ns = async (cmd: string[]) => {
      const r = await execa('ip', ['netns', 'exec', name, ...cmd], { reject: false, env: { MESSAGE_DISPATCHER_CONFIG: 'x' } });
      return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    };
    return await fn(ns, name, (p) => bg.push(p));
  } finally {
    for (const p of bg) p.kill('SIGTERM'); // try stops its container and removes its lxcpath
    await Promise.allSettled(bg);
    for (const n of extra) await execa('ip', ['netns', 'del', n], { reject: false });
    await execa('ip', ['netns', 'del', name], { reject: false });
  }
}

function manifest(dir: string, archive: string, body: string): string {
  const f = path.join(dir, 'thunderbox.yaml');
  fs.writeFileSync(f, body.replaceAll('ROOTFS', archive));
  return f;
}

async function prepared(dir: string, m: string): Promise<string> {
  const target = path.join(dir, 'target');
  fs.mkdirSync(target, { recursive: true });
  const p = await tbx(['prepare', '--manifest', m, '--target', target, '--no-plugin-json', '-q']);
  expect(p.stderr).toBe('');
  expect(p.code).toBe(0);
  const r = await tbx(['net', 'render', '--manifest', m, '--target', target, '-q']);
  expect(r.code).toBe(0);
  return target;
}

const sleeper = (ns: string, target: string, cs: string, script = 'sleep 30') => execa('ip', ['netns', 'exec', ns, process.execPath, BIN, 'try', cs, '--target', target, '-q', '--', '/bin/sh', '-c', script], { reject: false, stdio: 'ignore', env: { MESSAGE_DISPATCHER_CONFIG: 'x' } });

async function waitFor(check: () => Promise<boolean>, ms = 15000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('container networking, with real traffic in a test namespace', () => {
  it('two containers on one bridge ping each other and the gateway; start twice adds each rule once; stop removes them', async () => {
    const dir = tmpDir();
    const cs = (s: string) => `${s}${randomBytes(2).toString('hex')}`;
    const [a, b] = [cs('A'), cs('B')];
    const m = manifest(dir, rootfs(dir), `networks:\n  tbxbr0: { ipv4: 198.18.0.1/24, nat: true }\ncontainers:\n  ${a}:\n    rootfs: ROOTFS\n    net: [{ type: veth, link: tbxbr0, ipv4: auto, gateway: auto }]\n  ${b}:\n    rootfs: ROOTFS\n    net: [{ type: veth, link: tbxbr0, ipv4: auto, gateway: auto }]\n`);
    const target = await prepared(dir, m);
    const init = path.join(target, 'etc/init.d/S40thunderbox-net');
    await withNetns(async (ns, name, track) => {
      const before = (await ns(['iptables-save'])).stdout;
      expect((await ns(['sh', init, 'start'])).code).toBe(0);
      expect((await ns(['sh', init, 'start'])).code).toBe(0);
      const rules = (await ns(['iptables-save'])).stdout.split('\n').filter((l) => l.includes('198.18.0.0/24'));
      expect(rules.length).toBe(3);
      expect(new Set(rules).size).toBe(3); // each exactly once
      expect((await ns(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout).toBe('1');
      track(sleeper(name, target, a));
      await waitFor(async () => (await ns(['/bin/busybox', 'ping', '-c1', '-W1', '198.18.0.2'])).code === 0);
      const r = await ns([process.execPath, BIN, 'try', b, '--target', target, '-q', '--', '/bin/sh', '-c', 'ping -c1 -W2 198.18.0.2 && ping -c1 -W2 198.18.0.1']);
      expect(r.stdout).toContain('64 bytes from 198.18.0.2');
      expect(r.stdout).toContain('64 bytes from 198.18.0.1');
      expect(r.code).toBe(0);
      expect((await ns(['sh', init, 'stop'])).code).toBe(0);
      expect((await ns(['ip', 'link', 'show', 'tbxbr0'])).code).not.toBe(0);
      const after = (await ns(['iptables-save'])).stdout;
      expect(after.split('\n').filter((l) => l.startsWith('-A'))).toEqual(before.split('\n').filter((l) => l.startsWith('-A')));
    });
  });

  it('routed veth: the routed address is reachable from the host side, and the container reaches the host side', async () => {
    const dir = tmpDir();
    const r = `R${randomBytes(2).toString('hex')}`;
    const m = manifest(dir, rootfs(dir), `routed-pool: 198.18.100.0/24\ncontainers:\n  ${r}:\n    rootfs: ROOTFS\n    net: [{ type: routed, interconnect: auto, ipv4: [198.18.200.5/32] }]\n`);
    const target = await prepared(dir, m);
    await withNetns(async (ns, name, track) => {
      expect((await ns(['sh', path.join(target, 'etc/init.d/S40thunderbox-net'), 'start'])).code).toBe(0);
      // /tmp is the host's /tmp inside: the container leaves a mark there when it reached the host side
      const mark = `/tmp/tbx-routed-${randomBytes(4).toString('hex')}`;
      track(sleeper(name, target, r, `ping -c1 -W2 198.18.100.1 && echo reached > ${mark}; sleep 30`));
      await waitFor(async () => (await ns(['/bin/busybox', 'ping', '-c1', '-W1', '198.18.200.5'])).code === 0);
      expect((await ns(['ip', 'route'])).stdout).toContain('198.18.200.5 dev');
      expect((await ns(['ip', 'link', 'show', 'type', 'bridge'])).stdout).toBe(''); // no bridge involved
      expect((await ns(['/bin/busybox', 'ping', '-c1', '-W2', '198.18.100.2'])).code).toBe(0);
      await waitFor(async () => fs.existsSync(mark), 5000);
      expect(fs.readFileSync(mark, 'utf8')).toBe('reached\n');
      fs.rmSync(mark);
    });
  });

  it('NAT: the container reaches an outside network, which sees the masqueraded address', async () => {
    const dir = tmpDir();
    const a = `N${randomBytes(2).toString('hex')}`;
    const m = manifest(dir, rootfs(dir), `networks:\n  tbxbr0: { ipv4: 198.18.0.1/24, nat: true }\ncontainers:\n  ${a}:\n    rootfs: ROOTFS\n    net: [{ type: veth, link: tbxbr0, ipv4: auto, gateway: auto }]\n`);
    const target = await prepared(dir, m);
    await withNetns(async (ns, name) => {
      const out = `${name}o`;
      await execa('ip', ['netns', 'add', out]);
      try {
        const o = (cmd: string[]) => execa('ip', ['netns', 'exec', out, ...cmd], { reject: false });
        // the uplink: <name> 198.18.50.1 -- 198.18.50.2 <out>; <out> has no route to 198.18.0.0/24
        await execa('ip', ['link', 'add', `${name}u`, 'netns', name, 'type', 'veth', 'peer', 'name', `${name}p`, 'netns', out]);
        await ns(['ip', 'addr', 'add', '198.18.50.1/24', 'dev', `${name}u`]);
        await ns(['ip', 'link', 'set', `${name}u`, 'up']);
        await o(['ip', 'addr', 'add', '198.18.50.2/24', 'dev', `${name}p`]);
        await o(['ip', 'link', 'set', `${name}p`, 'up']);
        await o(['ip', 'link', 'set', 'lo', 'up']);
        await o(['iptables', '-A', 'INPUT', '-p', 'icmp', '-s', '198.18.50.1', '-j', 'ACCEPT']);
        await o(['iptables', '-A', 'INPUT', '-p', 'icmp', '-s', '198.18.0.0/24', '-j', 'ACCEPT']);
        expect((await ns(['sh', path.join(target, 'etc/init.d/S40thunderbox-net'), 'start'])).code).toBe(0);
        const r = await ns([process.execPath, BIN, 'try', a, '--target', target, '-q', '--', '/bin/sh', '-c', 'ping -c2 -W2 198.18.50.2']);
        expect(r.stdout).toContain('64 bytes from 198.18.50.2');
        const counters = String((await o(['iptables', '-L', 'INPUT', '-v', '-n', '-x'])).stdout);
        const hits = (src: string) => Number(counters.split('\n').find((l) => l.includes(src))!.trim().split(/\s+/)[0]);
        expect(hits('198.18.50.1')).toBeGreaterThan(0); // masqueraded
        expect(hits('198.18.0.0/24')).toBe(0); // never the container's own address
      } finally {
        await execa('ip', ['netns', 'del', out], { reject: false });
      }
    });
  });

  it('address allocation is stable: adding a container never renumbers the others; errors name the containers', async () => {
    const dir = tmpDir();
    const archive = rootfs(dir);
    const body = (names: string[]) => `networks:\n  tbxbr0: { ipv4: 198.18.0.1/29 }\ncontainers:\n${names.map((n) => `  ${n}:\n    rootfs: ROOTFS\n    net: [{ type: veth, link: tbxbr0, ipv4: auto, gateway: auto }]\n`).join('')}`;
    const m = manifest(dir, archive, body(['Zed', 'Amy']));
    const plan1 = JSON.parse((await tbx(['net', 'plan', '--manifest', m, '--json'])).stdout) as { callsign: string; address: string }[];
    expect(plan1.map((r) => [r.callsign, r.address])).toEqual([['Zed', '198.18.0.2/29'], ['Amy', '198.18.0.3/29']]);
    await prepared(dir, m);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'thunderbox.lock'), 'utf8')).bridges.tbxbr0).toEqual({ 'Zed/0': '198.18.0.2', 'Amy/0': '198.18.0.3' });
    // a new container first in the file: the others keep their addresses
    manifest(dir, archive, body(['New', 'Zed', 'Amy']));
    const plan2 = JSON.parse((await tbx(['net', 'plan', '--manifest', m, '--json'])).stdout) as { callsign: string; address: string }[];
    expect(plan2.map((r) => [r.callsign, r.address])).toEqual([['New', '198.18.0.4/29'], ['Zed', '198.18.0.2/29'], ['Amy', '198.18.0.3/29']]);
    manifest(dir, archive, body(['A1', 'A2', 'A3', 'A4', 'A5', 'A6']));
    const full = await tbx(['net', 'plan', '--manifest', m]);
    expect(full.code).toBe(1);
    expect(full.stderr).toContain("error[NET_FULL]: A6 (lxc.net.0): tbxbr0's network 198.18.0.0/29 has no free address left");
    fs.writeFileSync(m, `networks:\n  tbxbr0: { ipv4: 198.18.0.1/24 }\ncontainers:\n  X:\n    rootfs: ${archive}\n    net: [{ type: veth, link: tbxbr0, ipv4: 198.18.0.9/24 }]\n  Y:\n    rootfs: ${archive}\n    net: [{ type: veth, link: tbxbr0, ipv4: 198.18.0.9/24 }]\n  Z:\n    rootfs: ${archive}\n    net: [{ type: veth, link: tbxbr0, ipv4: 198.19.0.9/24 }]\n`);
    const bad = await tbx(['net', 'plan', '--manifest', m]);
    expect(bad.stderr).toContain('error[NET_COLLISION]: Y (lxc.net.0) and X (lxc.net.0) both have 198.18.0.9');
    expect(bad.stderr).toContain("error[NET_OUTSIDE]: Z (lxc.net.0): 198.19.0.9/24 is outside tbxbr0's network 198.18.0.0/24");
  });
});
