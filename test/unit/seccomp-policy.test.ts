import { describe, expect, it } from 'vitest';
import { START_SYSCALLS, checkSeccompPolicy } from '../../src/thunder/doctor/seccomp-policy.js';

// The doctor's reading of LXC seccomp profiles (liblxc 5.0.2's parse_config / parse_config_v2).
// Each refusal here was measured with a real start in the corpus (test/helpers/device-corpus.ts)
// or by hand; the first case is LXC's own common.seccomp.

const allowAll = START_SYSCALLS.map((s) => `${Array.isArray(s) ? s[0] : s}\n`).join('');
const allowArm = START_SYSCALLS.map((s) => `${Array.isArray(s) ? s.at(-1) : s}\n`).join('');

describe('seccomp profiles as liblxc parses them', () => {
  it.each([
    ['common.seccomp', '2\ndenylist\nreject_force_umount  # comment this to allow umount -f;  not recommended\n[all]\nkexec_load errno 1\nopen_by_handle_at errno 1\ninit_module errno 1\nfinit_module errno 1\ndelete_module errno 1\n'],
    ['legacy blacklist, unknown syscall names skipped', '2\nblacklist\nnot_a_syscall errno 1\n'],
    ['CRLF line ends', '2\r\ndenylist\r\nkexec_load errno 1\r\n'],
    ['architecture sections, upper case too', '2\ndenylist\n[x86_64]\nkexec_load errno 1\n[ARM]\nkexec_load errno 1\n'],
    ['an argument filter', '2\ndenylist\nkexec_load errno 1 [0,1,SCMP_CMP_EQ]\nwrite errno 1 [0,3,SCMP_CMP_EQ]\n'],
    ['an allowlist with what the init needs', `2\nallowlist\n${allowAll}`],
    ['an allowlist with the 32-bit ARM names', `2\nwhitelist\n${allowArm}`],
    ['a denylist whose default action is allow', '2\ndenylist allow\nkexec_load\n'],
  ])('%s: accepted', (_n, text) => {
    expect(checkSeccompPolicy(text)).toEqual([]);
  });

  it.each([
    ['no version', 'denylist\n', 1, 'Invalid version'],
    ['version 3', '3\ndenylist\n', 1, 'Invalid version'],
    ['empty', '', 1, 'Invalid version'],
    ['a misspelt policy', '2\nblocklist\n', 2, 'Bad seccomp policy style'],
    ['debug', '2\nallowlist debug\n', 2, 'Debug not yet implemented'],
    ['version 1 denylist', '1\ndenylist\n', 2, 'Only allowlist'],
    ['an unknown action', '2\ndenylist\nkexec_load deny\n', 3, 'not an action'],
    ['errno without a number', '2\ndenylist\nkexec_load errno\n', 3, 'not an action'],
    ['an unknown architecture', '2\ndenylist\n[sparc]\n', 3, 'Unsupported architecture'],
    ['an unknown operator', '2\ndenylist\nkexec_load errno 1 [0,1,SCMP_CMP_BOGUS]\n', 3, 'argument filter'],
    ['execve denied', '2\ndenylist\nexecve errno 1\n', 3, 'denies execve'],
    ['a short allowlist', '2\nallowlist\nwrite\n', 2, 'does not allow close, sendmsg'],
    ['a denylist denying what it does not name', '2\ndenylist errno 38\nkexec_load\n', 2, 'a denylist whose default action is "errno 38"'],
  ])('%s: refused, line %#', (_n, text, line, words) => {
    const p = checkSeccompPolicy(text);
    expect(p[0]).toMatchObject({ line });
    expect(p[0]!.message).toContain(words);
  });
});
