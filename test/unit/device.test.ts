import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { THUNDER_CONFIGS, deviceModel, parseThunderMode, readThunderConfig, searchPaths, thunderConfigFromText } from '../../src/thunder/device.js';
import { planMessaging } from '../../src/thunder/messaging.js';
import { tmpDir } from '../helpers/tmp.js';

function put(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
}

describe('the device model: Thunder config', () => {
  it('pins where Thunder configs are read, newest first', () => {
    expect(THUNDER_CONFIGS).toEqual([
      { file: '/etc/Thunder/config.json', release: 'R5' },
      { file: '/etc/WPEFramework/config.json', release: 'R4' },
    ]);
  });

  it('without a config: Thunder\'s defaults (R5)', () => {
    const tc = readThunderConfig(tmpDir());
    expect(tc).toMatchObject({ file: null, release: 'R5', datapath: '/usr/share/Thunder', persistentpath: '/var/Thunder', volatilepath: '/tmp', containersDefault: null });
    expect(tc.messaging).toMatchObject({ folder: 'MessageDispatcher', mode: null, dir: '/tmp/MessageDispatcher' });
  });

  it('R5 config: the paths, normalised, and messaging with its mode', () => {
    const t = tmpDir();
    put(t, { 'etc/Thunder/config.json': '{"persistentpath":"/root/","volatilepath":"/run/","datapath":"/opt/th//data/","messaging":{"path":"MD|0777"},"processcontainers":{"default":"lxc"}}' });
    const tc = readThunderConfig(t);
    expect(tc).toMatchObject({ file: '/etc/Thunder/config.json', release: 'R5', datapath: '/opt/th/data', persistentpath: '/root', volatilepath: '/run' });
    expect(tc.messaging).toMatchObject({ folder: 'MD', mode: 0o777, dir: '/run/MD' });
    expect(tc.containersDefault?.value).toBe('lxc');
  });

  it('R4: /etc/WPEFramework/config.json and its defaults; the image\'s symlinks are followed inside the image', () => {
    const t = tmpDir();
    put(t, { 'data/wpe.json': '{}' });
    fs.mkdirSync(path.join(t, 'etc/WPEFramework'), { recursive: true });
    fs.symlinkSync('/data/wpe.json', path.join(t, 'etc/WPEFramework/config.json'));
    const tc = readThunderConfig(t);
    expect(tc).toMatchObject({ file: '/etc/WPEFramework/config.json', release: 'R4', datapath: '/usr/share/WPEFramework' });
  });

  it('a malformed config is a diagnostic with its position, never an exception', () => {
    const tc = thunderConfigFromText('{\n "datapath": ,\n}', '/etc/Thunder/config.json', '/x/config.json', 'R5');
    expect(tc.diagnostics[0]).toMatchObject({ code: 'THUNDER_CONFIG_INVALID', line: 2 });
    expect(tc.datapath).toBe('/usr/share/Thunder');
  });

  it.each([
    ['0777', 0o777],
    ['0x1ff', 0x1ff],
    ['511', 511],
    ['0', 0],
    ['abc', null],
    ['0789', null],
  ])('Thunder reads the mode %s as %s', (s, n) => {
    expect(parseThunderMode(s)).toBe(n);
  });
});

