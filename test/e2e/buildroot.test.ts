import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { execa, execaSync } from 'execa';
import { describe, expect, it } from 'vitest';
import { RESOLVED } from '../../src/kconfig/targets/rpi3.data.js';
import { writeArchive } from '../../src/rootfs/archive-writer.js';
import { SAMPLE_COMMON_CONF, SAMPLE_PLUGIN_JSON, SAMPLE_THUNDER_CONFIG, SAMPLE_USERNS_CONF } from '../../src/thunder/sample.js';
import { busyboxEntries } from '../helpers/busybox.js';
import { BIN, REPO, tbx } from '../helpers/cli.js';
import { publicRepo } from '../helpers/public-repo.js';
import { tmpDir } from '../helpers/tmp.js';

// Buildroot's side, simulated exactly: its post-build contract (as the building user), then
// inside fakeroot its order (chown -R 0:0, permission tables, post-fakeroot scripts), then its
// tar filesystem (--numeric-owner); the image, extracted as root, starts the OCDM container.

function writeTargetDir(target: string): void {
  const archive = path.join(path.dirname(target), 'base.tar');
  const entries = busyboxEntries(fs.readFileSync('/bin/busybox'));
  entries.find((e) => e.path === 'etc/passwd')!.data = 'root:x:0:0:root:/:/bin/sh\nthunder:x:1000:1000::/:/bin/sh\n';
  writeArchive(archive, entries);
  fs.mkdirSync(target);
  execaSync('tar', ['-xf', archive, '-C', target]);
}

