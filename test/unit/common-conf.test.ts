import { describe, expect, it } from 'vitest';
import { commentOutSeccompProfile } from '../../src/thunder/common-conf.js';
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
});
