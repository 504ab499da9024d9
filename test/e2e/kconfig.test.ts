import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { RULES } from '../../src/kconfig/rules.js';
import { REPO, tbx } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const KSRC = path.join(REPO, 'test', '.cache', 'linux-source-6.1');

function fullConfig(values: Record<string, string>): string {
  const lines = ['#', '# Automatically generated file; DO NOT EDIT.', '# Linux/arm 6.1.0 Kernel Configuration', '#', 'CONFIG_SMP=y'];
  for (const [k, v] of Object.entries(values)) lines.push(v === 'n' ? `# CONFIG_${k} is not set` : `CONFIG_${k}=${v}`);
  return lines.join('\n') + '\n';
}

describe('kconfig check-config agrees with lxc-checkconfig', () => {
  const checked = RULES.filter((r) => r.check);
  const cases: Record<string, Record<string, string>> = {
    'all enabled': Object.fromEntries(checked.map((r) => [r.option, 'y'])),
    'all modules': Object.fromEntries(checked.map((r) => [r.option, 'm'])),
    'all missing': {},
    'all off': Object.fromEntries(checked.map((r) => [r.option, 'n'])),
    mixed: Object.fromEntries(checked.map((r, i) => [r.option, ['y', 'm', 'n', 'x'][i % 4]!]).filter(([, v]) => v !== 'x')),
  };
  it.each(Object.entries(cases))('%s', async (_n, values) => {
    const dir = tmpDir();
    const file = path.join(dir, '.config');
    fs.writeFileSync(file, fullConfig(values));
    const lcc = await execa('lxc-checkconfig', [], { env: { CONFIG: file }, reject: false });
    expect(lcc.exitCode).toBe(0); // lxc-checkconfig never fails
    const theirs = new Map<string, string>();
    for (const line of String(lcc.stdout).split('\n')) {
      const m = /^(.+?): (enabled|missing|required)/.exec(line);
      if (m) theirs.set(m[1]!, m[2]!);
    }
    const ours = (JSON.parse((await tbx(['kconfig', 'check-config', file, '--json'])).stdout) as { options: { option: string; state: string }[] }).options;
    let compared = 0;
    for (const r of checked) {
      const verdict = theirs.get(r.check!.label);
      expect(verdict, `lxc-checkconfig prints ${r.check!.label}`).toBeDefined();
      const state = ours.find((o) => o.option === `CONFIG_${r.option}`)!.state;
      expect([r.option, verdict === 'enabled' ? 'enabled' : 'not enabled']).toEqual([r.option, state === 'y' || state === 'm' ? 'enabled' : 'not enabled']);
      if (verdict === 'required') expect(r.check!.mandatory).toBe(true);
      compared++;
    }
    expect(compared).toBe(checked.length);
  });

  it('exits 1 when a required option is missing (lxc-checkconfig exits 0); CONFIG= works as for lxc-checkconfig', async () => {
    const dir = tmpDir();
    const file = path.join(dir, '.config');
    fs.writeFileSync(file, fullConfig({ NAMESPACES: 'y' }));
    const r = await tbx(['kconfig', 'check-config'], { env: { CONFIG: file } });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Ipc namespace: required');
    // --json: ok false, and its diagnostics say why
    const j = JSON.parse((await tbx(['kconfig', 'check-config', file, '--json'])).stdout) as { ok: boolean; diagnostics: { code: string; severity: string; message: string }[] };
    expect(j.ok).toBe(false);
    expect(j.diagnostics.length).toBeGreaterThan(0);
    expect(j.diagnostics.every((d) => d.code === 'KCONFIG_REQUIRED' && d.severity === 'error')).toBe(true);
    expect(j.diagnostics.map((d) => d.message)).toContain('CONFIG_IPC_NS is not set, and containers need it (namespaces)');
    // the stock Pi 3 kernel (its resolved bcm2709 config, as the rpi3 target has it)
    const { RESOLVED } = await import('../../src/kconfig/targets/rpi3.data.js');
    const piConfig = path.join(dir, 'rpi3.config');
    fs.writeFileSync(piConfig, `# Linux/arm 6.12.49 Kernel Configuration\n${RESOLVED}\n`);
    const pi = await tbx(['kconfig', 'check-config', piConfig]);
    expect(pi.code).toBe(0);
    expect(pi.stdout).toContain('Veth pair device: enabled (module)');
  });
});

