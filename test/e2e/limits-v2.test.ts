import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ociLimits } from '../../src/oci/limits.js';
import { resolveLimits } from '../../src/profile/limits.js';
import { THUNDER_ENVIRONMENT } from '../../src/thunder/environment.js';
import { REPO, tbx } from '../helpers/cli.js';
import { writeCpio } from '../helpers/cpio.js';
import { busyboxRootfs, deviceImage } from '../helpers/device-image.js';
import { limitPrograms } from '../helpers/limit-programs.js';
import { tmpDir } from '../helpers/tmp.js';

// The cgroup v2 keys (lxc.cgroup2.*) started for real. This host's controllers are all on
// cgroup v1, so the test boots Debian's kernel (test/.cache/vmlinuz, scripts/test-host-setup.sh)
// under qemu-system-x86_64 in software emulation, with an initramfs that is the device image:
// thunderbox prepares the container in it from a manifest (the image has Buildroot's
// cgroupfs-v2-mount init script, so the v2 keys are chosen from it), and the image carries
// this host's lxc-start with its libraries (ldd). Its /init mounts the unified hierarchy,
// enables the controllers for children, and starts the container as Thunder does
// (lxc-start -F with the command as init); the container prints what its cgroup says. Then
// runc and crun start OCI bundles with ociLimits' v2 rendering the same way.
// apparmor=0: Debian's kernel enables AppArmor, and this host's liblxc (built with it) refuses
// to start without its policy loaded; a Buildroot device has no AppArmor.

const KERNEL = path.join(REPO, 'test', '.cache', 'vmlinuz');

/** lxc-start, runc and crun, their libraries and their loader, at their real paths in the image. */
function lendRuntimes(target: string): void {
  const put = (host: string, at = host) => {
    const dst = path.join(target, at);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(fs.realpathSync(host), dst);
    fs.chmodSync(dst, 0o755);
  };
  for (const program of ['/usr/bin/lxc-start', '/usr/bin/runc', '/usr/bin/crun']) {
    put(program);
    const ldd = execFileSync('ldd', [program], { encoding: 'utf8' });
    for (const m of ldd.matchAll(/=>\s+(\/\S+)/g)) put(m[1]!);
    put(/^\s+(\/\S*ld-linux\S*)/m.exec(ldd)![1]!);
  }
  // liblxc's compiled-in mount point for the rootfs (LXCROOTFSMOUNT)
  fs.mkdirSync(path.join(target, 'usr/lib/x86_64-linux-gnu/lxc/rootfs'), { recursive: true });
}

// The runtimes run with --no-pivot: the root here is the initramfs, which pivot_root cannot
// leave (EINVAL); a device's root is a real filesystem.

/** An OCI bundle at <image>/oci/<name>: `runc spec`'s config.json with this process and these limits. */
async function ociBundle(target: string, name: string, progs: { alloc: Buffer }, script: string, limits: ReturnType<typeof ociLimits>): Promise<void> {
  const b = path.join(target, 'oci', name);
  const root = path.join(b, 'rootfs');
  for (const d of ['bin', 'usr/bin', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'cat', 'grep', 'echo']) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'usr/bin/alloc'), progs.alloc, { mode: 0o755 });
  await execa('runc', ['spec', '--bundle', b]);
  const file = path.join(b, 'config.json');
  const c = JSON.parse(fs.readFileSync(file, 'utf8'));
  c.process.terminal = false;
  c.process.args = ['/bin/sh', '-c', script];
  c.process.rlimits = limits.rlimits;
  c.linux.resources = { ...c.linux.resources, ...limits.resources };
  // a cgroup namespace: the container's /sys/fs/cgroup is then its own cgroup (runc spec has none)
  c.linux.namespaces.push({ type: 'cgroup' });
  fs.writeFileSync(file, JSON.stringify(c, null, 2));
}

const OCI_INSIDE = [
  'for f in memory.max memory.swap.max pids.max cpu.weight cpuset.cpus; do echo "$f $(cat /sys/fs/cgroup/$f)"; done',
  'echo "nofile $(ulimit -n) $(ulimit -Hn)"',
  '/usr/bin/alloc 64 >/dev/null; echo "big status $?"',
].join('; ');