describe('Buildroot integration', () => {
  it('post-build.sh as the building user, fakeroot, tar, and the container starts from the image', async () => {
    const dir = tmpDir();
    // the building user runs the board scripts and thunderbox: from a checkout it can reach
    const repo = publicRepo();
    const buildroot = path.join(dir, 'buildroot');
    const out = path.join(buildroot, 'output');
    const target = path.join(out, 'target');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(buildroot, 'Makefile'), '# a Buildroot tree stands here\n');
    writeTargetDir(target);
    // what the image has from its packages: Thunder's plugin config, LXC's config files
    fs.mkdirSync(path.join(target, 'etc/Thunder/plugins'), { recursive: true });
    fs.writeFileSync(path.join(target, 'etc/Thunder/plugins/OCDM.json'), SAMPLE_PLUGIN_JSON);
    fs.writeFileSync(path.join(target, 'etc/Thunder/config.json'), SAMPLE_THUNDER_CONFIG);
    fs.mkdirSync(path.join(target, 'usr/share/lxc/config'), { recursive: true });
    fs.writeFileSync(path.join(target, 'usr/share/lxc/config/common.conf'), SAMPLE_COMMON_CONF);
    fs.writeFileSync(path.join(target, 'usr/share/lxc/config/userns.conf'), SAMPLE_USERNS_CONF);
    // Buildroot copies the overlays (rsync -a --chmod=u=rwX,go=rX) before post-build
    fs.cpSync(path.join(repo, 'overlays/container-host'), target, { recursive: true });
    // Buildroot's .config: our defconfig with the external path expanded
    const br2 = path.join(out, '.config');
    fs.writeFileSync(br2, fs.readFileSync(path.join(repo, 'defconfigs/raspberrypi3_wpe_ml_container_defconfig'), 'utf8').replaceAll('$(BR2_EXTERNAL_THUNDERBOX_PATH)', repo).replace('BR2_arm=y', 'BR2_x86_64=y'));
    // the building user
    const uid = 20000 + randomInt(20000);
    const login = `tbxbr${uid}`;
    // no subordinate ids: useradd would add them to this host's /etc/subuid, which other tests read
    await execa('useradd', ['-M', '-N', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', '-u', String(uid), '-g', 'nogroup', '-s', '/usr/sbin/nologin', login]);
    try {
      await execa('chown', ['-R', `${uid}:${uid}`, dir]);
      const env = {
        PATH: `${path.dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`,
        HOME: '/nonexistent',
        TARGET_DIR: target,
        BR2_CONFIG: br2,
        HOST_DIR: path.join(out, 'host'),
        STAGING_DIR: path.join(out, 'staging'),
        BINARIES_DIR: path.join(out, 'images'),
        BUILD_DIR: path.join(out, 'build'),
        BASE_DIR: out,
        BR2_EXTERNAL_THUNDERBOX_PATH: repo,
        MESSAGE_DISPATCHER_CONFIG: 'x',
      };
      const as = (cmd: string[], cwd = buildroot) => execa('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--init-groups', ...cmd], { cwd, env, extendEnv: false, reject: false });
      // a busybox image has no ThunderPlugin: the doctor's Thunder checks would fail it
      const args = [target, '--manifest', path.join(repo, 'board/raspberrypi3/thunderbox.yaml'), '--no-doctor'];
      const pb = await as([path.join(repo, 'board/raspberrypi3/post-build.sh'), ...args]);
      expect(pb.stderr).toBe('');
      expect(pb.exitCode).toBe(0);
      expect(pb.stdout).toMatch(/OCDM: created .*Container/);
      expect(pb.stdout).toContain(`image root: ${target} (from post-build's TARGET_DIR)`);
      const c = path.join(target, 'usr/share/Thunder/OCDM/Container');
      expect(fs.existsSync(path.join(c, 'rootfs/bin/busybox'))).toBe(true);
      expect(fs.existsSync(path.join(c, 'rootfs/usr/share/Thunder'))).toBe(false); // not into itself
      expect(fs.existsSync(path.join(c, 'device_table.txt'))).toBe(true);
      // every make runs it again: nothing to do
      const again = await as([path.join(repo, 'board/raspberrypi3/post-build.sh'), ...args]);
      expect(again.stdout).toContain('nothing to do');
      // the filesystem image, inside fakeroot, in Buildroot's order
      const img = path.join(out, 'images');
      fs.mkdirSync(img);
      fs.chownSync(img, uid, uid);
      const table = path.join(repo, 'board/raspberrypi3/device_table.txt');
      // fs/common.mk: each filesystem image is made from a copy of TARGET_DIR, where the
      // post-fakeroot scripts run with that copy as $1
      const fsTarget = path.join(out, 'build/buildroot-fs/tar/target');
      const copy = await as(['sh', '-c', `mkdir -p ${fsTarget} && cp -a ${target}/. ${fsTarget}`]);
      expect(copy.exitCode).toBe(0);
      const script = [
        `chown -h -R 0:0 ${fsTarget}`,
        // makedevs with BR2_ROOTFS_DEVICE_TABLE (here: thunderbox's applier, with makedevs' semantics)
        `${process.execPath} ${path.join(repo, 'bin/thunderbox.js')} buildroot apply-table ${fsTarget} ${table}`,
        `${path.join(repo, 'board/raspberrypi3/post-fakeroot.sh')} ${fsTarget} ${args.slice(1).join(' ')}`,
        `tar --numeric-owner --sort=name -cf ${img}/rootfs.tar -C ${fsTarget} .`,
      ].join(' && ');
      const fr = await as(['fakeroot', '--', 'sh', '-c', script]);
      expect(fr.stderr).toBe('');
      expect(fr.exitCode).toBe(0);
      expect(fr.stdout).toContain('left out of the image: 2 build file(s) (device_table.txt, thunderbox.stamp; TARGET_DIR keeps them)');
      // the build's own files do not ship; TARGET_DIR keeps them, so the next make has nothing to do
      const shipped = (await execa('tar', ['-tf', `${img}/rootfs.tar`])).stdout.split('\n');
      expect(shipped.filter((n) => /device_table\.txt$|thunderbox\.stamp$/.test(n))).toEqual([]);
      expect(fs.existsSync(path.join(c, 'device_table.txt')) && fs.existsSync(path.join(c, 'thunderbox.stamp'))).toBe(true);
      expect((await as([path.join(repo, 'board/raspberrypi3/post-build.sh'), ...args])).stdout).toContain('nothing to do');
      const x = path.join(dir, 'device');
      fs.mkdirSync(x);
      await execa('tar', ['-xpf', `${img}/rootfs.tar`, '-C', x, '--numeric-owner']);
      const busybox = fs.statSync(path.join(x, 'usr/share/Thunder/OCDM/Container/rootfs/bin/busybox'));
      expect(busybox.uid).toBe(100000);
      expect(fs.statSync(path.join(x, 'testshare')).uid).toBe(1000);
      const r = await tbx(['try', '--host', 'OCDM', '--target', x, '--fix-host-subids', '--', '/bin/sh', '-c', 'id -u; cat /proc/self/uid_map | head -1']);
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe('0');
      expect(fs.readFileSync(path.join(x, 'etc/Thunder/plugins/OCDM.json'), 'utf8')).toContain('"mode":"Container"');
    } finally {
      await execa('userdel', [login], { reject: false });
    }
  });

  it('post-build fails the build on a Buildroot configuration that cannot run the containers; --keep-going reports it and goes on', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    writeTargetDir(target);
    const br2 = path.join(dir, '.config');
    fs.writeFileSync(br2, 'BR2_aarch64=y\n# BR2_PACKAGE_LXC is not set\n');
    const m = path.join(dir, 'm.yaml');
    fs.writeFileSync(m, 'containers:\n  X:\n    rootfs: target\n    plugin-json: false\n');
    const r = await tbx(['buildroot', 'post-build', target, '--add-miniuart-bt-overlay', '--manifest', m, '--no-doctor'], { env: { BR2_CONFIG: br2 } });
    expect(r.code).toBe(1);
    // each at the line that says it
    expect(r.stderr).toContain(`${br2}:2: error[BR_LXC_MISSING]`);
    expect(r.stderr).toContain(`${br2}:1: error[BR_ARCH_MISMATCH]: X: the rootfs is x86_64, the build is aarch64`);
    expect(r.stderr).toContain('post-build: 2 error(s): the image cannot run its containers as configured; fix them, or add --keep-going to BR2_ROOTFS_POST_SCRIPT_ARGS');
    const going = await tbx(['buildroot', 'post-build', target, '--add-miniuart-bt-overlay', '--manifest', m, '--no-doctor', '--keep-going'], { env: { BR2_CONFIG: br2 } });
    expect(going.code).toBe(0);
    expect(going.stderr).toContain('error[BR_LXC_MISSING]');
    expect(going.stderr).toContain('post-build: --keep-going: 2 error(s) in the Buildroot configuration reported, the build goes on');
    // a typo of one of post-build's own arguments is named (exit 2), through the board script too
    for (const cmd of [[process.execPath, BIN, 'buildroot', 'post-build'], [path.join(REPO, 'board/raspberrypi3/post-build.sh')]]) {
      const typo = await execa(cmd[0]!, [...cmd.slice(1), target, '--manifets', m, '--no-doctor'], { reject: false, env: { BR2_CONFIG: br2, BR2_EXTERNAL_THUNDERBOX_PATH: REPO, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
      expect(typo.exitCode).toBe(2);
      expect(typo.stderr).toContain('error[USAGE]: unknown option --manifets in the post-build arguments (BR2_ROOTFS_POST_SCRIPT_ARGS): did you mean --manifest?');
    }
    // the doctor's errors (this image has no ThunderPlugin) fail the build too; --keep-going goes on
    const okConfig = path.join(dir, 'ok.config');
    fs.writeFileSync(okConfig, 'BR2_x86_64=y\nBR2_PACKAGE_LXC=y\n');
    const doctored = await tbx(['buildroot', 'post-build', target, '--manifest', m], { env: { BR2_CONFIG: okConfig } });
    expect(doctored.code).toBe(1);
    expect(doctored.stderr).toContain('doctor:');
    const onward = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--keep-going'], { env: { BR2_CONFIG: okConfig } });
    expect(onward.code).toBe(0);
    expect(onward.stderr).toContain('post-build: --keep-going: doctor errors reported, the build goes on');
    const fr = await tbx(['buildroot', 'post-fakeroot', target, '--datapth', '/x']);
    expect(fr.code).toBe(2);
    expect(fr.stderr).toContain('unknown option --datapth in the post-fakeroot arguments (BR2_ROOTFS_POST_SCRIPT_ARGS): did you mean --datapath?');
    // BR2_CONFIG that is a directory or a FIFO: an error naming it, not an internal error or a hang
    const fifo = path.join(dir, 'br2.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [bad, says] of [[dir, 'it is a directory, not a regular file'], [fifo, 'it is a FIFO, not a regular file']] as const) {
      const b = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor'], { env: { BR2_CONFIG: bad }, timeout: 20_000 });
      expect(b.stderr).toContain(`error[BR_CONFIG_UNREADABLE]: BR2_CONFIG ${bad} cannot be read: ${says}`);
      expect(b.code).toBe(1);
    }
    const none = await tbx(['buildroot', 'post-build', target]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('post-build needs --manifest FILE');
  });

  it('post-build checks the runtimes against the configuration: runc needs Thunder\'s runc backend and runc; runc alone needs no LXC; the runc defconfig has both', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    writeTargetDir(target);
    const m = path.join(dir, 'm.yaml');
    fs.writeFileSync(m, 'containers:\n  X:\n    rootfs: target\n    plugin-json: false\n    runtime: runc\n');
    const br2 = path.join(dir, '.config');
    fs.writeFileSync(br2, 'BR2_x86_64=y\n# BR2_PACKAGE_LXC is not set\n');
    const r = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor'], { env: { BR2_CONFIG: br2 } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[BR_RUNC_BACKEND_MISSING]: X: runtime runc, but BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_RUNC is not enabled');
    expect(r.stderr).toContain('error[BR_RUNC_MISSING]: X: runtime runc, but BR2_PACKAGE_RUNC is not enabled');
    expect(r.stderr).not.toContain('BR_LXC_MISSING');
    expect(fs.existsSync(path.join(target, 'usr/share/Thunder/X/Container/config.json'))).toBe(true);
    // the runc variant of the Pi 3 defconfig: nothing to say about runtimes
    fs.writeFileSync(br2, fs.readFileSync(path.join(REPO, 'defconfigs/raspberrypi3_wpe_ml_runc_defconfig'), 'utf8').replaceAll('$(BR2_EXTERNAL_THUNDERBOX_PATH)', REPO).replace('BR2_arm=y', 'BR2_x86_64=y'));
    fs.writeFileSync(m, 'containers:\n  X:\n    rootfs: target\n    plugin-json: false\n    runtime: both\n');
    const ok = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor', '--json'], { env: { BR2_CONFIG: br2 } });
    const doc = JSON.parse(ok.stdout) as { diagnostics: { code: string; severity: string }[] };
    expect(doc.diagnostics.filter((d) => /RUNC|LXC|BACKEND/.test(d.code)).map((d) => `${d.severity} ${d.code}`)).toEqual(['note BR_BACKEND_CHOICE']);
  });

  it('post-build: an unprivileged OCI container (runc or both, with an idmap) needs util-linux\'s unshare; a privileged one or an LXC one does not; the runc defconfig has it', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    writeTargetDir(target);
    const m = path.join(dir, 'm.yaml');
    const c = (name: string, runtime: string, idmap?: string) => `  ${name}:\n    rootfs: target\n    plugin-json: false\n    runtime: ${runtime}\n${idmap ? `    idmap: ${idmap}\n` : ''}`;
    // the default idmap and explicit lines are unprivileged; idmap: none is privileged
    fs.writeFileSync(m, `containers:\n${c('Rdef', 'runc')}${c('Blines', 'both', '["u 0 100000 65536", "g 0 100000 65536"]')}${c('Rnone', 'runc', 'none')}${c('Ldef', 'lxc')}`);
    const runc = fs.readFileSync(path.join(REPO, 'defconfigs/raspberrypi3_wpe_ml_runc_defconfig'), 'utf8').replaceAll('$(BR2_EXTERNAL_THUNDERBOX_PATH)', REPO).replace('BR2_arm=y', 'BR2_x86_64=y');
    expect(runc).toContain('BR2_PACKAGE_UTIL_LINUX=y\nBR2_PACKAGE_UTIL_LINUX_UNSHARE=y\n');
    const br2 = path.join(dir, '.config');
    // util-linux off, as Buildroot writes it (its sub-options are then absent)
    const without = runc.replace('BR2_PACKAGE_UTIL_LINUX=y\nBR2_PACKAGE_UTIL_LINUX_UNSHARE=y\n', '# BR2_PACKAGE_UTIL_LINUX is not set\n');
    fs.writeFileSync(br2, without);
    const line = without.split('\n').indexOf('# BR2_PACKAGE_UTIL_LINUX is not set') + 1;
    const r = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor', '--json'], { env: { BR2_CONFIG: br2 } });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { ok: boolean; diagnostics: { code: string; severity: string; message: string; hint: string; file?: string; line?: number }[] };
    const miss = doc.diagnostics.filter((d) => d.code === 'BR_UNSHARE_MISSING');
    expect(miss).toHaveLength(1);
    expect(miss[0]).toMatchObject({ severity: 'error', file: br2, line });
    // the two unprivileged OCI ones, not the privileged runc one nor the LXC one
    expect(miss[0]!.message).toBe('Rdef, Blines: an unprivileged OCI container (idmap, runtime runc or both), but BR2_PACKAGE_UTIL_LINUX and BR2_PACKAGE_UTIL_LINUX_UNSHARE are not enabled: the image has no unshare for /etc/init.d/S39thunderbox-userns-<callsign>, which makes the user namespace at boot');
    expect(miss[0]!.hint).toContain('set BR2_PACKAGE_UTIL_LINUX=y and BR2_PACKAGE_UTIL_LINUX_UNSHARE=y');
    expect(doc.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code)).toEqual(['BR_UNSHARE_MISSING']);
    // util-linux without its unshare: only that one is named
    fs.writeFileSync(br2, runc.replace('BR2_PACKAGE_UTIL_LINUX_UNSHARE=y', '# BR2_PACKAGE_UTIL_LINUX_UNSHARE is not set'));
    const half = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor'], { env: { BR2_CONFIG: br2 } });
    expect(half.code).toBe(1);
    expect(half.stderr).toContain('error[BR_UNSHARE_MISSING]: Rdef, Blines: an unprivileged OCI container (idmap, runtime runc or both), but BR2_PACKAGE_UTIL_LINUX_UNSHARE is not enabled');
    // the runc defconfig as it is: no error, the build goes on
    fs.writeFileSync(br2, runc);
    const ok = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor', '--json'], { env: { BR2_CONFIG: br2 } });
    const okDoc = JSON.parse(ok.stdout) as { diagnostics: { code: string; severity: string }[] };
    expect(okDoc.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(ok.code).toBe(0);
    // only privileged or LXC containers: nothing to say without util-linux either
    fs.writeFileSync(m, `containers:\n${c('Rnone', 'runc', 'none')}${c('Ldef', 'lxc')}`);
    fs.writeFileSync(br2, without);
    const none = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor'], { env: { BR2_CONFIG: br2 } });
    expect(none.stderr).not.toContain('BR_UNSHARE_MISSING');
    expect(none.code).toBe(0);
  });

  it('buildroot check: this repo is clean; a broken tree is reported', async () => {
    const clean = await tbx(['buildroot', 'check']);
    expect(clean.stdout).toBe(`${REPO}: 0 finding(s)`);
    expect(clean.code).toBe(0);
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'external.desc'), 'name: bad-name\n');
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.mkdirSync(path.join(dir, 'board/x'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'board/x/post-build.sh'), 'echo no shebang\n', { mode: 0o644 });
    fs.writeFileSync(path.join(dir, 'board/x/table.txt'), '/a f 755 0 0 - - - -\n/b q 755 0 0 - - - - -\n');
    fs.writeFileSync(path.join(dir, 'board/x/frag.cfg'), 'CONFIG_BRIDGE=yes\n');
    fs.mkdirSync(path.join(dir, 'overlay/etc'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'overlay/etc/secret'), 'x', { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'configs/x_defconfig'), [
      'BR2_ROOTFS_POST_BUILD_SCRIPT="$(BR2_EXTERNAL_BAD_PATH)/board/x/post-build.sh"',
      'BR2_ROOTFS_DEVICE_TABLE="$(BR2_EXTERNAL_BAD_PATH)/board/x/table.txt $(BR2_EXTERNAL_BAD_PATH)/board/x/missing.txt"',
      'BR2_ROOTFS_OVERLAY="$(BR2_EXTERNAL_BAD_PATH)/overlay"',
      'BR2_LINUX_KERNEL_DEFCONFIG="bcm2709"',
      'BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES="$(BR2_EXTERNAL_BAD_PATH)/board/x/frag.cfg"',
    ].join('\n') + '\n');
    const r = await tbx(['buildroot', 'check', dir, '--json']);
    expect(r.code).toBe(1);
    const codes = (JSON.parse(r.stdout) as { diagnostics: { code: string }[] }).diagnostics.map((d) => d.code).sort();
    // (a script found under board/ and named by the defconfig is reported once)
    expect(codes).toEqual(['BR_EXTERNAL_FILE', 'BR_EXTERNAL_FILE', 'BR_EXTERNAL_NAME', 'BR_SCRIPT_MODE', 'BR_SCRIPT_SHEBANG', 'BR_DEFCONFIG_HASHES', 'BR_DEFCONFIG_REF', 'BR_TABLE', 'BR_TABLE', 'BR_OVERLAY_MODE', 'KCONFIG_BOOL_WORD', 'KCONFIG_TRISTATE_LIMIT'].sort());
  });

  it('shellcheck passes on every shell script', async () => {
    const sh = ['post-build.sh', 'post-fakeroot.sh', 'thunderbox-run.sh'].map((f) => path.join('board/raspberrypi3', f));
    const r = await execa('shellcheck', ['-x', '-s', 'sh', ...sh], { reject: false, cwd: REPO });
    expect(r.stdout).toBe('');
    const b = await execa('shellcheck', ['-s', 'bash', path.join(REPO, '.ci/run'), path.join(REPO, 'scripts/test-host-setup.sh')], { reject: false });
    expect(b.stdout).toBe('');
  });
});

