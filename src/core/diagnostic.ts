// A diagnostic is how every domain module reports a problem: plain data, never printed here.
// The CLI renders it (text or --json). `code` is stable: tests and users match on it.

export type Severity = 'error' | 'warning' | 'note';

export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  /** What to do about it. Every error carries one. */
  hint?: string;
  file?: string;
  line?: number;
  col?: number;
}

export function formatDiagnostic(d: Diagnostic): string {
  let where = '';
  if (d.file) {
    where = d.file;
    if (d.line !== undefined) where += `:${d.line}`;
    if (d.line !== undefined && d.col !== undefined) where += `:${d.col}`;
    where += ': ';
  }
  const text = `${where}${d.severity}[${d.code}]: ${d.message}`;
  return d.hint ? `${text}\n  hint: ${d.hint}` : text;
}

/** 1-based line and column of a character offset in a text. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: offset - start + 1 };
}
