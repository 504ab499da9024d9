import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { startOciOnDevice } from '../../src/oci/device-start.js';
import { THUNDER_ENVIRONMENT } from '../../src/thunder/environment.js';
import { derivedVethPair } from '../../src/lxc/container-config.js';
import { busyboxRootfs, deviceImage } from '../helpers/device-image.js';
import { BIN, tbx } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

// A routed NIC of a runc container: S40thunderbox-net makes it in the named namespace the
// bundle joins, as liblxc's veth router mode (and routed-up) makes it for the same manifest
// under LXC. Ground truth on both sides by starting: the bundle with real runc (as Thunder's
// runc backend drives it), the LXC container with lxc-execute (try --host), each in a network
// namespace this test makes, with IPv4 addresses from 198.18.0.0/15 (IPv6 from fd18::/16);
// the host's interfaces are never touched, every namespace is removed, also on failure.

const ping = (...a: string[]) => ['/bin/busybox', 'ping', ...a, '-c1', '-W2'];

const run = async (cmd: string[]) => {
  const r = await execa(cmd[0]!, cmd.slice(1), { reject: false });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
};

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The global addresses of `ip -o addr` (busybox's or iproute2's): "inet A/P", "inet6 A/P", sorted (broadcast and DAD state left out). */
const addresses = (out: string) => [...out.matchAll(/\b(inet6?) (\S+) .*scope global/g)].map((m) => `${m[1]} ${m[2]}`).sort();

/** What the device's side holds for a routed veth: its addresses, routes and forwarding/proxy switches. */
async function deviceSide(inNs: (cmd: string[]) => Promise<{ stdout: string }>, pair: string): Promise<string> {
  const parts = [
    addresses((await inNs(['ip', '-o', 'addr', 'show', 'dev', pair])).stdout).join('\n'),
    (await inNs(['ip', 'route', 'show', 'dev', pair])).stdout,
    (await inNs(['ip', '-6', 'route', 'show', 'dev', pair])).stdout,
    (await inNs(['cat', `/proc/sys/net/ipv4/conf/${pair}/forwarding`, `/proc/sys/net/ipv4/conf/${pair}/proxy_arp`, `/proc/sys/net/ipv6/conf/${pair}/forwarding`, `/proc/sys/net/ipv6/conf/${pair}/proxy_ndp`])).stdout,
  ];
  return parts.join('\n--\n');
}

/** Its proxy entries (ARP, NDP), each once (iproute2 lists an NDP entry twice). */
const proxies = async (inNs: (cmd: string[]) => Promise<{ stdout: string }>, pair: string) => [...new Set([...(await inNs(['ip', 'neigh', 'show', 'proxy', 'dev', pair])).stdout.split('\n'), ...(await inNs(['ip', '-6', 'neigh', 'show', 'proxy', 'dev', pair])).stdout.split('\n')])].filter(Boolean).map((l) => l.trim());

/** The container's own view, printed by its busybox (the same program under both runtimes). */
const VIEW = 'ip -o addr show dev eth0; echo ==; ip route; echo ==; ip -6 route | grep -v "^fe80::\\|^multicast\\|^ff00::"';

