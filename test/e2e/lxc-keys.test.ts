import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkConfigText } from '../../src/lxc/check.js';
import { entryLine, parseConfig, renderConfig } from '../../src/lxc/document.js';
import { KEYS, NET_KEYS, available, lookupKey } from '../../src/lxc/keys.js';
import { lxcAccepts } from '../helpers/lxc.js';
import { tmpDir } from '../helpers/tmp.js';

// The completeness test of the key table: every key is set to its example, rendered,
// reparsed and cleared; `lxc check` and the real liblxc (5.0.2 here) must both accept it.

interface Row {
  key: string;
  example: string;
  before: string[];
  emptyError: boolean;
  noValue: boolean;
}

const rows: Row[] = [
  ...KEYS.filter((k) => available(k, 5)).map((k) => ({
    key: k.prefix ? `${k.key}${k.exampleName}` : k.key,
    example: k.grammar.example,
    // a map needs both kinds of lines (liblxc only checks that at start; lxc check at once)
    before: k.key === 'lxc.idmap' ? ['lxc.idmap = g 0 100000 65536'] : [],
    emptyError: k.emptyError === true,
    noValue: k.noValue === true,
  })),
  ...NET_KEYS.map((n) => ({ key: `lxc.net.0.${n.sub}`, example: n.grammar.example, before: n.sub === 'type' ? [] : [`lxc.net.0.type = ${n.types?.[0] ?? 'veth'}`], emptyError: n.emptyError === true, noValue: false })),
];

async function verdicts(dir: string, name: string, lines: string[]) {
  const file = path.join(dir, `${name.replace(/[^a-z0-9]/gi, '_')}.conf`);
  const text = ['lxc.uts.name = keys', ...lines].join('\n') + '\n';
  fs.writeFileSync(file, text);
  const ours = checkConfigText(text, file, { version: 5, sysroot: '/' }).filter((d) => d.severity === 'error');
  return { ours: ours.map((d) => `${d.code}: ${d.message}`), liblxc: await lxcAccepts(file) };
}

describe('every LXC key', () => {
  it('the table covers LXC 5 and 6 (85 rows, and lxc.net.<N>.* below), the network subkeys, and 7.0 as versioned rows', () => {
    // liblxc's config_jump_table[] (6.0) has 85 rows with its lxc.net. prefix and without lxc.sched.core (5.0.2 has it)
    expect(KEYS.filter((k) => available(k, 5)).length).toBe(85);
    expect(KEYS.filter((k) => available(k, 7)).map((k) => k.key)).toContain('lxc.environment.runtime');
    expect(KEYS.filter((k) => !available(k, 7)).map((k) => k.key)).toEqual(['lxc.cgroup.']);
    expect(NET_KEYS.length).toBe(25);
  });

  it.each(rows.map((r) => [r.key, r] as const))('%s: set, render, reparse, clear; lxc check and liblxc agree', async (_k, r) => {
    const dir = tmpDir();
    const line = entryLine(r.key, r.noValue ? '' : r.example);
    const rendered = renderConfig({ file: 'x', lines: [line] });
    const back = parseConfig(rendered).doc.lines[0]!;
    expect([back.key, back.value]).toEqual([r.key, r.noValue ? '' : r.example]);
    expect(lookupKey(r.key, 5).kind).toMatch(/^(key|net)$/);
    const set = await verdicts(dir, `set-${r.key}`, [...r.before, rendered.trimEnd()]);
    expect(set.ours).toEqual([]);
    expect(set.liblxc.stderr).toBe('');
    expect(set.liblxc.ok).toBe(true);
    const cleared = await verdicts(dir, `clear-${r.key}`, [...r.before, `${r.key} =`]);
    expect([cleared.ours.length > 0, !cleared.liblxc.ok]).toEqual([r.emptyError, r.emptyError]);
  });
});

describe('the parser never crashes and round-trips every input', () => {
  it('random text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        const { doc } = parseConfig(text);
        expect(renderConfig(doc)).toBe(text);
        checkConfigText(text, '/nonexistent/fuzz.conf', { version: 6, sysroot: '/nonexistent' });
      }),
      { numRuns: 2000 },
    );
  });

  it('config-shaped lines', () => {
    const keyArb = fc.constantFrom(...KEYS.map((k) => (k.prefix ? `${k.key}x` : k.key)), ...NET_KEYS.map((n) => `lxc.net.0.${n.sub}`), 'lxc.network.type', 'lxc.bogus');
    const lineArb = fc.oneof(
      fc.tuple(fc.constantFrom('', ' ', '\t'), keyArb, fc.constantFrom(' = ', '=', ' =', '= '), fc.string({ maxLength: 30 })).map(([i, k, e, v]) => `${i}${k}${e}${v}`),
      fc.string({ maxLength: 40 }).map((s) => `# ${s}`),
      fc.constant(''),
    );
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 30 }), fc.constantFrom('\n', '\r\n'), (lines, eol) => {
        const text = lines.join(eol);
        expect(renderConfig(parseConfig(text).doc)).toBe(text);
        const ds = checkConfigText(text, '/nonexistent/fuzz.conf', { version: 6, sysroot: '/nonexistent' });
        for (const d of ds) expect(d.line).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });
});
