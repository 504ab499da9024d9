import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSample } from '../../src/thunder/sample.js';
import { execa } from 'execa';
import { BIN, tbx } from '../helpers/cli.js';
import { lxcAccepts } from '../helpers/lxc.js';
import { snapshot } from '../helpers/tree.js';
import { tmpDir } from '../helpers/tmp.js';

// Where prepare puts the container is where Thunder looks for it (thunder/device.ts), and the
// edits Thunder's own files need for it to work are made with it.

function sampleWith(plugins: Record<string, object>, config?: object) {
  const dir = tmpDir();
  const s = writeSample(dir, 1700000000);
  for (const [name, json] of Object.entries(plugins)) fs.writeFileSync(path.join(s.target, 'etc/Thunder/plugins', `${name}.json`), JSON.stringify(json, null, 1) + '\n');
  if (config) fs.writeFileSync(path.join(s.target, 'etc/Thunder/config.json'), JSON.stringify(config, null, 1) + '\n');
  return { dir, ...s };
}

describe('Thunder finds the container', () => {
  it('callsign != classname: the container goes to <datapath>/<classname>/Container; the doctor finds it there', async () => {
    const s = sampleWith({ Probe2: { locator: 'libThunderOCDM.so', classname: 'OCDM', configuration: { root: { mode: 'Local' } } } });
    fs.rmSync(path.join(s.target, 'etc/Thunder/plugins/OCDM.json'));
    const r = await tbx(['prepare', 'Probe2', s.archive, '--target', s.target, '--no-doctor']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const dir = path.join(s.target, 'usr/share/Thunder/OCDM/Container');
    expect(fs.existsSync(path.join(s.target, 'usr/share/Thunder/Probe2'))).toBe(false);
    const config = fs.readFileSync(path.join(dir, 'config'), 'utf8');
    expect(config).toContain('lxc.rootfs.path = dir:/usr/share/Thunder/OCDM/Container/rootfs\n');
    expect(config).toContain('lxc.uts.name = Probe2\n');
    expect((await lxcAccepts(path.join(dir, 'config'))).ok).toBe(true);
    const d = await tbx(['doctor', 'Probe2', '--target', s.target, '--json']);
    expect(JSON.parse(d.stdout).containerDir).toBe(dir);
    // and it starts as Thunder starts it: the sample's ThunderPlugin (armhf, through qemu-user) by bare name
    const t = await tbx(['try', 'Probe2', '--target', s.target]);
    expect(t.stderr).toContain('Probe2: container /usr/share/Thunder/OCDM/Container');
    expect(t.stdout).toContain('ThunderPlugin stand-in (thunderbox demo), running on armv7l');
    expect(t.code).toBe(0);
  });

  it('a container at a path Thunder searches earlier is the one it starts: try starts that one', async () => {
    const s = sampleWith({});
    expect((await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '-q'])).code).toBe(0);
    // the same container again, at <persistentpath>/<callsign> (the sample's persistentpath is /root)
    expect((await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '-q', '--location', 'persistent', '--idmap', 'none'])).code).toBe(0);
    const t = await tbx(['try', 'OCDM', '--target', s.target, '--json']);
    expect(JSON.parse(t.stdout)).toMatchObject({ started: true, container: '/root/OCDM/Container' });
  });

  it('--location persistent: <persistentpath>/<persistentpathpostfix or callsign>/Container; two callsigns of one class need it', async () => {
    const s = sampleWith({
      A: { classname: 'Cls', configuration: { root: { mode: 'Local' } } },
      B: { classname: 'Cls', persistentpathpostfix: 'Bee', configuration: { root: { mode: 'Local' } } },
    }, { persistentpath: '/var/lib/thunder', datapath: '/usr/share/Thunder', volatilepath: '/tmp' });
    const manifest = path.join(s.dir, 'm.yaml');
    fs.writeFileSync(manifest, `containers:\n  A:\n    rootfs: rootfs.tar\n  B:\n    rootfs: rootfs.tar\n`);
    const before = snapshot(s.target, { hash: true });
    const clash = await tbx(['prepare', '--manifest', manifest, '--target', s.target, '--no-doctor']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('error[CONTAINER_SHARED]: A and B both want their own container at /usr/share/Thunder/Cls/Container');
    expect(clash.stderr).toContain('location: persistent');
    expect(snapshot(s.target, { hash: true })).toEqual(before);
    fs.writeFileSync(manifest, `containers:\n  A:\n    rootfs: rootfs.tar\n  B:\n    rootfs: rootfs.tar\n    location: persistent\n`);
    const ok = await tbx(['prepare', '--manifest', manifest, '--target', s.target, '--no-doctor', '-q']);
    expect(ok.stderr).toBe('');
    expect(fs.readFileSync(path.join(s.target, 'var/lib/thunder/Bee/Container/config'), 'utf8')).toContain('lxc.rootfs.path = dir:/var/lib/thunder/Bee/Container/rootfs\n');
    expect(fs.existsSync(path.join(s.target, 'usr/share/Thunder/Cls/Container/config'))).toBe(true);
    // the doctor of B finds B's (the persistent path comes before the data path)
    const d = await tbx(['doctor', 'B', '--target', s.target, '--json']);
    expect(JSON.parse(d.stdout).containerDir).toBe(path.join(s.target, 'var/lib/thunder/Bee/Container'));
  });

  it('a containertype that names another backend is refused at its line; with processcontainers.default the plugin gets "lxc"', async () => {
    const s = sampleWith({ OCDM: { classname: 'OCDM', configuration: { root: { mode: 'Local', configuration: { containertype: 'runc' } } } } });
    const r = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/OCDM\.json:\d+:\d+: error\[CONTAINERTYPE_OTHER\]: .* selects the container backend "runc"/);
    const t = sampleWith({}, { datapath: '/usr/share/Thunder', processcontainers: { default: 'runc' } });
    const ok = await tbx(['prepare', 'OCDM', t.archive, '--target', t.target, '--no-doctor']);
    expect(ok.code).toBe(0);
    const json = JSON.parse(fs.readFileSync(path.join(t.target, 'etc/Thunder/plugins/OCDM.json'), 'utf8'));
    expect(json.configuration.root).toMatchObject({ mode: 'Container', configuration: { containertype: 'lxc' } });
    expect(ok.stdout).toContain('containertype set to "lxc"');
  });

  it('--runtime runc: a containertype "runc" is taken, config.json is written beside the config; without one the plugin gets "runc"; --runtime both leaves the choice to Thunder', async () => {
    const s = sampleWith({ OCDM: { classname: 'OCDM', configuration: { root: { mode: 'Local', configuration: { containertype: 'runc' } } } } });
    const r = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '--runtime', 'runc']);
    expect(r.stderr).toBe('');
    const dir = path.join(s.target, 'usr/share/Thunder/OCDM/Container');
    expect(fs.existsSync(path.join(dir, 'config'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))).toMatchObject({ ociVersion: '1.1.0', root: { path: 'rootfs' }, hostname: 'OCDM', process: { terminal: false } });
    const lxcOnly = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '--runtime', 'lxc']);
    expect(lxcOnly.code).toBe(1);
    expect(lxcOnly.stderr).toMatch(/error\[CONTAINERTYPE_OTHER\]: .*"runc".*\n  hint: set "containertype": "lxc", or prepare it with --runtime runc/);
    const t = sampleWith({});
    expect((await tbx(['prepare', 'OCDM', t.archive, '--target', t.target, '--no-doctor', '--runtime', 'runc'])).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(t.target, 'etc/Thunder/plugins/OCDM.json'), 'utf8')).configuration.root.configuration).toEqual({ containertype: 'runc' });
    const u = sampleWith({});
    expect((await tbx(['prepare', 'OCDM', u.archive, '--target', u.target, '--no-doctor', '--runtime', 'both'])).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(u.target, 'etc/Thunder/plugins/OCDM.json'), 'utf8')).configuration.root.configuration).toBeUndefined();
    expect(fs.existsSync(path.join(u.target, 'usr/share/Thunder/OCDM/Container/config.json'))).toBe(true);
  });

  it('--containertype (manifest containertype:): with --runtime both it chooses, also over the JSON\'s other one; with lxc or runc it must be that one', async () => {
    const u = sampleWith({});
    const r = await tbx(['prepare', 'OCDM', u.archive, '--target', u.target, '--no-doctor', '--runtime', 'both', '--containertype', 'runc']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('containertype set to "runc" (asked)');
    const json = () => JSON.parse(fs.readFileSync(path.join(u.target, 'etc/Thunder/plugins/OCDM.json'), 'utf8')).configuration.root.configuration;
    expect(json()).toEqual({ containertype: 'runc' });
    const back = await tbx(['prepare', 'OCDM', u.archive, '--target', u.target, '--no-doctor', '--runtime', 'both', '--containertype', 'lxc']);
    expect(back.code).toBe(0);
    expect(back.stdout).toContain('containertype "runc" -> "lxc" (asked)');
    expect(json()).toEqual({ containertype: 'lxc' });
    // a manifest says it the same way; a runtime that does not make that backend is refused at its key
    const m = path.join(path.dirname(u.target), 'thunderbox.yaml');
    fs.writeFileSync(m, `containers:\n  OCDM:\n    rootfs: ${u.archive}\n    runtime: lxc\n    containertype: runc\n`);
    const bad = await tbx(['prepare', '--manifest', m, '--target', u.target, '--no-doctor']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/thunderbox\.yaml:5:\d+: error\[CONTAINERTYPE_NOT_MADE\]: OCDM: containertype runc, but runtime lxc makes no OCI bundle/);
    expect(json()).toEqual({ containertype: 'lxc' });
    fs.writeFileSync(m, `containers:\n  OCDM:\n    rootfs: ${u.archive}\n    runtime: both\n    containertype: runc\n`);
    expect((await tbx(['prepare', '--manifest', m, '--target', u.target, '--no-doctor', '-q'])).code).toBe(0);
    expect(json()).toEqual({ containertype: 'runc' });
  });

  it('a plugin run out of process whole (R5\'s top-level "root"): that root gets the mode and the backend', async () => {
    const s = sampleWith({ OCDM: { locator: 'libThunderOCDM.so', classname: 'OCDM', root: { mode: 'Local', user: 'ocdm' } } });
    const r = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor']);
    expect(r.code).toBe(0);
    const json = JSON.parse(fs.readFileSync(path.join(s.target, 'etc/Thunder/plugins/OCDM.json'), 'utf8'));
    expect(json).toEqual({ locator: 'libThunderOCDM.so', classname: 'OCDM', root: { mode: 'Container', user: 'ocdm', configuration: { containertype: 'lxc' } } });
  });

  it('a plugin JSON without "classname" is refused: Thunder cannot load it nor find its container', async () => {
    const s = sampleWith({ OCDM: { locator: 'libThunderOCDM.so', configuration: { root: { mode: 'Local' } } } });
    const r = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[PLUGIN_CLASSNAME_MISSING]');
  });
});

