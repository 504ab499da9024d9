import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { writeArchive } from '../../src/rootfs/archive-writer.js';
import { busyboxEntries } from '../helpers/busybox.js';
import { BIN, REPO } from '../helpers/cli.js';
import { deviceImage } from '../helpers/device-image.js';
import { tmpDir } from '../helpers/tmp.js';

// The README's examples, run as written (the commands from its sh blocks, the manifests from its
// yaml blocks) on an image built here, and each container started with the device-faithful
// `thunderbox try`. A new example in the README fails the completeness check until it is run here.

interface Block {
  indent: number;
  lang: string;
  heading: string;
  text: string;
}

function readmeBlocks(): Block[] {
  const out: Block[] = [];
  let heading = '';
  let open: Block | null = null;
  for (const line of fs.readFileSync(path.join(REPO, 'README.md'), 'utf8').split('\n')) {
    if (open) {
      if (/^\s*```\s*$/.test(line)) {
        out.push(open);
        open = null;
      } else open.text += `${line.slice(Math.min(open.indent, /^ */.exec(line)![0].length))}\n`;
      continue;
    }
    const h = /^#+\s+(.*)$/.exec(line);
    if (h) heading = h[1]!;
    const f = /^( *)```(\w*)\s*$/.exec(line);
    if (f) open = { indent: f[1]!.length, lang: f[2]!, heading, text: '' };
  }
  return out;
}

const blocks = readmeBlocks();
/** Every `thunderbox ...` line of the README's sh blocks (comments cut). */
const commands = blocks.filter((b) => b.lang === 'sh').flatMap((b) => b.text.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.startsWith('thunderbox ')));
const yamlUnder = (heading: string) => blocks.find((b) => b.lang === 'yaml' && b.heading.startsWith(heading))!.text;

/** The words of a command line as sh splits it (single quotes, no expansions: the README's examples have none). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

const THUNDER_PLUGIN = '#!/bin/sh\necho "ThunderPlugin from the README example, uid $(id -u)"\n';
const t0 = 1700000000;

let pluginLib: Buffer | undefined;
/** A plugin library (or proxy stub) as the closure reads it: a shared object with no dependencies. */
async function sharedObject(): Promise<Buffer> {
  if (pluginLib) return pluginLib;
  const d = tmpDir();
  fs.writeFileSync(path.join(d, 'p.c'), 'int thunderbox_readme_plugin(void) { return 42; }\n');
  await execa('gcc', ['-shared', '-nostdlib', '-fPIC', '-o', path.join(d, 'p.so'), path.join(d, 'p.c')]);
  return (pluginLib = fs.readFileSync(path.join(d, 'p.so')));
}

/**
 * A busybox rootfs whose ThunderPlugin says it ran, with the plugin libraries and a proxy stub
 * where Thunder's packages put them, and what the README's manifest names (/usr/bin/helper, zoneinfo).
 */
async function rootfs(file: string): Promise<string> {
  const so = await sharedObject();
  writeArchive(file, [
    ...busyboxEntries(fs.readFileSync('/bin/busybox')),
    { path: 'usr', type: 'Directory', mode: 0o755, mtime: t0 },
    { path: 'usr/bin', type: 'Directory', mode: 0o755, mtime: t0 },
    { path: 'usr/bin/ThunderPlugin', type: 'File', mode: 0o755, data: THUNDER_PLUGIN, mtime: t0 },
    { path: 'usr/bin/helper', type: 'SymbolicLink', linkpath: '/bin/busybox', mtime: t0 },
    { path: 'usr/share', type: 'Directory', mode: 0o755, mtime: t0 },
    { path: 'usr/share/zoneinfo', type: 'Directory', mode: 0o755, mtime: t0 },
    { path: 'usr/share/zoneinfo/UTC', type: 'File', mode: 0o644, data: 'TZif2', mtime: t0 },
    { path: 'home', type: 'Directory', mode: 0o755, mtime: t0 },
    { path: 'usr/lib', type: 'Directory', mode: 0o755, mtime: t0 },
    { path: 'usr/lib/thunder', type: 'Directory', mode: 0o755, mtime: t0 },
    { path: 'usr/lib/thunder/plugins', type: 'Directory', mode: 0o755, mtime: t0 },
    ...['OCDM', 'Netflix'].map((p) => ({ path: `usr/lib/thunder/plugins/libThunder${p}.so`, type: 'File' as const, mode: 0o755, data: so, mtime: t0 })),
    { path: 'usr/lib/thunder/proxystubs', type: 'Directory', mode: 0o755, mtime: t0 },
    { path: 'usr/lib/thunder/proxystubs/libThunderMarshalling.so', type: 'File', mode: 0o755, data: so, mtime: t0 },
  ]);
  return file;
}

/** A device image (busybox, the image's own LXC config, /run, /tmp) with Thunder's config and the plugins the examples name. */
async function image(dir: string, plugins: string[]): Promise<string> {
  const target = await deviceImage(dir);
  // the host side of routed NICs runs in the image (routed-up): ip and grep, as a device has
  for (const a of ['ip', 'grep']) fs.symlinkSync('busybox', path.join(target, 'bin', a));
  fs.mkdirSync(path.join(target, 'etc/Thunder/plugins'), { recursive: true });
  fs.writeFileSync(path.join(target, 'etc/Thunder/config.json'), '{\n "persistentpath":"/root",\n "volatilepath":"/tmp",\n "datapath":"/usr/share/Thunder"\n}\n');
  for (const p of plugins) fs.writeFileSync(path.join(target, 'etc/Thunder/plugins', `${p}.json`), JSON.stringify({ locator: `libThunder${p}.so`, classname: p, configuration: { root: { mode: 'Local' } } }, null, 1) + '\n');
  fs.mkdirSync(path.join(target, 'var/log'), { recursive: true });
  return target;
}

async function run(args: string[], cwd: string, extra: { netns?: string } = {}) {
  const cmd = extra.netns ? ['ip', ['netns', 'exec', extra.netns, process.execPath, BIN, ...args]] as const : [process.execPath, [BIN, ...args]] as const;
  const r = await execa(cmd[0], [...cmd[1]], { cwd, reject: false, env: {} });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const RUN_HERE = [
  'thunderbox prepare OCDM images/rootfs.tar --target target',
  "thunderbox try OCDM --target target -- /bin/sh -c 'uname -m; env'",
];

describe("the README's examples", () => {
  it('every thunderbox command in the README\'s sh blocks is one this file runs', () => {
    expect(commands.length).toBeGreaterThanOrEqual(RUN_HERE.length);
    for (const c of commands) expect(RUN_HERE, `README command not run by a test: ${c}`).toContain(c);
    expect(blocks.filter((b) => b.lang === 'yaml').map((b) => b.heading)).toEqual(['Networking', 'Manifest (`thunderbox.yaml`)']);
  });

  it("the OCDM recipe: prepare in Buildroot's output directory, then try as written, which starts it as the device does", async () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'images'));
    await rootfs(path.join(dir, 'images/rootfs.tar'));
    await image(dir, ['OCDM']); // dir/target
    const prep = await run(words(RUN_HERE[0]!).slice(1), dir);
    expect(prep.stderr).toBe('');
    expect(prep.code).toBe(0);
    expect(prep.stdout).toContain('OCDM: doctor: no problems found');
    const t = await run(words(RUN_HERE[1]!).slice(1), dir);
    expect(t.stderr).toContain('OCDM: container /usr/share/Thunder/OCDM/Container');
    expect(t.stderr).toContain('started');
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^x86_64$/m);
    expect(t.stdout).toContain('MESSAGE_DISPATCHER_CONFIG=');
    // the bare name as Thunder starts it
    const plugin = await run(['try', 'OCDM', '--target', 'target'], dir);
    expect(plugin.stdout).toContain('ThunderPlugin from the README example, uid 0');
    expect(plugin.code).toBe(0);
  });

  it('the Manifest section, as written: prepared, doctor clean, and it starts', async () => {
    const dir = tmpDir();
    const manifest = yamlUnder('Manifest');
    fs.mkdirSync(path.join(dir, 'output/images'), { recursive: true });
    await rootfs(path.join(dir, 'output/images/rootfs.tar'));
    const target = await image(dir, ['OCDM']);
    // the limits are written for the cgroup layout the image mounts: cgroupfs-mount (v1), as
    // Metrological's Thunder external selects it, and as this host has
    fs.writeFileSync(path.join(target, 'usr/bin/cgroupfs-mount'), '#!/bin/sh\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'thunderbox.yaml'), manifest);
    const prep = await run(['prepare', '--manifest', 'thunderbox.yaml', '--target', target], dir);
    expect(prep.stderr).toBe('');
    expect(prep.code).toBe(0);
    expect(prep.stdout).toContain('OCDM: doctor: no problems found');
    expect(fs.readFileSync(path.join(target, 'usr/share/Thunder/OCDM/Container/config'), 'utf8')).toContain('lxc.cgroup.memory.limit_in_bytes = 134217728\n');
    const t = await run(['try', 'OCDM', '--target', target, '--', '/bin/sh', '-c', 'ThunderPlugin; ls /TestLogging >/dev/null && echo shared; cat /proc/self/uid_map'], dir);
    expect(t.stdout).toContain('ThunderPlugin from the README example, uid 0');
    expect(t.stdout).toContain('shared');
    expect(t.stdout).toMatch(/^\s+1000\s+1000\s+1$/m); // share: uid 1000 is the host's 1000
    expect(t.code).toBe(0);
  });

  it('the Networking section: the bridges from S40thunderbox-net, a veth with the bridge as gateway, a veth plus a routed NIC; they start and reach the device (in a network namespace of the test, 198.18.0.0/15)', async () => {
    const dir = tmpDir();
    // the README's addresses, moved into the range tests may use
    const text = yamlUnder('Networking').replaceAll('10.0.3.', '198.18.3.').replaceAll('10.0.100.', '198.18.100.').replaceAll('192.0.2.', '198.19.2.');
    expect(text).not.toMatch(/\b(10|192)\.\d+\.\d+\.\d+/);
    const doc = parseDocument(text);
    for (const c of ['OCDM', 'Netflix']) doc.setIn(['containers', c, 'rootfs'], 'rootfs.tar');
    fs.writeFileSync(path.join(dir, 'thunderbox.yaml'), doc.toString());
    await rootfs(path.join(dir, 'rootfs.tar'));
    const target = await image(dir, ['OCDM', 'Netflix']);
    const prep = await run(['prepare', '--manifest', 'thunderbox.yaml', '--target', target], dir);
    expect(prep.stderr).toBe('');
    expect(prep.code).toBe(0);
    const ns = `tbxrd${randomBytes(3).toString('hex')}`;
    await execa('ip', ['netns', 'add', ns]);
    try {
      await execa('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
      const up = await execa('ip', ['netns', 'exec', ns, 'sh', path.join(target, 'etc/init.d/S40thunderbox-net'), 'start'], { reject: false });
      expect(up.exitCode, String(up.stderr)).toBe(0);
      const ocdm = await run(['try', 'OCDM', '--target', target, '--', '/bin/sh', '-c', 'ip -4 addr show eth0; ping -c1 -W3 198.18.3.1 >/dev/null && echo reached'], dir, { netns: ns });
      expect(ocdm.stdout).toContain('inet 198.18.3.2/24');
      expect(ocdm.stdout).toContain('reached');
      const nf = await run(['try', 'Netflix', '--target', target, '--', '/bin/sh', '-c', 'ip -4 route; ping -c1 -W3 198.18.3.1 >/dev/null && echo bridge; ping -c1 -W3 198.18.100.1 >/dev/null && echo routed'], dir, { netns: ns });
      expect(nf.stdout).toContain('default via 198.18.100.1');
      expect(nf.stdout).toContain('bridge');
      expect(nf.stdout).toContain('routed');
      expect(nf.code).toBe(0);
    } finally {
      await execa('ip', ['netns', 'del', ns], { reject: false });
    }
  });
});
