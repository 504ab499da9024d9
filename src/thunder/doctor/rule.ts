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
  /**
   * Names of corpus cases that exercise the rule. A rule about what Thunder does rather than
   * liblxc (the plugin's mode: Thunder never starts a container for a plugin that is not in
   * Container mode) cannot be shown by a start of the container: proof 'doctor-test', and its
   * cases are titles of tests in test/e2e/doctor.test.ts.
   */
  cases: readonly string[];
  proof?: 'start' | 'doctor-test';
  check(v: DeviceView, f: Findings): void;
}
