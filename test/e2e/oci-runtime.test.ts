import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { capMask, ociCapabilities, COMMON_CONF_CAP_DROP } from '../../src/oci/config.js';
import { hostBoundingSet, startOciOnDevice, type OciRuntime, type OciStartRequest } from '../../src/oci/device-start.js';
import { THUNDER_ENVIRONMENT } from '../../src/thunder/environment.js';
import type { ArchiveEntry } from '../../src/rootfs/archive-writer.js';
import type { ContainerInput } from '../../src/profile/input.js';
import { busyboxRootfs, commClient, deviceImage, imageWithContainer } from '../helpers/device-image.js';
import { prepareIn } from '../helpers/prepare.js';
import { tmpDir } from '../helpers/tmp.js';
import { BIN, REPO, tbx } from '../helpers/cli.js';

// Real runc 1.1.5 and crun 1.8.1 starts of the bundle prepare writes (--runtime both), driven
// as Thunder's runc backend drives the image's /usr/bin/runc (src/oci/device-start.ts): create
// --no-new-keyring --bundle, exec --detach --env, delete --force. Every figure is read inside
// the container.

const cs = (p: string) => `${p}${randomBytes(3).toString('hex')}`;
const RUNTIMES: OciRuntime[] = ['runc', 'crun'];

/** A static probe: syncfs (denied by the test image's policy), open_by_handle_at (denied by LXC's). */
async function probeBinary(dir: string): Promise<Buffer> {
  const src = path.join(dir, 'probe.c');
  fs.writeFileSync(
    src,
    `#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "write-as-1000") == 0) {
    FILE *f;
    if (setgid(1000) != 0 || setuid(1000) != 0) { perror("setuid"); return 1; }
    f = fopen(argv[2], "w");
    if (!f) { perror(argv[2]); return 1; }
    fputs("hi\\n", f);
    return fclose(f) == 0 ? 0 : 1;
  }
  long r = syscall(SYS_syncfs, 0);
  printf("syncfs=%ld errno=%s\\n", r, r < 0 ? strerrorname_np(errno) : "none");
  r = syscall(SYS_open_by_handle_at, -1, 0, 0);
  printf("open_by_handle_at=%ld errno=%s\\n", r, r < 0 ? strerrorname_np(errno) : "none");
  return 0;
}
`,
  );
  const out = path.join(dir, 'probe');
  await execa('gcc', ['-static', '-O1', '-o', out, src]);
  return fs.readFileSync(out);
}

const T = 1700000000;

async function image(dir: string, callsign: string, input: ContainerInput, opts: { arch?: 'host' | 'armhf' } = {}) {
  const extra: ArchiveEntry[] = [];
  if (opts.arch !== 'armhf') {
    extra.push({ path: 'bin/probe', type: 'File', mode: 0o755, data: await probeBinary(dir), mtime: T });
    extra.push({ path: 'bin/comm-client', type: 'File', mode: 0o755, data: await commClient(dir), mtime: T });
  }
  const r = await imageWithContainer(dir, callsign, { runtime: 'both', ...input }, { ...opts, extra });
  return r;
}

/** The test image's policy: LXC's, plus syncfs (which never fails otherwise) denied with EPERM. */
function denySyncfs(target: string): void {
  const f = path.join(target, 'usr/share/lxc/config/common.seccomp');
  fs.appendFileSync(f, 'syncfs errno 1\n');
}

async function start(over: Partial<OciStartRequest> & Pick<OciStartRequest, 'target' | 'bundle' | 'callsign' | 'runtime' | 'command'>) {
  const engineTmp = tmpDir('tbx-engine-tmp-');
  process.env.TMPDIR = engineTmp;
  try {
    const r = await startOciOnDevice({ env: { ...THUNDER_ENVIRONMENT }, timeoutMs: 20_000, ...over });
    if (process.env.TBX_DEBUG) console.log(JSON.stringify(r, null, 1));
    expect(fs.readdirSync(engineTmp)).toEqual([]);
    // nor its cgroup, in any hierarchy
    expect(fs.readdirSync('/sys/fs/cgroup').filter((h) => fs.existsSync(path.join('/sys/fs/cgroup', h, 'thunderbox', over.callsign)))).toEqual([]);
    return r;
  } finally {
    delete process.env.TMPDIR;
  }
}

const REPORT = 'cat /proc/self/uid_map; grep -E "^(Seccomp|CapBnd):" /proc/self/status; echo "host=$(hostname) md=$MESSAGE_DISPATCHER_CONFIG cc=$COMMUNICATOR_CONNECTOR"; probe';

