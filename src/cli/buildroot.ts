import type { Command } from 'commander';
import { DEFAULT_DATAPATH } from '../thunder/layout.js';
import { Output } from './output.js';

interface Flags {
  datapath?: string;
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command): void {
  const br = program.command('buildroot').summary('entry points for Buildroot hooks').description('Entry points for Buildroot\'s post-build and post-fakeroot scripts.');
  br.command('post-fakeroot')
    .summary('apply the ownership recorded by a non-root `prepare`, inside fakeroot')
    .description(
      `Apply every permission table that \`thunderbox prepare\` wrote as a normal user
(<target><datapath>/<Callsign>/Container/device_table.txt) to TARGET_DIR, with makedevs'
semantics, so the image holds the shifted owners. Buildroot runs post-fakeroot scripts inside
fakeroot with TARGET_DIR first and BR2_ROOTFS_POST_SCRIPT_ARGS after it (ignored here).
Pointing BR2_ROOTFS_DEVICE_TABLE at the same tables gives the same image.`,
    )
    .argument('<target>', 'TARGET_DIR (Buildroot passes it as the first argument)')
    .argument('[args...]', 'BR2_ROOTFS_POST_SCRIPT_ARGS (ignored)')
    .option('--datapath <path>', `Thunder data path on the device (default ${DEFAULT_DATAPATH})`)
    .option('--json', 'print a machine-readable summary')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', '\nExample (board/raspberrypi3/post-fakeroot.sh):\n  thunderbox buildroot post-fakeroot "$@"')
    .action(async (target: string, _args: string[], f: Flags) => {
      const { postFakeroot } = await import('../buildroot/post-fakeroot.js');
      const out = new Output(f);
      const r = postFakeroot(target, f.datapath ?? DEFAULT_DATAPATH);
      out.say(r.tables.length ? `applied ${r.lines} permission lines from ${r.tables.length} table(s): ${r.tables.join(', ')}` : 'no permission tables to apply');
      out.json({ ok: true, tables: r.tables, lines: r.lines });
    });
}