describe('kconfig lint', () => {
  it('on --target rpi3: what the fragment gives, without a kernel tree', async () => {
    const dir = tmpDir();
    const frag = path.join(dir, 'container.fragment');
    fs.writeFileSync(frag, 'CONFIG_BRIDGE=y\nCONFIG_TIME_NS=y\nCONFIG_DEVPTS_MULTIPLE_INSTANCES=y\nCONFIG_USER_NS=y\nCONFIG_MEMCG_V1=y\n');
    const r = await tbx(['kconfig', 'lint', frag, '--target', 'rpi3', '--uses', 'idmap,seccomp,cgroup-v1', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { diagnostics: { code: string; line?: number }[]; options: { option: string; state: string }[] };
    expect(j.diagnostics.map((d) => `${d.line ?? '-'}:${d.code}`).sort()).toEqual(['-:KCONFIG_MODULE', '1:KCONFIG_MODULE', '1:KCONFIG_TRISTATE_LIMIT', '2:KCONFIG_NOT_ON_ARCH', '3:KCONFIG_REMOVED_SYMBOL', '4:KCONFIG_REDUNDANT']);
    expect(j.options.find((o) => o.option === 'MEMCG_V1')!.state).toBe('y');
    const r64 = await tbx(['kconfig', 'lint', frag, '--target', 'rpi3-64', '--json']);
    expect(JSON.parse(r64.stdout).diagnostics.map((d: { code: string }) => d.code)).not.toContain('KCONFIG_NOT_ON_ARCH');
  });

  it('--strict: a redefinition fails; --cmdline: cgroup_enable=memory is needed', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'a.cfg'), 'CONFIG_VETH=m\n');
    fs.writeFileSync(path.join(dir, 'b.cfg'), 'CONFIG_VETH=y\n');
    fs.writeFileSync(path.join(dir, 'cmdline.txt'), 'console=serial0,115200 root=/dev/mmcblk0p2 rootwait\n');
    const loose = await tbx(['kconfig', 'lint', path.join(dir, 'a.cfg'), path.join(dir, 'b.cfg'), '--target', 'rpi3']);
    expect(loose.code).toBe(0);
    expect(loose.stdout).toContain(`Value of CONFIG_VETH is redefined by fragment ${path.join(dir, 'b.cfg')}:`);
    const strict = await tbx(['kconfig', 'lint', path.join(dir, 'a.cfg'), path.join(dir, 'b.cfg'), '--target', 'rpi3', '--strict']);
    expect(strict.code).toBe(1);
    const cmd = await tbx(['kconfig', 'lint', path.join(dir, 'a.cfg'), '--target', 'rpi3', '--cmdline', path.join(dir, 'cmdline.txt')]);
    expect(cmd.code).toBe(1);
    expect(cmd.stdout).toContain('error[KCONFIG_CMDLINE_MEMCG]: no cgroup_enable=memory');
    fs.writeFileSync(path.join(dir, 'cmdline.txt'), 'console=serial0,115200 root=/dev/mmcblk0p2 rootwait cgroup_enable=memory\n');
    expect((await tbx(['kconfig', 'lint', path.join(dir, 'a.cfg'), '--target', 'rpi3', '--cmdline', path.join(dir, 'cmdline.txt')])).code).toBe(0);
    expect((await tbx(['kconfig', 'lint', path.join(dir, 'a.cfg'), '--target', 'rpi4'])).code).toBe(2);
  });

  it.each([
    ['arm', 'bcm2835'],
    ['arm64', 'defconfig'],
  ])('--kernel-src: the kernel\'s own kconfig (ARCH=%s, %s), requested against actual', async (arch, defconfig) => {
    const dir = tmpDir();
    const frag = path.join(dir, 'container.fragment');
    fs.writeFileSync(frag, 'CONFIG_NAMESPACES=y\nCONFIG_USER_NS=y\nCONFIG_CGROUPS=y\nCONFIG_MEMCG=y\nCONFIG_VETH=m\nCONFIG_MEMCG_SWAP=y\n');
    const r = await tbx(['kconfig', 'lint', frag, '--kernel-src', KSRC, '--defconfig', defconfig, '--arch', arch, '--json']);
    const j = JSON.parse(r.stdout) as { diagnostics: { code: string; message: string; line?: number }[]; options: { option: string; state: string }[] };
    const dropped = j.diagnostics.filter((d) => d.code === 'KCONFIG_NOT_IN_FINAL');
    expect(dropped.map((d) => d.message)).toEqual(['Value requested for CONFIG_MEMCG_SWAP not in final .config\nRequested value: CONFIG_MEMCG_SWAP=y\nActual value: ']);
    expect(dropped[0]!.line).toBe(6);
    expect(j.options.find((o) => o.option === 'USER_NS')!.state).toBe('y');
    expect(j.options.find((o) => o.option === 'VETH')!.state).toBe('m');
  });

  it('--kernel-src: a directory that is not a kernel tree', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'f.cfg'), 'CONFIG_VETH=y\n');
    const r = await tbx(['kconfig', 'lint', path.join(dir, 'f.cfg'), '--kernel-src', dir, '--defconfig', 'x', '--arch', 'arm']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[KCONFIG_NOT_A_TREE]');
  });
});