describe('the device model: where Thunder looks for a container', () => {
  const tc = thunderConfigFromText('{"persistentpath":"/root","volatilepath":"/tmp","datapath":"/usr/share/Thunder"}', '/etc/Thunder/config.json', '/x', 'R5');

  it('volatile and persistent by callsign (or postfix), data by classname', () => {
    expect(searchPaths(tc, { callsign: 'Probe2', classname: 'Probe' }).map((s) => s.lxcpath)).toEqual(['/tmp/Probe2', '/root/Probe2', '/usr/share/Thunder/Probe']);
    expect(searchPaths(tc, { callsign: 'Probe2', classname: 'Probe', volatilepathpostfix: 'v', persistentpathpostfix: 'p' }).map((s) => s.lxcpath)).toEqual(['/tmp/v', '/root/p', '/usr/share/Thunder/Probe']);
  });

  it('the plugin JSON is found by its "callsign" too, and the first path holding a Container wins', () => {
    const t = tmpDir();
    put(t, {
      'etc/Thunder/config.json': '{"persistentpath":"/root","volatilepath":"/tmp","datapath":"/usr/share/Thunder"}',
      'etc/Thunder/plugins/probe-two.json': '{"callsign":"Probe2","classname":"Probe","persistentpathpostfix":"P2"}',
      'usr/share/Thunder/Probe/Container/config': '',
    });
    const d = deviceModel(t);
    let c = d.choose('Probe2');
    expect(c.plugin?.file).toBe('/etc/Thunder/plugins/probe-two.json');
    expect(c.identity).toMatchObject({ callsign: 'Probe2', classname: 'Probe' });
    expect(c.chosen?.dir).toBe('/usr/share/Thunder/Probe/Container');
    // a container at the persistent path shadows the data path's
    put(t, { 'root/P2/Container/config': '' });
    c = d.choose('Probe2');
    expect(c.found.map((f) => f.dir)).toEqual(['/root/P2/Container', '/usr/share/Thunder/Probe/Container']);
    expect(c.chosen?.kind).toBe('persistent');
    // a directory without a config file is not a container (liblxc's list_defined_containers)
    fs.mkdirSync(path.join(t, 'tmp/Probe2/Container'), { recursive: true });
    expect(d.choose('Probe2').chosen?.kind).toBe('persistent');
    // --datapath overrides the image's config
    expect(deviceModel(t, { datapath: '/opt/x' }).choose('Probe2').searched.map((s) => s.lxcpath)).toEqual(['/tmp/Probe2', '/root/P2', '/opt/x/Probe']);
  });

  it('without a plugin JSON: the classname given, else the callsign', () => {
    const d = deviceModel(tmpDir());
    expect(d.choose('X', { classname: 'Y' }).searched.at(-1)?.lxcpath).toBe('/usr/share/Thunder/Y');
    expect(d.choose('X').searched.at(-1)?.lxcpath).toBe('/usr/share/Thunder/X');
  });
});

describe('messaging for an unprivileged container', () => {
  it('config.json gets NAME|0777 and process.umask 0, inserted without touching another byte', () => {
    const t = tmpDir();
    const text = '{\n  "port": 80,\n  "volatilepath": "/tmp"\n}\n';
    put(t, { 'etc/Thunder/config.json': text });
    const m = planMessaging(deviceModel(t));
    expect(m.config?.after).toBe('{\n  "port": 80,\n  "volatilepath": "/tmp",\n  "messaging": {\n    "path": "MessageDispatcher|0777"\n  },\n  "process": {\n    "umask": 0\n  }\n}\n');
    expect(m.config?.reasons).toHaveLength(2);
    expect(m.dir).toBeUndefined();
  });

  it('an existing path gets the suffix; what lets others write already is kept', () => {
    const t = tmpDir();
    put(t, { 'etc/Thunder/config.json': '{"messaging":{"path":"Msg","port":0},"process":{"umask":18}}' });
    expect(planMessaging(deviceModel(t)).config?.after).toBe('{"messaging":{"path":"Msg|0777","port":0},"process":{"umask":0}}');
    put(t, { 'etc/Thunder/config.json': '{"messaging":{"path":"Msg|0777"},"process":{"umask":0}}' });
    const ok = planMessaging(deviceModel(t));
    expect(ok.config).toBeUndefined();
    expect(ok.ok).toHaveLength(2);
  });

  it('a directory the image holds (not under a tmpfs on the device) is made 0777 instead: Thunder keeps an existing one\'s mode', () => {
    const t = tmpDir();
    put(t, { 'etc/Thunder/config.json': '{"volatilepath":"/data/volatile","process":{"umask":0}}' });
    fs.mkdirSync(path.join(t, 'data/volatile/MessageDispatcher'), { recursive: true, mode: 0o755 });
    const m = planMessaging(deviceModel(t));
    expect(m.dir?.host).toBe(path.join(t, 'data/volatile/MessageDispatcher'));
    expect(m.config).toBeUndefined();
    // under a tmpfs the device mounts, the image's directory is hidden: the config edit it is
    put(t, { 'etc/fstab': 'tmpfs /data/volatile tmpfs mode=1777 0 0\n' });
    const h = planMessaging(deviceModel(t));
    expect(h.dir).toBeUndefined();
    expect(h.config?.after).toContain('"path":"MessageDispatcher|0777"');
  });

  it('no config, or messaging in a file of its own: a warning saying what to do', () => {
    expect(planMessaging(deviceModel(tmpDir())).diagnostics.map((d) => d.code)).toEqual(['THUNDER_CONFIG_MISSING']);
    const t = tmpDir();
    put(t, { 'etc/Thunder/config.json': '{"messaging":"/etc/Thunder/messaging.json"}' });
    const m = planMessaging(deviceModel(t));
    expect(m.diagnostics.map((d) => d.code)).toEqual(['THUNDER_MESSAGING_FILE']);
    expect(m.config?.after).toBe('{"messaging":"/etc/Thunder/messaging.json","process":{"umask":0}}');
  });
});
