import fs from 'node:fs';
import path from 'node:path';

// A directory as a cpio archive in the "newc" format the kernel unpacks as its initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII
// header (magic 070701, then 13 fields of 8 hex digits), the name with its NUL padded to 4
// bytes, the data padded to 4; a symlink's data is its target; TRAILER!!! ends it. Owners,
// modes and times are the tree's own (lstat), so a shifted rootfs keeps its host ids.

function header(f: { ino: number; mode: number; uid: number; gid: number; nlink: number; mtime: number; size: number; rmaj?: number; rmin?: number }, name: string): Buffer {
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  const fields = [f.ino, f.mode, f.uid, f.gid, f.nlink, f.mtime, f.size, 0, 0, f.rmaj ?? 0, f.rmin ?? 0, Buffer.byteLength(name) + 1, 0];
  const h = Buffer.from(`070701${fields.map(hex).join('')}${name}\0`, 'latin1');
  return Buffer.concat([h, Buffer.alloc((4 - (h.length % 4)) % 4)]);
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);

export function writeCpio(dir: string, file: string): void {
  const out = fs.openSync(file, 'w');
  let ino = 1;
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const data = st.isFile() ? fs.readFileSync(p) : st.isSymbolicLink() ? Buffer.from(fs.readlinkSync(p)) : Buffer.alloc(0);
      const dev = st.isCharacterDevice() || st.isBlockDevice();
      fs.writeSync(out, header({ ino: ino++, mode: st.mode, uid: st.uid, gid: st.gid, nlink: st.isDirectory() ? 2 : 1, mtime: Math.floor(st.mtimeMs / 1000), size: data.length, rmaj: dev ? Math.floor(st.rdev / 256) : 0, rmin: dev ? st.rdev % 256 : 0 }, r));
      fs.writeSync(out, pad(data));
      if (st.isDirectory()) walk(r);
    }
  };
  try {
    walk('');
    fs.writeSync(out, header({ ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, size: 0 }, 'TRAILER!!!'));
  } finally {
    fs.closeSync(out);
  }
}
