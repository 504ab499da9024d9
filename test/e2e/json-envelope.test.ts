import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { program, register } from '../../src/cli/main.js';
import { writeSample } from '../../src/thunder/sample.js';
import { REPO, tbx } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

// Every command's --json is one document of the envelope schemas/envelope.schema.json
// describes (README: --json): {ok, diagnostics: [{code, severity, file, line, col, message,
// hint}], ...its own fields}, also when it fails; ok is the exit status.
// Ajv v8 validates it: the schema is draft-07, which Ajv v8 reads without plugins.

const schema = JSON.parse(fs.readFileSync(path.join(REPO, 'schemas/envelope.schema.json'), 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

interface Case {
  /** What to make first, in a fresh directory; returns the command line. */
  run: (dir: string) => Promise<string[]> | string[];
  env?: Record<string, string>;
}

function sample(dir: string) {
  return writeSample(dir, 1700000000);
}

async function prepared(dir: string, flags: string[] = ['--no-doctor']) {
  const s = sample(dir);
  expect((await tbx(['prepare', 'OCDM', s.archive, '--target', s.target, '-q', ...flags])).code).toBe(0);
  return s;
}

function manifest(dir: string, archive: string): string {
  const m = path.join(dir, 'thunderbox.yaml');
  fs.writeFileSync(m, `networks:\n  tbxbr9: { ipv4: 198.18.9.1/24 }\ncontainers:\n  OCDM:\n    rootfs: ${archive}\n    net: [{ type: veth, link: tbxbr9, ipv4: auto, gateway: auto }]\n`);
  return m;
}

/** One case per command (the test below checks that every command has one). */
const CASES: Record<string, Case> = {
  prepare: { run: (d) => { const s = sample(d); return ['prepare', 'OCDM', s.archive, '--target', s.target, '--json']; } },
  'prepare --dry-run': { run: async (d) => { const s = await prepared(d); return ['prepare', 'OCDM', s.archive, '--target', s.target, '--env', 'X=1', '--dry-run', '--json']; } },
  try: { run: async (d) => ['try', 'OCDM', '--target', (await prepared(d)).target, '--json'] },
  'try --runtime runc': { run: async (d) => ['try', 'OCDM', '--target', (await prepared(d, ['--no-doctor', '--runtime', 'runc'])).target, '--runtime', 'runc', '--json', '--', '/bin/sh', '-c', 'echo hi'] },
  doctor: { run: async (d) => ['doctor', 'OCDM', '--target', (await prepared(d)).target, '--json'] },
  'doctor (no container)': { run: (d) => ['doctor', 'OCMD', '--target', sample(d).target, '--json'] },
  demo: { run: (d) => ['demo', '--dir', path.join(d, 'demo'), '--json'] },
  'buildroot post-build': {
    run: (d) => {
      const s = sample(d);
      fs.writeFileSync(path.join(d, '.config'), 'BR2_arm=y\nBR2_PACKAGE_LXC=y\n');
      return ['buildroot', 'post-build', s.target, '--manifest', manifest(d, s.archive), '--json'];
    },
  },
  'buildroot check': { run: () => ['buildroot', 'check', '--json'] },
  'buildroot apply-table': {
    run: (d) => {
      const s = sample(d);
      fs.writeFileSync(path.join(d, 'table.txt'), '/etc d 755 0 0 - - - - -\n');
      return ['buildroot', 'apply-table', s.target, path.join(d, 'table.txt'), '--json'];
    },
  },
  'buildroot post-fakeroot': { run: async (d) => ['buildroot', 'post-fakeroot', (await prepared(d)).target, '--json'] },
  'lxc check': { run: async (d) => { const s = await prepared(d); return ['lxc', 'check', path.join(s.target, 'usr/share/Thunder/OCDM/Container/config'), '--sysroot', s.target, '--json']; } },
  'lxc keys': { run: () => ['lxc', 'keys', '--json'] },
  'oci check': { run: async (d) => { const s = await prepared(d, ['--no-doctor', '--runtime', 'both']); return ['oci', 'check', path.join(s.target, 'usr/share/Thunder/OCDM/Container/config.json'), '--sysroot', s.target, '--json']; } },
  'lxc migrate': {
    run: (d) => {
      fs.writeFileSync(path.join(d, 'old.conf'), 'lxc.utsname = x\nlxc.network.type = empty\nlxc.bogus = 1\n');
      return ['lxc', 'migrate', path.join(d, 'old.conf'), '--json'];
    },
  },
  'kconfig lint': { run: () => ['kconfig', 'lint', path.join(REPO, 'board/raspberrypi3/linux-container.fragment'), '--target', 'rpi3', '--json'] },
  'kconfig check-config': {
    run: (d) => {
      fs.writeFileSync(path.join(d, '.config'), 'CONFIG_NAMESPACES=y\n');
      return ['kconfig', 'check-config', path.join(d, '.config'), '--json'];
    },
  },
  'net plan': { run: (d) => ['net', 'plan', '--manifest', manifest(d, sample(d).archive), '--json'] },
  'net render': { run: (d) => { const s = sample(d); return ['net', 'render', '--manifest', manifest(d, s.archive), '--target', s.target, '--json']; } },
  'a usage error': { run: (d) => ['prepare', 'OCDM', 'x.tar', '--target', d, '--bogus', '--json'] },
  'an error in the input': { run: (d) => ['prepare', 'OCDM', path.join(d, 'missing.tar'), '--target', sample(d).target, '--json'] },
};

describe('--json', () => {
  it('every command has a case here', async () => {
    const p = program();
    await register(p, ['node', 'thunderbox']);
    const leaves = new Map<string, Command>();
    const walk = (c: Command, at: string[]) => {
      for (const sub of c.commands) {
        if (sub.commands.length) walk(sub, [...at, sub.name()]);
        else leaves.set([...at, sub.name()].join(' '), sub);
      }
    };
    walk(p, []);
    expect(leaves.size).toBeGreaterThan(14);
    expect([...leaves.keys()].filter((l) => !(l in CASES)).sort()).toEqual([]);
    expect([...leaves].filter(([, c]) => !c.options.some((o) => o.long === '--json')).map(([l]) => l)).toEqual([]);
  });

  it.each(Object.entries(CASES))('%s: one document of the envelope; ok is the exit status', async (_name, c) => {
    const dir = tmpDir();
    const args = await c.run(dir);
    const r = await tbx(args, { env: { BR2_CONFIG: path.join(dir, '.config'), ...c.env } });
    expect(r.stderr).not.toContain('internal error');
    let doc: unknown;
    expect(() => (doc = JSON.parse(r.stdout))).not.toThrow();
    const valid = validate(doc);
    expect(valid ? [] : validate.errors).toEqual([]);
    expect((doc as { ok: boolean }).ok).toBe(r.code === 0);
  });
});
