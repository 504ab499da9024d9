import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { sourceDateEpoch } from '../core/epoch.js';
import { fail } from '../core/errors.js';
import { program as newProgram } from './main.js';
import { register as registerPrepare } from './prepare.js';
import { Output, captureJson, type JsonDiagnostic } from './output.js';

interface DemoFlags {
  dir?: string;
  json?: boolean;
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

/** Left in a demo's directory: a second `demo --dir` on it runs prepare again instead of refusing it. */
const DEMO_MARK = '.thunderbox-demo';

/** What --dir names: nothing or an empty directory (a new sample goes there), an earlier demo, or else an error. */
function demoDirState(dir: string): 'new' | 'demo' {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st) return 'new';
  if (!st.isDirectory()) fail('DEMO_DIR_NOT_DIR', `demo --dir ${dir}: that is a file, not a directory`, 'give a directory that does not exist yet (demo makes it), or an empty one', { file: dir });
  const names = fs.readdirSync(dir);
  if (names.length === 0) return 'new';
  if (names.includes(DEMO_MARK)) return 'demo';
  fail('DEMO_DIR_NOT_EMPTY', `demo --dir ${dir}: the directory is not empty and does not hold an earlier demo (it has ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`, 'give a new or empty directory; demo writes its sample there and will not mix it with other files', { file: dir });
}

export function register(program: Command): void {
  program
    .command('demo')
    .summary('run `prepare` on a built-in sample rootfs and image (no input needed)')
    .description('Generate a small armhf-looking rootfs.tar and an image root holding OCDM.json (Local mode) and\nLXC\'s common.conf, run `thunderbox prepare OCDM rootfs.tar --target <image>`, and show what it made.')
    .option('--dir <dir>', 'where to put the sample (default: a new temporary directory, kept)')
    .option('--json', 'print {ok, diagnostics, dir, archive, target, config, prepare} as JSON (prepare: its own --json document)')
    .addHelpText('after', '\nExample:\n  thunderbox demo --dir /tmp/tb-demo &&\n    thunderbox try OCDM --target /tmp/tb-demo/target')
    .action(async (f: DemoFlags) => {
      const { createTwoFilesPatch } = await import('diff');
      // --json: one document, prepare's inside it; no text
      const write = (text: string) => {
        if (!f.json) process.stdout.write(text);
      };
      const { SAMPLE_PLUGIN_JSON, writeSample } = await import('../thunder/sample.js');
      const dir = f.dir ? path.resolve(f.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'thunderbox-demo-'));
      const again = f.dir !== undefined && demoDirState(dir) === 'demo';
      fs.mkdirSync(dir, { recursive: true });
      // mkdtemp makes it 0700: the container's mapped root must pass through it for `try`
      if (!f.dir) fs.chmodSync(dir, 0o755);
      const sample = again ? { archive: path.join(dir, 'rootfs.tar'), target: path.join(dir, 'target') } : writeSample(dir, sourceDateEpoch() ?? 1700000000);
      if (!again) fs.writeFileSync(path.join(dir, DEMO_MARK), 'made by thunderbox demo: `thunderbox demo --dir` runs prepare here again\n');
      const args = ['prepare', 'OCDM', sample.archive, '--target', sample.target];
      if (again) write(`${dir} holds the sample of an earlier demo: prepare runs on it again\n`);
      write(`sample rootfs: ${sample.archive}\nsample image:  ${sample.target}\n\n$ thunderbox ${args.join(' ')}\n`);
      const p = newProgram();
      registerPrepare(p);
      const prepared = await captureJson(() => p.parseAsync(['node', 'thunderbox', ...args, ...(f.json ? ['--json'] : [])]));
      const c = path.join(sample.target, 'usr/share/Thunder/OCDM/Container');
      const config = fs.readFileSync(path.join(c, 'config'), 'utf8');
      const kept = `The sample stays in ${dir} for thunderbox try OCDM --target ${sample.target}; remove it with rm -rf ${dir} (as root: the rootfs belongs to the container's ids). --dir DIR puts it where you choose, and runs prepare there again the next time.`;
      if (f.json) {
        new Output(f).json(prepared?.ok !== false, (prepared?.diagnostics as JsonDiagnostic[] | undefined) ?? [], { dir, archive: sample.archive, target: sample.target, again, kept: f.dir ? null : kept, config, prepare: prepared });
        return;
      }
      write(`\n${path.join(c, 'config')}:\n${config.replace(/^/gm, '  ')}\n`);
      const json = path.join(sample.target, 'etc/Thunder/plugins/OCDM.json');
      write(createTwoFilesPatch('OCDM.json (before)', 'OCDM.json (after)', SAMPLE_PLUGIN_JSON, fs.readFileSync(json, 'utf8')) + '\n');
      write(`${path.join(c, 'rootfs')} (mode uid:gid path):\n${listTree(path.join(c, 'rootfs')).join('\n')}\n`);
      write(`\nRun it again and nothing changes: thunderbox ${args.join(' ')}\n`);
      // a directory of its own (a new one each run without --dir), kept for `try` and a second look
      if (!f.dir) write(`\n${kept}\n`);
    });
}
