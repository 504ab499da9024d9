import { describe, expect, it } from 'vitest';
import { lxcSeccompToOci } from '../../src/oci/seccomp.js';
import { ociConfig, renderOciConfig } from '../../src/oci/config.js';
import { resolveContainer } from '../../src/profile/resolve.js';
// (/bin: any existing directory serves as the rootfs source of a spec that is only rendered)

// LXC's seccomp policy language (liblxc seccomp.c parse_config_v2) to OCI linux.seccomp; the
// real filters are started under runc and crun in test/e2e/oci-runtime.test.ts.

describe('lxcSeccompToOci', () => {
  it("Debian's common.seccomp: a denylist, EPERM for five calls, umount2 with MNT_FORCE EACCES", () => {
    const text = '2\ndenylist\nreject_force_umount  # comment this to allow umount -f;  not recommended\n[all]\nkexec_load errno 1\nopen_by_handle_at errno 1\ninit_module errno 1\nfinit_module errno 1\ndelete_module errno 1\n';
    expect(lxcSeccompToOci(text, 'x86_64')).toEqual({
      problems: [],
      seccomp: {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [
          { names: ['umount2'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 1, value: 1, valueTwo: 1, op: 'SCMP_CMP_MASKED_EQ' }] },
          { names: ['kexec_load', 'open_by_handle_at', 'init_module', 'finit_module', 'delete_module'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
        ],
      },
    });
  });

  it('sections: [all] and the container\'s own architecture apply, others do not; a rule without an action kills in a denylist', () => {
    const text = '2\nblacklist\n[x86_64]\nreboot\n[arm]\nmount errno 38\n[ALL]\nswapon trap\nkeyctl [0,1,==] [1,0x10,&=,0xf0]\n';
    const arm = lxcSeccompToOci(text, 'armhf').seccomp!;
    expect(arm.architectures).toEqual(['SCMP_ARCH_ARM']);
    expect(arm.syscalls).toEqual([
      { names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      { names: ['swapon'], action: 'SCMP_ACT_TRAP' },
      { names: ['keyctl'], action: 'SCMP_ACT_KILL', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 0xf0, valueTwo: 0x10, op: 'SCMP_CMP_MASKED_EQ' }] },
    ]);
    expect(lxcSeccompToOci(text, 'x86_64').seccomp!.syscalls[0]).toEqual({ names: ['reboot'], action: 'SCMP_ACT_KILL' });
    expect(lxcSeccompToOci(text, 'aarch64').seccomp!.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  it('an allowlist: default kill (or line 2\'s action); rules allow', () => {
    const r = lxcSeccompToOci('2\nallowlist errno 38\nread\nwrite\n', 'x86_64').seccomp!;
    expect(r).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] });
  });

  it.each([
    ['1\nallowlist\n103\n', 1, 'OCI_SECCOMP_VERSION'],
    ['2\ngraylist\n', 2, 'OCI_SECCOMP_POLICY'],
    ['2\ndenylist\n[sparc]\n', 3, 'OCI_SECCOMP_SECTION'],
    ['2\ndenylist\nmount notify\n', 3, 'OCI_SECCOMP_ACTION'],
    ['2\ndenylist\nmount errno x\n', 3, 'OCI_SECCOMP_ACTION'],
    ['2\ndenylist\n\nmount errno 1 [9,1,==]\n', 4, 'OCI_SECCOMP_ARG'],
  ])('%j: an error at line %i (%s), no policy', (text, line, code) => {
    const r = lxcSeccompToOci(text, 'x86_64');
    expect(r.seccomp).toBeNull();
    expect(r.problems[0]).toMatchObject({ code, line, severity: 'error' });
  });
});

describe('renderOciConfig', () => {
  it('the same spec gives the same bytes; --share-uid holes in the maps; inherited names as NAME=$NAME', () => {
    const spec = resolveContainer('Ocdm', { rootfs: '/bin', pluginJson: false, share: [{ uid: 1000, gid: 1000 }], environment: [{ name: 'HOME' }, { name: 'LOG', value: '3' }], runtime: 'runc' }, { target: '/' });
    const ctx = { args: ['/bin/sh'], capDrop: ['sys_time'], seccomp: null };
    expect(renderOciConfig(spec, ctx)).toBe(renderOciConfig(spec, ctx));
    const c = ociConfig(spec, ctx) as { process: { env: string[]; capabilities: { bounding: string[] } }; linux: { uidMappings: unknown[]; namespaces: { type: string }[] } };
    expect(c.linux.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 1000 }, { containerID: 1000, hostID: 1000, size: 1 }, { containerID: 1001, hostID: 101001, size: 64535 }]);
    expect(c.process.env).toEqual(['PATH=$PATH', 'MESSAGE_DISPATCHER_CONFIG=$MESSAGE_DISPATCHER_CONFIG', 'HOME=$HOME', 'LOG=3']);
    expect(c.process.capabilities.bounding).not.toContain('CAP_SYS_TIME');
    expect(c.process.capabilities.bounding).toContain('CAP_SYS_ADMIN');
    expect(c.linux.namespaces.map((n) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'user', 'uts']);
  });
});
