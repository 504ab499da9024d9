import fs from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';
import { findUp } from './find-up.js';

// Generated shell scripts come from templates/*.ejs next to thunderbox (found from this module,
// bundled or run from src/ alike). A template writes values into shell code through
// shellQuote (`<%- sh(value) %>`), never raw.

let templates: string | undefined;
function templatesDir(): string {
  if (templates) return templates;
  const root = findUp(import.meta.url, (d) => fs.existsSync(path.join(d, 'templates', 'S40thunderbox-net.ejs')));
  if (!root) throw new Error('templates/ not found next to thunderbox');
  return (templates = path.join(root, 'templates'));
}

/** One word for POSIX sh: single-quoted, a ' inside written as '\''. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function renderTemplate(name: string, data: object): string {
  return ejs.render(fs.readFileSync(path.join(templatesDir(), name), 'utf8'), { sh: shellQuote, ...data });
}
