import type { Diagnostic } from './diagnostic.js';

// The whole error set. Only the CLI entry turns these into exit codes (see cli/main.ts):
//   UsageError and a ThunderboxError marked usage -> 2, ThunderboxError -> 1,
//   Interrupted -> 130/143, anything else -> 70 (internal).

/**
 * Bad input or a failed check: carries one or more diagnostics; exit 1. Marked `usage` when the
 * command line itself is wrong (a malformed flag value, a missing argument): exit 2.
 */
export class ThunderboxError extends Error {
  readonly diagnostics: Diagnostic[];
  readonly usage: boolean;
  constructor(diagnostics: Diagnostic | Diagnostic[], opts: { usage?: boolean } = {}) {
    const list = Array.isArray(diagnostics) ? diagnostics : [diagnostics];
    super(list.map((d) => d.message).join('; '));
    this.name = 'ThunderboxError';
    this.diagnostics = list;
    this.usage = opts.usage === true;
  }
  get code(): string {
    return this.diagnostics[0]?.code ?? 'error';
  }
}

/** Wrong flags or arguments; exit 2. */
export class UsageError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'UsageError';
    this.hint = hint;
  }
}

/** SIGINT / SIGTERM arrived; the transaction was rolled back. */
export class Interrupted extends Error {
  readonly signal: NodeJS.Signals;
  constructor(signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
    this.signal = signal;
  }
}

export function fail(code: string, message: string, hint: string, where: Partial<Diagnostic> = {}): never {
  throw new ThunderboxError({ code, severity: 'error', message, hint, ...where });
}

/** fail() for a wrong command line: the same diagnostic, exit 2. */
export function failUsage(code: string, message: string, hint: string): never {
  throw new ThunderboxError({ code, severity: 'error', message, hint }, { usage: true });
}

/** Node's system errors carry a code; this reads it without `any`. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/**
 * A filesystem error turned into a diagnostic that says what to do. Anything else passes
 * through unchanged (and ends as an internal error).
 */
export function fromSystemError(err: unknown, doing: string): unknown {
  if (err instanceof ThunderboxError || err instanceof Interrupted || err instanceof UsageError) return err;
  const code = errnoCode(err);
  const file = typeof err === 'object' && err !== null && 'path' in err && typeof err.path === 'string' ? err.path : undefined;
  const at = file ? ` (${file})` : '';
  const hints: Record<string, [string, string]> = {
    ENOSPC: ['DISK_FULL', 'free space on that filesystem and run again'],
    EDQUOT: ['DISK_FULL', 'raise the disk quota or free space and run again'],
    EACCES: ['PERMISSION_DENIED', 'run as a user who may write there (or as root)'],
    EPERM: ['PERMISSION_DENIED', 'run as root, or as the owner of the image root'],
    EROFS: ['READ_ONLY_FS', 'the image root is on a read-only filesystem; remount it read-write'],
    EMFILE: ['TOO_MANY_FILES', 'raise the open-file limit (ulimit -n)'],
  };
  const h = code ? hints[code] : undefined;
  if (!h) return err;
  return new ThunderboxError({ code: h[0], severity: 'error', message: `${doing} failed: ${code}${at}; nothing was changed`, hint: h[1], ...(file ? { file } : {}) });
}

/**
 * The last line of defence (cli/main.ts): a filesystem error that no command turned into a
 * diagnostic is still the environment, not a bug: a read-only or full filesystem, a path this
 * user may not write, a file that is not there. It becomes a coded error naming the path and
 * the fix (exit 1) instead of an internal error with a stack (exit 70). Other errors pass.
 */
export function fromUncaughtSystemError(err: unknown): unknown {
  if (err instanceof ThunderboxError || err instanceof Interrupted || err instanceof UsageError) return err;
  const code = errnoCode(err);
  if (!code || typeof err !== 'object' || err === null) return err;
  const str = (k: string): string | undefined => (k in err && typeof (err as Record<string, unknown>)[k] === 'string' ? ((err as Record<string, unknown>)[k] as string) : undefined);
  const raw = str('path');
  if (!raw) return err;
  // writeFileAtomic's temporary file (.NAME.tbx-tmp-PID-RANDOM) stands for the file it writes
  const tmp = /^(.*\/)?\.(.+)\.tbx-tmp-\d+-[0-9a-f]+$/.exec(raw);
  const file = tmp ? `${tmp[1] ?? ''}${tmp[2]}` : raw;
  const dest = str('dest');
  const syscall = str('syscall') ?? 'access';
  const uid = process.getuid?.();
  const table: Record<string, [string, string, string]> = {
    EROFS: ['READ_ONLY_FS', 'is on a read-only filesystem', 'remount it read-write, or work on a writable copy'],
    EACCES: ['PERMISSION_DENIED', `is not accessible to this user (uid ${uid})`, 'run as a user who may write there (the owner, or root), or change its owner or mode'],
    EPERM: ['PERMISSION_DENIED', `may not be changed by this user (uid ${uid})`, 'run as root, or as the owner'],
    ENOSPC: ['DISK_FULL', 'is on a full filesystem', 'free space on that filesystem and run again'],
    EDQUOT: ['DISK_FULL', 'is over the disk quota', 'raise the quota or free space and run again'],
    EMFILE: ['TOO_MANY_FILES', 'could not be opened: too many open files', 'raise the open-file limit (ulimit -n)'],
    ENOENT: ['PATH_NOT_FOUND', 'does not exist', 'check the path'],
    ENOTDIR: ['PATH_NOT_DIR', 'has a part that is not a directory', 'check the path'],
    EISDIR: ['PATH_IS_DIR', 'is a directory', 'give a file'],
    ENAMETOOLONG: ['PATH_TOO_LONG', 'is too long for the system (a name over 255 bytes, or a path over 4096)', 'give a shorter path'],
    ELOOP: ['PATH_LOOP', 'goes through too many symbolic links (a loop?)', 'check the symbolic links on the path'],
  };
  // Node's recursive mkdir says ENOENT also when the parent is there but read-only
  if (code === 'ENOENT' && syscall === 'mkdir') table.ENOENT = ['PATH_NOT_FOUND', 'could not be made', 'check that its parent exists and this user may write there'];
  const t = table[code];
  if (!t) return err;
  const shown = shortPath(file);
  return new ThunderboxError({ code: t[0], severity: 'error', file: shown, message: `${shown}${dest ? ` (${syscall} to ${shortPath(dest)})` : ''} ${t[1]}: ${syscall} failed with ${code}`, hint: t[2] });
}

/** A path for a message: at most 200 characters, the middle left out (with its length). */
function shortPath(p: string): string {
  return p.length <= 200 ? p : `${p.slice(0, 120)}...${p.slice(-60)} (${Buffer.byteLength(p)} bytes)`;
}
