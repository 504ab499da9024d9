import { formatDiagnostic, type Diagnostic } from '../core/diagnostic.js';

// How the CLI talks: results on stdout, diagnostics and progress on stderr.
// --json replaces the text on stdout with one JSON document; --quiet keeps only errors.

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export class Output {
  readonly o: OutputOptions;
  constructor(o: OutputOptions) {
    this.o = o;
  }
  /** A result line (not in --json or --quiet mode). */
  say(line: string): void {
    if (!this.o.json && !this.o.quiet) process.stdout.write(line + '\n');
  }
  /** Extra detail, only with --verbose. */
  detail(line: string): void {
    if (this.o.verbose && !this.o.json) process.stderr.write(line + '\n');
  }
  diagnostics(ds: Diagnostic[]): void {
    for (const d of ds) {
      if (d.severity === 'error' || (!this.o.quiet && !this.o.json)) process.stderr.write(formatDiagnostic(d) + '\n');
    }
  }
  /** The --json document: the envelope every command shares (schemas/envelope.schema.json). */
  json(ok: boolean, diagnostics: readonly (Diagnostic | JsonDiagnostic)[], fields: EnvelopeFields = {}): void {
    if (this.o.json) emitJson(envelope(ok, diagnostics, fields));
  }
}

// --json: one document per run, the same envelope for every command:
//   { ok, diagnostics: [{code, severity, file, line, col, message, hint}], ...the command's own fields }
// every diagnostic has all seven keys (null where it has no file, position or hint).

export interface JsonDiagnostic {
  code: string;
  severity: Diagnostic['severity'];
  file: string | null;
  line: number | null;
  col: number | null;
  message: string;
  hint: string | null;
}

/** A command's own fields: anything but the envelope's. */
export type EnvelopeFields = Record<string, unknown> & { ok?: never; diagnostics?: never };

/** A diagnostic as --json prints it (one already in that form, from a nested command, stays as it is). */
export function jsonDiagnostic(d: Diagnostic | JsonDiagnostic): JsonDiagnostic {
  return { code: d.code, severity: d.severity, file: d.file ?? null, line: d.line ?? null, col: d.col ?? null, message: d.message, hint: d.hint ?? null };
}

export function envelope(ok: boolean, diagnostics: readonly (Diagnostic | JsonDiagnostic)[], fields: EnvelopeFields = {}): Record<string, unknown> {
  return { ok, diagnostics: diagnostics.map(jsonDiagnostic), ...fields };
}

/** Where a command run by another one (demo and post-build run prepare) puts its document. */
let captured: Record<string, unknown>[] | null = null;

function emitJson(doc: Record<string, unknown>): void {
  if (captured) captured.push(doc);
  else process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
}

/** Run `fn` (a nested command with --json) and return the document it made instead of printing it. */
export async function captureJson(fn: () => Promise<unknown>): Promise<Record<string, unknown> | null> {
  const outer = captured;
  const mine: Record<string, unknown>[] = [];
  captured = mine;
  try {
    await fn();
  } finally {
    captured = outer;
  }
  return mine.at(-1) ?? null;
}

/** The --json document of a run that failed (main.ts). */
export function printFailureJson(diagnostics: readonly Diagnostic[]): void {
  process.stdout.write(JSON.stringify(envelope(false, diagnostics), null, 2) + '\n');
}

/** A byte progress bar on a terminal; silent elsewhere or for small inputs. */
export class ProgressBar {
  private last = 0;
  private shown = false;
  private readonly enabled: boolean;
  constructor(enabled: boolean) {
    this.enabled = enabled && process.stderr.isTTY === true;
  }
  update(label: string, done: number, total: number): void {
    if (!this.enabled || total < 4 << 20) return;
    const now = Date.now();
    if (now - this.last < 100 && done < total) return;
    this.last = now;
    const width = 30;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '-');
    const mb = (n: number) => (n / 1e6).toFixed(1);
    process.stderr.write(`\r${label} [${bar}] ${String(Math.round(frac * 100)).padStart(3)}% ${mb(done)}/${mb(total)} MB`);
    this.shown = true;
  }
  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}
