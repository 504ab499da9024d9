import fc from 'fast-check';
import { ThunderboxError } from '../../src/core/errors.js';
import type { Diagnostic } from '../../src/core/diagnostic.js';

// Shared pieces of the parser fuzz tests (test/unit/parsers-fuzz.test.ts): text mutations
// aimed at a grammar's tokens, and the property every parser must keep.

/** One edit of a text: insert a token, delete a span, duplicate or drop a line, flip a character. */
type Edit = { kind: 'insert'; at: number; token: string } | { kind: 'delete'; at: number; len: number } | { kind: 'dupLine'; line: number } | { kind: 'dropLine'; line: number } | { kind: 'char'; at: number; ch: string };

export function mutated(seeds: readonly string[], tokens: readonly string[]): fc.Arbitrary<string> {
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), token: fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 4 })) }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('dupLine' as const), line: fc.nat() }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('dropLine' as const), line: fc.nat() }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('char' as const), at: fc.nat(), ch: fc.constantFrom(...'\n\t #:=-,{}[]"\'&*!|>%@`\\\0\r\u00e9') }), weight: 2 },
  );
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 5 })).map(([seed, edits]) => edits.reduce(apply, seed));
}

function apply(text: string, e: Edit): string {
  const at = (n: number) => (text.length === 0 ? 0 : n % (text.length + 1));
  switch (e.kind) {
    case 'insert':
      return text.slice(0, at(e.at)) + e.token + text.slice(at(e.at));
    case 'delete':
      return text.slice(0, at(e.at)) + text.slice(at(e.at) + e.len);
    case 'char':
      return text.slice(0, at(e.at)) + e.ch + text.slice(at(e.at) + 1);
    case 'dupLine':
    case 'dropLine': {
      const lines = text.split('\n');
      const i = e.line % lines.length;
      lines.splice(i, 1, ...(e.kind === 'dupLine' ? [lines[i]!, lines[i]!] : []));
      return lines.join('\n');
    }
  }
}

/** A diagnostic a user can act on: a code, a message, a file and a line (errors: a hint). */
export function checkDiagnostic(d: Diagnostic, input: string): void {
  const problem = !/^[A-Z][A-Z0-9_]+$/.test(d.code) ? 'no code' : !d.message ? 'no message' : !d.file ? 'no file' : d.line === undefined || d.line < 1 ? 'no line' : d.severity === 'error' && !d.hint ? 'no hint' : undefined;
  if (problem) throw new Error(`${problem}: ${JSON.stringify(d)} for ${JSON.stringify(input)}`);
}

/**
 * Run a parser on one input: it returns, or throws a ThunderboxError; never anything else
 * (an internal error), never for more than `budgetMs`.
 */
export function noInternalError<T>(input: string, run: () => T, opts: { budgetMs?: number; positions?: boolean } = {}): T | ThunderboxError {
  const t0 = performance.now();
  let out: T | ThunderboxError;
  try {
    out = run();
  } catch (err) {
    if (!(err instanceof ThunderboxError)) throw new Error(`internal error for ${JSON.stringify(input)}: ${err instanceof Error ? err.stack : String(err)}`);
    if (opts.positions !== false) for (const d of err.diagnostics) checkDiagnostic(d, input);
    out = err;
  }
  const ms = performance.now() - t0;
  if (ms > (opts.budgetMs ?? 1000)) throw new Error(`took ${Math.round(ms)} ms for ${JSON.stringify(input).slice(0, 200)}`);
  return out;
}