describe('kconfig lint --manifest with limits: each limit needs its controller', () => {
  const manifest = (dir: string, limits: string) => {
    const f = path.join(dir, 'thunderbox.yaml');
    fs.writeFileSync(f, `containers:\n  OCDM:\n    rootfs: .\n    limits: ${limits}\n`);
    return f;
  };
  const required = async (args: string[]) => {
    const r = await tbx(['kconfig', 'lint', ...args, '--json']);
    const j = JSON.parse(r.stdout) as { diagnostics: { code: string; message: string }[] };
    return { code: r.code, required: j.diagnostics.filter((d) => d.code === 'KCONFIG_REQUIRED').map((d) => /CONFIG_(\w+)/.exec(d.message)![1]).sort() };
  };
  it('the Pi kernel with every controller off: one error per limit', async () => {
    const dir = tmpDir();
    const frag = path.join(dir, 'off.fragment');
    fs.writeFileSync(frag, '# CONFIG_MEMCG is not set\n# CONFIG_CGROUP_PIDS is not set\n# CONFIG_FAIR_GROUP_SCHED is not set\n# CONFIG_CPUSETS is not set\n# CONFIG_SWAP is not set\n');
    const all = manifest(dir, '{ memory: 128M, memory-swap: 256M, pids: 256, cpu: { weight: 100, cpus: "0-1" }, nofile: 1024 }');
    expect(await required([frag, '--target', 'rpi3', '--manifest', all])).toEqual({ code: 1, required: ['CGROUP_PIDS', 'CPUSETS', 'FAIR_GROUP_SCHED', 'MEMCG', 'SWAP'] });
    // without limits the same fragment asks for nothing more (they are recommendations)
    const none = path.join(dir, 'none.yaml');
    fs.writeFileSync(none, 'containers:\n  OCDM:\n    rootfs: .\n');
    expect((await required([frag, '--target', 'rpi3', '--manifest', none])).required).toEqual([]);
  });
  it('a v1 image on the Pi 6.12 kernel: memory and cpus need the v1 controllers, which bcm2709 leaves out (MEMCG_V1)', async () => {
    const dir = tmpDir();
    const frag = path.join(dir, 'empty.fragment');
    fs.writeFileSync(frag, '');
    const m = manifest(dir, '{ memory: 64M, cpu: { cpus: "0" } }');
    expect(await required([frag, '--target', 'rpi3', '--manifest', m, '--cgroup', 'v1'])).toEqual({ code: 1, required: ['MEMCG_V1'] });
    expect(await required([frag, '--target', 'rpi3', '--manifest', m, '--cgroup', 'v2'])).toEqual({ code: 0, required: [] });
  });
  it('a kernel from before the split (no MEMCG_V1 symbol, MEMCG=y) has the v1 controller built in', async () => {
    const dir = tmpDir();
    const cfg = path.join(dir, '.config');
    fs.writeFileSync(cfg, fullConfig({ ...Object.fromEntries(RULES.map((r) => [r.option, 'y'])), MEMCG_V1: '', CPUSETS_V1: '' }).replace(/^CONFIG_(MEMCG|CPUSETS)_V1=\n/gm, ''));
    expect((await required([cfg, '--manifest', manifest(dir, '{ memory: 64M, cpu: { cpus: "0" } }'), '--cgroup', 'v1'])).required).toEqual([]);
  });
});
