import { describe, expect, it } from 'vitest';
import { readVerdict } from '../../src/lxc/start-verdict.js';

// Log lines as liblxc 5.0.2 wrote them in the real starts of test/e2e/device-start.test.ts
// (which takes every verdict from a start); here the reading of them is pinned line by line.

const L = (level: string, where: string, msg: string) => `lxc-start Container 20261201084829.590 ${level.padEnd(8)} x - ../src/lxc/${where} - ${msg}`;
const exec = L('NOTICE', 'start.c:start:2194', 'Exec\'ing "sh"');
const started = L('NOTICE', 'start.c:post_start:2205', 'Started "sh" with pid "18255"');
const exited = L('DEBUG', 'start.c:signal_handler:464', 'Container init process 18255 exited');

describe('readVerdict', () => {
  it.each([
    ['init exited 3', [exec, started, exited, L('INFO', 'error.c:lxc_error_set_and_log:31', 'Child <18255> ended on error (3)')], '', {}, { started: true, exitCode: 3 }],
    ['init exited 0 (no "ended" line)', [exec, started, exited], 'hi\n', {}, { started: true, exitCode: 0 }],
    ['init killed by a signal of its own', [exec, started, L('INFO', 'error.c:lxc_error_set_and_log:34', 'Child <17> ended on signal Segmentation fault(11)')], '', {}, { started: true, exitCode: 139 }],
    ['init stopped by lxc-stop -k (timeout)', [exec, started, L('INFO', 'error.c:lxc_error_set_and_log:34', 'Child <17> ended on signal Killed(9)')], 'up\n', { stopped: true }, { started: true, exitCode: null }],
    ['exec failed', [L('NOTICE', 'start.c:start:2194', 'Exec\'ing "dyntrue"'), L('ERROR', 'start.c:start:2197', 'No such file or directory - Failed to exec "dyntrue"'), L('ERROR', 'sync.c:sync_wait:34', 'An error occurred in another process (expected sequence number 7)'), L('ERROR', 'start.c:__lxc_start:2107', 'Failed to spawn container "Container"')], '', {}, { started: false, exitCode: null, error: 'No such file or directory - Failed to exec "dyntrue"' }],
    ['the loader refused (127)', [exec, started, L('INFO', 'error.c:lxc_error_set_and_log:31', 'Child <20070> ended on error (127)')], 'dyntrue: error while loading shared libraries: libc.so.6: cannot open shared object file: No such file or directory\n', {}, { started: false, exitCode: null, error: 'dyntrue: error while loading shared libraries: libc.so.6: cannot open shared object file: No such file or directory' }],
    ['a command that ran and then exited 127 itself', [exec, started, L('INFO', 'error.c:lxc_error_set_and_log:31', 'Child <1> ended on error (127)')], 'sh: nope: not found\n', {}, { started: true, exitCode: 127 }],
    ['a pre-start hook failed', [L('INFO', 'conf.c:run_script_argv:338', 'Executing script "/etc/hooks/fail" for container "Container", config section "lxc"'), L('ERROR', 'conf.c:run_buffer:322', 'Script exited with status 1'), L('ERROR', 'start.c:lxc_init:844', 'Failed to run lxc.hook.pre-start for container "Container"'), L('ERROR', 'start.c:__lxc_start:2027', 'Failed to initialize container "Container"')], '', {}, { started: false, exitCode: null, error: 'lxc.hook.pre-start "/etc/hooks/fail" failed: Script exited with status 1' }],
    ['the config did not parse', [L('ERROR', 'parse.c:lxc_file_for_each_line_mmap:129', 'Failed to parse config file "/usr/share/T/Container/config" at line "lxc.environment = NOPE"'), L('ERROR', 'tools/lxc_start.c:main:240', 'Failed to create lxc_container')], '', {}, { started: false, exitCode: null, error: 'Failed to parse config file "/usr/share/T/Container/config" at line "lxc.environment = NOPE"' }],
    ['no log, only stderr', [], '', { stderr: 'lxc-start: something\nmore\n' }, { started: false, exitCode: null, error: 'lxc-start: something' }],
  ])('%s', (_name, lines, output, opts, want) => {
    expect(readVerdict(lines.join('\n') + '\n', output, opts)).toEqual(want);
  });
});
