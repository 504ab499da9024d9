import { fail } from './errors.js';

/**
 * The timestamp for everything thunderbox generates (configs, stamps, implicit directories):
 * SOURCE_DATE_EPOCH when set (reproducible-builds.org), else `fallback`.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) {
    fail('SOURCE_DATE_EPOCH_INVALID', `SOURCE_DATE_EPOCH="${raw}" is not a whole number of seconds`, 'set it to a Unix timestamp such as 1700000000, or unset it');
  }
  return Number(raw);
}
