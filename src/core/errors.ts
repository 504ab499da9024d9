import type { Diagnostic } from './diagnostic.js';

// The whole error set. Only the CLI entry turns these into exit codes (see cli/main.ts):
//   UsageError -> 2, ThunderboxError -> 1, Interrupted -> 130, anything else -> 70 (internal).

/** Bad input or a failed check: carries one or more diagnostics; exit 1. */
export class ThunderboxError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic | Diagnostic[]) {
    const list = Array.isArray(diagnostics) ? diagnostics : [diagnostics];
    super(list.map((d) => d.message).join('; '));
    this.name = 'ThunderboxError';
    this.diagnostics = list;
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

/** Node's system errors carry a code; this reads it without `any`. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
