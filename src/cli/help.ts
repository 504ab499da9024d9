import { Help, type Command } from 'commander';

// --help laid out for the terminal it is read on: its width on a terminal, else $COLUMNS, else
// 80 (a pipe, a log). Commander's own layout pads every option to the longest one
// (`--mount <HOST:PATH[:ro|rw[:MODE[:UID[:GID]]]]>`, 46 characters) and stops wrapping when
// fewer than 40 columns are left, so the prepare table ran to 213 columns; and it keeps the
// line breaks of a description, so a paragraph written for 100 columns broke into short and
// long lines at 80. Here a term longer than TERM_MAX stands on its own line with its
// description below, aligned with the others, and a description's paragraphs are reflowed.

/** The widest term column: a longer term gets a line of its own. */
const TERM_MAX = 26;

export function helpWidth(): number {
  if (process.stdout.isTTY && process.stdout.columns) return process.stdout.columns;
  const env = Number.parseInt(process.env.COLUMNS ?? '', 10);
  return Number.isInteger(env) && env >= 40 ? env : 80;
}

/** Single line breaks inside a paragraph become spaces; blank lines and indented (preformatted) lines stay. */
function reflow(str: string): string {
  return str.replace(/([^\n])\n(?=[^\s])/g, '$1 ');
}

export function layoutHelp(cmd: Command): Command {
  const base = new Help();
  return cmd.configureHelp({
    helpWidth: helpWidth(),
    padWidth(c: Command, helper: Help): number {
      return Math.min(TERM_MAX, base.padWidth.call(helper, c, helper));
    },
    boxWrap(this: Help, str: string, width: number): string {
      return base.boxWrap.call(this, base.preformatted(str) ? str : reflow(str), width);
    },
    formatItem(term: string, termWidth: number, description: string, helper: Help): string {
      const width = helper.helpWidth ?? 80;
      const indent = 2;
      if (!description) return ' '.repeat(indent) + term;
      const column = indent + termWidth + 2;
      const text = helper.boxWrap(description, Math.max(helper.minWidthToWrap, width - column)).replace(/\n/g, `\n${' '.repeat(column)}`);
      if (helper.displayWidth(term) <= termWidth) return ' '.repeat(indent) + term.padEnd(termWidth) + '  ' + text;
      return `${' '.repeat(indent)}${term}\n${' '.repeat(column)}${text}`;
    },
  });
}
