import type { Diagnostic } from '../core/diagnostic.js';

// An LXC config file as a lossless document: render(parse(text)) === text.
// Grammar (liblxc parse.c lxc_file_for_each_line_mmap + confile.c parse_line):
//   file   := line*            lines end at '\n'; a '\r' before it belongs to the line ending
//   line   := blank | comment | entry | other
//   blank  := [ \t]*
//   comment:= [ \t]* '#' .*    ('#' is a comment only as the first non-blank character)
//   entry  := [ \t]* 'lxc.' key-rest '=' value
//             key   = text before the FIRST '=', right-trimmed
//             value = text after it, trimmed; one pair of matching ' or " quotes is removed
//   other  := anything else; liblxc ignores it silently ("martian" lines)
// There are no continuation lines, and '#' after a value is part of the value.

export type LineKind = 'blank' | 'comment' | 'entry' | 'other' | 'invalid';

export interface ConfigLine {
  kind: LineKind;
  /** The line exactly as written, without its line ending. */
  raw: string;
  /** The line ending that followed it ('' for a last line without one). */
  eol: string;
  key?: string;
  value?: string;
  /** 1-based line number in the source. */
  line: number;
}

export interface ConfigDocument {
  file: string;
  lines: ConfigLine[];
}

export function unquote(v: string): string {
  if (v.length > 1 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0]) return v.slice(1, -1);
  return v;
}

export function parseLine(raw: string, line: number, eol = '\n'): ConfigLine {
  const t = raw.replace(/^[ \t]+/, '');
  if (t.trim() === '') return { kind: 'blank', raw, eol, line };
  if (t.startsWith('#')) return { kind: 'comment', raw, eol, line };
  if (!t.startsWith('lxc.')) return { kind: 'other', raw, eol, line };
  const eq = t.indexOf('=');
  if (eq === -1) return { kind: 'invalid', raw, eol, line };
  return { kind: 'entry', raw, eol, line, key: t.slice(0, eq).trimEnd(), value: unquote(t.slice(eq + 1).trim()) };
}

export function parseConfig(text: string, file = '<config>'): { doc: ConfigDocument; diagnostics: Diagnostic[] } {
  const lines: ConfigLine[] = [];
  const diagnostics: Diagnostic[] = [];
  let pos = 0;
  let n = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl === -1 ? text.length : nl;
    let body = text.slice(pos, end);
    let eol = nl === -1 ? '' : '\n';
    if (body.endsWith('\r')) {
      body = body.slice(0, -1);
      eol = '\r' + eol;
    }
    n++;
    const l = parseLine(body, n, eol);
    if (l.kind === 'invalid') {
      diagnostics.push({ code: 'LXC_NO_EQUALS', severity: 'error', file, line: n, col: 1, message: `"${body.trim()}" has no "=": liblxc rejects the whole file`, hint: 'write it as "lxc.key = value", or comment it out with "#"' });
    }
    lines.push(l);
    pos = end + 1;
  }
  return { doc: { file, lines }, diagnostics };
}

export function renderConfig(doc: ConfigDocument): string {
  return doc.lines.map((l) => l.raw + l.eol).join('');
}

export function entries(doc: ConfigDocument): ConfigLine[] {
  return doc.lines.filter((l) => l.kind === 'entry');
}

/** Values of a key, in file order. */
export function values(doc: ConfigDocument, key: string): string[] {
  return entries(doc)
    .filter((l) => l.key === key)
    .map((l) => l.value ?? '');
}

/** Set the value of an existing entry line, keeping its indentation and key spelling. */
export function setLineValue(l: ConfigLine, value: string): ConfigLine {
  const eq = l.raw.indexOf('=');
  const before = l.raw.slice(0, eq + 1);
  const spacing = /^=([ \t]*)/.exec(l.raw.slice(eq))?.[1] ?? ' ';
  return { ...l, raw: `${before}${value === '' ? '' : spacing || ' '}${value}`, value };
}

/** A fresh entry line in the house style "key = value" ("key =" for an empty value). */
export function entryLine(key: string, value: string): ConfigLine {
  return { kind: 'entry', raw: value === '' ? `${key} =` : `${key} = ${value}`, eol: '\n', key, value, line: 0 };
}

export function commentLine(text: string): ConfigLine {
  return { kind: 'comment', raw: text === '' ? '#' : `# ${text}`, eol: '\n', line: 0 };
}

export function blankLine(): ConfigLine {
  return { kind: 'blank', raw: '', eol: '\n', line: 0 };
}
