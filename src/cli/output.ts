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
  json(value: unknown): void {
    if (this.o.json) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }
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
