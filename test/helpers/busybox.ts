import fs from 'node:fs';
import path from 'node:path';
import { writeArchive, type ArchiveEntry } from '../../src/rootfs/archive-writer.js';
import { REPO } from './cli.js';

// Real, runnable rootfs archives for container tests: busybox-static from Debian (the host's
// x86_64 binary, and the armhf one fetched with apt-get download, kept in test/.cache).

const APPLETS = ['sh', 'env', 'cat', 'ls', 'uname', 'id', 'test', 'echo', 'true', 'false', 'grep', 'mount', 'su', 'touch', 'ping', 'sleep', 'ip', 'nc', 'hostname'];

export function busyboxEntries(busybox: Buffer): ArchiveEntry[] {
  const t = 1700000000;
  return [
    { path: './', type: 'Directory', mode: 0o755, mtime: t },
    { path: 'bin', type: 'Directory', mode: 0o755, mtime: t },
    { path: 'bin/busybox', type: 'File', mode: 0o755, data: busybox, mtime: t },
    ...APPLETS.map((a): ArchiveEntry => ({ path: `bin/${a}`, type: 'SymbolicLink', linkpath: 'busybox', mtime: t })),
    { path: 'etc', type: 'Directory', mode: 0o755, mtime: t },
    { path: 'etc/passwd', type: 'File', mode: 0o644, data: 'root:x:0:0:root:/:/bin/sh\n', mtime: t },
    { path: 'etc/group', type: 'File', mode: 0o644, data: 'root:x:0:\n', mtime: t },
    { path: 'proc', type: 'SymbolicLink', linkpath: '/dev/null', mtime: t }, // LXC would refuse this; prepare fixes it
  ];
}

/** rootfs.tar with the host's busybox-static (Debian package busybox-static). */
export function hostBusyboxArchive(file: string): string {
  const bb = '/bin/busybox';
  const bytes = fs.readFileSync(bb);
  if (bytes.readUInt16LE(16) !== 2) throw new Error(`${bb} is not a static executable: install busybox-static`);
  writeArchive(file, busyboxEntries(bytes));
  return file;
}

/** The armhf busybox-static binary, from Debian's package (scripts/test-host-setup.sh fetches it). */
export async function armhfBusybox(): Promise<Buffer> {
  const bin = path.join(REPO, 'test', '.cache', 'busybox-armhf');
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run bash scripts/test-host-setup.sh (npm test does) as root`);
  return fs.readFileSync(bin);
}
