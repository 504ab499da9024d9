import fs from 'node:fs';
import type { Diagnostic } from '../../core/diagnostic.js';

export type Finding = Diagnostic;
export interface Where {
  file?: string;
  line?: number;
}

/** What the rules find, in the order they find it. */
export class Findings {
  readonly list: Finding[] = [];
  add(code: string, severity: Finding['severity'], message: string, hint: string, where: Where = {}): void {
    this.list.push({ code, severity, message, hint, ...(where.file ? { file: where.file } : {}), ...(where.line !== undefined ? { line: where.line } : {}) });
  }
  error(code: string, message: string, hint: string, where?: Where): void {
    this.add(code, 'error', message, hint, where);
  }
  warning(code: string, message: string, hint: string, where?: Where): void {
    this.add(code, 'warning', message, hint, where);
  }
  note(code: string, message: string, hint: string, where?: Where): void {
    this.add(code, 'note', message, hint, where);
  }
}

export function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

const MAX_LISTED = 5;
export const listed = (xs: string[]): string => (xs.length > MAX_LISTED ? `${xs.slice(0, MAX_LISTED).join(', ')} and ${xs.length - MAX_LISTED} more` : xs.join(', '));
