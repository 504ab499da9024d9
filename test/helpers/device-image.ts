import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { writeArchive, type ArchiveEntry } from '../../src/rootfs/archive-writer.js';
import { armhfBusybox, busyboxEntries } from './busybox.js';
import { prepareIn } from './prepare.js';
import type { ContainerInput } from '../../src/profile/input.js';

// Image roots (a Buildroot TARGET_DIR as the device sees it) for device-faithful starts: BusyBox
// at /bin (the shell hooks and newuidmap run with), /etc, /tmp 1777, /proc /sys /dev /run, and
// the image's own LXC config: this host's common.conf, common.seccomp and userns.conf as an
// LXC package installs them, each with a line the host's copy does not have, plus an include
// only the image has. A container in it that prints these shows the image's files were read.

export const IMAGE_COMMON_CONF_MARK = 'TBX_IMAGE_COMMON_CONF=from-the-image';
export const IMAGE_INCLUDE_MARK = 'TBX_IMAGE_INCLUDE=only-the-image-has-it';
const APPLETS = ['sh', 'env', 'cat', 'ls', 'echo', 'true', 'false', 'id', 'sleep', 'touch', 'uname', 'test', 'unshare', 'mount', 'umount', 'readlink', 'mkdir', 'rm'];

export async function deviceImage(dir: string, opts: { arch?: 'host' | 'armhf'; tmp?: boolean } = {}): Promise<string> {
  const target = path.join(dir, 'target');
  const bb = opts.arch === 'armhf' ? await armhfBusybox() : fs.readFileSync('/bin/busybox');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'run', 'usr/bin', 'usr/share/lxc/config/common.conf.d']) fs.mkdirSync(path.join(target, d), { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(target, 'bin/busybox'), bb, { mode: 0o755 });
  for (const a of APPLETS) fs.symlinkSync('busybox', path.join(target, 'bin', a));
  fs.writeFileSync(path.join(target, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.writeFileSync(path.join(target, 'etc/group'), 'root:x:0:\n');
  if (opts.tmp !== false) {
    fs.mkdirSync(path.join(target, 'tmp'));
    fs.chmodSync(path.join(target, 'tmp'), 0o1777);
  }
  const conf = path.join(target, 'usr/share/lxc/config');
  fs.writeFileSync(path.join(conf, 'common.conf'), `${fs.readFileSync('/usr/share/lxc/config/common.conf', 'utf8')}\n# this image's own line\nlxc.environment = ${IMAGE_COMMON_CONF_MARK}\n`);
  fs.copyFileSync('/usr/share/lxc/config/common.seccomp', path.join(conf, 'common.seccomp'));
  fs.copyFileSync('/usr/share/lxc/config/userns.conf', path.join(conf, 'userns.conf'));
  fs.writeFileSync(path.join(conf, 'common.conf.d/50-image.conf'), `lxc.environment = ${IMAGE_INCLUDE_MARK}\n`);
  return target;
}

/** A static unix-socket client for the host's architecture: connect(argv[1]), send argv[2], print the echo. */
export async function commClient(dir: string): Promise<Buffer> {
  const src = path.join(dir, 'comm-client.c');
  fs.writeFileSync(
    src,
    `#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  char buf[256];
  ssize_t n;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (argc < 3) return 2;
  strncpy(a.sun_path, argv[1], sizeof(a.sun_path) - 1);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) { perror("connect"); return 1; }
  if (write(fd, argv[2], strlen(argv[2])) < 0) { perror("write"); return 1; }
  shutdown(fd, SHUT_WR);
  while ((n = read(fd, buf, sizeof(buf))) > 0) fwrite(buf, 1, (size_t)n, stdout);
  putchar('\\n');
  return 0;
}
`,
  );
  const out = path.join(dir, 'comm-client');
  await execa('gcc', ['-static', '-O1', '-o', out, src]);
  return fs.readFileSync(out);
}

/** A rootfs.tar of BusyBox (host or armhf) with extra files. */
export async function busyboxRootfs(file: string, opts: { arch?: 'host' | 'armhf'; extra?: ArchiveEntry[] } = {}): Promise<string> {
  const bb = opts.arch === 'armhf' ? await armhfBusybox() : fs.readFileSync('/bin/busybox');
  writeArchive(file, [...busyboxEntries(bb), ...(opts.extra ?? [])]);
  return file;
}

/** An image with one prepared container <datapath>/<callsign>/Container (prepare's defaults: unprivileged). */
export async function imageWithContainer(dir: string, callsign: string, input: ContainerInput = {}, opts: { arch?: 'host' | 'armhf'; extra?: ArchiveEntry[]; tmp?: boolean } = {}) {
  const target = await deviceImage(dir, opts);
  const rootfs = await busyboxRootfs(path.join(dir, 'rootfs.tar'), opts);
  const r = await prepareIn(target, callsign, { rootfs, ...input });
  return { target, dir: r.dir, lxcpath: path.posix.join('/usr/share/Thunder', callsign) };
}
