import { describe, expect, it } from 'vitest';
import { archOf } from '../../src/lxc/arch.js';
import { CODECS, detectCodec } from '../../src/rootfs/codec.js';
import { elfIdent, EM } from '../../src/rootfs/elf.js';
import { archiveBuffer } from '../../src/rootfs/archive-writer.js';
import { PLUGIN_JSON_DIRS } from '../../src/thunder/layout.js';
import { elfStub } from '../../src/thunder/sample.js';

// Completeness pins: an extension point's list changes only together with this test.
describe('extension points', () => {
  it('codecs, in detection order', () => {
    expect(CODECS.map((c) => c.name)).toEqual(['gzip', 'bzip2', 'xz', 'zstd', 'tar']);
  });
  it('plugin JSON directories, in search order', () => {
    expect(PLUGIN_JSON_DIRS).toEqual(['/etc/Thunder/plugins', '/etc/Thunder/plugin', '/etc/WPEFramework/plugins']);
  });
});

describe('codec detection by magic bytes', () => {
  const tar = archiveBuffer([{ path: 'a', type: 'File', data: 'x' }]);
  const v7 = Buffer.from(tar);
  v7.write('\0\0\0\0\0\0', 257, 'latin1'); // no ustar magic: checksum decides
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : v7[i]!;
  v7.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  it.each([
    ['tar (ustar)', tar, 'tar'],
    ['tar (v7 checksum)', v7, 'tar'],
    ['empty tar (zero blocks)', Buffer.alloc(1024), 'tar'],
    ['gzip', Buffer.from([0x1f, 0x8b, 8, 0]), 'gzip'],
    ['bzip2', Buffer.from('BZh91AY&SY'), 'bzip2'],
    ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4]), 'xz'],
    ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x24]), 'zstd'],
    ['text', Buffer.from('hello world'.padEnd(600, '!')), null],
  ])('%s', (_n, head, want) => {
    expect(detectCodec(head)?.name ?? null).toBe(want);
  });
});

describe('architecture from ELF headers', () => {
  it.each([
    [elfStub(EM.ARM, 32, 0x05000400, 2), 'armhf', 'linux32'],
    [elfStub(EM.ARM, 32, 0x05000200, 2), 'armel', 'linux32'],
    [elfStub(EM.AARCH64, 64, 0, 3), 'aarch64', 'arm64'],
    [elfStub(EM.X86_64, 64, 0, 2), 'x86_64', 'x86_64'],
    [elfStub(EM.X86, 32, 0, 2), 'i686', 'i686'],
    [elfStub(EM.RISCV, 64, 0, 2), 'riscv64', 'riscv64'],
  ])('%#: %s', (buf, name, lxc) => {
    const id = elfIdent(buf)!;
    expect(archOf(id)).toEqual({ name, lxcArch: lxc });
  });
  it('is not fooled by short or non-ELF data', () => {
    expect(elfIdent(Buffer.from('\x7fELF'))).toBeNull();
    expect(elfIdent(Buffer.from('#!/bin/sh\necho hi\n'))).toBeNull();
  });
});
