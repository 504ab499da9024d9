import { describe, expect, it } from 'vitest';
import { planIdmap } from '../../src/lxc/idmap.js';
import { missingRanges, neededRanges, parseSubids, withRanges } from '../../src/lxc/subids.js';
import { parseMountFlag } from '../../src/profile/resolve.js';
import { parseTable } from '../../src/buildroot/permission-table.js';

describe('subuid/subgid', () => {
  const wiki = planIdmap({ base: 100000, size: 65536, share: [{ uid: 1000, gid: 1000 }] });
  it('the ranges a hole-punched map needs', () => {
    expect(neededRanges([wiki], 'u')).toEqual([
      { start: 100000, count: 1000 },
      { start: 1000, count: 1 },
      { start: 101001, count: 64535 },
    ]);
  });
  it('a covering line counts; other users do not', () => {
    const text = 'root:100000:65536\nbuilder:1000:1\n';
    expect(missingRanges(text, ['root'], neededRanges([wiki], 'u'))).toEqual([{ start: 1000, count: 1 }]);
  });
  it('adds lines and keeps the others (also without a final newline)', () => {
    expect(withRanges('builder:200000:65536', 'root', [{ start: 1000, count: 1 }])).toBe('builder:200000:65536\nroot:1000:1\n');
    expect(withRanges('x:1:2\n', 'root', [])).toBe('x:1:2\n');
    expect(parseSubids('# comment\nroot:1:2\nbad line\n')).toEqual([{ user: 'root', start: 1, count: 2 }]);
  });
  it('a map that includes host id 0 is written directly: no lines', () => {
    expect(neededRanges([planIdmap({ base: 100000, size: 10, share: [{ uid: 0, gid: 0 }] })], 'u')).toEqual([]);
  });
});

describe('--mount and permission tables', () => {
  it.each([
    ['/a:b', { host: '/a', path: 'b', rw: false, optional: false }],
    ['/testshare:TestLogging:rw:0770:1000', { host: '/testshare', path: 'TestLogging', rw: true, optional: false, mode: 0o770, owner: { uid: 1000, gid: 1000 } }],
    ['/a:b:ro:755:5:6', { host: '/a', path: 'b', rw: false, readOnlyAsked: true, optional: false, mode: 0o755, owner: { uid: 5, gid: 6 } }],
  ])('%s', (flag, want) => expect(parseMountFlag(flag)).toEqual(want));
  it.each(['/a', '/a:b:maybe', '/a:b:rw:999', '/a:b:rw:0770:x'])('%s is refused', (flag) => expect(() => parseMountFlag(flag)).toThrow());

  it('reads makedevs lines and thunderbox symlink lines; reports bad lines with their number', () => {
    const { lines, diagnostics } = parseTable('# header\n/r d 755 100000 100000 - - - - -\n# thunderbox:symlink /r/sh 100000 100000\n/r/dev/null c 666 0 0 1 3 0 0 -\n/r/x q 755 0 0 - - - - -\n', 't');
    expect(lines.map((l) => [l.name, l.type, l.mode, l.uid, l.major, l.minor])).toEqual([
      ['/r', 'd', 0o755, 100000, 0, 0],
      ['/r/sh', 'l', 0o777, 100000, 0, 0],
      ['/r/dev/null', 'c', 0o666, 0, 1, 3],
    ]);
    expect(diagnostics).toMatchObject([{ code: 'TABLE_LINE', file: 't', line: 5 }]);
  });
});
