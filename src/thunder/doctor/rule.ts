import type { Findings } from './findings.js';
import type { DeviceView } from './view.js';

/**
 * One start-time rule: what liblxc (or the kernel, or Thunder) does when the container starts,
 * how to see it in the image without starting, the usual fix, and the cases of the public
 * corpus (test/helpers/device-corpus.ts) whose real start proves it. The doctor is the table
 * of these rows (rules.ts), run in order.
 */
export interface StartRule {
  id: string;
  /** What happens at start, one sentence. */
  what: string;
  /** The usual fix (each finding names its own, more precise one). */
  hint: string;
  /** Names of corpus cases that exercise the rule. */
  cases: readonly string[];
  check(v: DeviceView, f: Findings): void;
}