describe('post-build and the cgroup mount package', () => {
  it('the limits follow BR2_CONFIG\'s cgroup mount package; both packages, or none with limits, are warnings', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    writeTargetDir(target);
    const br2 = path.join(dir, '.config');
    const m = path.join(dir, 'm.yaml');
    fs.writeFileSync(m, 'containers:\n  X:\n    rootfs: target\n    plugin-json: false\n    limits: { memory: 64M, pids: 128 }\n');
    const run = async (lines: string[]) => {
      fs.writeFileSync(br2, ['BR2_x86_64=y', 'BR2_PACKAGE_LXC=y', ...lines, ''].join('\n'));
      const r = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor', '--keep-going'], { env: { BR2_CONFIG: br2 } });
      const config = fs.readFileSync(path.join(target, 'usr/share/Thunder/X/Container/config'), 'utf8');
      return { out: r.stdout + r.stderr, keys: config.split('\n').filter((l) => /^lxc\.cgroup/.test(l)) };
    };
    const v2 = await run(['BR2_PACKAGE_CGROUPFS_V2_MOUNT=y']);
    expect(v2.keys).toEqual(['lxc.cgroup2.memory.max = 67108864', 'lxc.cgroup2.pids.max = 128']);
    expect(v2.out).toContain('note[BR_CGROUP_LAYOUT]: the build mounts cgroup v2 (BR2_PACKAGE_CGROUPFS_V2_MOUNT)');
    const v1 = await run(['BR2_PACKAGE_CGROUPFS_MOUNT=y']);
    expect(v1.keys).toEqual(['lxc.cgroup.memory.limit_in_bytes = 67108864', 'lxc.cgroup.pids.max = 128']);
    // both: prepare cannot tell which keys to write, and says so (before post-build's own checks)
    fs.writeFileSync(br2, 'BR2_x86_64=y\nBR2_PACKAGE_LXC=y\nBR2_PACKAGE_CGROUPFS_MOUNT=y\nBR2_INIT_SYSTEMD=y\n');
    const both = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor', '--keep-going'], { env: { BR2_CONFIG: br2 } });
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('error[CGROUP_LAYOUT_AMBIGUOUS]: the image mounts cgroups both ways: v1 (BR2_PACKAGE_CGROUPFS_MOUNT=y) and v2 (BR2_INIT_SYSTEMD=y)');
    // without limits it does not matter to prepare, and post-build warns
    const plain = path.join(dir, 'plain.yaml');
    fs.writeFileSync(plain, 'containers:\n  X:\n    rootfs: target\n    plugin-json: false\n');
    const noLimits = await tbx(['buildroot', 'post-build', target, '--manifest', plain, '--no-doctor', '--keep-going'], { env: { BR2_CONFIG: br2 } });
    expect(noLimits.stderr).toContain('warning[BR_CGROUP_BOTH]');
    expect((await run([])).out).toContain('warning[BR_CGROUP_NONE]: X has resource limits, but nothing in the build mounts cgroups');
  });
});

