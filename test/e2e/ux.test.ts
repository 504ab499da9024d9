import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { ensureBinfmt } from '../../src/lxc/binfmt.js';
import { writeSample } from '../../src/thunder/sample.js';
import { bigArchive } from '../helpers/big-archive.js';
import { BIN, tbx } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

describe('output', () => {
  it('a progress bar on a terminal for a large archive, none when piped', async () => {
    const dir = tmpDir();
    const big = path.join(dir, 'big.tar');
    bigArchive(big, 1500, 40_000);
    fs.mkdirSync(path.join(dir, 't1'));
    fs.mkdirSync(path.join(dir, 't2'));
    // `script` gives the command a pseudo-terminal
    const tty = await execa('script', ['-qec', `${process.execPath} ${BIN} prepare --no-doctor OCDM ${big} --target ${path.join(dir, 't1')} --no-plugin-json`, '/dev/null'], { env: { MESSAGE_DISPATCHER_CONFIG: 'x' } });
    expect(tty.stdout).toMatch(/OCDM \[#+-*\] +\d+% [\d.]+\/[\d.]+ MB/);
    const piped = await tbx(['prepare', '--no-doctor', 'OCDM', big, '--target', path.join(dir, 't2'), '--no-plugin-json']);
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toMatch(/\[#/);
    // a small archive (the sample, a few kB) on a terminal: no bar
    fs.mkdirSync(path.join(dir, 'small'));
    const s = writeSample(path.join(dir, 'small'), 1700000000);
    const small = await execa('script', ['-qec', `${process.execPath} ${BIN} prepare --no-doctor OCDM ${s.archive} --target ${s.target}`, '/dev/null'], { env: { MESSAGE_DISPATCHER_CONFIG: 'x' } });
    expect(small.stdout).toContain('OCDM: created');
    expect(small.stdout).not.toMatch(/\[#/);
  });

  it('--json: a summary with what was written and the warnings; also for a usage error', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--idmap', 'none', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { ok: boolean; changed: string[]; diagnostics: { code: string; severity: string }[] };
    expect(j.ok).toBe(true);
    expect(j.changed).toEqual(expect.arrayContaining([path.join(s.target, 'usr/share/Thunder/OCDM/Container'), path.join(s.target, 'etc/Thunder/plugins/OCDM.json')]));
    expect(j.diagnostics).toEqual([expect.objectContaining({ code: 'PRIVILEGED', severity: 'warning' })]);
    for (const args of [['--bogus'], ['--mount', 'x']]) {
      const u = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, ...args, '--json']);
      expect(u.code).toBe(2);
      const uj = JSON.parse(u.stdout) as { ok: boolean; diagnostics: { code: string; message: string }[] };
      expect(uj.ok).toBe(false);
      expect(uj.diagnostics[0]!.code).toMatch(/^(USAGE|MOUNT_FLAG)$/);
    }
  });

  it('a reader that goes away (| head -1) ends the output, not the run', async () => {
    const dir = tmpDir();
    const r = await execa('bash', ['-c', `${process.execPath} ${BIN} demo --dir ${dir} | head -1; echo "status \${PIPESTATUS[0]}" >&2`], { reject: false });
    expect(r.stdout).toBe(`sample rootfs: ${dir}/rootfs.tar`);
    expect(r.stderr).toBe('status 0');
    expect(fs.readFileSync(path.join(dir, 'target/usr/share/Thunder/OCDM/Container/config'), 'utf8')).toContain('lxc.uts.name = OCDM');
  });

  it('--verbose shows the config; --quiet shows nothing on success', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const v = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--verbose']);
    expect(v.stderr).toContain('  | lxc.uts.name = OCDM');
    const q = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--force', '--quiet']);
    expect(q.code).toBe(0);
    expect(q.stdout + q.stderr).toBe('');
  });

  it('--plugin-json names the file inside the image root; outside it is refused', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const custom = path.join(s.target, 'opt/thunder/OCDM.json');
    fs.mkdirSync(path.dirname(custom), { recursive: true });
    fs.writeFileSync(custom, '{"classname":"OCDM","configuration":{"root":{"mode":"Off"}}}');
    const r = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--plugin-json', '/opt/thunder/OCDM.json', '-q']);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(custom, 'utf8')).toBe('{"classname":"OCDM","configuration":{"root":{"mode":"Container","configuration":{"containertype":"lxc"}}}}');
    expect(fs.readFileSync(path.join(s.target, 'etc/Thunder/plugins/OCDM.json'), 'utf8')).toContain('"mode":"Local"');
    const outside = path.join(dir, 'outside.json');
    fs.writeFileSync(outside, '{}');
    const o = await tbx(['prepare', '--no-doctor', 'OCDM', s.archive, '--target', s.target, '--plugin-json', outside]);
    expect(o.code).toBe(1);
    expect(o.stderr).toContain('error[PLUGIN_JSON_NOT_FOUND]');
    expect(fs.readFileSync(outside, 'utf8')).toBe('{}');
  });

  it('an architecture this host cannot run is a clear error', () => {
    let err: unknown;
    try {
      ensureBinfmt('s390x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ThunderboxError);
    expect((err as ThunderboxError).code).toBe('BINFMT_UNSUPPORTED');
  });
});
