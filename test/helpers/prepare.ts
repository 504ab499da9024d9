import fs from 'node:fs';
import path from 'node:path';
import { applyPlan } from '../../src/core/transaction.js';
import type { ContainerInput } from '../../src/profile/input.js';
import { resolveContainer } from '../../src/profile/resolve.js';
import { planPrepare } from '../../src/thunder/prepare.js';

/** prepare, in-process: resolve, plan, apply. */
export async function prepareIn(target: string, callsign: string, input: ContainerInput, opts: { force?: boolean; epoch?: number } = {}) {
  const spec = resolveContainer(callsign, { pluginJson: false, ...input }, { target });
  const { plan, reports } = await planPrepare(
    { target, datapath: '/usr/share/Thunder', containers: [spec], force: opts.force ?? false, isRoot: process.getuid?.() === 0, toolVersion: 'test', epoch: opts.epoch },
    { scan: false },
  );
  const result = await applyPlan(plan);
  return { plan, reports, result, dir: path.join(target, 'usr/share/Thunder', callsign, 'Container') };
}

/**
 * Everything below a directory, for "nothing changed" checks: names, modes, sizes, and the
 * mtimes of everything but directories (whose mtime the lock file and staging touch).
 */
export function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(path.join(root, r));
      out.push(`${r} ${st.mode.toString(8)} ${st.isDirectory() ? '-' : st.size} ${st.isDirectory() ? '-' : st.mtimeMs}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}