describe('Thunder config edits', () => {
  it('unprivileged: messaging.path gets |0777, shown in --dry-run as a diff and written atomically with the rest', async () => {
    const s = sampleWith({});
    const dry = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`~ ${path.join(s.target, 'etc/Thunder/config.json')}: messaging.path set to "MessageDispatcher|0777"`);
    expect(dry.stdout).toContain('+ "messaging":');
    const before = fs.readFileSync(path.join(s.target, 'etc/Thunder/config.json'), 'utf8');
    const r = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor']);
    expect(r.code).toBe(0);
    const text = fs.readFileSync(path.join(s.target, 'etc/Thunder/config.json'), 'utf8');
    expect(JSON.parse(text).messaging).toEqual({ path: 'MessageDispatcher|0777' });
    // the file is as before but for the inserted member, laid out as the others
    expect(text).toBe(before.replace('"plugins":[]\n}', '"plugins":[],\n "messaging":{\n  "path":"MessageDispatcher|0777"\n },\n "process":{\n  "umask":0\n }\n}'));
    // a second run changes nothing
    const again = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor']);
    expect(again.stdout).toContain('nothing to do');
  });

  it('privileged: no edit; --no-thunder-config leaves it alone and says so', async () => {
    const s = sampleWith({});
    const cfg = path.join(s.target, 'etc/Thunder/config.json');
    const before = fs.readFileSync(cfg, 'utf8');
    expect((await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '--idmap', 'none'])).code).toBe(0);
    expect(fs.readFileSync(cfg, 'utf8')).toBe(before);
    const r = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '--no-thunder-config', '--force', '-v']);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(cfg, 'utf8')).toBe(before);
    expect(r.stderr + r.stdout).toContain('THUNDER_CONFIG_LEFT');
  });
});

