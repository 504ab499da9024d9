import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { sourceDateEpoch } from '../../src/core/epoch.js';

const code = (v: string): string | number | undefined => {
  try {
    return sourceDateEpoch({ SOURCE_DATE_EPOCH: v });
  } catch (e) {
    if (e instanceof ThunderboxError) return e.diagnostics[0]!.code;
    throw e;
  }
};

describe('SOURCE_DATE_EPOCH', () => {
  it('a whole number of seconds up to what a ustar header holds; unset or empty is none', () => {
    expect(code('1700000000')).toBe(1700000000);
    expect(code('0')).toBe(0);
    expect(code('8589934591')).toBe(8589934591);
    expect(code('')).toBeUndefined();
    expect(sourceDateEpoch({})).toBeUndefined();
  });

  it('anything else is SOURCE_DATE_EPOCH_INVALID, also a time so late the filesystem would store another one', () => {
    for (const v of ['abc', '-1', '1e20', '1.5', ' 1', '8589934592', '99999999999999999']) expect(code(v), v).toBe('SOURCE_DATE_EPOCH_INVALID');
  });
});