describe.each(RUNTIMES)('%s: the bundle prepare writes, started as Thunder starts it', (runtime) => {
  it('privileged: root map, LXC\'s capability set, seccomp mode 2 with LXC\'s profile, Thunder\'s variables through --env', async () => {
    const dir = tmpDir();
    const c = cs('OciPriv');
    const { target, lxcpath } = await image(dir, c, { idmap: { kind: 'none' }, environment: [{ name: 'COMMUNICATOR_CONNECTOR' }] });
    const r = await start({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime, command: ['sh', '-c', REPORT] });
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ started: true, runtimeSource: 'lent', logPath: `/tmp/${c}/${c}/runc.container.log` });
    expect(r.output).toMatch(/^\s+0\s+0\s+4294967295$/m);
    expect(r.output).toContain('Seccomp:\t2');
    // LXC's set: all less common.conf's drops, less what this host itself lacks (the start says which)
    const bnd = /CapBnd:\t([0-9a-f]+)/.exec(r.output)?.[1];
    expect(BigInt(`0x${bnd}`)).toBe(capMask(ociCapabilities(COMMON_CONF_CAP_DROP)) & hostBoundingSet());
    if ((capMask(ociCapabilities(COMMON_CONF_CAP_DROP)) & ~hostBoundingSet()) !== 0n) expect(r.notes.join(' ')).toMatch(/this build host lacks CAP_/);
    expect(r.output).toContain(`host=${c} md=${THUNDER_ENVIRONMENT.MESSAGE_DISPATCHER_CONFIG} cc=${THUNDER_ENVIRONMENT.COMMUNICATOR_CONNECTOR}`);
    // privileged, with CAP_DAC_READ_SEARCH: only the filter makes this EPERM (EBADF without it)
    expect(r.output).toContain('open_by_handle_at=-1 errno=EPERM');
    expect(r.calls.map((x) => x.argv.slice(3, 5))).toEqual([['create', '--no-new-keyring'], ['exec', '--detach'], ['delete', '--force']]);
  }, 120_000);

  it('unprivileged: 0 100000 65536, a file of container uid 1000 in a shared folder is host uid 1000\'s, the communicator under /tmp answers, the image\'s policy denies syncfs', async () => {
    const dir = tmpDir();
    const c = cs('OciUser');
    // the shared folder lives in the device's /tmp, a directory of this host during the start
    // (the rest of the device's root is an overlay whose writes go with it)
    const share = `/tmp/share-${c}`;
    const input: ContainerInput = { share: [{ uid: 1000, gid: 1000 }], mounts: [{ host: share, path: 'shared', rw: true, optional: false, mode: 0o770, owner: { uid: 1000, gid: 1000 } }] };
    const { target, lxcpath } = await image(dir, c, input);
    // the policy is read at prepare: deny syncfs in the image's, and the next prepare (no --force) writes config.json again
    denySyncfs(target);
    const again = await prepareIn(target, c, { rootfs: path.join(dir, 'rootfs.tar'), runtime: 'both', ...input });
    expect(again.reports[0]!.status).toBe('replace');
    const deviceTmp = path.join(dir, 'device-tmp');
    fs.mkdirSync(deviceTmp, { mode: 0o1777 });
    fs.chmodSync(deviceTmp, 0o1777);
    // as prepare made it in the image (mode 0770, host owner 1000:1000 through the hole in the map)
    const st = fs.statSync(path.join(target, share.slice(1)));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1000, 0o770]);
    fs.mkdirSync(path.join(deviceTmp, `share-${c}`), { mode: 0o770 });
    fs.chownSync(path.join(deviceTmp, `share-${c}`), 1000, 1000);
    const r = await start({
      target,
      bundle: `${lxcpath}/Container`,
      callsign: c,
      runtime,
      deviceTmp,
      communicator: true,
      command: ['sh', '-c', `${REPORT}; probe write-as-1000 /shared/by-1000 && echo wrote; comm-client /tmp/communicator ping-${c}; grep '^sysfs /sys ' /proc/mounts`],
    });
    expect(r.error).toBeUndefined();
    expect(r.started).toBe(true);
    expect(r.output).toMatch(/^\s+0\s+100000\s+1000$/m);
    expect(r.output).toMatch(/^\s+1000\s+1000\s+1$/m);
    expect(r.output).toContain('Seccomp:\t2');
    expect(r.output).toContain('syncfs=-1 errno=EPERM');
    expect(r.output).toContain('wrote\n');
    expect(r.output).toContain(`ping-${c}`);
    expect(r.communicator?.connected).toBe(true);
    // its own sysfs: the user namespace it joins owns its network namespace
    expect(r.output).toMatch(/^sysfs \/sys sysfs ro,/m);
    const f = fs.statSync(path.join(deviceTmp, `share-${c}`, 'by-1000'));
    expect([f.uid, f.gid]).toEqual([1000, 1000]);
  }, 120_000);

  it('unprivileged, --seccomp off: no filter (Seccomp 0, syncfs works), the whole map 0 100000 65536', async () => {
    const dir = tmpDir();
    const c = cs('OciNoSec');
    const { target, lxcpath } = await image(dir, c, { seccomp: 'off' });
    denySyncfs(target);
    const r = await start({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime, command: ['sh', '-c', REPORT] });
    expect(r.error).toBeUndefined();
    expect(r.output).toMatch(/^\s+0\s+100000\s+65536$/m);
    expect(r.output).toContain('Seccomp:\t0');
    expect(r.output).toContain('syncfs=0 errno=none');
  }, 120_000);
});