// the console of lxc-start -F is not passed through here: the container writes to the device's
// /tmp (bound into it for Thunder's communicator), and /init prints it
const INSIDE = [
  'exec >/tmp/tbx-inside 2>&1',
  // liblxc has mounted the container's cgroup2 here (lxc.mount.auto = cgroup:mixed), unlike on v1
  'for f in memory.max memory.swap.max pids.max cpu.weight cpuset.cpus; do echo "$f $(cat /sys/fs/cgroup/$f)"; done',
  'echo "nofile $(ulimit -n) $(ulimit -Hn)"',
  'grep Cpus_allowed_list /proc/self/status',
  '/usr/bin/alloc 16 >/dev/null; echo "small status $?"',
  '/usr/bin/alloc 64 >/dev/null; echo "big status $?"',
  '/usr/bin/forker',
].join('; ');

function initScript(lxcpath: string, v1lxcpath: string): string {
  const env = Object.entries(THUNDER_ENVIRONMENT).map(([k, v]) => `export ${k}='${v}'`).join('\n');
  return `#!/bin/busybox sh
b=/bin/busybox
$b mount -t proc proc /proc
$b mount -t sysfs sysfs /sys
$b mount -t devtmpfs devtmpfs /dev
$b mkdir -p /dev/pts && $b mount -t devpts devpts /dev/pts
$b mount -t tmpfs run /run
$b mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+memory +pids +cpu +cpuset" > /sys/fs/cgroup/cgroup.subtree_control
echo "TBX host $($b cat /sys/fs/cgroup/cgroup.subtree_control) on $($b grep -o '^cgroup2 /sys/fs/cgroup cgroup2' /proc/mounts)"
${env}
/usr/bin/lxc-start -n Container -P ${lxcpath} -F -l DEBUG -o /run/lxc-start.log -- /bin/sh -c '${INSIDE}'
echo "TBX lxc-start exit $?"
$b sed 's/^/TBX /' /tmp/tbx-inside
$b grep -E 'ERROR' /run/lxc-start.log | $b sed 's/^/TBX log /'
/usr/bin/lxc-start -n Container -P ${v1lxcpath} -F -l DEBUG -o /run/lxc-start-v1.log -- /bin/sh -c 'cat /sys/fs/cgroup/memory.max > /tmp/tbx-v1'
echo "TBX v1 keys: lxc-start exit $?"
echo "TBX v1 keys: memory.max $($b cat /tmp/tbx-v1)"
$b grep -iE 'ERROR|WARN.*(legacy|limit)|memory.limit_in_bytes|setup_limits' /run/lxc-start-v1.log | $b grep -v monitor | $b head -n 8 | $b sed 's/^/TBX v1 log /'
for rt in runc crun; do
  for bundle in limits shares; do
    /usr/bin/$rt --root /run/$rt run --no-pivot --bundle /oci/$bundle tbx-$bundle > /tmp/oci-$rt-$bundle 2>&1
    echo "TBX $rt $bundle exit $?"
    $b sed "s/^/TBX $rt $bundle /" /tmp/oci-$rt-$bundle
  done
done
$b poweroff -f
`;
}

