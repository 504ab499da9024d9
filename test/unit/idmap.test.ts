import fs from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEFAULT_IDMAP, checkIdmap, formatIdmapLine, parseIdmapValue, planIdmap, toContainer, toHost } from '../../src/lxc/idmap.js';

describe('idmap planner', () => {
  it('default: u and g 0 100000 65536', () => {
    expect(planIdmap(DEFAULT_IDMAP).map(formatIdmapLine)).toEqual(['u 0 100000 65536', 'g 0 100000 65536']);
  });

  it("the wiki's shared-folder map, exactly", () => {
    const lines = planIdmap({ base: 100000, size: 65536, share: [{ uid: 1000, gid: 1000 }] }).map(formatIdmapLine);
    expect(lines).toEqual(['u 0 100000 1000', 'g 0 100000 1000', 'u 1000 1000 1', 'g 1000 1000 1', 'u 1001 101001 64535', 'g 1001 101001 64535']);
  });

  it('maps both ways on the wiki example', () => {
    const m = planIdmap({ base: 100000, size: 65536, share: [{ uid: 1000, gid: 1000 }] });
    expect([0, 999, 1000, 1001, 65535, 65536].map((id) => toHost(m, 'u', id))).toEqual([100000, 100999, 1000, 101001, 165535, undefined]);
    expect([100000, 1000, 101001, 99999].map((id) => toContainer(m, 'g', id))).toEqual([0, 1000, 1001, undefined]);
    expect(checkIdmap(m)).toEqual([]);
  });

  it('shares at the edges of the range', () => {
    const m = planIdmap({ base: 100000, size: 10, share: [{ uid: 0, gid: 0 }, { uid: 9, gid: 9 }] });
    expect(m.filter((l) => l.kind === 'u').map(formatIdmapLine)).toEqual(['u 0 0 1', 'u 1 100001 8', 'u 9 9 1']);
  });

  it.each([
    ['u 0 100000 65536', { kind: 'u', nsid: 0, hostid: 100000, range: 65536 }],
    ['g\t0  100000 1', { kind: 'g', nsid: 0, hostid: 100000, range: 1 }],
  ])('parses %j', (v, want) => expect(parseIdmapValue(v)).toEqual(want));

  it.each(['x 0 1 1', 'u 0 1', 'u -1 0 1', 'u 0 1 1 junk'])('rejects %j', (v) => expect(parseIdmapValue(v)).toHaveProperty('error'));

  it.each([
    [[{ kind: 'u', nsid: 0, hostid: 100000, range: 0 }, { kind: 'g', nsid: 0, hostid: 100000, range: 1 }], 'IDMAP_RANGE_ZERO'],
    [[{ kind: 'u', nsid: 0, hostid: 100000, range: 10 }, { kind: 'u', nsid: 5, hostid: 200000, range: 10 }, { kind: 'g', nsid: 0, hostid: 1, range: 1 }], 'IDMAP_OVERLAP'],
    [[{ kind: 'u', nsid: 1, hostid: 100000, range: 10 }, { kind: 'g', nsid: 0, hostid: 1, range: 1 }], 'IDMAP_ROOT_UNMAPPED'],
    [[{ kind: 'u', nsid: 0, hostid: 100000, range: 10 }], 'IDMAP_NO_GID_MAP'],
    [[{ kind: 'u', nsid: 0, hostid: 4294967290, range: 100 }, { kind: 'g', nsid: 0, hostid: 100000, range: 65536 }], 'IDMAP_RANGE_OVERFLOW'],
    [[{ kind: 'u', nsid: 4294967200, hostid: 100000, range: 100 }, { kind: 'u', nsid: 0, hostid: 200000, range: 1 }, { kind: 'g', nsid: 0, hostid: 100000, range: 1 }], 'IDMAP_RANGE_OVERFLOW'],
  ] as const)('checks %#: %s', (lines, code) => {
    expect(checkIdmap(lines as never).map((d) => d.code)).toContain(code);
  });

  it('a map the kernel cannot take in one write (4096 bytes or more, measured: EINVAL) is IDMAP_TOO_LONG; 4095 is not', () => {
    // lines of "N 100000N 1\n": 300 of them with 7-digit ids make about 5 KiB
    const long = Array.from({ length: 300 }, (_, i) => ({ kind: 'u' as const, nsid: 1000000 + i, hostid: 2000000 + i, range: 1 }));
    const map = [{ kind: 'u' as const, nsid: 0, hostid: 100000, range: 1 }, ...long, { kind: 'g' as const, nsid: 0, hostid: 100000, range: 1 }];
    expect(checkIdmap(map).map((d) => d.code)).toEqual(['IDMAP_TOO_LONG']);
    const bytes = (n: number) => map.slice(0, n + 1).filter((l) => l.kind === 'u').reduce((b, l) => b + `${l.nsid} ${l.hostid} ${l.range}\n`.length, 0);
    let n = 1;
    while (bytes(n + 1) < 4096) n++;
    expect(checkIdmap([...map.slice(0, n + 1), map.at(-1)!]).map((d) => d.code)).toEqual([]);
    expect(checkIdmap([...map.slice(0, n + 2), map.at(-1)!]).map((d) => d.code)).toEqual(['IDMAP_TOO_LONG']);
    // the kernel's own verdict, one write each: the longest map checkIdmap passes is taken, one line more is not
    const text = (k: number) => map.slice(0, k + 1).filter((l) => l.kind === 'u').map((l) => `${l.nsid} ${l.hostid} ${l.range}\n`).join('');
    const write = (t: string) => {
      const child = spawn('unshare', ['--user', 'sleep', '5'], { stdio: 'ignore' });
      try {
        const self = fs.readlinkSync('/proc/self/ns/user');
        for (let i = 0; i < 500; i++) {
          try {
            if (fs.readlinkSync(`/proc/${child.pid}/ns/user`) !== self) break;
          } catch {
            // not yet
          }
          execFileSync('sleep', ['0.01']);
        }
        fs.writeFileSync(`/proc/${child.pid}/uid_map`, t);
        return 'ok';
      } catch (e) {
        return (e as { code?: string }).code;
      } finally {
        child.kill('SIGKILL');
      }
    };
    expect(write(text(n))).toBe('ok');
    expect(write(text(n + 1))).toBe('EINVAL');
  });

  it('the last id a range may reach is 4294967294', () => {
    const lines = (hostid: number, range: number) => [{ kind: 'u', nsid: 0, hostid, range }, { kind: 'g', nsid: 0, hostid: 100000, range: 1 }] as never;
    expect(checkIdmap(lines(4294967295 - 100, 100))).toEqual([]);
    expect(checkIdmap(lines(4294967295 - 100, 101)).map((d) => d.code)).toEqual(['IDMAP_RANGE_OVERFLOW']);
  });
});
