import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../src/core/diagnostic.js';
import { runDoctor } from '../../src/thunder/doctor.js';
import { imageLxcVersion } from '../../src/lxc/image-version.js';
import { doctorInputs } from '../../src/thunder/doctor-inputs.js';
import { tbx, REPO } from '../helpers/cli.js';
import { buildHostRootfs } from '../helpers/host-rootfs.js';
import { tmpDir } from '../helpers/tmp.js';

// `thunderbox doctor` on containers made by the real `thunderbox prepare` from a rootfs of
// this host's own programs (test/helpers/host-rootfs.ts), then broken one way at a time.

const MULTIARCH = 'usr/lib/x86_64-linux-gnu';
let prepareFlags: string[] = [];

beforeAll(async () => {
  // prepare runs doctor itself where it has --no-doctor; these tests want the defects planted after it
  const help = await tbx(['prepare', '--help']);
  prepareFlags = help.stdout.includes('--no-doctor') ? ['--no-doctor'] : [];
});

interface Made {
  target: string;
  callsign: string;
  containerDir: string;
  rootfs: string;
  pluginJson: string;
}

/**
 * An image root with LXC's config files (as Buildroot's lxc package installs them), the host's
 * static busybox as its own /bin/busybox, /tmp, Thunder's config, a plugin JSON in Local mode, and a container
 * prepared into it from a host rootfs with Thunder stand-ins.
 */