describe('limits under cgroup v2, in a booted kernel', () => {
  it('lxc.cgroup2 keys: memory.max 32M kills 64 MB inside, swap.max, pids.max, cpu.weight, cpuset.cpus, nofile show in the container; v1 keys there are dropped; the OCI rendering under runc and crun', async () => {
    expect(fs.existsSync(KERNEL), `${KERNEL} is missing: run bash scripts/test-host-setup.sh as root`).toBe(true);
    const dir = tmpDir();
    const progs = await limitPrograms(dir);
    const target = await deviceImage(dir);
    // Buildroot's cgroupfs-v2-mount (BR2_PACKAGE_CGROUPFS_V2_MOUNT) installs this
    fs.mkdirSync(path.join(target, 'etc/init.d'), { recursive: true });
    fs.writeFileSync(path.join(target, 'etc/init.d/S30cgroupfs2'), '#!/bin/sh\n', { mode: 0o755 });
    const t = 1700000000;
    const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'), {
      extra: [
        { path: 'usr', type: 'Directory', mtime: t },
        { path: 'usr/bin', type: 'Directory', mtime: t },
        { path: 'usr/bin/alloc', type: 'File', mode: 0o755, data: progs.alloc, mtime: t },
        { path: 'usr/bin/forker', type: 'File', mode: 0o755, data: progs.forker, mtime: t },
        { path: 'bin/sed', type: 'SymbolicLink', linkpath: 'busybox', mtime: t },
      ],
    });
    const cs = `LimV2${randomBytes(3).toString('hex')}`;
    const manifest = path.join(dir, 'thunderbox.yaml');
    fs.writeFileSync(manifest, `containers:\n  ${cs}:\n    rootfs: ${rootfs}\n    plugin-json: false\n    limits: { memory: 32M, memory-swap: 48M, pids: 32, cpu: { weight: 50, cpus: "0" }, nofile: 2048 }\n`);
    const p = await tbx(['prepare', '--manifest', manifest, '--target', target, '--no-doctor']);
    expect(p.code, p.stderr).toBe(0);
    const config = fs.readFileSync(path.join(target, 'usr/share/Thunder', cs, 'Container/config'), 'utf8');
    expect(config).toContain('# resource limits, for cgroup v2 (/etc/init.d/S30cgroupfs2)\n');
    expect(config).toContain('lxc.cgroup2.memory.max = 33554432\n');
    expect(config).toContain('lxc.cgroup2.memory.swap.max = 16777216\n');
    expect(config).not.toContain('lxc.cgroup.memory');
    // the same limit in v1 keys (--cgroup v1), which this kernel's unified hierarchy has no file for
    const v1 = `${cs}v1`;
    const p1 = await tbx(['prepare', v1, rootfs, '--target', target, '--no-plugin-json', '--no-doctor', '--memory', '32M', '--cgroup', 'v1']);
    expect(p1.code, p1.stderr).toBe(0);
    expect(fs.readFileSync(path.join(target, 'usr/share/Thunder', v1, 'Container/config'), 'utf8')).toContain('lxc.cgroup.memory.limit_in_bytes = 33554432\n');
    lendRuntimes(target);
    // the OCI rendering of the same limits for v2, and cpu.shares alone (what the runtimes make of it)
    await ociBundle(target, 'limits', progs, OCI_INSIDE, ociLimits(resolveLimits({ memory: '32M', memorySwap: '48M', pids: 32, cpuWeight: 50, cpus: '0', nofile: 2048 }, () => undefined).limits, 'v2'));
    await ociBundle(target, 'shares', progs, 'echo "cpu.weight $(cat /sys/fs/cgroup/cpu.weight)"', { resources: { cpu: { shares: 1024 } }, rlimits: [] });
    fs.writeFileSync(path.join(target, 'init'), initScript(`/usr/share/Thunder/${cs}`, `/usr/share/Thunder/${v1}`), { mode: 0o755 });
    const initrd = path.join(dir, 'initrd.cpio');
    writeCpio(target, initrd);
    const started = Date.now();
    const vm = await execa('qemu-system-x86_64', ['-accel', 'tcg', '-m', '384', '-smp', '1', '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot', '-kernel', KERNEL, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1 quiet apparmor=0 rdinit=/init'], { reject: false, timeout: 170_000, stdin: 'ignore' });
    const out = String(vm.stdout).replace(/\r/g, '');
    const tbxLines = out.split('\n').filter((l) => l.startsWith('TBX ')).join('\n');
    const seconds = Math.round((Date.now() - started) / 1000);
    expect(tbxLines, `${out.slice(-3000)}\n${String(vm.stderr)}`).toContain('TBX lxc-start exit 0');
    expect(tbxLines).toMatch(/^TBX host .*memory.* on cgroup2 \/sys\/fs\/cgroup cgroup2$/m);
    expect(tbxLines).toContain('TBX memory.max 33554432');
    expect(tbxLines).toContain('TBX memory.swap.max 16777216');
    expect(tbxLines).toContain('TBX pids.max 32');
    expect(tbxLines).toContain('TBX cpu.weight 50');
    expect(tbxLines).toContain('TBX cpuset.cpus 0');
    expect(tbxLines).toContain('TBX nofile 2048 2048');
    expect(tbxLines).toMatch(/TBX Cpus_allowed_list:\s+0$/m);
    expect(tbxLines).toContain('TBX small status 0');
    expect(tbxLines).toContain('TBX big status 137');
    // forker runs by exec as the container's init: 1 of the 32 tasks
    expect(tbxLines).toContain('TBX forked 31 errno EAGAIN');
    // v1 keys under v2: liblxc 5.0.2 starts the container WITHOUT the limit, with a warning only
    // ("Ignoring legacy cgroup limits on pure cgroup2 system"): why the layout is read from the image
    expect(tbxLines).toContain('TBX v1 keys: lxc-start exit 0');
    expect(tbxLines).toContain('TBX v1 keys: memory.max max');
    expect(tbxLines).toContain('Ignoring legacy cgroup limits on pure cgroup2 system');
    // the OCI rendering under v2, started by runc 1.1.5 and crun 1.8.1
    for (const rt of ['runc', 'crun']) {
      expect(tbxLines, rt).toContain(`TBX ${rt} limits exit 0`);
      for (const line of ['memory.max 33554432', 'memory.swap.max 16777216', 'pids.max 32', 'cpu.weight 50', 'cpuset.cpus 0', 'nofile 2048 2048', 'big status 137']) expect(tbxLines, rt).toContain(`TBX ${rt} limits ${line}`);
      // cpu.shares 1024, the default, becomes weight 39, not 100: why ociLimits writes unified
      expect(tbxLines, rt).toContain(`TBX ${rt} shares cpu.weight 39`);
    }
    expect(seconds).toBeLessThan(180);
  }, 200_000);
});

