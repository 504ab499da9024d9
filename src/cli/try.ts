import type { Command } from 'commander';
import type { Diagnostic } from '../core/diagnostic.js';
import { tryContainer } from '../lxc/execute.js';
import { DEFAULT_DATAPATH } from '../thunder/layout.js';
import { Output } from './output.js';
import { chooseTarget } from './target.js';

interface TryFlags {
  target?: string;
  datapath?: string;
  keep?: boolean;
  start?: boolean;
  fixHostSubids?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export function register(program: Command): void {
  program
    .command('try')
    .summary('start a prepared container on this build host with lxc-execute (or lxc-start)')
    .description(
      `Start the container that \`thunderbox prepare\` made, on this machine, with the real lxc-execute
(as root). The config is the device's, with lxc.rootfs.path pointing at the tree here; idmap,
mounts and environment are the same. An ARM rootfs runs through qemu-user (binfmt_misc).
The command's exit status is thunderbox's exit status. With --start (lxc-start, the command is
the container's init as on the device) the console output is printed when the container stops,
and the status is lxc-start's: 0 when the container started and stopped cleanly.`,
    )
    .argument('<callsign>', 'the prepared container, e.g. OCDM')
    .argument('[cmd...]', 'command to run inside (default: ThunderPlugin if present, else /bin/sh -c true)')
    .option('--target <dir>', 'image root (default $TARGET_DIR, else the current directory)')
    .option('--datapath <path>', `Thunder data path on the device (default ${DEFAULT_DATAPATH})`)
    .option('--start', 'use lxc-start: the command is the container\'s init, as Thunder starts it (default: lxc-execute, with lxc-init as init)')
    .option('--keep', 'keep the temporary lxcpath (config and lxc.log) for inspection')
    .option('--fix-host-subids', 'add the /etc/subuid and /etc/subgid lines the idmap needs on this host (with newuidmap installed, liblxc needs them even as root)')
    .option('--json', 'print a machine-readable result (output captured)')
    .option('-q, --quiet', 'print only errors')
    .option('-v, --verbose', 'print the config used and the LXC log')
    .addHelpText(
      'after',
      `
Examples:
  thunderbox try OCDM --target output/target
  thunderbox try OCDM --target output/target -- /bin/sh -c 'uname -m; env'`,
    )
    .action(async (callsign: string, cmd: string[], f: TryFlags) => {
      const out = new Output(f);
      const t = chooseTarget(f.target);
      const r = await tryContainer({ target: t.target, datapath: f.datapath ?? DEFAULT_DATAPATH, callsign, command: cmd, capture: f.json === true, keep: f.keep === true, fixHostSubids: f.fixHostSubids === true, start: f.start === true });
      out.diagnostics(r.notes);
      if (f.verbose) {
        out.detail(r.config.trimEnd().replace(/^/gm, '  | '));
        if (r.lxcLog) out.detail(r.lxcLog.trimEnd());
      }
      if (r.exitCode !== 0 && r.lxcLog && !f.json) process.stderr.write(r.lxcLog);
      if (!f.quiet && !f.json) {
        process.stderr.write(r.started ? `thunderbox: ${callsign}: ${r.command.join(' ')} exited with status ${r.exitCode}\n` : `thunderbox: ${callsign}: the container did not start (liblxc's errors above); ${r.command.join(' ')} did not run\n`);
      }
      const ran: Diagnostic[] = r.exitCode === 0 ? [] : [r.started ? { code: 'TRY_EXIT_STATUS', severity: 'error', message: `${callsign}: ${r.command.join(' ')} exited with status ${r.exitCode}`, hint: 'its output is in stdout and stderr' } : { code: 'TRY_NOT_STARTED', severity: 'error', message: `${callsign}: the container did not start`, hint: 'liblxc\'s errors are in stderr and lxcLog' }];
      out.json(r.exitCode === 0, [...r.notes, ...ran], { callsign, started: r.started, command: r.command, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, lxcLog: r.lxcLog, notes: r.notes });
      process.exitCode = r.exitCode;
    });
}
