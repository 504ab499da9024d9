import { Option, type Command } from 'commander';
import { Interrupted, failUsage } from '../core/errors.js';
import { shellQuote } from '../core/template.js';
import type { Diagnostic } from '../core/diagnostic.js';
import { tryContainer } from '../lxc/execute.js';
import { tryOnDevice } from '../lxc/try-device.js';
import { DEFAULT_DATAPATH } from '../thunder/layout.js';
import { Output } from './output.js';
import { chooseTarget } from './target.js';

interface TryFlags {
  classname?: string;
  target?: string;
  datapath?: string;
  host?: boolean;
  timeout?: string;
  logLevel?: string;
  keep?: boolean;
  start?: boolean;
  fixHostSubids?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  runtime?: 'lxc' | 'runc' | 'crun';
}

export function register(program: Command): void {
  program
    .command('try')
    .summary('start a prepared container as Thunder starts it on the device (or, with --host, on this build host)')
    .description(
      `Start the container that \`thunderbox prepare\` made, as Thunder's LXC backend starts it on the
device (as root): in a private mount namespace whose root is the image, lxc-start -n Container
-P <lxcpath> -F -- <command>, the command as the container's init by bare name, with Thunder's
environment only. Every lxc.include, hook, seccomp profile, /etc/subuid and newuidmap is the
image's; this host lends only lxc-start and its libraries, and the kernel (qemu-user through
binfmt_misc for an ARM image). The device's /tmp is a fresh directory holding Thunder's
communicator socket (/tmp/communicator, mode 0777). The image is not changed.
"started" means the command really ran; its exit status is thunderbox's. When the container did
not start, liblxc's first specific error is printed and the exit status is 1 (124 on a timeout).

--host is the older mode for a build host whose image has no LXC of its own: lxc-execute (or
lxc-start with --start) on this host, with the config rewritten to the tree here, this host's
includes, hooks, /tmp and subids, and this host's environment.`,
    )
    .argument('<callsign>', 'the prepared container, e.g. OCDM')
    .argument('[cmd...]', 'command to run inside (default: ThunderPlugin if the rootfs has it, else /bin/sh -c true)')
    .option('--target <dir>', 'image root (default $TARGET_DIR, else the current directory)')
    .option('--datapath <path>', `Thunder data path on the device (default: the image's Thunder config, else ${DEFAULT_DATAPATH})`)
    .option('--classname <name>', 'the plugin\'s class when no plugin JSON says it (a container prepared with --no-plugin-json --classname)')
    .option('--timeout <seconds>', 'stop the container after this long (default 30; also with --host)')
    .option('--log-level <level>', 'liblxc log level: TRACE, DEBUG (default) or INFO')
    .addOption(new Option('--runtime <name>', 'lxc (default), or start the OCI bundle as Thunder\'s runc backend does: create --no-new-keyring --bundle, exec --detach --env, delete --force, with the image\'s /usr/bin/runc (or crun; this host\'s lent there when the image has none)').choices(['lxc', 'runc', 'crun']))
    .option('--host', 'the older mode: start on this build host (lxc-execute, its includes, hooks, /tmp and environment), for an image without LXC')
    .option('--start', 'with --host: use lxc-start, the command is the container\'s init (default there: lxc-execute, with lxc-init as init)')
    .option('--keep', 'with --host: keep the temporary lxcpath (config and lxc.log) for inspection')
    .option('--fix-host-subids', 'with --host: add the /etc/subuid and /etc/subgid lines the idmap needs on this host (as root)')
    .option('--json', 'print a machine-readable result (output captured)')
    .option('-q, --quiet', 'print only errors (and the command\'s output)')
    .option('-v, --verbose', 'print the LXC log (and with --host the config used)')
    .addHelpText(
      'after',
      `
Examples:
  thunderbox try OCDM --target output/target
  thunderbox try OCDM --target output/target -- /bin/sh -c 'uname -m; env'
  thunderbox try OCDM --target output/target --host`,
    )
    .action(async (callsign: string, cmd: string[], f: TryFlags) => {
      if (f.host && f.runtime && f.runtime !== 'lxc') failUsage('TRY_HOST_LXC', '--host starts LXC containers only', 'leave out --host to start the OCI bundle as on the device');
      if (f.host) return tryOnHost(callsign, cmd, f);
      if (f.runtime === 'runc' || f.runtime === 'crun') return tryOci(callsign, cmd, f, f.runtime);
      refuseHostOnly(f, (flag) => (flag === '--fix-host-subids' ? "the device-faithful start uses the image's /etc/subuid and /etc/subgid (thunderbox doctor reports missing lines); add --host to fix this host's" : `add --host, or leave ${flag} out`));
      const timeoutMs = parseTimeout(f.timeout);
      const out = new Output(f);
      const t = chooseTarget(f.target);
      const r = await untilInterrupted((signal) =>
        tryOnDevice({
          target: t.target,
          datapath: f.datapath,
          callsign,
          classname: f.classname,
          command: cmd,
          timeoutMs,
          logLevel: f.logLevel,
          signal,
          onOutput: f.json ? undefined : (s) => process.stdout.write(s),
          onChosen: (c) => {
            if (!f.quiet && !f.json) process.stderr.write(`thunderbox: ${callsign}: container ${c}\n`);
          },
        }),
      );
      out.diagnostics(r.notes);
      if (r.lxcLog) out.detail(r.lxcLog.trimEnd());
      if (r.communicator) out.detail(`communicator ${r.communicator.path} (mode ${r.communicator.mode.toString(8)}): ${r.communicator.connected ? `connected${r.communicator.bytes ? `, ${Buffer.byteLength(r.communicator.bytes)} bytes` : ''}` : 'nobody connected'}`);
      const what = commandLine(r.command);
      sayEnd(f, callsign, r, what, timeoutMs, 'liblxc gave no reason', `${what} exited with status ${r.exitCode}`);
      const code = !r.started ? 1 : r.timedOut ? 124 : (r.exitCode ?? 1);
      const ran: Diagnostic[] = code === 0 ? [] : [!r.started ? { code: 'TRY_NOT_STARTED', severity: 'error', message: `${callsign}: the container did not start${r.error ? `: ${r.error}` : ''}`, hint: 'liblxc\'s first specific error is in "error"; thunderbox doctor names the cause' } : r.timedOut ? timedOut(callsign) : { code: 'TRY_EXIT_STATUS', severity: 'error', message: `${callsign}: ${what} exited with status ${r.exitCode}`, hint: 'its output is in "output"' }];
      out.json(code === 0, [...r.notes, ...ran], { callsign, container: r.container, command: r.command, started: r.started, exitCode: r.exitCode, error: r.error ?? null, timedOut: r.timedOut, output: r.output, communicator: r.communicator ?? null, notes: r.notes, ...(f.verbose ? { lxcLog: r.lxcLog } : {}) });
      process.exitCode = code;
    });
}