describe('limits under cgroup v1 without its memory controller, in a booted kernel', () => {
  // Linux 6.12 without MEMCG_V1 (the Pi's bcm2709 config) has no memory controller for
  // cgroupfs-mount to mount: here /init mounts the v1 hierarchies but memory, as that image boots.
  it('lxc.cgroup.memory.limit_in_bytes with no v1 memory hierarchy stops the start (why kconfig lint and post-build require MEMCG_V1 for a v1 image); pids alone starts', async () => {
    const dir = tmpDir();
    const target = await deviceImage(dir);
    fs.writeFileSync(path.join(target, 'usr/bin/cgroupfs-mount'), '#!/bin/sh\n', { mode: 0o755 });
    const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'));
    const cs = `LimV1${randomBytes(3).toString('hex')}`;
    const p = await tbx(['prepare', cs, rootfs, '--target', target, '--no-plugin-json', '--no-doctor', '--memory', '32M', '--pids', '16']);
    expect(p.code, p.stderr).toBe(0);
    const pidsOnly = `${cs}p`;
    const p2 = await tbx(['prepare', pidsOnly, rootfs, '--target', target, '--no-plugin-json', '--no-doctor', '--pids', '16']);
    expect(p2.code, p2.stderr).toBe(0);
    lendRuntimes(target);
    const env = Object.entries(THUNDER_ENVIRONMENT).map(([k, v]) => `export ${k}='${v}'`).join('\n');
    fs.writeFileSync(path.join(target, 'init'), `#!/bin/busybox sh
b=/bin/busybox
$b mount -t proc proc /proc
$b mount -t sysfs sysfs /sys
$b mount -t devtmpfs devtmpfs /dev
$b mkdir -p /dev/pts && $b mount -t devpts devpts /dev/pts
$b mount -t tmpfs run /run
$b mount -t tmpfs cgroups /sys/fs/cgroup
for c in pids cpu cpuacct cpuset devices freezer; do $b mkdir /sys/fs/cgroup/$c && $b mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done
${env}
/usr/bin/lxc-start -n Container -P /usr/share/Thunder/${cs} -F -l DEBUG -o /run/lxc-start.log -- /bin/sh -c 'echo "pids.max $(cat /sys/fs/cgroup/pids/pids.max 2>&1)" > /tmp/tbx-inside'
echo "TBX lxc-start exit $?"
$b sed 's/^/TBX inside /' /tmp/tbx-inside
$b grep -E 'ERROR' /run/lxc-start.log | $b head -n 3 | $b sed 's/^/TBX log /'
/usr/bin/lxc-start -n Container -P /usr/share/Thunder/${pidsOnly} -F -l DEBUG -o /run/lxc-start-p.log -- /bin/sh -c 'mount -t tmpfs c /sys/fs/cgroup && busybox mkdir /sys/fs/cgroup/pids && mount -t cgroup -o pids c /sys/fs/cgroup/pids; echo "pids.max $(cat /sys/fs/cgroup/pids/pids.max 2>&1)" > /tmp/tbx-inside-p'
echo "TBX pids only: lxc-start exit $?"
$b sed 's/^/TBX pids only: inside /' /tmp/tbx-inside-p
$b poweroff -f
`, { mode: 0o755 });
    const initrd = path.join(dir, 'initrd.cpio');
    writeCpio(target, initrd);
    const vm = await execa('qemu-system-x86_64', ['-accel', 'tcg', '-m', '256', '-smp', '1', '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot', '-kernel', KERNEL, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1 quiet apparmor=0 rdinit=/init'], { reject: false, timeout: 170_000, stdin: 'ignore' });
    const lines = String(vm.stdout).replace(/\r/g, '').split('\n').filter((l) => l.startsWith('TBX ')).join('\n');
    expect(lines, String(vm.stdout).slice(-2000)).toContain('TBX lxc-start exit 1');
    expect(lines).toContain('Failed to set "memory.limit_in_bytes" to "33554432"');
    expect(lines).not.toContain('TBX inside');
    expect(lines).toContain('TBX pids only: lxc-start exit 0');
    expect(lines).toContain('TBX pids only: inside pids.max 16');
  }, 200_000);
});
