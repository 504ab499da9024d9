import { describe, expect, it } from 'vitest';
import { commentOutSeccompProfile, restoreSeccompProfile } from '../../src/thunder/common-conf.js';
import { SAMPLE_COMMON_CONF } from '../../src/thunder/sample.js';

describe('common.conf seccomp edit', () => {
  it('comments out the profile line and touches nothing else', () => {
    const r = commentOutSeccompProfile(SAMPLE_COMMON_CONF);
    expect(r.commented).toEqual([21]);
    expect(r.after).toBe(SAMPLE_COMMON_CONF.replace('\nlxc.seccomp.profile = ', '\n# lxc.seccomp.profile = '));
  });

  it('is idempotent', () => {
    const once = commentOutSeccompProfile(SAMPLE_COMMON_CONF).after;
    const twice = commentOutSeccompProfile(once);
    expect(twice.after).toBe(once);
    expect(twice.commented).toEqual([]);
    expect(twice.alreadyOff).toBe(true);
  });

  it('keeps indentation, CRLF and other seccomp keys', () => {
    const text = 'lxc.tty.max = 4\r\n  lxc.seccomp.profile = /x\r\nlxc.seccomp.notify.proxy = unix:/y\r\n';
    expect(commentOutSeccompProfile(text).after).toBe('lxc.tty.max = 4\r\n  # lxc.seccomp.profile = /x\r\nlxc.seccomp.notify.proxy = unix:/y\r\n');
  });

  it('restore puts back exactly what the edit commented out, byte for byte, and leaves a line changed since', () => {
    const text = 'lxc.tty.max = 4\r\n  lxc.seccomp.profile = /x\r\n# lxc.seccomp.profile = /mine\r\n';
    const off = commentOutSeccompProfile(text);
    const back = restoreSeccompProfile(off.after, off.edits);
    expect(back.after).toBe(text);
    expect(back.restored).toEqual([2]);
    // the user's own commented line (line 3) stays a comment; a moved line is found by its text
    const moved = restoreSeccompProfile(`lxc.a = 1\n${off.after}`, off.edits);
    expect(moved.after).toBe(`lxc.a = 1\n${text}`);
    const changed = restoreSeccompProfile(off.after.replace('/x', '/y'), off.edits);
    expect(changed.restored).toEqual([]);
    expect(changed.gone).toEqual(off.edits);
    expect(restoreSeccompProfile(SAMPLE_COMMON_CONF, commentOutSeccompProfile(SAMPLE_COMMON_CONF).edits).after).toBe(SAMPLE_COMMON_CONF);
  });
});