describe('OCI networking, routed: the namespace S40thunderbox-net makes at boot', () => {
  it('a privileged runc container with a routed NIC: its addresses, the host end and the network behind it reachable both ways, what LXC makes for the same manifest; start twice adds nothing; stop removes it all', async () => {
    const dir = tmpDir();
    const c = `Rt${randomBytes(3).toString('hex')}`;
    const x = randomBytes(1)[0]!;
    const h = x.toString(16);
    // the interconnect (a /30) from the pool 198.19.x.0/28, a routed /32 and a network behind the container in 198.18.x.0/24
    const [pool, container, gw, addr, behind, behindHost] = [`198.19.${x}.0/28`, `198.19.${x}.2`, `198.19.${x}.1`, `198.18.${x}.5`, `198.18.${x}.64/26`, `198.18.${x}.65`];
    const [addr6, gw6, behind6] = [`fd18:${h}::5`, `fd18:${h}::1`, `fd18:${h}:1::/64`];
    const net = `[{ type: routed, interconnect: auto, ipv4: [${addr}/32], ipv6: ['${addr6}/128'], gateway6: '${gw6}', routes: [${behind}, '${behind6}'] }]`;
    // privileged (idmap: none) for runc (the unprivileged one is the next test); the LXC one unprivileged, as privileged
    // lxc-execute fails on this build host at its cgroup setup ("Failed to setup cgroup limits"):
    // liblxc makes the network on the device's side the same way either way
    const body = (runtime: string, rootfs: string) => `routed-pool: ${pool}\ncontainers:\n  ${c}:\n    rootfs: ${rootfs}\n    runtime: ${runtime}\n${runtime === 'lxc' ? '' : '    idmap: none\n'}    plugin-json: false\n    net: ${net}\n`;
    const pair = derivedVethPair(c, 0);

    // runtime runc: prepare writes the bundle, net render the script that makes its namespace
    const oci = path.join(dir, 'oci');
    fs.mkdirSync(oci);
    const target = await deviceImage(oci);
    fs.mkdirSync(path.join(target, 'var/run'), { recursive: true });
    const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'));
    const m = path.join(oci, 'thunderbox.yaml');
    fs.writeFileSync(m, body('runc', rootfs));
    const p = await tbx(['prepare', '--no-doctor', '--manifest', m, '--target', target, '-q']);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect((await tbx(['net', 'render', '--manifest', m, '--target', target, '-q'])).code).toBe(0);
    const cfg = JSON.parse(fs.readFileSync(path.join(target, 'usr/share/Thunder', c, 'Container/config.json'), 'utf8')) as { linux: { namespaces: { type: string; path?: string }[] } };
    expect(cfg.linux.namespaces.find((n) => n.type === 'network')).toEqual({ type: 'network', path: `/var/run/netns/tbx-${c}` });
    const init = path.join(target, 'etc/init.d/S40thunderbox-net');
    expect((await execa('shellcheck', ['-s', 'sh', init], { reject: false })).stdout).toBe('');

    // runtime lxc, the same manifest otherwise: its LXC config, and what liblxc makes of it
    const lxc = path.join(dir, 'lxc');
    const lxcTarget = path.join(lxc, 'target');
    fs.mkdirSync(lxcTarget, { recursive: true });
    const ml = path.join(lxc, 'thunderbox.yaml');
    fs.writeFileSync(ml, body('lxc', rootfs));
    const pl = await tbx(['prepare', '--no-doctor', '--manifest', ml, '--target', lxcTarget, '-q']);
    expect(pl.stderr).toBe('');
    expect((await tbx(['net', 'render', '--manifest', ml, '--target', lxcTarget, '-q'])).code).toBe(0);
    const lines = fs.readFileSync(path.join(lxcTarget, 'usr/share/Thunder', c, 'Container/config'), 'utf8').split('\n');
    const values = (key: string) => lines.filter((l) => l.startsWith(`lxc.net.0.${key} = `)).map((l) => l.split(' = ')[1]!);
    expect(values('ipv4.address')).toEqual([`${container}/30`, `${addr}/32`]);
    expect(values('ipv4.gateway')).toEqual([gw]);
    expect(values('ipv6.address')).toEqual([`${addr6}/128`]);
    expect(values('veth.pair')).toEqual([pair]);
    const lxcAddresses = [...values('ipv4.address').map((a) => `inet ${a}`), ...values('ipv6.address').map((a) => `inet6 ${a}`)].sort();

    const testNs = `tbx${randomBytes(4).toString('hex')}`;
    const lxcNs = `tbx${randomBytes(4).toString('hex')}`;
    // nsenter --net, not ip netns exec: the latter's mount namespace would keep the namespace
    // the script makes (ip netns add mounts it under /run/netns) from this host's, where runc looks
    const inNs = (cmd: string[]) => run(['nsenter', `--net=/run/netns/${testNs}`, '--', ...cmd]);
    const inLxcNs = (cmd: string[]) => run(['nsenter', `--net=/run/netns/${lxcNs}`, '--', ...cmd]);
    const inside = (cmd: string[]) => run(['ip', 'netns', 'exec', `tbx-${c}`, ...cmd]);
    const mark = `/tmp/tbx-routed-${randomBytes(4).toString('hex')}`;
    let lxcRun: ReturnType<typeof execa> | undefined;
    await execa('ip', ['netns', 'add', testNs]);
    try {
      await execa('ip', ['netns', 'add', lxcNs]);
      await inNs(['ip', 'link', 'set', 'lo', 'up']);
      await inLxcNs(['ip', 'link', 'set', 'lo', 'up']);
      const up = await inNs(['sh', init, 'start']);
      expect(up.stderr).toBe('');
      expect(up.code).toBe(0);
      // the IPv6 address is usable once its duplicate detection is over (liblxc adds it the same way)
      await waitFor(async () => (await inside(['ip', '-6', 'addr', 'show', 'tentative'])).stdout === '');
      const snapshot = async () => [await deviceSide(inNs, pair), ...(await proxies(inNs, pair)), (await inside(['ip', 'addr'])).stdout, (await inside(['ip', 'route'])).stdout, (await inside(['ip', '-6', 'route'])).stdout].join('\n==\n');
      const once = await snapshot();
      const again = await inNs(['sh', init, 'start']); // twice: nothing added twice
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
      expect(await snapshot()).toBe(once);

      // inside, started as Thunder starts it: its addresses; it reaches the host end (both
      // families) and answers for an address of the network behind it (on its loopback)
      const r = await startOciOnDevice({ env: { ...THUNDER_ENVIRONMENT }, timeoutMs: 20_000, target, bundle: `/usr/share/Thunder/${c}/Container`, callsign: c, runtime: 'runc', netns: [`tbx-${c}`], command: ['sh', '-c', `${VIEW}; echo ==; ip addr add ${behindHost}/32 dev lo && ping -c1 -W2 ${gw} && ping -6 -c1 -W2 ${gw6}`] });
      expect(r.error).toBeUndefined();
      const [ociAddr, ociRoutes, ociRoutes6, ociPings] = r.output.split('==\n').map((s) => s.trim());
      expect(addresses(ociAddr!)).toEqual(lxcAddresses);
      expect(ociRoutes).toContain(`default via ${gw} dev eth0`);
      expect(ociRoutes6).toContain(`default via ${gw6} dev eth0`);
      expect(ociPings).toContain(`64 bytes from ${gw}`);
      expect(ociPings).toContain(`64 bytes from ${gw6}`);
      // from the device's side: the container's addresses and the network behind it
      for (const a of [container, addr, behindHost]) expect((await inNs(ping(a))).stdout).toContain(`64 bytes from ${a}`);
      expect((await inNs(ping('-6', addr6))).stdout).toContain(`64 bytes from ${addr6}`);
      const ociDevice = await deviceSide(inNs, pair);
      expect(ociDevice).toContain(`\n${behind} scope link`);
      expect(await proxies(inNs, pair)).toEqual([`${gw} proxy`, `${gw6} proxy`]);

      // the same manifest under LXC (lxc-execute in the other test namespace): the container
      // sees the same, and the device's side of its veth holds the same
      const lxcInit = path.join(lxcTarget, 'etc/init.d/S40thunderbox-net'); // IPv6 forwarding, which liblxc requires
      expect((await inLxcNs(['sh', lxcInit, 'start'])).code).toBe(0);
      lxcRun = execa('ip', ['netns', 'exec', lxcNs, process.execPath, BIN, 'try', '--host', c, '--target', lxcTarget, '-q', '--', '/bin/sh', '-c', `i=0; while ip -6 addr | grep -q tentative && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; ${VIEW}; touch ${mark}; i=0; while [ -e ${mark} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done`], { reject: false, env: { MESSAGE_DISPATCHER_CONFIG: 'x' } });
      await waitFor(async () => fs.existsSync(mark), 20_000);
      const lxcDevice = await deviceSide(inLxcNs, pair);
      fs.rmSync(mark);
      const l = await lxcRun;
      expect(l.stderr).toBe('');
      expect(l.exitCode).toBe(0);
      const [lxcAddr, lxcRoutes, lxcRoutes6] = String(l.stdout).split('==\n').map((s) => s.trim());
      expect(addresses(lxcAddr!)).toEqual(lxcAddresses);
      expect(lxcRoutes).toBe(ociRoutes);
      expect(lxcRoutes6).toBe(ociRoutes6);
      // (liblxc's proxy entries for the gateway are left out: measured here, they are missing
      // in about one start of six, a bug its network.c notes beside a sleep meant to avoid it;
      // S40's were there in each of 15 starts)
      expect(lxcDevice).toBe(ociDevice);

      // stop: the namespace and the device's end, with its addresses and routes, are gone
      const down = await inNs(['sh', init, 'stop']);
      expect(down.stderr).toBe('');
      expect(down.code).toBe(0);
      expect(fs.existsSync(`/run/netns/tbx-${c}`)).toBe(false);
      // the test namespace is as it was made: its loopback alone
      expect((await inNs(['ip', '-o', 'link'])).stdout).toMatch(/^1: lo:[^\n]*$/);
      expect((await inNs(['ip', 'route'])).stdout).toBe('');
      expect((await inNs(['ip', '-6', 'route'])).stdout).toMatch(/^(::1 [^\n]*)?$/);
      expect((await inNs(['ip', 'neigh', 'show', 'proxy'])).stdout).toBe('');
      expect((await inNs(['sh', init, 'stop'])).code).toBe(0); // and again: nothing left to remove
    } finally {
      if (lxcRun) {
        fs.rmSync(mark, { force: true });
        lxcRun.kill('SIGTERM'); // try stops its container and removes its lxcpath
        await lxcRun.catch(() => undefined);
      }
      await inNs(['sh', init, 'stop']);
      for (const n of [testNs, lxcNs, `tbx-${c}`]) if (fs.existsSync(`/run/netns/${n}`)) await execa('ip', ['netns', 'del', n], { reject: false });
    }
  }, 120_000);

  it('an unprivileged runc container with a routed NIC: its S39 script makes the namespace inside its user namespace, S40 the NIC; runc and crun start it, it reaches the host end and is reached', async () => {
    const dir = tmpDir();
    const c = `Ru${randomBytes(3).toString('hex')}`;
    const x = randomBytes(1)[0]!;
    const [pool, container, gw, addr] = [`198.19.${x}.16/28`, `198.19.${x}.18`, `198.19.${x}.17`, `198.18.${x}.9`];
    const target = await deviceImage(dir);
    fs.mkdirSync(path.join(target, 'var/run'), { recursive: true });
    const m = path.join(dir, 'thunderbox.yaml');
    fs.writeFileSync(m, `routed-pool: ${pool}\ncontainers:\n  ${c}:\n    rootfs: ${await busyboxRootfs(path.join(dir, 'rootfs.tar'))}\n    runtime: runc\n    plugin-json: false\n    net: [{ type: routed, interconnect: auto, ipv4: [${addr}/32] }]\n`);
    const p = await tbx(['prepare', '--no-doctor', '--manifest', m, '--target', target, '-q']);
    expect(p.code).toBe(0);
    expect((await tbx(['net', 'render', '--manifest', m, '--target', target, '-q'])).code).toBe(0);
    const s39 = path.join(target, `etc/init.d/S39thunderbox-userns-${c}`);
    const init = path.join(target, 'etc/init.d/S40thunderbox-net');
    const testNs = `tbx${randomBytes(4).toString('hex')}`;
    const inNs = (cmd: string[]) => run(['nsenter', `--net=/run/netns/${testNs}`, '--', ...cmd]);
    await execa('ip', ['netns', 'add', testNs]);
    try {
      await inNs(['ip', 'link', 'set', 'lo', 'up']);
      expect(await inNs(['sh', s39, 'start'])).toMatchObject({ code: 0, stderr: '' });
      expect(await inNs(['sh', init, 'start'])).toMatchObject({ code: 0, stderr: '' });
      for (const runtime of ['runc', 'crun'] as const) {
        const r = await startOciOnDevice({ env: { ...THUNDER_ENVIRONMENT }, timeoutMs: 20_000, target, bundle: `/usr/share/Thunder/${c}/Container`, callsign: c, runtime, netns: [`tbx-${c}`], userns: [`tbx-${c}`], command: ['sh', '-c', `cat /proc/self/uid_map; ip -o addr show dev eth0; ip route; ping -c1 -W2 ${gw}`] });
        expect(r.error).toBeUndefined();
        expect(r.output).toMatch(/^\s+0\s+100000\s+65536$/m);
        expect(addresses(r.output)).toEqual([`inet ${addr}/32`, `inet ${container}/30`].sort());
        expect(r.output).toContain(`default via ${gw} dev eth0`);
        expect(r.output).toContain(`64 bytes from ${gw}`);
      }
      for (const a of [container, addr]) expect((await inNs(ping(a))).stdout).toContain(`64 bytes from ${a}`);
      expect((await inNs(['sh', init, 'stop'])).code).toBe(0);
      expect((await inNs(['sh', s39, 'stop'])).code).toBe(0);
      expect(fs.existsSync(`/run/netns/tbx-${c}`) || fs.existsSync(`/run/thunderbox/userns/tbx-${c}`)).toBe(false);
    } finally {
      await inNs(['sh', init, 'stop']);
      await inNs(['sh', s39, 'stop']);
      for (const n of [testNs, `tbx-${c}`]) if (fs.existsSync(`/run/netns/${n}`)) await execa('ip', ['netns', 'del', n], { reject: false });
    }
  }, 120_000);

  it('runtime both with a routed NIC: prepare warns that liblxc cannot make the host end S40thunderbox-net made, and its start fails so', async () => {
    const dir = tmpDir();
    const c = `Rb${randomBytes(3).toString('hex')}`;
    const x = randomBytes(1)[0]!;
    const target = path.join(dir, 'target');
    fs.mkdirSync(target);
    const m = path.join(dir, 'thunderbox.yaml');
    fs.writeFileSync(m, `routed-pool: 198.19.${x}.0/30\ncontainers:\n  ${c}:\n    rootfs: ${await busyboxRootfs(path.join(dir, 'rootfs.tar'))}\n    runtime: both\n    plugin-json: false\n    net: [{ type: routed, interconnect: auto, ipv4: [198.18.${x}.5/32] }]\n`);
    const pair = derivedVethPair(c, 0);
    const p = await tbx(['prepare', '--no-doctor', '--manifest', m, '--target', target]);
    expect(p.code).toBe(0);
    expect(p.stderr).toContain(`warning[OCI_BOTH_NET_TWICE]: ${c}: runtime both with a veth: S40thunderbox-net makes the OCI bundle's veth at boot, and liblxc cannot make the LXC container's when Thunder starts it through its LXC backend: the host end ${pair} is there already, and the start fails ("Failed to create veth pair")`);
    expect((await tbx(['net', 'render', '--manifest', m, '--target', target, '-q'])).code).toBe(0);
    const init = path.join(target, 'etc/init.d/S40thunderbox-net');
    const testNs = `tbx${randomBytes(4).toString('hex')}`;
    const inNs = (cmd: string[]) => run(['nsenter', `--net=/run/netns/${testNs}`, '--', ...cmd]);
    await execa('ip', ['netns', 'add', testNs]);
    const s39 = path.join(target, `etc/init.d/S39thunderbox-userns-${c}`);
    try {
      // as at boot: the bundle's namespaces (S39), then its veth (S40)
      expect((await inNs(['sh', s39, 'start'])).code).toBe(0);
      expect(await inNs(['sh', init, 'start'])).toMatchObject({ code: 0, stderr: '' });
      const l = await run(['ip', 'netns', 'exec', testNs, 'env', 'MESSAGE_DISPATCHER_CONFIG=x', process.execPath, BIN, 'try', '--host', c, '--target', target, '-q', '--', '/bin/sh', '-c', 'echo ran']);
      expect(l.code).not.toBe(0);
      expect(l.stdout).not.toContain('ran');
      expect(l.stderr).toContain(`File exists - Failed to create veth pair "${pair}"`);
    } finally {
      await inNs(['sh', init, 'stop']);
      await inNs(['sh', s39, 'stop']);
      for (const n of [testNs, `tbx-${c}`]) if (fs.existsSync(`/run/netns/${n}`)) await execa('ip', ['netns', 'del', n], { reject: false });
    }
  }, 60_000);
});
