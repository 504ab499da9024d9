import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { formatDiagnostic, type Diagnostic } from '../core/diagnostic.js';
import { Interrupted, ThunderboxError, UsageError, fromUncaughtSystemError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { layoutHelp } from './help.js';
import { printFailureJson } from './output.js';

// The whole command set, declared here; each command's flags and work live in its own file
// and are loaded only when that command runs. This is the only place that calls process.exit:
//   0 ok · 1 findings or errors · 2 usage · 130/143 interrupted · 70 internal error.

export function program(): Command {
  const p = new Command('thunderbox')
    .description('Prepare Thunder (WPEFramework) plugin LXC containers for Buildroot images')
    .version(VERSION)
    // one style for every usage error, commander's own too: error[USAGE]: ... then the hint
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'error[USAGE]: ')) })
    .showHelpAfterError('  hint: run with --help for usage')
    .exitOverride();
  // an option given an empty value ("--target ''", "--dir $UNSET") is refused: taken as given, a
  // path would resolve to the current directory, and a name to nothing, silently
  p.hook('preAction', (_root, cmd) => {
    for (const o of cmd.options) {
      const v: unknown = cmd.getOptionValue(o.attributeName());
      if (v === '' || (Array.isArray(v) && v.includes(''))) {
        throw new UsageError(`${o.long ?? o.short} was given an empty value`, `give ${o.flags} a value (an unset shell variable expands to nothing)`);
      }
    }
  });
  layoutHelp(p);
  p.addHelpText('after', `
Examples:
  thunderbox prepare OCDM output/images/rootfs.tar --target output/target
  thunderbox try OCDM --target output/target -- /bin/sh -c 'uname -m'
  thunderbox doctor OCDM --target output/target
  thunderbox demo`);
  return p;
}

const COMMANDS: Record<string, () => Promise<{ register(p: Command): void }>> = {
  prepare: () => import('./prepare.js'),
  try: () => import('./try.js'),
  doctor: () => import('./doctor.js'),
  demo: () => import('./demo.js'),
  buildroot: () => import('./buildroot.js'),
  lxc: () => import('./lxc.js'),
  oci: () => import('./oci.js'),
  kconfig: () => import('./kconfig.js'),
  net: () => import('./net.js'),
};

/**
 * Load the command being run, alone: a no-op `prepare` is mostly Node's start-up, and every
 * other command's modules would add to it. Help, a typo or no command loads them all.
 */
export async function register(p: Command, argv: string[]): Promise<void> {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  const only = first !== undefined && Object.hasOwn(COMMANDS, first) ? [COMMANDS[first]!] : Object.values(COMMANDS);
  for (const m of await Promise.all(only.map((load) => load()))) m.register(p);
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof UsageError) return 2;
  if (err instanceof ThunderboxError) return err.usage ? 2 : 1;
  if (err instanceof Interrupted) return err.signal === 'SIGTERM' ? 143 : 130;
  return 70;
}

/** What --json prints for a run that failed: the diagnostics, also for usage errors and interrupts. */
function usageDiagnostic(err: UsageError): Diagnostic {
  return { code: 'USAGE', severity: 'error', message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
}

function failureJson(err: unknown): Diagnostic[] | null {
  if (err instanceof ThunderboxError) return err.diagnostics;
  if (err instanceof UsageError) return [usageDiagnostic(err)];
  if (err instanceof CommanderError && err.exitCode !== 0) return [{ code: 'USAGE', severity: 'error', message: err.message.replace(/^error: /, ''), hint: 'run with --help for usage' }];
  if (err instanceof Interrupted) return [{ code: 'INTERRUPTED', severity: 'error', message: `${err.message}; nothing was changed` }];
  return null;
}

/**
 * A reader that goes away (`thunderbox demo | head -1`) ends the output, not the run: the work
 * finishes (or rolls back) as it would, and what it would still print is dropped.
 */
function tolerateClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    });
  }
}

export async function main(argv: string[]): Promise<void> {
  tolerateClosedOutput();
  const p = program();
  let code = 0;
  try {
    await register(p, argv);
    await p.parseAsync(argv);
    code = process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (caught) {
    const err = fromUncaughtSystemError(caught);
    code = exitCodeFor(err);
    const diagnostics = argv.includes('--json') ? failureJson(err) : null;
    if (diagnostics) printFailureJson(diagnostics);
    if (err instanceof ThunderboxError) {
      for (const d of err.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
    } else if (err instanceof UsageError) {
      process.stderr.write(formatDiagnostic(usageDiagnostic(err)) + '\n');
    } else if (err instanceof Interrupted) {
      process.stderr.write(`thunderbox: ${err.message}; nothing was changed\n`);
    } else if (!(err instanceof CommanderError)) {
      process.stderr.write(`thunderbox: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
  }
  // For the benchmark (scripts/bench.mjs): this process's peak RSS and times.
  if (process.env.THUNDERBOX_RUSAGE_FILE) fs.writeFileSync(process.env.THUNDERBOX_RUSAGE_FILE, JSON.stringify(process.resourceUsage()));
  process.exit(code);
}
