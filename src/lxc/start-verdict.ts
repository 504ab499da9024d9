// What a device-faithful start did, read from liblxc's log (lxc-start -l DEBUG -o FILE) and the
// container's console. lxc-start's own exit status says nothing about the command: measured with
// liblxc 5.0.2, `lxc-start -F` exits 0 when init exited 3, and also when init could not load its
// libc (the loader printed "error while loading shared libraries" and exited 127). So:
//
//   started   liblxc logged `Started "<cmd>" with pid` (NOTICE, start.c post_start: after the
//             exec) and did not log `Failed to exec` (ERROR, start.c: execve failed: missing
//             file, missing ELF interpreter, a CRLF or missing shebang interpreter, no x bit,
//             ENOEXEC), and the console does not begin with the dynamic loader's own refusal
//             with status 127 (the program was exec'd but never ran a line of its own).
//   exitCode  `Child <pid> ended on error (N)` (INFO, error.c) gives N; `ended on signal
//             Killed(9)` gives 128+9 as a shell does; neither (at DEBUG: `Container init process N
//             exited` alone) means 0. Null when it did not end by itself (lxc-stop -k on a timeout or a
//             signal: the log then says Killed(9)).
//   error     when it did not start: liblxc's first ERROR line that names a cause (the ones that
//             only say the start failed as a whole are passed over), a failed hook with the hook
//             it ran (`Executing script "..."`) in front, or the loader's line.

export interface StartVerdict {
  started: boolean;
  exitCode: number | null;
  error?: string;
}

interface LogLine {
  level: string;
  message: string;
}

// lxc-start Container 20261201084927.600 ERROR    conf - ../src/lxc/conf.c:run_buffer:322 - Script exited with status 1
const LINE = /^\S+ .*? \d{14}\.\d{3} ([A-Z]+)\s+\S+ - \S+:\d+ - (.*)$/;

/** ERROR lines that only say that the start as a whole failed, logged after the cause. */
const GENERIC = [
  /^Failed to spawn container/,
  /^The container failed to start/,
  /^Additional information can be obtained/,
  /An error occurred in another process/,
  /^Failed to initialize container/,
  /^Failed to start container/,
  /^Failed to run lxc\.hook\./,
  /^Failed to setup container/,
  /^Failed to create lxc_container/,
];

/** The dynamic loader's refusal, as the program's first words: glibc, musl, uClibc. */
const LOADER = /error while loading shared libraries|^Error loading shared library|^Error relocating|can't load library/m;

export function parseLxcLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const l of text.split('\n')) {
    const m = LINE.exec(l);
    if (m) out.push({ level: m[1]!, message: m[2]! });
  }
  return out;
}

export function readVerdict(lxcLog: string, output: string, opts: { stderr?: string; stopped?: boolean } = {}): StartVerdict {
  const lines = parseLxcLog(lxcLog);
  const errors = lines.filter((l) => l.level === 'ERROR' || l.level === 'CRIT' || l.level === 'FATAL' || l.level === 'ALERT');
  const sawStarted = lines.some((l) => /^Started ".*" with pid/.test(l.message));
  const execFailed = errors.find((l) => /Failed to exec "/.test(l.message));
  let exitCode: number | null = null;
  for (const l of lines) {
    const e = /ended on error \((\d+)\)/.exec(l.message);
    if (e) exitCode = Number(e[1]);
    const s = /ended on signal .*\((\d+)\)/.exec(l.message);
    if (s) exitCode = 128 + Number(s[1]);
  }
  if (exitCode === null && sawStarted) exitCode = 0;
  if (opts.stopped) exitCode = null; // killed by lxc-stop -k (137): not how the command ended
  const first = output.replace(/^\s+/, '').split('\n')[0] ?? '';
  const loaderFailed = exitCode === 127 && LOADER.test(first);
  const started = sawStarted && !execFailed && !loaderFailed;
  if (started) return { started, exitCode };
  if (loaderFailed) return { started: false, exitCode: null, error: first.trim() };
  return { started: false, exitCode: null, error: firstError(lines, errors) ?? (opts.stderr?.trim().split('\n')[0] || undefined) };
}

function firstError(lines: LogLine[], errors: LogLine[]): string | undefined {
  const cause = errors.find((l) => !GENERIC.some((g) => g.test(l.message)));
  const hook = errors.map((l) => /^Failed to run (lxc\.hook\.\S+)/.exec(l.message)?.[1]).find((h) => h !== undefined);
  if (hook) {
    const at = lines.indexOf(errors.find((l) => l.message.startsWith(`Failed to run ${hook}`))!);
    const script = lines.slice(0, at).reverse().map((l) => /^Executing script "(.*)" for container/.exec(l.message)?.[1]).find((s) => s !== undefined);
    return `${hook}${script ? ` "${script}"` : ''} failed: ${cause?.message ?? 'the hook failed'}`;
  }
  return cause?.message ?? errors[0]?.message;
}