describe('post-build and the built kernel', () => {
  it('the containers\' limits against BUILD_DIR\'s kernel .config and the Pi\'s cmdline.txt: the Pi 6.12 bcm2709 kernel under a v1 image has no v1 memory controller', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'target');
    writeTargetDir(target);
    const br2 = path.join(dir, '.config');
    fs.writeFileSync(br2, 'BR2_x86_64=y\nBR2_PACKAGE_LXC=y\nBR2_PACKAGE_CGROUPFS_MOUNT=y\n');
    const linux = path.join(dir, 'build', 'linux-custom');
    fs.mkdirSync(linux, { recursive: true });
    fs.writeFileSync(path.join(linux, 'Kconfig'), '');
    fs.writeFileSync(path.join(linux, '.config'), `#\n# Automatically generated file; DO NOT EDIT.\n# Linux/arm 6.12.49 Kernel Configuration\n#\n${RESOLVED.replace('CONFIG_CGROUP_PIDS=y', '# CONFIG_CGROUP_PIDS is not set')}\n`);
    const fw = path.join(dir, 'images', 'rpi-firmware');
    fs.mkdirSync(fw, { recursive: true });
    fs.writeFileSync(path.join(fw, 'cmdline.txt'), 'root=/dev/mmcblk0p2 rootwait console=tty1\n');
    const m = path.join(dir, 'm.yaml');
    fs.writeFileSync(m, 'containers:\n  X:\n    rootfs: target\n    plugin-json: false\n    limits: { memory: 64M, pids: 128, nofile: 1024 }\n');
    const env = { BR2_CONFIG: br2, BUILD_DIR: path.join(dir, 'build'), BINARIES_DIR: path.join(dir, 'images') };
    const r = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor'], { env });
    expect(r.code).toBe(1);
    const codes = r.stderr.split('\n').filter((l) => /error\[KCONFIG_/.test(l)).map((l) => /error\[(\w+)\]: (CONFIG_\w+|\S+)/.exec(l)!.slice(1).join(' ')).sort();
    expect(codes).toEqual(['KCONFIG_CMDLINE_MEMCG no', 'KCONFIG_REQUIRED CONFIG_CGROUP_PIDS', 'KCONFIG_REQUIRED CONFIG_MEMCG_V1']);
    // the limits the kernel has no say in (nofile) and a kernel with what they need: clean
    fs.writeFileSync(path.join(linux, '.config'), `# Linux/arm 6.12.49 Kernel Configuration\n${RESOLVED.replace('# CONFIG_MEMCG_V1 is not set', 'CONFIG_MEMCG_V1=y')}\n`);
    fs.writeFileSync(path.join(fw, 'cmdline.txt'), 'root=/dev/mmcblk0p2 rootwait cgroup_enable=memory\n');
    const ok = await tbx(['buildroot', 'post-build', target, '--manifest', m, '--no-doctor'], { env });
    expect(ok.stderr.split('\n').filter((l) => /KCONFIG_/.test(l))).toEqual([]);
    expect(ok.code).toBe(0);
  });
});