describe('a map of many lines', () => {
  it('60 shared ids (121 lines, over 1 KiB): the boot script writes it in one write (printf alone writes 1 KiB at a time), runc starts with all of it', async () => {
    const dir = tmpDir();
    const c = cs('OciMap');
    const share = Array.from({ length: 60 }, (_, i) => ({ uid: 2000 + i * 10, gid: 2000 + i * 10 }));
    const { target, lxcpath } = await image(dir, c, { share });
    const script = fs.readFileSync(path.join(target, `etc/init.d/S39thunderbox-userns-${c}`), 'utf8');
    const line = script.split('\n').find((l) => l.includes('/proc/$pid/uid_map'))!;
    expect(line.length).toBeGreaterThan(1024);
    const r = await start({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime: 'runc', command: ['sh', '-c', 'wc -l < /proc/self/uid_map; wc -l < /proc/self/gid_map; grep -c " 2590 " /proc/self/uid_map'] });
    expect(r.error).toBeUndefined();
    expect(r.output.trim().split(/\s+/)).toEqual(['121', '121', '1']);
  }, 60_000);
});

describe('a fixed environment entry beside the inherited ones', () => {
  it('runc adds --env to config.json\'s process.env (as Thunder runs it); crun 1.8.1 replaces it, and the start says so', async () => {
    const dir = tmpDir();
    const c = cs('OciEnv');
    const { target, lxcpath } = await image(dir, c, { environment: [{ name: 'LOG_LEVEL', value: '3' }, { name: 'NOT_IN_THUNDER' }] });
    // a name Thunder does not have stays as written under runc: the doctor warns (the LXC side refuses it)
    const d = JSON.parse((await tbx(['doctor', c, '--target', target, '--json'])).stdout) as { findings: { code: string; severity: string; message: string; line: number | null }[] };
    const w = d.findings.find((x) => x.code === 'OCI_ENV_NOT_IN_THUNDER')!;
    expect(w).toMatchObject({ severity: 'warning', line: expect.any(Number) });
    expect(w.message).toContain('the container gets NOT_IN_THUNDER as written, the literal "$NOT_IN_THUNDER"');
    for (const runtime of RUNTIMES) {
      const r = await start({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime, command: ['sh', '-c', 'echo "level=${LOG_LEVEL:-unset} md=$MESSAGE_DISPATCHER_CONFIG nit=[$NOT_IN_THUNDER]"'] });
      if (runtime === 'runc') expect(r.output).toContain('nit=[$NOT_IN_THUNDER]');
      expect(r.error).toBeUndefined();
      expect(r.output).toContain(`md=${THUNDER_ENVIRONMENT.MESSAGE_DISPATCHER_CONFIG}`);
      const note = r.notes.find((n) => n.startsWith("crun 1.8.1's exec --env replaces config.json's process.env, so LOG_LEVEL is not in this start"));
      if (runtime === 'runc') {
        expect(r.output).toContain('level=3 ');
        expect(note).toBeUndefined();
      } else {
        expect(r.output).toContain('level=unset ');
        expect(note).toBeDefined();
      }
    }
  }, 120_000);
});

describe('limits', () => {
  it.each(RUNTIMES)('%s: the manifest\'s memory and pids limits are the container\'s cgroup\'s; nofile its rlimit under runc', async (runtime) => {
    const dir = tmpDir();
    const c = cs('OciLim');
    const { target, lxcpath } = await image(dir, c, { idmap: { kind: 'none' }, limits: { memory: '64M', pids: 64, nofile: 2048 } });
    const r = await start({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime, command: ['sh', '-c', 'echo "nofile=$(ulimit -n) hard=$(ulimit -Hn)"; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max'] });
    expect(r.error).toBeUndefined();
    expect(r.output).toContain(`${64 * 1024 * 1024}\n64\n`);
    // measured: runc exec gives the exec'd process the bundle's process.rlimits; crun 1.8.1's
    // exec does not (the process keeps the caller's), only its init would have them
    if (runtime === 'runc') expect(r.output).toContain('nofile=2048 hard=2048\n');
    else expect(r.output).not.toContain('nofile=2048 hard=2048\n');
  }, 120_000);
});

