import { applyEdits, findNodeAtLocation, getNodeValue, modify, parse, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { lineCol } from '../core/diagnostic.js';
import { fail } from '../core/errors.js';

// The plugin JSON's execution mode lives at configuration.root.mode ("Off", "Local",
// "Container", "Distributed"). The edit changes that value and nothing else: key order,
// indentation, line endings and every other byte stay (jsonc-parser computes the minimal
// edit; a missing "root" object is inserted in the file's own indentation style).

export const MODE_PATH = ['configuration', 'root', 'mode'] as const;

export interface ModeEdit {
  after: string;
  previous: string | undefined;
  changed: boolean;
}

function formatting(text: string): { insertSpaces: boolean; tabSize: number; eol: string } {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const indents = [...text.matchAll(/\n([ \t]+)\S/g)].map((m) => m[1]!);
  if (indents.some((i) => i.startsWith('\t'))) return { insertSpaces: false, tabSize: 1, eol };
  const sizes = indents.map((i) => i.length).filter((n) => n > 0);
  return { insertSpaces: true, tabSize: sizes.length ? Math.min(...sizes) : 2, eol };
}

function expectObject(node: Node | undefined, what: string, file: string, text: string): void {
  if (node && node.type !== 'object') {
    const { line, col } = lineCol(text, node.offset);
    fail('PLUGIN_JSON_SHAPE', `${what} is a ${node.type}, not an object`, `make ${what} an object ({ ... }) or fix the file by hand`, { file, line, col });
  }
}

export function setExecutionMode(text: string, file: string, mode = 'Container'): ModeEdit {
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first || !tree) {
    const { line, col } = lineCol(text, first?.offset ?? 0);
    fail('PLUGIN_JSON_INVALID', `malformed JSON: ${first ? printParseErrorCode(first.error) : 'empty file'}`, 'fix the JSON syntax at that position (the file was not changed)', { file, line, col });
  }
  if (tree.type !== 'object') fail('PLUGIN_JSON_SHAPE', `the plugin config is a ${tree.type}, not an object`, 'a Thunder plugin config is a JSON object', { file, line: 1, col: 1 });
  expectObject(findNodeAtLocation(tree, ['configuration']), '"configuration"', file, text);
  expectObject(findNodeAtLocation(tree, ['configuration', 'root']), '"configuration.root"', file, text);
  const node = findNodeAtLocation(tree, [...MODE_PATH]);
  const previous = node ? String(getNodeValue(node)) : undefined;
  if (node && node.type === 'string' && previous === mode) return { after: text, previous, changed: false };
  const f = formatting(text);
  const edits = modify(text, [...MODE_PATH], mode, { formattingOptions: { insertSpaces: f.insertSpaces, tabSize: f.tabSize, eol: f.eol } });
  return { after: applyEdits(text, edits), previous, changed: true };
}

/** A plugin JSON and the plugin library its "locator" names (null when it names none). */
export interface PluginConfig {
  file: string;
  locator: string | null;
}

/** The "locator" of a plugin JSON's text (the plugin library's file name), or null. */
export function pluginLocator(text: string): string | null {
  const v = parse(text) as { locator?: unknown } | undefined;
  return typeof v?.locator === 'string' && v.locator ? v.locator : null;
}
