import type { ArchiveEntry } from '../../src/rootfs/archive-writer.js';

/** A rootfs-like archive that exercises every kind of entry and metadata GNU tar keeps. */
export function richEntries(opts: { devices: boolean }): ArchiveEntry[] {
  const t = 1600000000;
  const big = Buffer.alloc(3 * 1024 * 1024 + 123);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
  const long = `usr/share/${'very-long-directory-name-'.repeat(4)}/${'and-a-long-file-name-'.repeat(4)}.txt`;
  const e: ArchiveEntry[] = [
    { path: './', type: 'Directory', mode: 0o750, mtime: t },
    { path: 'bin', type: 'Directory', mode: 0o755, mtime: t + 1 },
    { path: 'bin/busybox', type: 'File', mode: 0o4755, data: '\x7fELF fake busybox', mtime: t + 2 },
    { path: 'bin/sh', type: 'SymbolicLink', linkpath: 'busybox', mtime: t + 3 },
    { path: 'bin/sgid', type: 'File', mode: 0o2711, uid: 0, gid: 5, data: 'sgid', mtime: t + 4 },
    { path: 'etc', type: 'Directory', mode: 0o755, mtime: t + 5 },
    { path: 'etc/shadow', type: 'File', mode: 0o600, data: 'root:*:1::::::\n', mtime: t + 6 },
    { path: 'etc/empty', type: 'File', mode: 0o644, data: '', mtime: t + 7 },
    { path: 'etc/nothing', type: 'File', mode: 0o000, data: 'no access', mtime: t + 8 },
    { path: 'etc/mtab', type: 'SymbolicLink', linkpath: '/proc/self/mounts', mtime: t + 9 },
    { path: 'etc/dangling', type: 'SymbolicLink', linkpath: '../does/not/exist', mtime: t + 10 },
    { path: 'home', type: 'Directory', mode: 0o755, mtime: t + 11 },
    { path: 'home/user', type: 'Directory', mode: 0o700, uid: 1000, gid: 1000, mtime: t + 12 },
    { path: 'home/user/notes.txt', type: 'File', mode: 0o640, uid: 1000, gid: 1001, data: 'hi', mtime: t + 13 },
    { path: 'lib', type: 'Directory', mode: 0o755, mtime: t + 14 },
    { path: 'lib/libbig.so.1.2.3', type: 'File', mode: 0o755, data: big, mtime: t + 15 },
    { path: 'lib/libbig.so.1', type: 'SymbolicLink', linkpath: 'libbig.so.1.2.3', mtime: t + 16 },
    { path: 'lib/hard1', type: 'Link', linkpath: 'lib/libbig.so.1.2.3', mtime: t + 17 },
    { path: 'lib/hard2', type: 'Link', linkpath: 'lib/libbig.so.1.2.3', mtime: t + 18 },
    { path: 'usr', type: 'Directory', mode: 0o755, mtime: t + 19 },
    { path: 'usr/share', type: 'Directory', mode: 0o755, mtime: t + 20 },
    { path: `usr/share/${'very-long-directory-name-'.repeat(4)}`, type: 'Directory', mode: 0o755, mtime: t + 21 },
    { path: long, type: 'File', mode: 0o644, data: 'pax path', mtime: t + 22 },
    { path: 'usr/share/with space & ünïcode', type: 'File', mode: 0o644, data: 'names', mtime: t + 23 },
    { path: 'usr/share/ro', type: 'Directory', mode: 0o555, mtime: t + 24 },
    { path: 'usr/share/ro/inside', type: 'File', mode: 0o444, data: 'in a read-only dir', mtime: t + 25 },
    { path: 'proc', type: 'Directory', mode: 0o555, mtime: t + 26 },
    { path: 'sys', type: 'Directory', mode: 0o555, mtime: t + 27 },
    { path: 'tmp', type: 'Directory', mode: 0o1777, mtime: t + 28 },
    { path: 'dev', type: 'Directory', mode: 0o755, mtime: t + 29 },
    { path: 'run', type: 'Directory', mode: 0o755, mtime: t + 30 },
    { path: 'run/initctl', type: 'FIFO', mode: 0o600, mtime: t + 31 },
    { path: 'var', type: 'Directory', mode: 0o2775, gid: 50, mtime: t + 32 },
  ];
  if (opts.devices) {
    // right after their directory: GNU tar restores a directory's mtime when it leaves it, so
    // entries added to it later would make its mtime differ (ours sets all directory times last)
    const at = e.findIndex((x) => x.path === 'dev') + 1;
    e.splice(
      at,
      0,
      { path: 'dev/null', type: 'CharacterDevice', mode: 0o666, devmaj: 1, devmin: 3, mtime: t + 33 },
      { path: 'dev/console', type: 'CharacterDevice', mode: 0o600, devmaj: 5, devmin: 1, mtime: t + 34 },
      { path: 'dev/mmcblk0', type: 'BlockDevice', mode: 0o660, gid: 6, devmaj: 179, devmin: 0, mtime: t + 35 },
    );
  }
  return e;
}
