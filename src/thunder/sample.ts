import fs from 'node:fs';
import path from 'node:path';
import { writeArchive, type ArchiveEntry } from '../rootfs/archive-writer.js';
import { EF_ARM_ABI_FLOAT_HARD, EM } from '../rootfs/elf.js';

// The built-in sample for `thunderbox demo`: a small armhf-looking rootfs archive and an image
// root with what the wiki's recipe touches (a plugin JSON in Local mode, LXC's common.conf).

/** An ELF header (no code): enough for architecture detection. */
export function elfStub(machine: number, bits: 32 | 64, flags: number, type = 3): Buffer {
  const b = Buffer.alloc(bits === 32 ? 52 : 64);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = bits === 32 ? 1 : 2;
  b[5] = 1; // little endian
  b[6] = 1; // EV_CURRENT
  b.writeUInt16LE(type, 16);
  b.writeUInt16LE(machine, 18);
  b.writeUInt32LE(1, 20);
  b.writeUInt32LE(flags, bits === 32 ? 36 : 48);
  return b;
}

/**
 * A real armhf program (static, ARM mode, EABI5 hard-float) for the sample's ThunderPlugin: it
 * prints `<message>` and the machine uname(2) reports, then exits 0. Under qemu-user
 * `thunderbox try OCDM` on the demo's image runs it and shows "armv7l".
 */
function armStandIn(message: string): Buffer {
  const msg = Buffer.from(message, 'latin1');
  if (msg.length > 200) throw new Error('armStandIn: message too long');
  const BASE = 0x10000;
  const HEADERS = 52 + 32;
  const SVC = 0xef000000; // svc #0
  const adrR1 = (at: number, to: number) => 0xe28f1000 | (to - (at * 4 + 8)); // add r1, pc, #(to - pc)
  const words = 26;
  const msgAt = words * 4;
  const nlAt = msgAt + msg.length;
  const code = [
    0xe24ddf64, // sub sp, sp, #400: room for struct utsname
    0xe1a0000d, // mov r0, sp
    0xe3a0707a, // mov r7, #122: uname
    SVC,
    0xe3a00001, // mov r0, #1
    adrR1(5, msgAt),
    0xe3a02000 | msg.length, // mov r2, #len
    0xe3a07004, // mov r7, #4: write
    SVC,
    0xe28d1f41, // add r1, sp, #260: utsname.machine
    0xe3a02000, // mov r2, #0
    0xe7d13002, // 1: ldrb r3, [r1, r2]
    0xe3530000, // cmp r3, #0
    0x12822001, // addne r2, r2, #1
    0x1afffffb, // bne 1b
    0xe3a00001, // mov r0, #1
    0xe3a07004, // mov r7, #4: write
    SVC,
    0xe3a00001, // mov r0, #1
    adrR1(19, nlAt),
    0xe3a02001, // mov r2, #1
    0xe3a07004, // mov r7, #4: write
    SVC,
    0xe3a00000, // mov r0, #0
    0xe3a07001, // mov r7, #1: exit
    SVC,
  ];
  if (code.length !== words) throw new Error('armStandIn: code length');
  const body = Buffer.concat([Buffer.from(new Uint32Array(code).buffer), msg, Buffer.from('\n')]);
  const size = HEADERS + body.length;
  const h = elfStub(EM.ARM, 32, 0x05000000 | EF_ARM_ABI_FLOAT_HARD, 2);
  h.writeUInt32LE(BASE + HEADERS, 24); // e_entry
  h.writeUInt32LE(52, 28); // e_phoff
  h.writeUInt16LE(52, 40); // e_ehsize
  h.writeUInt16LE(32, 42); // e_phentsize
  h.writeUInt16LE(1, 44); // e_phnum
  const ph = Buffer.alloc(32);
  [1, 0, BASE, BASE, size, size, 5, 0x1000].forEach((v, i) => ph.writeUInt32LE(v, i * 4)); // PT_LOAD, R+X
  return Buffer.concat([h, ph, body]);
}

function sampleRootfsEntries(mtime: number): ArchiveEntry[] {
  const d = (p: string, mode = 0o755): ArchiveEntry => ({ path: p, type: 'Directory', mode, mtime });
  const f = (p: string, data: string | Buffer, mode = 0o644): ArchiveEntry => ({ path: p, type: 'File', data, mode, mtime });
  const l = (p: string, to: string): ArchiveEntry => ({ path: p, type: 'SymbolicLink', linkpath: to, mode: 0o777, mtime });
  const armhf = elfStub(EM.ARM, 32, 0x05000000 | EF_ARM_ABI_FLOAT_HARD);
  return [
    d('./'),
    d('./bin'),
    d('./etc'),
    f('./etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nthunder:x:1000:1000::/home/thunder:/bin/false\n'),
    f('./etc/group', 'root:x:0:\nthunder:x:1000:\n'),
    f('./etc/os-release', 'NAME=Buildroot\nID=buildroot\nPRETTY_NAME="thunderbox sample rootfs"\n'),
    d('./lib'),
    f('./lib/ld-linux-armhf.so.3', armhf, 0o755),
    d('./usr'),
    d('./usr/bin'),
    f('./usr/bin/ThunderPlugin', armStandIn('ThunderPlugin stand-in (thunderbox demo), running on '), 0o755),
    { path: './usr/bin/WPEProcess', type: 'Link', linkpath: './usr/bin/ThunderPlugin', mtime },
    d('./usr/lib'),
    d('./usr/lib/thunder'),
    d('./usr/lib/thunder/plugins'),
    f('./usr/lib/thunder/plugins/libThunderOCDM.so', elfStub(EM.ARM, 32, 0x05000000 | EF_ARM_ABI_FLOAT_HARD), 0o755),
    d('./usr/lib/thunder/proxystubs'),
    f('./usr/lib/thunder/proxystubs/libThunderMarshalling.so', elfStub(EM.ARM, 32, 0x05000000 | EF_ARM_ABI_FLOAT_HARD), 0o755),
    l('./bin/sh', 'busybox'),
    f('./bin/busybox', elfStub(EM.ARM, 32, 0x05000000 | EF_ARM_ABI_FLOAT_HARD, 2), 0o4755),
    l('./proc', '/dev/null'), // real rootfs trees have such things; LXC refuses to mount onto them
    d('./home'),
    { path: './home/thunder', type: 'Directory', mode: 0o700, uid: 1000, gid: 1000, mtime },
  ];
}