async function prepared(extra: string[] = [], o: { pluginJson?: boolean; archive?: boolean } = {}): Promise<Made> {
  const dir = tmpDir();
  const callsign = `Doc${randomBytes(3).toString('hex')}`;
  const src = buildHostRootfs(path.join(dir, 'src'), { thunderStandIn: true, ...(o.archive ? { tar: path.join(dir, 'rootfs.tar') } : {}) });
  const target = path.join(dir, 'target');
  fs.mkdirSync(path.join(target, 'usr/share/lxc'), { recursive: true });
  fs.cpSync('/usr/share/lxc/config', path.join(target, 'usr/share/lxc/config'), { recursive: true, verbatimSymlinks: true });
  fs.mkdirSync(path.join(target, 'tmp'), { mode: 0o1777 });
  fs.mkdirSync(path.join(target, 'run')); // Buildroot's skeleton: liblxc's locks live there
  fs.mkdirSync(path.join(target, 'bin'));
  fs.copyFileSync('/bin/busybox', path.join(target, 'bin/busybox'));
  // Thunder's own config, which prepare edits for an unprivileged container's messages
  fs.mkdirSync(path.join(target, 'etc/Thunder'), { recursive: true });
  fs.writeFileSync(path.join(target, 'etc/Thunder/config.json'), '{\n  "port": 80\n}\n');
  const pluginJson = path.join(target, 'etc/Thunder/plugins', `${callsign}.json`);
  const args = ['prepare', callsign, src.archive ?? src.dir, '--target', target, '-q', ...prepareFlags, ...extra];
  if (o.pluginJson === false) args.push('--no-plugin-json');
  else {
    fs.mkdirSync(path.dirname(pluginJson), { recursive: true });
    fs.writeFileSync(pluginJson, `{\n  "locator": "libThunderTest.so",\n  "classname": "${callsign}",\n  "configuration": {\n    "root": {\n      "mode": "Local"\n    }\n  }\n}\n`);
  }
  const r = await tbx(args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const containerDir = path.join(target, 'usr/share/Thunder', callsign, 'Container');
  return { target, callsign, containerDir, rootfs: path.join(containerDir, 'rootfs'), pluginJson };
}

interface DoctorJson {
  callsign: string;
  containerDir: string;
  findings: Diagnostic[];
  errors: number;
  warnings: number;
}

async function doctor(m: Made, extra: string[] = []): Promise<{ code: number; json: DoctorJson; text: string; stderr: string }> {
  const j = await tbx(['doctor', m.callsign, '--target', m.target, '--json', ...extra]);
  const t = await tbx(['doctor', m.callsign, '--target', m.target, ...extra]);
  expect(t.code).toBe(j.code);
  return { code: j.code, json: JSON.parse(j.stdout) as DoctorJson, text: t.stdout, stderr: j.stderr + t.stderr };
}

const errorsOf = (j: DoctorJson) => j.findings.filter((f) => f.severity === 'error');

function only(j: DoctorJson, code: string): Diagnostic {
  const errs = errorsOf(j);
  expect(errs.map((e) => e.code)).toEqual([code]);
  expect(errs[0]!.hint).toBeTruthy();
  return errs[0]!;
}

describe('thunderbox doctor', () => {
  it('a clean container: exit 0, no errors or warnings; --json, human output and -q', async () => {
    const m = await prepared();
    const r = await doctor(m);
    expect(r.stderr).toBe('');
    expect(r.json.findings.filter((f) => f.severity !== 'note')).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ callsign: m.callsign, containerDir: m.containerDir, errors: 0, warnings: 0 });
    // seccomp is reported as notes: on, from the image's common.conf
    expect(r.json.findings.map((f) => f.code).sort()).toEqual(['SECCOMP_COMMON_CONF', 'SECCOMP_STATE']);
    expect(r.text).toContain('note[SECCOMP_STATE]: seccomp is on for this container');
    expect(r.text).toContain(`${m.callsign}: 0 error(s), 0 warning(s) in ${m.containerDir}`);
    const q = await tbx(['doctor', m.callsign, '--target', m.target, '-q']);
    expect(q).toEqual({ code: 0, stdout: '', stderr: '' });
    // prepare set the mode; the config really is the one the checks read
    expect(fs.readFileSync(m.pluginJson, 'utf8')).toContain('"mode": "Container"');
    // and what doctor passes, LXC starts: ThunderPlugin (bash here) runs in the container
    const t = await tbx(['try', '--host', m.callsign, '--target', m.target, '-q', '--', '/usr/bin/ThunderPlugin', '-c', 'echo "in $(cat /etc/hostname 2>/dev/null || echo container)"; test -d /proc/self']);
    expect(t.stdout).toContain('in ');
    expect(t.code).toBe(0);
  });

  it('a missing library: LIB_UNRESOLVED naming the library and who needs it', async () => {
    const m = await prepared();
    for (const n of ['libtinfo.so.6', 'libtinfo.so.6.4']) fs.rmSync(path.join(m.rootfs, MULTIARCH, n));
    const r = await doctor(m);
    expect(r.code).toBe(1);
    const e = only(r.json, 'LIB_UNRESOLVED');
    expect(e.message).toMatch(/^libtinfo\.so\.6, needed by \/usr\/bin\/ThunderPlugin, is not found in .*\/usr\/lib\/x86_64-linux-gnu/);
    expect(e.message).toContain(m.rootfs);
    expect(r.text).toMatch(/error\[LIB_UNRESOLVED\]: libtinfo\.so\.6, needed by \/usr\/bin\/ThunderPlugin[^\n]*\n {2}fix: add the library to the rootfs/);
    expect(r.text).toContain(`${m.callsign}: 1 error(s)`);
    // as the dynamic linker says in the container
    const t = await tbx(['try', '--host', m.callsign, '--target', m.target, '-q', '--', '/usr/bin/ThunderPlugin', '-c', 'true']);
    expect(t.code).not.toBe(0);
    expect(t.stderr).toContain('libtinfo.so.6: cannot open shared object file');
  });

  it('a library of another architecture (armhf libc.so.6 as libtinfo): LIB_WRONG_ARCH', async () => {
    const arm = ['lib', 'usr/lib'].map((d) => path.join(REPO, 'test/.cache/deb-armhf', d, 'arm-linux-gnueabihf/libc.so.6')).find((p) => fs.existsSync(p));
    if (!arm) throw new Error('test/.cache/deb-armhf has no libc.so.6: run bash scripts/test-host-setup.sh (npm test does) as root');
    const m = await prepared();
    fs.copyFileSync(arm, path.join(m.rootfs, MULTIARCH, 'libtinfo.so.6.4'));
    const r = await doctor(m);
    expect(r.code).toBe(1);
    const e = only(r.json, 'LIB_WRONG_ARCH');
    expect(e.message).toMatch(/^libtinfo\.so\.6, needed by \/usr\/bin\/ThunderPlugin, exists only for another architecture or ABI: \/lib\/x86_64-linux-gnu\/libtinfo\.so\.6 \(ELF 32-bit LSB ARM \(hard-float\)\)/);
    expect(e.message).toContain('the process is ELF 64-bit LSB x86-64');
    expect(e.message).toContain(m.rootfs);
  });

  it('a symlinked /proc: MOUNT_POINT_SYMLINK naming it', async () => {
    const m = await prepared();
    const proc = path.join(m.rootfs, 'proc');
    fs.rmSync(proc, { recursive: true });
    fs.symlinkSync('/nonexistent', proc);
    const r = await doctor(m);
    expect(r.code).toBe(1);
    const e = only(r.json, 'MOUNT_POINT_SYMLINK');
    expect(e.message).toBe(`/proc in the rootfs (${proc}) is a symbolic link (to /nonexistent): LXC refuses to mount proc onto it and the container does not start`);
    expect(e.hint).toContain(`mkdir -m 555 ${proc}`);
    // LXC agrees: the container does not start
    const t = await tbx(['try', '--host', m.callsign, '--target', m.target, '-q', '--', '/usr/bin/ThunderPlugin', '-c', 'true']);
    expect(t.code).not.toBe(0);
  });

  it('a mount source missing from the image: MOUNT_SOURCE_MISSING (a warning for an optional one); a symlinked mount point', async () => {
    const m = await prepared(['--mount', '/share:data:rw']);
    expect((await doctor(m)).code).toBe(0);
    fs.rmSync(path.join(m.target, 'share'), { recursive: true });
    const r = await doctor(m);
    expect(r.code).toBe(1);
    const e = only(r.json, 'MOUNT_SOURCE_MISSING');
    expect(e.message).toBe(`the mount source /share does not exist in the image (${path.join(m.target, 'share')}): LXC fails to start the container`);
    expect(e).toMatchObject({ file: path.join(m.containerDir, 'config'), line: expect.any(Number) });
    // the /tmp entry is optional: its missing source is a warning
    fs.rmSync(path.join(m.target, 'tmp'), { recursive: true });
    // and a mount point that is a symlink is refused by LXC
    fs.rmSync(path.join(m.rootfs, 'data'), { recursive: true });
    fs.symlinkSync('tmp', path.join(m.rootfs, 'data'));
    fs.lchownSync(path.join(m.rootfs, 'data'), 100000, 100000); // owned like the rest: only the symlink is wrong
    const r2 = await doctor(m);
    expect(errorsOf(r2.json).map((f) => f.code).sort()).toEqual(['MOUNT_POINT_SYMLINK', 'MOUNT_SOURCE_MISSING']);
    expect(errorsOf(r2.json).find((f) => f.code === 'MOUNT_POINT_SYMLINK')!.message).toContain(`${path.join(m.rootfs, 'data')}) is a symbolic link (to tmp)`);
    const w = r2.json.findings.filter((f) => f.severity === 'warning');
    expect(w.map((f) => f.code)).toEqual(['MOUNT_SOURCE_MISSING']);
    expect(w[0]!.message).toContain(`/tmp does not exist in the image (${path.join(m.target, 'tmp')}): LXC skips this optional mount`);
  });

  it('a plugin JSON in Local mode: PLUGIN_MODE naming the file and line; none at all is a warning', async () => {
    const m = await prepared();
    fs.writeFileSync(m.pluginJson, fs.readFileSync(m.pluginJson, 'utf8').replace('"Container"', '"Local"'));
    const r = await doctor(m);
    expect(r.code).toBe(1);
    const e = only(r.json, 'PLUGIN_MODE');
    expect(e.message).toContain(`configuration.root.mode in ${m.pluginJson} is "Local"`);
    expect(e).toMatchObject({ file: m.pluginJson, line: 6 });
    expect(r.text).toContain(`${m.pluginJson}:6: error[PLUGIN_MODE]`);

    fs.rmSync(m.pluginJson);
    const r2 = await doctor(m);
    expect(r2.code).toBe(0);
    expect(r2.json.findings.filter((f) => f.severity === 'warning').map((f) => f.code)).toEqual(['PLUGIN_JSON_NOT_FOUND']);
  });

  it('checks the config as the image\'s own LXC reads it: liblxc 5.0.2 in the image makes a cleared idmap an error (a warning for LXC 6, the default without one); --lxc-version wins', async () => {
    const m = await prepared();
    const cfg = path.join(m.containerDir, 'config');
    fs.appendFileSync(cfg, 'lxc.idmap =\nlxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n');
    const sev = async (extra: string[] = []) => (await doctor(m, extra)).json.findings.find((x) => x.code === 'IDMAP_CLEAR_LXC5')?.severity;
    expect(await sev()).toBe('warning');
    const lib = path.join(m.target, 'usr/lib/x86_64-linux-gnu');
    fs.mkdirSync(lib, { recursive: true });
    fs.copyFileSync(fs.realpathSync('/usr/lib/x86_64-linux-gnu/liblxc.so.1'), path.join(lib, 'liblxc.so.1.7.0'));
    expect(imageLxcVersion(m.target)).toEqual({ version: '5.0.2', grammar: 5, file: '/usr/lib/x86_64-linux-gnu/liblxc.so.1.7.0' });
    expect(await sev()).toBe('error');
    expect(await sev(['--lxc-version', '6'])).toBe('warning');
  });

  it('the plugin JSON Thunder reads is the one whose "callsign" it is, whatever its file name: its mode is checked there', async () => {
    const m = await prepared();
    const other = path.join(path.dirname(m.pluginJson), 'probe-plugin.json');
    const text = fs.readFileSync(m.pluginJson, 'utf8').replace('{\n', `{\n  "callsign": "${m.callsign}",\n`);
    fs.rmSync(m.pluginJson);
    fs.writeFileSync(other, text);
    expect((await doctor(m)).code).toBe(0);
    fs.writeFileSync(other, text.replace('"Container"', '"Local"'));
    const r = await doctor(m);
    expect(r.code).toBe(1);
    expect(only(r.json, 'PLUGIN_MODE')).toMatchObject({ file: other, line: 7 });
  });

  it('an OCI bundle beside the config: oci check\'s findings (OCI_NO_RUNC without /usr/bin/runc in the image, OCI_ARGS_EMPTY), containertype runc a note', async () => {
    const m = await prepared(['--runtime', 'runc']);
    expect(JSON.parse(fs.readFileSync(m.pluginJson, 'utf8')).configuration.root.configuration).toEqual({ containertype: 'runc' });
    const r = await doctor(m);
    expect(r.code).toBe(1);
    const e = only(r.json, 'OCI_NO_RUNC');
    expect(e.file).toBe(path.join(m.containerDir, 'config.json'));
    expect(r.json.findings.map((f) => f.code)).toContain('PLUGIN_CONTAINER_TYPE_RUNC');
    fs.mkdirSync(path.join(m.target, 'usr/bin'), { recursive: true });
    fs.copyFileSync('/usr/sbin/runc', path.join(m.target, 'usr/bin/runc'));
    expect((await doctor(m)).code).toBe(0);
    const file = path.join(m.containerDir, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as { process: { args: string[] } };
    cfg.process.args = [];
    fs.writeFileSync(file, `${JSON.stringify(cfg, null, 2)}\n`);
    const bad = await doctor(m);
    expect(bad.code).toBe(1);
    expect(only(bad.json, 'OCI_ARGS_EMPTY')).toMatchObject({ file, line: 9 });
    // without the bundle, containertype runc is Thunder starting nothing
    fs.rmSync(file);
    expect(only((await doctor(m)).json, 'PLUGIN_CONTAINER_TYPE').message).toContain('has no OCI bundle');
  });

  it('the plugin library named by the locator, and ThunderPlugin itself, must be in the rootfs', async () => {
    const m = await prepared();
    fs.rmSync(path.join(m.rootfs, 'usr/lib/thunder/plugins/libThunderTest.so'));
    let r = await doctor(m);
    expect(only(r.json, 'PLUGIN_LIBRARY_MISSING').message).toContain('libThunderTest.so');
    fs.rmSync(path.join(m.rootfs, 'usr/bin/ThunderPlugin'));
    r = await doctor(m);
    expect(r.code).toBe(1);
    const codes = errorsOf(r.json).map((f) => f.code);
    expect(codes).toContain('THUNDERPLUGIN_MISSING');
    expect(errorsOf(r.json).find((f) => f.code === 'THUNDERPLUGIN_MISSING')!.message).toContain(m.rootfs);
  });

  it('config defects: lxc check errors, a wrong lxc.arch, a missing environment name, an unknown rootfs path', async () => {
    const m = await prepared([], { pluginJson: false });
    const config = path.join(m.containerDir, 'config');
    const text = fs.readFileSync(config, 'utf8');
    expect(text).toContain('lxc.arch = x86_64\n');
    fs.writeFileSync(config, text.replace('lxc.arch = x86_64', 'lxc.arch = arm64').replace('lxc.environment = MESSAGE_DISPATCHER_CONFIG\n', 'lxc.bogus = 1\n'));
    const r = await doctor(m);
    expect(r.code).toBe(1);
    expect(errorsOf(r.json).map((f) => f.code).sort()).toEqual(['ARCH_MISMATCH', 'ENV_MISSING', 'LXC_UNKNOWN_KEY']);
    const arch = errorsOf(r.json).find((f) => f.code === 'ARCH_MISMATCH')!;
    expect(arch.message).toBe('lxc.arch = arm64 is for AArch64, but /usr/bin/ThunderPlugin in the rootfs is ELF 64-bit LSB x86-64');
    expect(arch.hint).toContain('lxc.arch = x86_64');

    fs.writeFileSync(config, text.replace(/^lxc\.rootfs\.path = .*$/m, 'lxc.rootfs.path = dir:/nowhere/rootfs'));
    const r2 = await doctor(m);
    expect(only(r2.json, 'ROOTFS_PATH_MISSING').message).toBe(`lxc.rootfs.path dir:/nowhere/rootfs is ${path.join(m.target, 'nowhere/rootfs')}, which does not exist in the image`);
  });

  it('a rootfs the device cannot run: ARCH_DEVICE_MISMATCH against the image\'s own programs', async () => {
    const m = await prepared([], { pluginJson: false });
    fs.copyFileSync(path.join(REPO, 'test/.cache/busybox-armhf'), path.join(m.target, 'bin/busybox'));
    const r = await doctor(m);
    expect(r.code).toBe(1);
    expect(only(r.json, 'ARCH_DEVICE_MISMATCH').message).toBe('/usr/bin/ThunderPlugin in the rootfs is ELF 64-bit LSB x86-64, but the image\'s own /bin/busybox is ELF 32-bit LSB ARM (hard-float): the device cannot run this container');
  });

  it('ownership against the idmap: a setuid file of host root is an error, a plain one a warning; device_table.txt is read instead of the disk', async () => {
    const m = await prepared([], { archive: true }); // from a GNU tar archive of the tree this time
    expect(fs.lstatSync(path.join(m.rootfs, 'usr/lib/x86_64-linux-gnu/libtinfo.so.6')).isSymbolicLink()).toBe(true);
    expect(fs.statSync(path.join(m.rootfs, 'usr/bin/ThunderPlugin')).uid).toBe(100000);
    const su = path.join(m.rootfs, 'usr/bin/su-test');
    fs.copyFileSync('/usr/bin/true', su);
    fs.chownSync(su, 0, 0);
    fs.chmodSync(su, 0o4755);
    fs.chownSync(path.join(m.rootfs, 'etc/passwd'), 0, 0);
    const r = await doctor(m);
    expect(r.code).toBe(1);
    const e = only(r.json, 'OWNER_UNMAPPED_SETID');
    expect(e.message).toBe('/usr/bin/su-test (mode 4755) is owned by host 0:0, which the idmap (u 0 100000 65536, g 0 100000 65536) does not map: in the container it is setuid nobody');
    expect(e.file).toBe(su);
    const w = r.json.findings.filter((f) => f.severity === 'warning');
    expect(w.map((f) => f.code)).toEqual(['OWNER_UNMAPPED']);
    expect(w[0]!.message).toContain('/etc/passwd (0:0)');

    // made without root: the table's owners count, not the disk's
    const dev = `/usr/share/Thunder/${m.callsign}/Container/rootfs`;
    fs.writeFileSync(path.join(m.containerDir, 'device_table.txt'), `# thunderbox\n${dev} d 755 100000 100000 - - - - -\n${dev}/usr/bin/mount f 4755 0 0 - - - - -\n# thunderbox:symlink ${dev}/bin 100000 100000\n`);
    const r2 = await doctor(m);
    const e2 = only(r2.json, 'OWNER_UNMAPPED_SETID');
    expect(e2.message).toContain(`${dev}/usr/bin/mount (mode 4755) is owned by host 0:0`);
    expect(e2.file).toBe(path.join(m.containerDir, 'device_table.txt'));
    expect(r2.json.findings.filter((f) => f.severity === 'warning')).toEqual([]);

    // a line post-fakeroot would refuse is an error, read by post-fakeroot's own parser
    fs.appendFileSync(path.join(m.containerDir, 'device_table.txt'), `${dev}/etc/passwd f 644 0\n`);
    const r3 = await doctor(m);
    const errs3 = errorsOf(r3.json);
    expect(errs3.map((e) => e.code)).toEqual(['TABLE_LINE', 'OWNER_UNMAPPED_SETID']);
    expect(errs3[0]).toMatchObject({ severity: 'error', file: path.join(m.containerDir, 'device_table.txt'), line: 5, message: 'expected 10 fields, found 4' });
    expect(r3.code).toBe(1);
  });

  it('a privileged container: a note, no ownership errors', async () => {
    const m = await prepared(['--idmap', 'none', '--seccomp', 'off'], { pluginJson: false });
    const r = await doctor(m);
    expect(r.code).toBe(0);
    const notes = Object.fromEntries(r.json.findings.filter((f) => f.severity === 'note').map((f) => [f.code, f.message]));
    expect(notes.PRIVILEGED).toContain('no lxc.idmap');
    expect(notes.SECCOMP_STATE).toMatch(/^seccomp is off for this container \(an empty lxc\.seccomp\.profile on line \d+\)$/);
  });

  it('seccomp: a profile common.conf takes from common.conf.d/ counts, as it does for liblxc', async () => {
    const m = await prepared([], { pluginJson: false });
    const cc = path.join(m.target, 'usr/share/lxc/config/common.conf');
    const text = fs.readFileSync(cc, 'utf8');
    expect(text).toContain('\nlxc.include = /usr/share/lxc/config/common.conf.d/\n');
    fs.writeFileSync(cc, text.replace(/^lxc\.seccomp\.profile/m, '# lxc.seccomp.profile'));
    fs.mkdirSync(path.join(m.target, 'usr/share/lxc/config/common.conf.d'), { recursive: true });
    fs.writeFileSync(path.join(m.target, 'usr/share/lxc/config/common.conf.d/10-seccomp.conf'), 'lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp\n');
    const notes = Object.fromEntries((await doctor(m)).json.findings.filter((f) => f.severity === 'note').map((f) => [f.code, f.message]));
    expect(notes.SECCOMP_COMMON_CONF).toBe('common.conf sets lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp: seccomp is on for every container that includes it');
    expect(notes.SECCOMP_STATE).toMatch(/^seccomp is on for this container/);
  });

  it('Thunder\'s search order: a container at an earlier path shadows the prepared one (CONTAINER_SHADOWED)', async () => {
    const m = await prepared();
    expect((await doctor(m)).code).toBe(0);
    // a copy at <persistentpath>/<callsign>/Container: Thunder searches it before <datapath>/<classname>
    const early = path.join(m.target, 'var/Thunder', m.callsign, 'Container');
    fs.mkdirSync(early, { recursive: true });
    fs.copyFileSync(path.join(m.containerDir, 'config'), path.join(early, 'config'));
    const r = await doctor(m);
    expect(r.code).toBe(1);
    const e = only(r.json, 'CONTAINER_SHADOWED');
    expect(e.message).toBe(`the image holds a container at /var/Thunder/${m.callsign}/Container, which Thunder searches before /usr/share/Thunder/${m.callsign}/Container: Thunder starts /var/Thunder/${m.callsign}/Container, the other is never used`);
    // and it is the one the doctor checks, as Thunder starts it
    expect(r.json.containerDir).toBe(early);
  });

  it('a container the image holds under the volatile path (/tmp, a tmpfs at boot) shadows nothing: Thunder never sees it', async () => {
    const m = await prepared();
    // a stale copy at <volatilepath>/<callsign>/Container, first in Thunder's search order
    const hidden = path.join(m.target, 'tmp', m.callsign, 'Container');
    fs.mkdirSync(hidden, { recursive: true });
    fs.writeFileSync(path.join(hidden, 'config'), 'lxc.rootfs.path = dir:/tmp/old/rootfs\n');
    const r = await doctor(m);
    expect(r.json.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.json.containerDir).toBe(m.containerDir);
    // and try picks the one Thunder starts (this image cannot start it: only the choice is checked)
    const t = await tbx(['try', m.callsign, '--target', m.target, '--json', '--', '/bin/busybox', 'true']);
    expect(JSON.parse(t.stdout)).toMatchObject({ container: `/usr/share/Thunder/${m.callsign}/Container` });
  });

  it('an unprivileged container and Thunder\'s messaging directory: a warning unless its root can write there', async () => {
    const m = await prepared();
    const config = path.join(m.target, 'etc/Thunder/config.json');
    // prepare gave Thunder's config the mode that lets the container's root write its messages
    expect(JSON.parse(fs.readFileSync(config, 'utf8')).messaging.path).toBe('MessageDispatcher|0777');
    expect((await doctor(m)).json.warnings).toBe(0);
    expect(JSON.parse(fs.readFileSync(config, 'utf8')).process.umask).toBe(0);
    // without them (prepare --no-thunder-config): Thunder makes the directory 0755 as root
    fs.writeFileSync(config, '{\n  "port": 80,\n  "process": {"umask": 0},\n  "messaging": {"path": "MessageDispatcher"}\n}\n');
    let r = await doctor(m);
    expect(r.code).toBe(0);
    let w = r.json.findings.filter((f) => f.severity === 'warning');
    expect(w.map((f) => f.code)).toEqual(['MESSAGING_NOT_WRITABLE']);
    expect(w[0]!.message).toBe('Thunder creates /tmp/MessageDispatcher 0755 as root (messaging.path has no "|0777"): the unprivileged container\'s root (host 100000) cannot write there, and every message the plugin logs is lost');
    // and binds its sockets there under its umask, 022 unless the config says otherwise
    fs.writeFileSync(config, '{\n  "messaging": {"path": "MessageDispatcher|0777"}\n}\n');
    w = (await doctor(m)).json.findings.filter((f) => f.severity === 'warning');
    expect(w.map((f) => f.code)).toEqual(['MESSAGING_NOT_WRITABLE']);
    expect(w[0]!.message).toContain('under umask 022 (srwxr-xr-x root): the unprivileged container\'s root (host 100000) cannot ring the doorbell');
    // a directory the image holds keeps its mode (Thunder only empties it)
    fs.writeFileSync(config, '{\n  "volatilepath": "/var/volatile",\n  "process": {"umask": 0},\n  "messaging": {"path": "MessageDispatcher|0777"}\n}\n');
    fs.mkdirSync(path.join(m.target, 'var/volatile/MessageDispatcher'), { recursive: true, mode: 0o755 });
    r = await doctor(m);
    w = r.json.findings.filter((f) => f.severity === 'warning');
    expect(w.map((f) => f.code)).toEqual(['MESSAGING_NOT_WRITABLE']);
    expect(w[0]!.message).toContain('the image holds /var/volatile/MessageDispatcher already (0755), and Thunder keeps the mode of an existing directory');
    // an image without Thunder's config: its defaults, and the same loss
    fs.rmSync(config);
    r = await doctor(m);
    expect(r.json.findings.filter((f) => f.severity === 'warning').map((f) => f.code)).toEqual(['THUNDER_CONFIG_MISSING']);
    // a privileged container's root may write anywhere
    const p = await prepared(['--idmap', 'none']);
    fs.writeFileSync(path.join(p.target, 'etc/Thunder/config.json'), '{}\n');
    expect((await doctor(p)).json.warnings).toBe(0);
  });

  it('root.user the rootfs does not name: ROOT_USER_UNKNOWN; containertype of another backend: PLUGIN_CONTAINER_TYPE', async () => {
    const m = await prepared();
    const text = fs.readFileSync(m.pluginJson, 'utf8');
    fs.writeFileSync(m.pluginJson, text.replace('"mode": "Container"', '"mode": "Container",\n      "user": "thunder"'));
    let r = await doctor(m);
    expect(r.code).toBe(1);
    const e = only(r.json, 'ROOT_USER_UNKNOWN');
    expect(e.message).toBe(`configuration.root.user in ${m.pluginJson} is "thunder", and the rootfs /etc/passwd does not name it: Thunder runs the plugin as uid 0, silently`);
    expect(e).toMatchObject({ file: m.pluginJson, line: 7 });
    fs.appendFileSync(path.join(m.rootfs, 'etc/passwd'), 'thunder:x:1000:1000::/:/bin/sh\n');
    expect((await doctor(m)).code).toBe(0);
    fs.writeFileSync(m.pluginJson, text.replace('"mode": "Container"', '"mode": "Container",\n      "configuration": {"containertype": "runc"}'));
    r = await doctor(m);
    // runc without a bundle beside the config: Thunder's runc backend finds nothing (with one: the oci-bundle rule's test)
    expect(only(r.json, 'PLUGIN_CONTAINER_TYPE').message).toContain('is "runc", but the container has no OCI bundle (Container/config.json)');
    fs.writeFileSync(m.pluginJson, text.replace('"mode": "Container"', '"mode": "Container",\n      "configuration": {"containertype": "dobby"}'));
    expect(only((await doctor(m)).json, 'PLUGIN_CONTAINER_TYPE').message).toContain('is "dobby", not "lxc": Thunder hands the plugin to that backend, and this LXC container is never started');
  });

  it('the inputs prepare keeps with the verdict cover what the start-time rules read', async () => {
    const m = await prepared();
    const sig = () => doctorInputs(m.target, m.containerDir, m.callsign);
    // hooks run with the device's /bin/sh: without it, HOOK_NO_SHELL
    fs.symlinkSync('busybox', path.join(m.target, 'bin/sh'));
    fs.mkdirSync(path.join(m.target, 'etc/tbx'), { recursive: true });
    fs.writeFileSync(path.join(m.target, 'etc/tbx/hook'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    fs.writeFileSync(path.join(m.target, 'etc/tbx/hooks.conf'), 'lxc.hook.pre-start = /etc/tbx/hook\n');
    fs.appendFileSync(path.join(m.containerDir, 'config'), 'lxc.include = /etc/tbx/hooks.conf\n');
    const a = sig();
    expect(sig()).toBe(a);
    expect((await doctor(m)).code).toBe(0);
    // a hook program an included file names
    fs.chmodSync(path.join(m.target, 'etc/tbx/hook'), 0o644);
    const b = sig();
    expect(b).not.toBe(a);
    expect(only((await doctor(m)).json, 'HOOK_NOT_RUNNABLE').message).toContain('/etc/tbx/hook (/etc/tbx/hook, 0644 0:0) is not executable');
    fs.chmodSync(path.join(m.target, 'etc/tbx/hook'), 0o755);
    // a directory above the container, the image's subuid
    fs.chmodSync(path.join(m.target, 'usr/share/Thunder'), 0o700);
    const c = sig();
    expect(c).not.toBe(a);
    fs.chmodSync(path.join(m.target, 'usr/share/Thunder'), 0o755);
    expect(sig()).toBe(a);
    fs.writeFileSync(path.join(m.target, 'etc/subuid'), 'root:100000:65536\n');
    expect(sig()).not.toBe(a);
  });

  it('a container that was never prepared, and usage errors', async () => {
    const dir = tmpDir();
    const r = await tbx(['doctor', 'Nope', '--target', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`error[CONTAINER_MISSING]: no prepared container for Nope where Thunder looks for it (classname Nope): /tmp/Nope/Container, /var/Thunder/Nope/Container, /usr/share/Thunder/Nope/Container\n  fix: run thunderbox prepare Nope <rootfs> --target ${dir} first`);
    const j = await tbx(['doctor', 'Nope', '--target', dir, '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ callsign: 'Nope', errors: 1, findings: [{ code: 'CONTAINER_MISSING' }] });
    expect((await tbx(['doctor'])).code).toBe(2);
    expect((await tbx(['doctor', 'Nope', '--target', dir, '--datapath', 'relative'])).code).toBe(2);
    expect((await tbx(['doctor', '../x', '--target', dir])).code).toBe(2);
    const help = await tbx(['doctor', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:\n  thunderbox doctor OCDM --target output/target');
  });

  it('reads only: on a 6000-entry rootfs nothing in the image changes (names, modes, owners, sizes, times)', async () => {
    const m = await prepared();
    const many = path.join(m.rootfs, 'usr/share/many');
    fs.mkdirSync(many, { recursive: true });
    for (let d = 0; d < 60; d++) {
      fs.mkdirSync(path.join(many, `d${d}`));
      for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(many, `d${d}`, `f${i}`), `${i}\n`);
    }
    const snapshot = () =>
      fs.readdirSync(m.target, { recursive: true, withFileTypes: true }).map((e) => {
        const p = path.join(e.parentPath, e.name);
        const st = fs.lstatSync(p);
        return `${p} ${st.mode} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.ctimeMs} ${st.ino}`;
      }).sort();
    const before = snapshot();
    expect(before.length).toBeGreaterThan(6000);
    const r = await runDoctor({ target: m.target, datapath: '/usr/share/Thunder', callsign: m.callsign });
    expect(r.errors).toBe(0);
    expect(snapshot()).toEqual(before);
  });
});
