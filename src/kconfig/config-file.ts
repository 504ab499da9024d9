import type { Diagnostic } from '../core/diagnostic.js';

// Kernel .config files and fragments, read the way the kernel's own reader does
// (scripts/kconfig/confdata.c conf_read_simple / conf_set_sym_val, 6.12):
//   line      := blank | "# CONFIG_<NAME> is not set" | "#" comment | "CONFIG_<NAME>=<value>"
//   one trailing "\r" is stripped; anything else is "unexpected data" (ignored by C)
//   bool/tristate: only the first character counts: y, m or n (so "yes" is y, "1" is invalid)
//   string: must start with '"'; backslash escapes the next character; the closing quote
//           ends it and what follows is ignored; no quote at all: dropped without a word;
//           no closing quote: "invalid string found", dropped
//   int: optional "-", digits, no leading zero; hex: optional 0x, hex digits
// The same symbol twice in one input: the later one wins ("override: reassigning").
// Everything C does silently wrong, or only warns about, is a diagnostic here.

export type SymbolType = 'bool' | 'tristate' | 'string' | 'int' | 'hex';

export interface KAssign {
  /** Symbol name without CONFIG_. */
  name: string;
  /** The value as C takes it: y, m or n; a string with its quotes; a number. */
  value: string;
  /** The line as written. */
  text: string;
  file: string;
  line: number;
}

export interface KConfig {
  file: string;
  /** In file order, including overridden ones. */
  assigns: KAssign[];
  /** Effective value per symbol (last wins). */
  values: Map<string, KAssign>;
  /** From a "# Linux/<arch> <version> Kernel Configuration" header (full .config files). */
  header?: { arch: string; version: string };
}

export type TypeOf = (name: string) => SymbolType | undefined;

function d(file: string, line: number, col: number, severity: Diagnostic['severity'], code: string, message: string, hint: string): Diagnostic {
  return { code, severity, file, line, col, message, hint };
}

/** The type a value looks like, when the symbol's real type is not known. */
function typeFromValue(value: string): SymbolType {
  if (value.startsWith('"')) return 'string';
  if (/^0[xX][0-9a-fA-F]+$/.test(value)) return 'hex';
  if (/^-?\d+$/.test(value)) return 'int';
  return 'tristate';
}

function parseString(raw: string): { value: string } | { error: 'unquoted' | 'unterminated' } {
  if (!raw.startsWith('"')) return { error: 'unquoted' };
  for (let i = 1; i < raw.length; i++) {
    if (raw[i] === '\\') i++;
    else if (raw[i] === '"') return { value: raw.slice(0, i + 1) };
  }
  return { error: 'unterminated' };
}

