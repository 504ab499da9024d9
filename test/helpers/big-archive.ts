import { writeArchive, type ArchiveEntry } from '../../src/rootfs/archive-writer.js';

/** An archive that takes a noticeable time to extract (for interrupting a run). */
export function bigArchive(file: string, files = 1500, size = 40_000): number {
  const data = Buffer.alloc(size, 0x61);
  function* entries(): Generator<ArchiveEntry> {
    yield { path: './', type: 'Directory' };
    for (let d = 0; d < 30; d++) yield { path: `d${d}`, type: 'Directory' };
    for (let i = 0; i < files; i++) yield { path: `d${i % 30}/f${i}`, type: 'File', data };
  }
  return writeArchive(file, entries());
}
