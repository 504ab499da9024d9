import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { setExecutionMode } from '../../src/thunder/plugin-json.js';
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