export function parseKconfig(text: string, file: string, typeOf: TypeOf = () => undefined): { config: KConfig; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const assigns: KAssign[] = [];
  const values = new Map<string, KAssign>();
  let header: KConfig['header'];
  let crlf = 0;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    const n = i + 1;
    let line = raw;
    if (line.endsWith('\r')) {
      line = line.slice(0, -1);
      crlf++;
    }
    if (line.trim() === '') return;
    const h = /^# Linux\/(\S+) (\S+) Kernel Configuration/.exec(line);
    if (h) header = { arch: h[1]!, version: h[2]! };
    let name: string;
    let value: string;
    const unset = /^# CONFIG_([A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) {
      name = unset[1]!;
      value = 'n';
    } else if (line.startsWith('#')) {
      if (/^#\s*CONFIG_[A-Za-z0-9_]+\s+is\s+not\s+set\b/.test(line)) {
        diagnostics.push(d(file, n, 1, 'warning', 'KCONFIG_UNSET_FORM', `"${line}" is only a comment: the kernel reads exactly "# CONFIG_X is not set"`, 'write it as "# CONFIG_NAME is not set" (one space after #, nothing after "set")'));
      }
      return;
    } else {
      const m = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
      if (!m) {
        diagnostics.push(d(file, n, 1, 'error', 'KCONFIG_UNEXPECTED', `"${line}" is neither CONFIG_X=value, "# CONFIG_X is not set" nor a comment: the kernel ignores it ("unexpected data")`, 'fix the line or make it a comment'));
        return;
      }
      name = m[1]!;
      const raw = m[2]!;
      const col = line.indexOf('=') + 2;
      const type = typeOf(name) ?? typeFromValue(raw);
      if (type === 'string') {
        const s = parseString(raw);
        if ('error' in s) {
          if (s.error === 'unquoted') diagnostics.push(d(file, n, col, 'error', 'KCONFIG_UNQUOTED_STRING', `CONFIG_${name} is a string and its value is not quoted: the kernel drops the line without a word`, `write CONFIG_${name}="${raw}"`));
          else diagnostics.push(d(file, n, col, 'error', 'KCONFIG_UNTERMINATED_STRING', `CONFIG_${name} has no closing quote: the kernel drops it ("invalid string found")`, 'close the string with "'));
          return;
        }
        if (s.value.length !== raw.length) diagnostics.push(d(file, n, col + s.value.length, 'warning', 'KCONFIG_TRAILING_TEXT', `text after the closing quote of CONFIG_${name} is ignored`, 'remove it'));
        value = s.value;
      } else if (type === 'int') {
        if (!/^-?\d+$/.test(raw)) {
          diagnostics.push(d(file, n, col, 'error', /^0[xX]/.test(raw) ? 'KCONFIG_INT_HEX' : 'KCONFIG_INT_INVALID', `"${raw}" is not a valid int for CONFIG_${name}: the kernel ignores it and keeps the default`, 'write a decimal number without 0x'));
          return;
        }
        if (/^-?0\d/.test(raw)) {
          diagnostics.push(d(file, n, col, 'error', 'KCONFIG_INT_LEADING_ZERO', `"${raw}" has a leading zero: not a valid int for CONFIG_${name}, the kernel keeps the default`, `write ${String(Number(raw))}`));
          return;
        }
        value = raw;
      } else if (type === 'hex') {
        if (!/^(0[xX])?[0-9a-fA-F]+$/.test(raw)) {
          diagnostics.push(d(file, n, col, 'error', 'KCONFIG_HEX_INVALID', `"${raw}" is not a hex value for CONFIG_${name}`, 'write 0x followed by hex digits'));
          return;
        }
        value = raw;
      } else {
        const c = raw[0];
        if (c !== 'y' && c !== 'm' && c !== 'n') {
          diagnostics.push(d(file, n, col, 'error', 'KCONFIG_BOOL_INVALID', `"${raw}" is not y, m or n for CONFIG_${name}: the kernel ignores the line`, `write CONFIG_${name}=y (or m, or "# CONFIG_${name} is not set")`));
          return;
        }
        if (raw.length > 1) {
          if (/^[ymn]\s*#/.test(raw) || /^[ymn]\s/.test(raw)) {
            diagnostics.push(d(file, n, col + 1, 'warning', 'KCONFIG_TRAILING_TEXT', `"${raw}": the kernel reads only "${c}"; the rest of the line is ignored (comments go on their own line)`, `write CONFIG_${name}=${c}`));
          } else {
            diagnostics.push(d(file, n, col, 'warning', 'KCONFIG_BOOL_WORD', `"${raw}" is taken as ${c}: the kernel reads only the first character`, `write CONFIG_${name}=${c}`));
          }
        }
        if (c === 'm' && typeOf(name) === 'bool') {
          diagnostics.push(d(file, n, col, 'error', 'KCONFIG_BOOL_MODULE', `CONFIG_${name} is a bool: it cannot be a module (m)`, `write CONFIG_${name}=y`));
          return;
        }
        value = c;
      }
    }
    const a: KAssign = { name, value, text: line, file, line: n };
    const prev = values.get(name);
    if (prev) {
      diagnostics.push(d(file, n, 1, 'warning', 'KCONFIG_DUPLICATE', `CONFIG_${name} is set again (line ${prev.line}: ${prev.text}); the later one wins ("override: reassigning to symbol ${name}")`, 'keep one line'));
    }
    assigns.push(a);
    values.set(name, a);
  });
  if (crlf) diagnostics.push(d(file, 1, 1, 'warning', 'KCONFIG_CRLF', `${crlf} line(s) end in CRLF`, 'convert the file to LF line endings (dos2unix)'));
  return { config: { file, assigns, values, header }, diagnostics };
}

/** The line a value is written as in a .config. */
export function formatAssign(name: string, value: string | undefined): string {
  if (value === undefined) return '';
  return value === 'n' ? `# CONFIG_${name} is not set` : `CONFIG_${name}=${value}`;
}
