import { describe, expect, it } from 'vitest';
import { distance, nearest } from '../../src/core/suggest.js';

describe('distance', () => {
  it.each([
    ['', '', 0],
    ['abc', 'abc', 0],
    ['abc', '', 3],
    ['', 'ab', 2],
    ['sekcomp', 'seccomp', 1],
    ['OCMD', 'OCDM', 1], // a swap is one edit
    ['kitten', 'sitting', 3],
    ['ca', 'abc', 3], // optimal string alignment, not full Damerau
  ])('%s -> %s is %i', (a, b, d) => {
    expect(distance(a, b)).toBe(d);
    expect(distance(b, a)).toBe(d);
  });
});

describe('nearest', () => {
  it.each([
    ['sekcomp', ['network', 'seccomp', 'mounts'], ['seccomp']],
    ['OCMD', ['Netflix', 'OCDM', 'Cobalt'], ['OCDM']],
    ['ocdm', ['OCDM', 'Cobalt'], ['OCDM']], // case is free
    ['secomp', ['seccompx', 'seccomp', 'env'], ['seccomp', 'seccompx']], // nearest first
    ['OCDM', ['OCDM', 'OCDN'], ['OCDN']], // the name itself is not a suggestion
    ['xyz', ['abc', 'seccomp'], []],
    ['a', ['b', 'ab'], ['ab']], // one letter is not replaced by another
    ['', ['a'], []],
    ['net', [], []],
  ] as [string, string[], string[]][])('%s among %j', (name, cands, want) => {
    expect(nearest(name, cands)).toEqual(want);
  });
});
