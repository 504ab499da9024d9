import { findNodeAtLocation, getNodeValue, parse, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { lineCol } from '../core/diagnostic.js';
import { fail } from '../core/errors.js';

// The plugin JSON's execution mode lives at configuration.root.mode ("Off", "Local",
// "Container", "Distributed"). The edit changes that value and nothing else: key order,
// indentation, line endings and every other byte stay. jsonc-parser parses and gives the
// offsets; the edit itself is a splice: the value replaced in place, or a missing member
// inserted after the object's last one (or after its "{"), laid out as the object's members
// are (one per line in its indentation, or inline) with the file's own "key": value spacing.
// (jsonc-parser's modify() would re-lay out the whole enclosing object when it inserts.)

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

/**
 * jsonc-parser's parseTree; null when the nesting is too deep for the stack (a RangeError out of
 * its recursion), which no plugin config has.
 */
export function parseJsonTree(text: string, errors: ParseError[], options: Parameters<typeof parseTree>[2]): Node | undefined | null {
  try {
    return parseTree(text, errors, options);
  } catch (err) {
    if (err instanceof RangeError) return null;
    throw err;
  }
}

export function setExecutionMode(text: string, file: string, mode = 'Container', root: readonly string[] = ROOT_PATH): ModeEdit {
  return setJsonString(text, file, [...root, 'mode'], mode);
}

/** Where a plugin's out-of-process settings are: configuration.root (the usual), or R5's top-level root (the whole plugin out of process). */
export const ROOT_PATH = ['configuration', 'root'] as const;
export const TOP_ROOT_PATH = ['root'] as const;

/**
 * Set the string at `keys` (each an object member) to `value`: the value replaced in place, or
 * the missing members inserted, touching no other byte. A malformed file, a key twice on the
 * path or a non-object on the way is a PLUGIN_JSON_* error naming the position (`what` names
 * the file's kind in the messages).
 */
export function setJsonString(text: string, file: string, keys: readonly string[], value: string | number): ModeEdit {
  const tree = readObjectTree(text, file);
  // a key twice on the path: parsers differ on which one counts (JSON.parse takes the last)
  for (let depth = 0; depth < keys.length; depth++) {
    const obj = depth === 0 ? tree : findNodeAtLocation(tree, keys.slice(0, depth));
    const same = (obj?.type === 'object' ? obj.children ?? [] : []).filter((p) => p.children?.[0]?.value === keys[depth]);
    if (same.length > 1) {
      const { line, col } = lineCol(text, same[1]!.offset);
      fail('PLUGIN_JSON_DUPLICATE', `"${keys.slice(0, depth + 1).join('.')}" appears more than once: which one Thunder reads is not certain`, 'keep one of them (the file was not changed)', { file, line, col });
    }
  }
  for (let depth = 1; depth < keys.length; depth++) expectObject(findNodeAtLocation(tree, keys.slice(0, depth)), `"${keys.slice(0, depth).join('.')}"`, file, text);
  const node = findNodeAtLocation(tree, [...keys]);
  const previous = node ? String(getNodeValue(node)) : undefined;
  if (node && node.type === typeof value && getNodeValue(node) === value) return { after: text, previous, changed: false };
  if (node) {
    const quoted = JSON.stringify(value);
    return { after: text.slice(0, node.offset) + quoted + text.slice(node.offset + node.length), previous, changed: true };
  }
  // the deepest object on the path that exists, and what is missing below it
  let depth = keys.length - 1;
  while (depth > 0 && !findNodeAtLocation(tree, keys.slice(0, depth))) depth--;
  const obj = depth === 0 ? tree : findNodeAtLocation(tree, keys.slice(0, depth))!;
  return { after: insertMember(text, tree, obj, keys.slice(depth), JSON.stringify(value)), previous, changed: true };
}

/** The parsed tree of a JSON object file (strict JSON, as Thunder reads it), or a PLUGIN_JSON_* error. */
export function readObjectTree(text: string, file: string): Node {
  const errors: ParseError[] = [];
  const tree = parseJsonTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (tree === null) fail('PLUGIN_JSON_INVALID', 'the JSON is nested too deeply to read', 'a Thunder config is a few levels deep; fix the file (it was not changed)', { file, line: 1, col: 1 });
  const first = errors[0];
  if (first || !tree) {
    const { line, col } = lineCol(text, first?.offset ?? 0);
    fail('PLUGIN_JSON_INVALID', `malformed JSON: ${first ? printParseErrorCode(first.error) : 'empty file'}`, 'fix the JSON syntax at that position (the file was not changed)', { file, line, col });
  }
  if (tree.type !== 'object') fail('PLUGIN_JSON_SHAPE', `the file holds a ${tree.type}, not an object`, 'a Thunder config is a JSON object', { file, line: 1, col: 1 });
  return tree;
}

/** The text between a key and its value in the file ("key": value, "key":value, ...). */
function colon(text: string, obj: Node, tree: Node): string {
  const prop = obj.children?.[0] ?? firstProperty(tree);
  const [key, value] = prop?.children ?? [];
  return key && value ? text.slice(key.offset + key.length, value.offset) : ': ';
}

function firstProperty(n: Node): Node | undefined {
  for (const c of n.children ?? []) {
    if (c.type === 'property') return c;
    const deeper = firstProperty(c);
    if (deeper) return deeper;
  }
  return undefined;
}

/** Insert `"k1": { "k2": ... value }` as the last member of obj, touching no other byte. */
function insertMember(text: string, tree: Node, obj: Node, keys: readonly string[], value: string): string {
  const f = formatting(text);
  const unit = f.insertSpaces ? ' '.repeat(f.tabSize) : '\t';
  const sep = colon(text, obj, tree);
  const members = obj.children ?? [];
  const last = members.at(-1);
  // the whitespace before a member of this object: after "{" or after the comma
  let lead: string;
  let at: number;
  if (last) {
    const before = members.length > 1 ? members.at(-2)! : undefined;
    lead = text.slice(before ? before.offset + before.length : obj.offset + 1, last.offset).replace(/^\s*,/, '');
    at = last.offset + last.length;
  } else {
    const inner = text.slice(obj.offset + 1, obj.offset + obj.length - 1);
    const lineStart = text.lastIndexOf('\n', obj.offset) + 1;
    const indent = /^[ \t]*/.exec(text.slice(lineStart))![0];
    lead = inner.includes('\n') ? `${f.eol}${indent}${unit}` : '';
    at = obj.offset + 1;
  }
  const multiline = lead.includes('\n');
  const indent = lead.slice(lead.lastIndexOf('\n') + 1);
  const member = (ks: readonly string[], ind: string): string =>
    ks.length === 1
      ? `${JSON.stringify(ks[0])}${sep}${value}`
      : multiline
        ? `${JSON.stringify(ks[0])}${sep}{${f.eol}${ind}${unit}${member(ks.slice(1), ind + unit)}${f.eol}${ind}}`
        : `${JSON.stringify(ks[0])}${sep}{${member(ks.slice(1), ind)}}`;
  return text.slice(0, at) + (last ? ',' : '') + lead + member(keys, indent) + text.slice(at);
}

/** A plugin JSON and the plugin library its "locator" names (null when it names none). */
export interface PluginConfig {
  file: string;
  locator: string | null;
}

/** The "locator" of a plugin JSON's text (the plugin library's file name), or null. */
export function pluginLocator(text: string): string | null {
  let v: { locator?: unknown } | undefined;
  try {
    v = parse(text) as { locator?: unknown } | undefined;
  } catch {
    return null; // nested too deeply: setExecutionMode and the doctor say so
  }
  return typeof v?.locator === 'string' && v.locator ? v.locator : null;
}