/** The command as a shell would take it back: each word quoted where it needs it. */
export function commandLine(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** --runtime runc|crun: the OCI bundle, started as Thunder's runc backend starts it (src/oci/try-device.ts). */
async function tryOci(callsign: string, cmd: string[], f: TryFlags, runtime: 'runc' | 'crun'): Promise<void> {
  if (f.logLevel !== undefined) failUsage('TRY_LXC_ONLY', '--log-level is liblxc\'s', 'leave it out with --runtime runc or crun');
  refuseHostOnly(f, (flag) => `leave ${flag} out`);
  const timeoutMs = parseTimeout(f.timeout);
  const out = new Output(f);
  const t = chooseTarget(f.target);
  const { tryOciOnDevice } = await import('../oci/try-device.js');
  // Ctrl-C or a TERM stops the command and deletes the container before thunderbox exits
  const r = await untilInterrupted((signal) =>
    tryOciOnDevice({
      target: t.target,
      datapath: f.datapath,
      callsign,
      classname: f.classname,
      runtime,
      command: cmd,
      timeoutMs,
      signal,
      onOutput: f.json ? undefined : (s) => process.stdout.write(s),
      onChosen: (c) => {
        if (!f.quiet && !f.json) process.stderr.write(`thunderbox: ${callsign}: bundle ${c} (${runtime})\n`);
      },
    }),
  );
  out.diagnostics(r.diagnostics);
  if (f.verbose) {
    for (const c of r.calls) out.detail(`${c.argv.join(' ')}: exit ${c.status} in ${c.ms} ms`);
    if (r.log) out.detail(r.log.trimEnd());
  }
  if (r.communicator) out.detail(`communicator ${r.communicator.path} (mode ${r.communicator.mode.toString(8)}): ${r.communicator.connected ? 'connected' : 'nobody connected'}`);
  const what = r.command.join(' ');
  sayEnd(f, callsign, r, what, timeoutMs, `${runtime} gave no reason`, `${what} ran and ended (${runtime} exec --detach gives no exit status, as under Thunder)`);
  const code = !r.started ? 1 : r.timedOut ? 124 : 0;
  const ran: Diagnostic[] = code === 0 ? [] : [!r.started ? { code: 'TRY_NOT_STARTED', severity: 'error', message: `${callsign}: the bundle did not start${r.error ? `: ${r.error}` : ''}`, hint: `thunderbox oci check names the cause in config.json; ${runtime}'s log is ${r.logPath} on the device` } : timedOut(callsign)];
  out.json(code === 0, [...r.diagnostics, ...ran], { callsign, container: r.container, runtime, runtimeSource: r.runtimeSource, command: r.command, started: r.started, exitCode: null, error: r.error ?? null, timedOut: r.timedOut, output: r.output, communicator: r.communicator ?? null, calls: r.calls, log: r.log });
  process.exitCode = code;
}

/** --host: today's start on the build host (src/lxc/execute.ts). */
async function tryOnHost(callsign: string, cmd: string[], f: TryFlags): Promise<void> {
  if (f.logLevel !== undefined) failUsage('TRY_DEVICE_ONLY', '--log-level applies to the device-faithful start only', 'leave out --host, or the flag');
  const timeoutMs = parseTimeout(f.timeout);
  const out = new Output(f);
  const t = chooseTarget(f.target);
  const r = await tryContainer({ target: t.target, datapath: f.datapath, callsign, classname: f.classname, command: cmd, capture: f.json === true, keep: f.keep === true, fixHostSubids: f.fixHostSubids === true, start: f.start === true, timeoutMs });
  out.diagnostics(r.notes);
  if (f.verbose) {
    out.detail(r.config.trimEnd().replace(/^/gm, '  | '));
    if (r.lxcLog) out.detail(r.lxcLog.trimEnd());
  }
  // lxc-execute already printed its ERROR lines on the inherited stderr: the log file holds
  // the same lines again (with --verbose it is shown above)
  if (!f.quiet && !f.json) {
    process.stderr.write(r.started ? `thunderbox: ${callsign}: ${commandLine(r.command)} exited with status ${r.exitCode}\n` : `thunderbox: ${callsign}: the container did not start (liblxc's errors above); ${commandLine(r.command)} did not run\n`);
  }
  const ran: Diagnostic[] = r.exitCode === 0 ? [] : [r.started ? { code: 'TRY_EXIT_STATUS', severity: 'error', message: `${callsign}: ${commandLine(r.command)} exited with status ${r.exitCode}`, hint: 'its output is in stdout and stderr' } : { code: 'TRY_NOT_STARTED', severity: 'error', message: `${callsign}: the container did not start`, hint: 'liblxc\'s errors are in stderr and lxcLog' }];
  out.json(r.exitCode === 0, [...r.notes, ...ran], { callsign, started: r.started, command: r.command, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, lxcLog: r.lxcLog, notes: r.notes });
  process.exitCode = r.exitCode;
}

/** --start, --keep and --fix-host-subids are --host's: an error (TRY_HOST_ONLY) without it, with `hint`. */
function refuseHostOnly(f: TryFlags, hint: (flag: string) => string): void {
  for (const [flag, on] of [['--start', f.start], ['--keep', f.keep], ['--fix-host-subids', f.fixHostSubids]] as const) {
    if (on) failUsage('TRY_HOST_ONLY', `${flag} applies to --host only`, hint(flag));
  }
}

/**
 * A device-faithful start's last line on stderr (none with --json; with -q only a failed start's):
 * why it did not start (`noReason` when the runtime gave none), the timeout, or how `what` ended.
 */
function sayEnd(f: TryFlags, callsign: string, r: { started: boolean; timedOut: boolean; error?: string }, what: string, timeoutMs: number | undefined, noReason: string, ended: string): void {
  if (f.json) return;
  if (!r.started) process.stderr.write(`thunderbox: ${callsign}: did not start: ${r.error ?? noReason}\n`);
  else if (!f.quiet) process.stderr.write(r.timedOut ? `thunderbox: ${callsign}: started; ${what} was stopped after ${(timeoutMs ?? 30_000) / 1000} s (--timeout)\n` : `thunderbox: ${callsign}: started; ${ended}\n`);
}

function timedOut(callsign: string): Diagnostic {
  return { code: 'TRY_TIMEOUT', severity: 'error', message: `${callsign}: stopped after the timeout`, hint: 'raise --timeout, or make the command end' };
}

/** --timeout SECONDS, in milliseconds (undefined: the default). */
function parseTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = Number(v);
  if (!Number.isFinite(s) || s <= 0) failUsage('TRY_TIMEOUT', `--timeout ${v} is not a number of seconds`, 'e.g. --timeout 10');
  return s * 1000;
}

/** Runs a start that stops (and cleans up) when its signal aborts: on SIGINT or SIGTERM, with Interrupted. */
async function untilInterrupted<T>(start: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => ac.abort(new Interrupted(sig));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await start(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
