import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fail } from '../core/errors.js';

// Running a foreign-architecture rootfs on the build host: the kernel hands ARM (etc.)
// executables to qemu-user through binfmt_misc. The registration must carry the F flag
// (the interpreter is opened at registration time), so it also works inside a container
// whose rootfs has no qemu. Debian's qemu-user-static registers exactly that through
// binfmt-support (/usr/share/binfmts/qemu-*).

const BINFMT = '/proc/sys/fs/binfmt_misc';

const QEMU_FOR: Record<string, string> = {
  armhf: 'qemu-arm',
  armel: 'qemu-arm',
  aarch64: 'qemu-aarch64',
  riscv64: 'qemu-riscv64',
  mips: 'qemu-mips',
  mipsel: 'qemu-mipsel',
  mips64: 'qemu-mips64',
  mips64el: 'qemu-mips64el',
};

/** Architectures this host runs without emulation. */
export function nativeArchs(): string[] {
  switch (process.arch) {
    case 'x64':
      return ['x86_64', 'i686'];
    case 'arm64':
      return ['aarch64', 'armhf', 'armel'];
    case 'arm':
      return ['armhf', 'armel'];
    default:
      return [];
  }
}

/** Make sure executables of `archName` run here; returns the binfmt entry used, or null if native. */
export function ensureBinfmt(archName: string): string | null {
  if (nativeArchs().includes(archName)) return null;
  const entry = QEMU_FOR[archName];
  if (!entry) fail('BINFMT_UNSUPPORTED', `cannot run a ${archName} rootfs on this ${process.arch} host`, 'run `thunderbox try` on a machine of that architecture');
  const hint = 'install qemu-user-static and binfmt-support (Debian: apt-get install qemu-user-static binfmt-support), as root';
  if (!fs.existsSync(`${BINFMT}/status`)) {
    try {
      execFileSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT], { stdio: 'pipe' });
    } catch (err) {
      fail('BINFMT_UNAVAILABLE', `binfmt_misc is not mounted at ${BINFMT} and mounting it failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`, `${hint}; run as root`);
    }
  }
  const file = `${BINFMT}/${entry}`;
  if (!fs.existsSync(file)) {
    if (!fs.existsSync(`/usr/share/binfmts/${entry}`)) fail('QEMU_MISSING', `a ${archName} rootfs needs ${entry} through binfmt_misc, and it is not installed`, hint);
    try {
      execFileSync('update-binfmts', ['--enable', entry], { stdio: 'pipe' });
    } catch (err) {
      fail('BINFMT_ENABLE_FAILED', `update-binfmts --enable ${entry} failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`, hint);
    }
  }
  const text = fs.readFileSync(file, 'utf8');
  if (!/^enabled/m.test(text)) fail('BINFMT_DISABLED', `${file} is disabled`, `enable it: update-binfmts --enable ${entry}`);
  if (!/^flags:.*F/m.test(text)) fail('BINFMT_NO_F_FLAG', `${file} lacks the F flag, so the interpreter cannot be found inside a container`, 'use Debian\'s qemu-user-static, which registers with the F flag');
  return file;
}
