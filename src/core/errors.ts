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
