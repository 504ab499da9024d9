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
  // past 2446 ext4 stores another time than asked for (its 34-bit seconds), and the ustar
  // header of a rootfs tar ends in 2242: a later epoch is a mistake, not a date to round
  if (BigInt(raw) > MAX_EPOCH) {
    fail('SOURCE_DATE_EPOCH_INVALID', `SOURCE_DATE_EPOCH=${raw} is after ${new Date(Number(MAX_EPOCH) * 1000).toISOString().slice(0, 10)}, the last time a tar header holds (ext4 stores up to 2446, then another time than asked for)`, 'set it to a Unix timestamp such as 1700000000 (the last commit\'s time: git log -1 --format=%ct), or unset it');
  }
  return Number(raw);
}

/** 2242-03-16: the largest mtime a ustar header holds (8^11 - 1), within ext4's range too. */
const MAX_EPOCH = 8n ** 11n - 1n;
