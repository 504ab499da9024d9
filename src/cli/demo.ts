import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { sourceDateEpoch } from '../core/epoch.js';
import { program as newProgram } from './main.js';
import { register as registerPrepare } from './prepare.js';

interface DemoFlags {
  dir?: string;
}

function listTree(root: string, rel = '', out: string[] = []): string[] {
  for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = fs.lstatSync(path.join(root, r));
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    const what = st.isSymbolicLink() ? ` -> ${fs.readlinkSync(path.join(root, r))}` : st.isDirectory() ? '/' : st.nlink > 1 ? ` (${st.nlink} links)` : '';
    out.push(`  ${mode} ${String(st.uid).padStart(6)}:${String(st.gid).padEnd(6)} ${r}${what}`);
    if (st.isDirectory()) listTree(root, r, out);
  }
  return out;
}

export function register(program: Command): void {
  program
    .command('demo')
    .summary('run `prepare` on a built-in sample rootfs and image (no input needed)')
    .description('Generate a small armhf-looking rootfs.tar and an image root holding OCDM.json (Local mode) and\nLXC\'s common.conf, run `thunderbox prepare OCDM rootfs.tar --target <image>`, and show what it made.')
    .option('--dir <dir>', 'where to put the sample (default: a new temporary directory, kept)')
    .addHelpText('after', '\nExample:\n  thunderbox demo --dir /tmp/tb-demo && thunderbox try OCDM --target /tmp/tb-demo/target')
    .action(async (f: DemoFlags) => {
      const { createTwoFilesPatch } = await import('diff');
      const { SAMPLE_PLUGIN_JSON, writeSample } = await import('../thunder/sample.js');
      const dir = f.dir ? path.resolve(f.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'thunderbox-demo-'));
      fs.mkdirSync(dir, { recursive: true });
      // mkdtemp makes it 0700: the container's mapped root must pass through it for `try`
      if (!f.dir) fs.chmodSync(dir, 0o755);
      const sample = writeSample(dir, sourceDateEpoch() ?? 1700000000);
      const args = ['prepare', 'OCDM', sample.archive, '--target', sample.target];
      process.stdout.write(`sample rootfs: ${sample.archive}\nsample image:  ${sample.target}\n\n$ thunderbox ${args.join(' ')}\n`);
      const p = newProgram();
      registerPrepare(p);
      await p.parseAsync(['node', 'thunderbox', ...args]);
      const c = path.join(sample.target, 'usr/share/Thunder/OCDM/Container');
      process.stdout.write(`\n${path.join(c, 'config')}:\n${fs.readFileSync(path.join(c, 'config'), 'utf8').replace(/^/gm, '  ')}\n`);
      const json = path.join(sample.target, 'etc/Thunder/plugins/OCDM.json');
      process.stdout.write(createTwoFilesPatch('OCDM.json (before)', 'OCDM.json (after)', SAMPLE_PLUGIN_JSON, fs.readFileSync(json, 'utf8')) + '\n');
      process.stdout.write(`${path.join(c, 'rootfs')} (mode uid:gid path):\n${listTree(path.join(c, 'rootfs')).join('\n')}\n`);
      process.stdout.write(`\nRun it again and nothing changes: thunderbox ${args.join(' ')}\n`);
    });
}