describe('the bundle does not start', () => {
  it('empty process.args: runc\'s own words, nothing left behind', async () => {
    const dir = tmpDir();
    const c = cs('OciBad');
    const { target, lxcpath } = await image(dir, c, { idmap: { kind: 'none' } });
    const file = path.join(target, lxcpath.slice(1), 'Container', 'config.json');
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as { process: { args: string[] } };
    cfg.process.args = [];
    fs.writeFileSync(file, JSON.stringify(cfg));
    const r = await start({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime: 'runc', command: ['sh', '-c', 'echo ran'] });
    expect(r.started).toBe(false);
    expect(r.error).toMatch(/runc create failed .*args must not be empty/);
    expect(r.output).not.toContain('ran\n');
  }, 120_000);
});

describe.each(RUNTIMES)('armhf rootfs under qemu-user: %s', (runtime) => {
  it('the runtime (lent, x86_64) starts the armhf busybox unprivileged, in the user namespace its boot script makes', async () => {
    const dir = tmpDir();
    const c = cs('OciArm');
    const { target, lxcpath } = await image(dir, c, {}, { arch: 'armhf' });
    const cfg = JSON.parse(fs.readFileSync(path.join(target, lxcpath.slice(1), 'Container', 'config.json'), 'utf8')) as { linux: { seccomp: { architectures: string[] } } };
    expect(cfg.linux.seccomp.architectures).toEqual(['SCMP_ARCH_ARM']);
    const r = await start({ target, bundle: `${lxcpath}/Container`, callsign: c, runtime, command: ['sh', '-c', 'uname -m; cat /proc/self/uid_map'] });
    expect(r.error).toBeUndefined();
    expect(r.notes.join('\n')).toContain(`/etc/init.d/S39thunderbox-userns-${c}: qemu-user cannot make a user namespace`);
    expect(r.notes.join('\n')).toContain("the image runs through qemu-user here: config.json's seccomp filter is for the container's architecture");
    expect(r.output).toMatch(/^armv7l$/m);
    expect(r.output).toMatch(/^\s+0\s+100000\s+65536$/m);
  }, 120_000);
});

describe('thunderbox try --runtime runc', () => {
  it('finds the bundle where Thunder\'s runc backend looks, starts it, says whose runc ran; a broken bundle: exit 1 and runc\'s words', async () => {
    const dir = tmpDir();
    const c = cs('OciTry');
    const { target, lxcpath } = await image(dir, c, {});
    const ok = await tbx(['try', c, '--target', target, '--runtime', 'runc', '--', 'sh', '-c', 'echo "in $(hostname)"; cat /proc/self/uid_map']);
    expect(ok.stderr).toContain(`thunderbox: ${c}: bundle ${lxcpath}/Container (runc)`);
    expect(ok.stderr).toContain('note[TRY_RUNTIME_LENT]: runc: the image has no /usr/bin/runc');
    expect(ok.stdout).toContain(`in ${c}\n`);
    expect(ok.stdout).toMatch(/^\s+0\s+100000\s+65536$/m);
    expect(ok.code).toBe(0);
    const file = path.join(target, lxcpath.slice(1), 'Container', 'config.json');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"terminal": false', '"terminal": true'));
    const bad = await tbx(['try', c, '--target', target, '--runtime', 'runc', '--json', '--', 'sh', '-c', 'echo ran']);
    expect(bad.code).toBe(1);
    const doc = JSON.parse(bad.stdout) as { started: boolean; error: string; output: string };
    expect(doc.started).toBe(false);
    expect(doc.error).toMatch(/cannot allocate tty if runc will detach without setting console socket/);
    expect(doc.output).not.toContain('ran\n');
  }, 120_000);
});