describe('console capture and the communicator mount', () => {
  it('console: lxc.console.logfile and lxc.console.size, accepted by liblxc; bad values are refused', async () => {
    const s = sampleWith({});
    const r = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '--console-log', '/var/log/OCDM.console', '--console-size', '1MB']);
    expect(r.code).toBe(0);
    const config = path.join(s.target, 'usr/share/Thunder/OCDM/Container/config');
    expect(fs.readFileSync(config, 'utf8')).toContain('lxc.console.logfile = /var/log/OCDM.console\nlxc.console.size = 1MB\n');
    expect((await lxcAccepts(config)).ok).toBe(true);
    expect((await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--console-log', 'relative.log'])).stderr).toContain('CONSOLE_LOG_INVALID');
    expect((await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--console-log', '/x.log', '--console-size', 'huge'])).stderr).toContain('CONSOLE_SIZE_INVALID');
    expect((await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--console-size', '1MB'])).code).toBe(2);
  });

  it('--mount /tmp:tmp is the communicator\'s bind already: one entry; another source onto tmp, or /tmp read-only, is refused', async () => {
    const s = sampleWith({});
    const r = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '--mount', '/tmp:tmp:rw']);
    expect(r.code).toBe(0);
    const config = fs.readFileSync(path.join(s.target, 'usr/share/Thunder/OCDM/Container/config'), 'utf8');
    expect(config.match(/^lxc\.mount\.entry = \S+ tmp .*$/gm)).toEqual(['lxc.mount.entry = /tmp tmp none rbind,optional 0 0']);
    const bad = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '--mount', '/data:tmp']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('MOUNT_TMP_CONFLICT');
    // read-only written out cannot be merged into the read-write bind: refused, not silently made rw
    const before = fs.readFileSync(path.join(s.target, 'usr/share/Thunder/OCDM/Container/config'), 'utf8');
    const ro = await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '--no-doctor', '--mount', '/tmp:tmp:ro']);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toContain("error[MOUNT_TMP_CONFLICT]: OCDM: the mount /tmp:tmp asks for the container's /tmp read-only");
    const m = path.join(path.dirname(s.archive), 'ro.yaml');
    fs.writeFileSync(m, `containers:\n  OCDM:\n    rootfs: ${s.archive}\n    mounts:\n      - { host: /tmp, path: tmp, rw: false }\n`);
    const manifestRo = await tbx(['prepare', '--manifest', m, '--target', s.target, '--no-doctor']);
    expect(manifestRo.code).toBe(1);
    expect(manifestRo.stderr).toContain(`${m}:5:9: error[MOUNT_TMP_CONFLICT]`);
    expect(fs.readFileSync(path.join(s.target, 'usr/share/Thunder/OCDM/Container/config'), 'utf8')).toBe(before);
  });

  it('under umask 077 the directories prepare makes are 0755, so that the mapped root can traverse them', async () => {
    const s = sampleWith({});
    fs.rmSync(path.join(s.target, 'usr'), { recursive: true, force: true });
    fs.mkdirSync(path.join(s.target, 'usr/share/lxc/config'), { recursive: true, mode: 0o755 });
    const r = await execa('sh', ['-c', `umask 077; exec "${process.execPath}" "${BIN}" prepare OCDM "${s.archive}" --target "${s.target}" --no-doctor -q`], { reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    for (const d of ['usr/share/Thunder', 'usr/share/Thunder/OCDM', 'usr/share/Thunder/OCDM/Container']) expect((fs.statSync(path.join(s.target, d)).mode & 0o777).toString(8)).toBe('755');
  });
});

describe('networks a container needs, from the manifest', () => {
  it('prepare --manifest writes routed-up for a routed NIC, in the same run', async () => {
    const s = sampleWith({});
    const manifest = path.join(s.dir, 'm.yaml');
    fs.writeFileSync(manifest, `routed-pool: 198.18.100.0/24\ncontainers:\n  OCDM:\n    rootfs: rootfs.tar\n    net:\n      - { type: routed, interconnect: auto, ipv4: [198.19.0.5/32] }\n`);
    const r = await tbx(['prepare', '--manifest', manifest, '--target', s.target, '--no-doctor']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const up = path.join(s.target, 'etc/thunderbox/routed-up');
    expect(fs.statSync(up).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(path.join(s.target, 'usr/share/Thunder/OCDM/Container/config'), 'utf8')).toContain('script.up = /etc/thunderbox/routed-up\n');
  });

  it('a default gateway on two NICs is refused before anything is written (the kernel takes one)', async () => {
    const s = sampleWith({});
    const manifest = path.join(s.dir, 'm.yaml');
    fs.writeFileSync(manifest, `networks:\n  lxcbr0: { ipv4: 198.18.3.1/24 }\nrouted-pool: 198.18.100.0/24\ncontainers:\n  OCDM:\n    rootfs: rootfs.tar\n    net:\n      - { type: veth, link: lxcbr0, ipv4: 198.18.3.20/24, gateway: auto }\n      - { type: routed, interconnect: auto, ipv4: [198.19.0.5/32] }\n`);
    const before = snapshot(s.target, { hash: true });
    const r = await tbx(['prepare', '--manifest', manifest, '--target', s.target, '--no-doctor']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[NET_GATEWAY_TWICE]: OCDM: interfaces 0 (veth) and 1 (routed) each set an IPv4 default gateway');
    expect(snapshot(s.target, { hash: true })).toEqual(before);
  });
});
