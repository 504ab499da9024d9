import fs from 'node:fs';
import { errnoCode } from './errors.js';

// Reading a file a user names (a config, an include, a manifest): only a regular file, and
// only up to a bound. /dev/zero or /dev/urandom would be read forever, a FIFO blocks the
// open until someone writes, so the file is stat'ed first, opened without blocking and
// checked again on the descriptor (it may have been swapped in between).

/** LXC configs, manifests, fragments: real ones are a few KB. */
export const CONFIG_MAX_BYTES = 1024 * 1024;

export type TextRead =
  | { ok: true; text: string }
  | { ok: false; problem: 'missing' | 'not-file' | 'too-big' | 'unreadable'; reason: string };

export function describeBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}

function kind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export function readTextFile(file: string, maxBytes = CONFIG_MAX_BYTES): TextRead {
  const tooBig = (): TextRead => ({ ok: false, problem: 'too-big', reason: `it is larger than ${describeBytes(maxBytes)}, the most read from such a file` });
  let fd: number;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return { ok: false, problem: 'not-file', reason: `it is ${kind(st)}, not a regular file` };
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, problem: 'missing', reason: 'it does not exist' };
    return { ok: false, problem: 'unreadable', reason: code ?? String(err) };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { ok: false, problem: 'not-file', reason: `it is ${kind(st)}, not a regular file` };
    if (st.size > maxBytes) return tooBig();
    // sized for the file as it is; grown (once) if it grows while being read
    let buf = Buffer.alloc(Math.min(maxBytes + 1, st.size + 4096));
    let n = 0;
    for (;;) {
      if (n === buf.length) buf = Buffer.concat([buf, Buffer.alloc(maxBytes + 1 - n)]);
      const r = fs.readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > maxBytes) return tooBig();
    }
    return { ok: true, text: buf.subarray(0, n).toString('utf8') };
  } catch (err) {
    return { ok: false, problem: 'unreadable', reason: errnoCode(err) ?? String(err) };
  } finally {
    fs.closeSync(fd);
  }
}