export const SAMPLE_PLUGIN_JSON = `{
 "locator":"libThunderOCDM.so",
 "classname":"OCDM",
 "startmode":"Activated",
 "precondition":[ "Provisioning" ],
 "configuration":{
  "systems":[ { "name":"ClearKey",
                "designators":[ "org.chromium.externalclearkey", "org.w3.clearkey" ] } ],
  "root":{ "mode":"Local" }
 }
}
`;

/** Thunder's config as Metrological's Buildroot external writes it (abridged): the paths prepare and the doctor read. */
export const SAMPLE_THUNDER_CONFIG = `{
 "port":80,
 "binding":"0.0.0.0",
 "persistentpath":"/root",
 "volatilepath":"/tmp",
 "datapath":"/usr/share/Thunder",
 "systempath":"/usr/lib/thunder/plugins",
 "proxystubpath":"/usr/lib/thunder/proxystubs",
 "communicator":"/tmp/communicator|0777",
 "plugins":[]
}
`;

/** LXC 5.0's common.conf as Debian and Buildroot install it (abridged to the lines that matter here). */
export const SAMPLE_COMMON_CONF = `# Default configuration shared by all containers

# Setup the LXC devices in /dev/lxc/
lxc.tty.dir = lxc

# Allow for 1024 pseudo terminals
lxc.pty.max = 1024

# Setup 4 tty devices
lxc.tty.max = 4

# Drop some harmful capabilities
lxc.cap.drop = mac_admin mac_override sys_time sys_module sys_rawio

# Setup the default mounts
lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed
lxc.mount.entry = /sys/fs/fuse/connections sys/fs/fuse/connections none bind,optional 0 0

# Block some syscalls which are not safe in privileged
# containers
lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp

# Lastly, include all the configs from /usr/share/lxc/config/common.conf.d/
lxc.include = /usr/share/lxc/config/common.conf.d/
`;

export const SAMPLE_USERNS_CONF = `lxc.cgroup.devices.deny =
lxc.cgroup.devices.allow =
lxc.cgroup2.devices.deny =
lxc.cgroup2.devices.allow =
lxc.cap.drop =
lxc.cap.keep =
lxc.tty.dir =
lxc.mount.auto = sys:rw
lxc.include = /usr/share/lxc/config/userns.conf.d/
`;

/** LXC's common.seccomp, as common.conf names it (liblxc refuses to start without the file). */
const SAMPLE_COMMON_SECCOMP = `2
denylist
reject_force_umount  # comment this to allow umount -f;  not recommended
[all]
kexec_load errno 1
open_by_handle_at errno 1
init_module errno 1
finit_module errno 1
delete_module errno 1
`;

export interface Sample {
  archive: string;
  target: string;
}

export function writeSample(dir: string, mtime: number): Sample {
  const archive = path.join(dir, 'rootfs.tar');
  writeArchive(archive, sampleRootfsEntries(mtime));
  const target = path.join(dir, 'target');
  fs.mkdirSync(path.join(target, 'etc/Thunder/plugins'), { recursive: true });
  fs.writeFileSync(path.join(target, 'etc/Thunder/plugins/OCDM.json'), SAMPLE_PLUGIN_JSON);
  fs.writeFileSync(path.join(target, 'etc/Thunder/config.json'), SAMPLE_THUNDER_CONFIG);
  fs.mkdirSync(path.join(target, 'usr/share/lxc/config'), { recursive: true });
  fs.writeFileSync(path.join(target, 'usr/share/lxc/config/common.conf'), SAMPLE_COMMON_CONF);
  fs.writeFileSync(path.join(target, 'usr/share/lxc/config/userns.conf'), SAMPLE_USERNS_CONF);
  fs.writeFileSync(path.join(target, 'usr/share/lxc/config/common.seccomp'), SAMPLE_COMMON_SECCOMP);
  fs.mkdirSync(path.join(target, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(target, 'tmp'), 0o1777);
  // what every device root has: liblxc keeps its run state in /run (without it liblxc cannot
  // even load a container: "Failed to create lxc_container")
  for (const d of ['run', 'proc', 'sys', 'dev']) {
    fs.mkdirSync(path.join(target, d), { mode: 0o755 });
    fs.chmodSync(path.join(target, d), 0o755);
  }
  // fixed times: the sample is the same bytes and metadata every time
  for (const p of ['etc/Thunder/plugins/OCDM.json', 'etc/Thunder/config.json', 'etc/Thunder/plugins', 'etc/Thunder', 'etc', 'usr/share/lxc/config/common.conf', 'usr/share/lxc/config/userns.conf', 'usr/share/lxc/config/common.seccomp', 'usr/share/lxc/config', 'usr/share/lxc', 'usr/share', 'usr', 'tmp', 'run', 'proc', 'sys', 'dev', '']) {
    fs.utimesSync(path.join(target, p), mtime, mtime);
  }
  fs.utimesSync(archive, mtime, mtime);
  return { archive, target };
}
