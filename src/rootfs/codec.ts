// Archive formats, told apart by their first bytes, never by the file name.
// How to add one: append a Codec with its magic test and the host tool that decodes it
// (a codec without `tool` is decoded in-process by node-tar's parser), then add its case to
// test/unit/codec.test.ts, which pins this list.

export interface Codec {
  name: 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';
  test: (head: Buffer) => boolean;
  /** Host command that writes the decompressed tar to stdout. */
  tool?: { cmd: string; args: string[]; debianPackage: string };
}

const startsWith = (head: Buffer, bytes: number[]) => bytes.every((b, i) => head[i] === b);

/** A ustar/GNU/pax header ("ustar" at 257), or a valid v7 header checksum. */
export function looksLikeTar(head: Buffer): boolean {
  if (head.length < 512) return false;
  if (head.toString('latin1', 257, 262) === 'ustar') return true;
  const field = head.toString('latin1', 148, 156).replace(/\0.*$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return head.subarray(0, 512).every((b) => b === 0);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : head[i]!;
  return sum === parseInt(field, 8);
}

export const CODECS: readonly Codec[] = [
  { name: 'gzip', test: (h) => startsWith(h, [0x1f, 0x8b]) },
  { name: 'bzip2', test: (h) => startsWith(h, [0x42, 0x5a, 0x68]), tool: { cmd: 'bzip2', args: ['-dc'], debianPackage: 'bzip2' } },
  { name: 'xz', test: (h) => startsWith(h, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), tool: { cmd: 'xz', args: ['-dc'], debianPackage: 'xz-utils' } },
  { name: 'zstd', test: (h) => startsWith(h, [0x28, 0xb5, 0x2f, 0xfd]), tool: { cmd: 'zstd', args: ['-dc'], debianPackage: 'zstd' } },
  { name: 'tar', test: looksLikeTar },
];

export function detectCodec(head: Buffer): Codec | null {
  return CODECS.find((c) => c.test(head)) ?? null;
}
