import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { pluginLocator, setExecutionMode } from '../../src/thunder/plugin-json.js';
import { SAMPLE_PLUGIN_JSON } from '../../src/thunder/sample.js';

function errorOf(fn: () => unknown): ThunderboxError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ThunderboxError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('plugin JSON: configuration.root.mode', () => {
  it('changes only the value (the generated OCDM.json)', () => {
    const r = setExecutionMode(SAMPLE_PLUGIN_JSON, 'OCDM.json');
    expect(r.previous).toBe('Local');
    expect(r.after).toBe(SAMPLE_PLUGIN_JSON.replace('"mode":"Local"', '"mode":"Container"'));
  });

  it('is idempotent', () => {
    const once = setExecutionMode(SAMPLE_PLUGIN_JSON, 'f').after;
    const twice = setExecutionMode(once, 'f');
    expect(twice.changed).toBe(false);
    expect(twice.after).toBe(once);
  });

  it('creates root inside configuration, in the file\'s indentation, keeping key order', () => {
    const text = '{\n    "locator": "libThunderMessenger.so",\n    "classname": "Messenger",\n    "configuration": {\n        "x": 1\n    }\n}\n';
    const r = setExecutionMode(text, 'f');
    expect(r.previous).toBeUndefined();
    expect(r.after).toBe('{\n    "locator": "libThunderMessenger.so",\n    "classname": "Messenger",\n    "configuration": {\n        "x": 1,\n        "root": {\n            "mode": "Container"\n        }\n    }\n}\n');
  });

  it('creates configuration when absent; tabs and CRLF stay', () => {
    const text = '{\r\n\t"locator": "a.so"\r\n}\r\n';
    const r = setExecutionMode(text, 'f');
    expect(r.after).toBe('{\r\n\t"locator": "a.so",\r\n\t"configuration": {\r\n\t\t"root": {\r\n\t\t\t"mode": "Container"\r\n\t\t}\r\n\t}\r\n}\r\n');
    expect(JSON.parse(r.after)).toEqual({ locator: 'a.so', configuration: { root: { mode: 'Container' } } });
  });

  it('keeps the other root keys', () => {
    const text = '{"configuration":{"root":{"user":"ocdm","mode":"Off","group":"ocdm"}}}';
    expect(setExecutionMode(text, 'f').after).toBe('{"configuration":{"root":{"user":"ocdm","mode":"Container","group":"ocdm"}}}');
  });

  it.each([
    // the issue's own cases: other members keep their bytes, however the file lays them out
    ['{"locator":"a.so","configuration":{"root":{ "user":"ocdm" }}}', '{"locator":"a.so","configuration":{"root":{ "user":"ocdm", "mode":"Container" }}}'],
    ['{"configuration":{"x":1}}', '{"configuration":{"x":1,"root":{"mode":"Container"}}}'],
    ['{ "locator": "a.so" }', '{ "locator": "a.so", "configuration": {"root": {"mode": "Container"}} }'],
    ['{"configuration":{}}\n', '{"configuration":{"root":{"mode":"Container"}}}\n'],
    ['{\n  "configuration": {\n  }\n}\n', '{\n  "configuration": {\n    "root": {\n      "mode": "Container"\n    }\n  }\n}\n'],
    ['{"configuration":{"root":{"mode":5}}}', '{"configuration":{"root":{"mode":"Container"}}}'],
  ])('inserts or replaces without touching other bytes: %s', (text, after) => {
    expect(setExecutionMode(text, 'f').after).toBe(after);
  });

  it('any layout: the result is the input plus one inserted run of text (or one value replaced), and means what it should', () => {
    const ws = fc.constantFrom('', ' ', '\n  ', '\n    ', '\n\t', '\r\n  ');
    const member = (key: string, value: fc.Arbitrary<string>) => fc.tuple(ws, value, fc.constantFrom(':', ': ', ' : ')).map(([w, v, c]) => `${w}${JSON.stringify(key)}${c}${v}`);
    const obj = (members: fc.Arbitrary<string[]>) => fc.tuple(members, ws).map(([m, w]) => `{${m.join(',')}${w}}`);
    const scalar = fc.oneof(fc.integer().map(String), fc.string({ maxLength: 6 }).map((x) => JSON.stringify(x)));
    const others = (prefix: string) => fc.array(fc.integer({ min: 0, max: 99 }), { maxLength: 3 }).chain((ns) => fc.tuple(...[...new Set(ns)].map((n) => member(`${prefix}${n}`, scalar))));
    const root = fc.tuple(others('r'), fc.option(member('mode', fc.constantFrom('"Local"', '"Off"', '"Container"')))).chain(([o, m]) => obj(fc.shuffledSubarray([...o, ...(m ? [m] : [])], { minLength: o.length + (m ? 1 : 0) })));
    const conf = fc.tuple(others('c'), fc.option(member('root', root))).chain(([o, r]) => obj(fc.constant([...o, ...(r ? [r] : [])])));
    const file = fc.tuple(others('t'), fc.option(member('configuration', conf))).chain(([o, c]) => obj(fc.constant([...o, ...(c ? [c] : [])])));
    fc.assert(
      fc.property(file, (text) => {
        const r = setExecutionMode(text, 'f');
        const want = JSON.parse(text) as { configuration?: { root?: { mode?: string } } };
        want.configuration = { ...want.configuration, root: { ...want.configuration?.root, mode: 'Container' } };
        expect(JSON.parse(r.after)).toEqual(want);
        const had = /("mode"\s*:\s*)"(Local|Off|Container)"/.exec(text);
        if (had) {
          // the value replaced in place, nothing else
          expect(r.after).toBe(text.slice(0, had.index) + had[1] + '"Container"' + text.slice(had.index + had[0].length));
        } else {
          // one run of text inserted: the common prefix and suffix cover the whole input
          let p = 0;
          while (p < text.length && text[p] === r.after[p]) p++;
          let q = 0;
          while (q < text.length - p && text[text.length - 1 - q] === r.after[r.after.length - 1 - q]) q++;
          expect(p + q, `${JSON.stringify(text)} -> ${JSON.stringify(r.after)}`).toBe(text.length);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('a key on the path twice is refused, naming the second', () => {
    const e = errorOf(() => setExecutionMode('{"configuration":{"root":{"mode":"Local"},\n"root":{"mode":"Local"}}}', 'OCDM.json'));
    expect(e.code).toBe('PLUGIN_JSON_DUPLICATE');
    expect(e.diagnostics[0]).toMatchObject({ file: 'OCDM.json', line: 2, col: 1, message: '"configuration.root" appears more than once: which one Thunder reads is not certain' });
    // elsewhere a duplicate is not this edit's business
    expect(setExecutionMode('{"a":1,"a":2,"configuration":{"root":{"mode":"Local"}}}', 'f').changed).toBe(true);
  });

  it('JSON nested too deeply for the parser is an error, not a crash', () => {
    const deep = `{"configuration":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    expect(errorOf(() => setExecutionMode(deep, 'f')).code).toBe('PLUGIN_JSON_INVALID');
    expect(pluginLocator(deep)).toBeNull();
  });

  it('malformed JSON: line and column, nothing changed', () => {
    const e = errorOf(() => setExecutionMode('{\n "configuration": {\n  "root": { "mode": Local }\n }\n}\n', 'OCDM.json'));
    expect(e.code).toBe('PLUGIN_JSON_INVALID');
    expect(e.diagnostics[0]).toMatchObject({ file: 'OCDM.json', line: 3, col: 21 });
  });

  it.each([
    ['{"configuration": "x"}', 'PLUGIN_JSON_SHAPE'],
    ['{"configuration": {"root": []}}', 'PLUGIN_JSON_SHAPE'],
    ['[]', 'PLUGIN_JSON_SHAPE'],
    ['', 'PLUGIN_JSON_INVALID'],
    ['{"a": 1,}', 'PLUGIN_JSON_INVALID'],
  ])('%j -> %s', (text, code) => {
    expect(errorOf(() => setExecutionMode(text, 'f')).code).toBe(code);
  });
});
