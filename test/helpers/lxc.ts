import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/**
 * Does real liblxc accept this config? lxc-info parses it without starting anything
 * (exit 0 accepted, 1 rejected). Inherited lxc.environment names must be set.
 */
export async function lxcAccepts(configFile: string): Promise<{ ok: boolean; stderr: string; utsname: string }> {
  const p = fs.mkdtempSync(path.join(os.tmpdir(), 'tbx-lxcinfo-'));
  try {
    const r = await execa('lxc-info', ['-n', 'Container', '-P', p, '--rcfile', configFile, '-c', 'lxc.uts.name', '-l', 'ERROR', '-o', '/dev/null'], {
      reject: false,
      env: { MESSAGE_DISPATCHER_CONFIG: '/tmp/MessageDispatcher' },
    });
    return { ok: r.exitCode === 0, stderr: String(r.stderr), utsname: String(r.stdout).replace(/^lxc\.uts\.name = /, '').trim() };
  } finally {
    fs.rmSync(p, { recursive: true, force: true });
  }
}