describe.each(RUNTIMES)('thunderbox try --runtime %s stops what does not end', (runtime) => {
  it('--timeout: the command is killed at the limit (exit 124), its output seen as it comes; a TERM stops it too (143); nothing is left, no cgroup, no container', async () => {
    const dir = tmpDir();
    const c = cs('OciStop');
    const { target } = await image(dir, c, {});
    const t0 = Date.now();
    const r = await tbx(['try', c, '--target', target, '--runtime', runtime, '--timeout', '3', '--', 'sh', '-c', 'echo begun; sleep 20; echo ended']);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.code).toBe(124);
    expect(r.stdout).toMatch(/^begun$/m);
    expect(r.stdout).not.toContain('ended');
    expect(r.stderr).toContain('was stopped after 3 s (--timeout)');
    // a TERM while it runs: the command and the container go, then thunderbox exits 143
    const p = execa(process.execPath, [BIN, 'try', c, '--target', target, '--runtime', runtime, '--', 'sh', '-c', 'echo begun; sleep 61'], { reject: false, env: { MESSAGE_DISPATCHER_CONFIG: 'x' } });
    await new Promise<void>((resolve) => p.stdout!.on('data', (b: Buffer) => b.toString().includes('begun') && resolve()));
    const t1 = Date.now();
    p.kill('SIGTERM');
    const done = await p;
    expect(done.exitCode).toBe(143);
    expect(Date.now() - t1).toBeLessThan(10_000);
    expect(fs.readdirSync('/sys/fs/cgroup').filter((h) => fs.existsSync(path.join('/sys/fs/cgroup', h, 'thunderbox', c)))).toEqual([]);
    expect((await execa('pgrep', ['-f', `sleep 61`], { reject: false })).stdout.split('\n').filter(Boolean).filter((pid) => { try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sleep\x0061'); } catch { return false; } })).toEqual([]);
  }, 120_000);
});

describe('thunderbox try --runtime of a networked bundle: the namespaces the device makes at boot, made in its root', () => {
  it('privileged: an empty stand-in for the network namespace S40thunderbox-net makes; unprivileged: the image\'s S39 script makes both (runc and crun); each says try makes no veths', async () => {
    const dir = tmpDir();
    const [p, u] = [cs('TryNetP'), cs('TryNetU')];
    const target = await deviceImage(dir);
    const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'), { extra: [{ path: 'bin/ip', type: 'SymbolicLink', linkpath: 'busybox', mtime: T }] });
    const m = path.join(dir, 'thunderbox.yaml');
    const veth = '[{ type: veth, link: tbxbr0, ipv4: auto }]';
    fs.writeFileSync(m, `networks:\n  tbxbr0: { ipv4: 198.18.7.1/24 }\ncontainers:\n  ${p}:\n    rootfs: ${rootfs}\n    runtime: runc\n    idmap: none\n    plugin-json: false\n    net: ${veth}\n  ${u}:\n    rootfs: ${rootfs}\n    runtime: runc\n    plugin-json: false\n    net: ${veth}\n`);
    const pr = await tbx(['prepare', '--no-doctor', '--manifest', m, '--target', target, '-q']);
    expect(pr.stderr).not.toContain('error[');
    expect(pr.code).toBe(0);
    for (const [c, runtime] of [[p, 'runc'], [u, 'runc'], [u, 'crun']] as const) {
      const r = await tbx(['try', c, '--target', target, '--runtime', runtime, '--classname', c, '--', 'sh', '-c', 'cat /proc/self/uid_map; ip -o link']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/m);
      expect(r.stdout).not.toContain('eth0');
      if (c === p) {
        expect(r.stdout).toMatch(/^\s+0\s+0\s+4294967295$/m);
        expect(r.stderr).toContain(`/var/run/netns/tbx-${p}: the device's S40thunderbox-net makes this network namespace at boot, with its veths; this start joins an empty one (loopback only)`);
      } else {
        expect(r.stdout).toMatch(/^\s+0\s+100000\s+65536$/m);
        expect(r.stderr).toContain(`/var/run/netns/tbx-${u}: made by the image's boot script; the device's S40thunderbox-net gives it its veths at boot, which try does not make on this host (loopback only)`);
      }
    }
    // the stand-ins are gone (named tbx-try-<pid of the start>-...: none of a start that has
    // ended is left; other tests' running starts may have theirs)
    const alive = (pid: string) => fs.existsSync(`/proc/${pid}`);
    expect(fs.readdirSync('/run/netns').filter((n) => /^tbx-try-(\d+)-/.test(n) && !alive(/^tbx-try-(\d+)-/.exec(n)![1]!))).toEqual([]);
  }, 120_000);
});

describe('OCI networking: the namespaces S40thunderbox-net makes at boot', () => {
  it('two runc containers on one bridge ping each other and the gateway, through the generated init script\'s namespaces (in a test namespace, 198.18.0.0/15); stop removes them', async () => {
    const dir = tmpDir();
    const hex = randomBytes(2).toString('hex');
    const [a, b] = [cs('NetA'), cs('NetB')];
    const br = `tbxo${hex}`;
    const net = 100 + (parseInt(hex, 16) % 100);
    const target = await deviceImage(dir);
    fs.mkdirSync(path.join(target, 'var/run'), { recursive: true });
    const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'), { extra: [{ path: 'bin/ip', type: 'SymbolicLink', linkpath: 'busybox', mtime: T }] });
    const m = path.join(dir, 'thunderbox.yaml');
    const veth = `[{ type: veth, link: ${br}, ipv4: auto, gateway: auto }]`;
    fs.writeFileSync(m, `networks:\n  ${br}: { ipv4: 198.18.${net}.1/24 }\ncontainers:\n  ${a}:\n    rootfs: ${rootfs}\n    runtime: runc\n    idmap: none\n    plugin-json: false\n    net: ${veth}\n  ${b}:\n    rootfs: ${rootfs}\n    runtime: runc\n    idmap: none\n    plugin-json: false\n    net: ${veth}\n`);
    const p = await tbx(['prepare', '--no-doctor', '--manifest', m, '--target', target, '-q']);
    expect(p.stderr).toBe('');
    expect((await tbx(['net', 'render', '--manifest', m, '--target', target, '-q'])).code).toBe(0);
    for (const c of [a, b]) {
      const cfg = JSON.parse(fs.readFileSync(path.join(target, 'usr/share/Thunder', c, 'Container/config.json'), 'utf8')) as { linux: { namespaces: { type: string; path?: string }[] } };
      expect(cfg.linux.namespaces.find((n) => n.type === 'network')).toEqual({ type: 'network', path: `/var/run/netns/tbx-${c}` });
    }
    const init = path.join(target, 'etc/init.d/S40thunderbox-net');
    expect((await execa('shellcheck', ['-s', 'sh', init], { reject: false })).stdout).toBe('');
    const testNs = `tbx${randomBytes(4).toString('hex')}`;
    // nsenter --net, not ip netns exec: the latter's mount namespace would keep the namespaces
    // the script makes (ip netns add mounts them under /run/netns) from this host's, where runc looks
    const inNs = (cmd: string[]) => execa('nsenter', [`--net=/run/netns/${testNs}`, '--', ...cmd], { reject: false });
    let u = '';
    await execa('ip', ['netns', 'add', testNs]);
    try {
      await inNs(['ip', 'link', 'set', 'lo', 'up']);
      const up = await inNs(['sh', init, 'start']);
      expect(up.stderr).toBe('');
      expect((await inNs(['sh', init, 'start'])).exitCode).toBe(0); // twice: nothing added twice
      const ips = { [a]: `198.18.${net}.2`, [b]: `198.18.${net}.3` };
      for (const [self, other] of [[a, b], [b, a]] as const) {
        const r = await start({ target, bundle: `/usr/share/Thunder/${self}/Container`, callsign: self, runtime: 'runc', netns: [`tbx-${a}`, `tbx-${b}`], command: ['sh', '-c', `ip -4 addr show dev eth0; ping -c1 -W2 ${ips[other]} && ping -c1 -W2 198.18.${net}.1`] });
        expect(r.error).toBeUndefined();
        expect(r.output).toContain(`inet ${ips[self]}/24`);
        expect(r.output).toContain(`64 bytes from ${ips[other]}`);
        expect(r.output).toContain(`64 bytes from 198.18.${net}.1`);
      }
      // unprivileged, on the same bridge: its user namespace and the network namespace in it come
      // from its own boot script (S39, before S40); runc and crun exec enter both
      u = cs('NetU');
      fs.writeFileSync(m, `${fs.readFileSync(m, 'utf8')}  ${u}:\n    rootfs: ${rootfs}\n    runtime: both\n    plugin-json: false\n    net: ${veth}\n`);
      const pu = await tbx(['prepare', u, '--no-doctor', '--manifest', m, '--target', target]);
      // runtime both and a veth: the LXC start would make a second one, same MAC and address
      expect(pu.stderr.match(/warning\[OCI_\w+\]/g)).toEqual(['warning[OCI_BOTH_NET_TWICE]']);
      expect(pu.stderr).toContain(`warning[OCI_BOTH_NET_TWICE]: ${u}: runtime both with a veth: S40thunderbox-net makes the OCI bundle's veth at boot, and liblxc makes the LXC container's when Thunder starts it, with the same MAC and address on ${br}`);
      const cfgU = JSON.parse(fs.readFileSync(path.join(target, 'usr/share/Thunder', u, 'Container/config.json'), 'utf8')) as { linux: { namespaces: { type: string; path?: string }[] } };
      expect(cfgU.linux.namespaces.filter((n) => n.path)).toEqual([{ type: 'network', path: `/var/run/netns/tbx-${u}` }, { type: 'user', path: `/var/run/thunderbox/userns/tbx-${u}` }]);
      const s39 = path.join(target, `etc/init.d/S39thunderbox-userns-${u}`);
      expect((await execa('shellcheck', ['-s', 'sh', s39], { reject: false })).stdout).toBe('');
      expect((await tbx(['net', 'render', '--manifest', m, '--target', target, '-q'])).code).toBe(0);
      // a file left at the path without its mount (a /var/run that is not a tmpfs, rebooted): made again
      fs.mkdirSync('/run/thunderbox/userns', { recursive: true });
      fs.writeFileSync(`/run/thunderbox/userns/tbx-${u}`, '');
      expect(await inNs(['sh', s39, 'start'])).toMatchObject({ exitCode: 0, stderr: '' });
      const nsfs = () => fs.readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(`/tbx-${u} nsfs `));
      expect(nsfs().length).toBe(2);
      expect((await inNs(['sh', s39, 'start'])).exitCode).toBe(0); // twice: made once
      expect(nsfs().length).toBe(2);
      expect(await inNs(['sh', init, 'start'])).toMatchObject({ exitCode: 0, stderr: '' });
      const ipU = `198.18.${net}.4`;
      for (const runtime of ['runc', 'crun'] as const) {
        const ru = await start({ target, bundle: `/usr/share/Thunder/${u}/Container`, callsign: u, runtime, netns: [`tbx-${u}`], userns: [`tbx-${u}`], command: ['sh', '-c', `cat /proc/self/uid_map; ip -4 addr show dev eth0; ping -c1 -W2 ${ips[a]} && ping -c1 -W2 198.18.${net}.1`] });
        expect(ru.error).toBeUndefined();
        expect(ru.output).toMatch(/^\s+0\s+100000\s+65536$/m);
        expect(ru.output).toContain(`inet ${ipU}/24`);
        expect(ru.output).toContain(`64 bytes from ${ips[a]}`);
        expect(ru.output).toContain(`64 bytes from 198.18.${net}.1`);
      }
      // S40thunderbox-net restarted on the running device: the namespace stays the S39 script's
      // (an ip netns add one belongs to the device's user namespace: runc create "can't get final
      // child's PID from pipe: EOF"), its veth is made again
      expect(await inNs(['sh', init, 'restart'])).toMatchObject({ exitCode: 0, stderr: '' });
      const re = await start({ target, bundle: `/usr/share/Thunder/${u}/Container`, callsign: u, runtime: 'runc', netns: [`tbx-${u}`], userns: [`tbx-${u}`], command: ['sh', '-c', `ip -4 addr show dev eth0; ping -c1 -W2 ${ips[a]}`] });
      expect(re.error).toBeUndefined();
      expect(re.output).toContain(`inet ${ipU}/24`);
      expect(re.output).toContain(`64 bytes from ${ips[a]}`);
      expect((await inNs(['sh', s39, 'stop'])).exitCode).toBe(0);
      expect(fs.existsSync(`/run/thunderbox/userns/tbx-${u}`)).toBe(false);
      // without it, S40thunderbox-net makes no namespace of its own for it, and says why
      const lone = await inNs(['sh', init, 'start']);
      expect(lone.stderr).toContain(`/var/run/netns/tbx-${u} is not there: /etc/init.d/S39thunderbox-userns-${u} start makes it, before this script`);
      expect(fs.existsSync(`/run/netns/tbx-${u}`)).toBe(false);
      expect((await inNs(['sh', init, 'stop'])).exitCode).toBe(0);
      expect(fs.existsSync(`/run/netns/tbx-${u}`)).toBe(false);
      expect(fs.existsSync(`/run/netns/tbx-${a}`) || fs.existsSync(`/run/netns/tbx-${b}`)).toBe(false);
    } finally {
      await inNs(['sh', init, 'stop']);
      if (u !== '') await inNs(['sh', path.join(target, `etc/init.d/S39thunderbox-userns-${u}`), 'stop']);
      for (const n of fs.readdirSync('/run/netns').filter((x) => x === testNs || [a, b, u].some((c) => c !== '' && x === `tbx-${c}`))) await execa('ip', ['netns', 'del', n], { reject: false });
    }
  }, 120_000);
});

describe('the boot scripts of neighbours', () => {
  it('X and X.map: a restart of X works while X.map\'s namespace is mounted (its maps went through $USERNS.map, that mount); a network namespace gone under a made user namespace is made again, inside it; a restart after a privileged neighbour\'s ip netns add frees the old one', async () => {
    const dir = tmpDir();
    const x = cs('OciNb');
    const n = cs('OciNbNet');
    const target = await deviceImage(dir);
    const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'));
    for (const [c, more] of [[x, []], [`${x}.map`, []], [n, ['--net', 'veth', '--link', 'tbxbr0']]] as const) {
      expect((await tbx(['prepare', c, rootfs, '--target', target, '--runtime', 'runc', '--no-plugin-json', '--classname', c.replace('.', ''), '--no-doctor', '-q', ...more])).code).toBe(0);
    }
    const s39 = (c: string) => path.join(target, `etc/init.d/S39thunderbox-userns-${c}`);
    const sh = `${target}/bin/busybox sh`;
    // as on the device: a /run of its own (a tmpfs), the image's BusyBox shell
    const steps = [
      `mount -t tmpfs tbx-run /run`,
      `${sh} ${s39(x)} start`, `${sh} ${s39(`${x}.map`)} start`, `${sh} ${s39(n)} start`,
      `${sh} ${s39(x)} restart`,
      `umount /run/netns/tbx-${n}`, `rm /run/netns/tbx-${n}`,
      `${sh} ${s39(n)} start`,
      // a privileged neighbour's ip netns add (S40thunderbox-net) binds /run/netns over itself:
      // a restart then removes the file (not busy) and leaves one namespace mounted there
      `ip netns add tbx-${cs('Priv')}`,
      `${sh} ${s39(n)} restart`,
      `test "$(grep -c ' /run/netns/tbx-${n} nsfs ' /proc/mounts)" = 1`,
      `nsenter --user=/run/thunderbox/userns/tbx-${x}.map true`,
      `nsenter --user=/run/thunderbox/userns/tbx-${x} true`,
      // the container's root owns the network namespace made again: it can bring lo up
      `nsenter --user=/run/thunderbox/userns/tbx-${n} --net=/run/netns/tbx-${n} ip link set lo up`,
      `echo all-done`,
    ];
    const r = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', steps.join(' && ')], { reject: false });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('all-done');
    expect(r.exitCode).toBe(0);
  }, 60_000);
});

describe('prepare writes the boot script of an unprivileged bundle', () => {
  it('in the plan and its --dry-run, 0755 under umask 077, the same bytes again (SOURCE_DATE_EPOCH), kept when nothing changed; none for a privileged one', async () => {
    const dir = tmpDir();
    const c = cs('OciBoot');
    const p = cs('OciPriv');
    const target = await deviceImage(dir);
    const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'));
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const script = path.join(target, `etc/init.d/S39thunderbox-userns-${c}`);
    const dry = await tbx(['prepare', c, rootfs, '--target', target, '--runtime', 'both', '--share-uid', '1000', '--no-doctor', '--no-plugin-json', '--classname', 'Probe', '--dry-run'], { env });
    expect(dry.stderr).not.toContain("error[");
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`${c}: the user namespace its OCI bundle joins, made at boot (/etc/init.d/S39thunderbox-userns-${c})`);
    expect(fs.existsSync(script)).toBe(false);
    const run = () => execa('sh', ['-c', `umask 077; exec "$0" "$@"`, process.execPath, BIN, 'prepare', c, rootfs, '--target', target, '--runtime', 'both', '--share-uid', '1000', '--no-doctor', '--no-plugin-json', '--classname', 'Probe', '-q'], { reject: false, env: { ...process.env, ...env } });
    expect((await run()).exitCode).toBe(0);
    const st = fs.statSync(script);
    expect([st.mode & 0o7777, st.mtimeMs / 1000]).toEqual([0o755, 1700000000]);
    const text = fs.readFileSync(script, 'utf8');
    expect(text.split('\n')[1]).toBe(`# Generated by thunderbox ${JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version} for ${c}'s OCI bundle: prepare it again, do not edit.`);
    // the maps, hole for 1000 included, as config.json has them
    expect(text).toContain("printf '%s\\n' '0 100000 1000' '1000 1000 1' '1001 101001 64535' > \"$map\" && cat \"$map\" > /proc/$pid/uid_map");
    const cfg = JSON.parse(fs.readFileSync(path.join(target, 'usr/share/Thunder/Probe/Container/config.json'), 'utf8')) as { linux: { uidMappings: unknown[] } };
    expect(cfg.linux.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 1000 }, { containerID: 1000, hostID: 1000, size: 1 }, { containerID: 1001, hostID: 101001, size: 64535 }]);
    expect((await execa('shellcheck', ['-s', 'sh', script], { reject: false })).stdout).toBe('');
    fs.rmSync(script);
    expect((await run()).exitCode).toBe(0);
    expect(fs.readFileSync(script, 'utf8')).toBe(text);
    const again = await tbx(['prepare', c, rootfs, '--target', target, '--runtime', 'both', '--share-uid', '1000', '--no-doctor', '--no-plugin-json', '--classname', 'Probe', '--dry-run'], { env });
    expect(again.stdout).not.toContain('made at boot (/etc/init.d/S39');
    expect((await tbx(['prepare', p, rootfs, '--target', target, '--runtime', 'runc', '--idmap', 'none', '--no-doctor', '--no-plugin-json', '--classname', 'Other', '-q'], { env })).code).toBe(0);
    expect(fs.existsSync(path.join(target, `etc/init.d/S39thunderbox-userns-${p}`))).toBe(false);
    // c made privileged: its script is left, and said to be
    const priv = await tbx(['prepare', c, rootfs, '--target', target, '--runtime', 'both', '--idmap', 'none', '--no-doctor', '--no-plugin-json', '--classname', 'Probe'], { env });
    expect(priv.code).toBe(0);
    expect(priv.stderr).toContain(`warning[OCI_USERNS_SCRIPT_STALE]: ${c}: /etc/init.d/S39thunderbox-userns-${c}, which an earlier prepare wrote for an unprivileged OCI bundle, is still in the image`);
    // and the doctor says it too, until it is removed
    const stale = async () => (JSON.parse((await tbx(['doctor', c, '--target', target, '--classname', 'Probe', '--json'])).stdout) as { findings: { code: string; severity: string }[] }).findings.filter((x) => x.code === 'OCI_USERNS_SCRIPT_STALE').map((x) => x.severity);
    expect(await stale()).toEqual(['warning']);
    fs.rmSync(script);
    expect(await stale()).toEqual([]);
  }, 120_000);
});
