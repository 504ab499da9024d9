import { describe, expect, it } from 'vitest';
import { decideEntry } from '../../src/rootfs/decide.js';
import { normalizeEntryPath } from '../../src/rootfs/entry-path.js';
import type { EntryKind } from '../../src/rootfs/entry.js';

describe('normalizeEntryPath', () => {
  it.each([
    ['./', ''],
    ['.', ''],
    ['./bin/sh', 'bin/sh'],
    ['usr//lib/', 'usr/lib'],
    ['a/./b', 'a/b'],
    ['..foo/bar', '..foo/bar'],
    ['.hidden/...', '.hidden/...'],
    ['./a/.b/c/', 'a/.b/c'],
    ['.//a', 'a'],
    ['a/./.', 'a'],
    ['n'.repeat(255), 'n'.repeat(255)], // NAME_MAX itself fits
    ['\u00e9'.repeat(127), '\u00e9'.repeat(127)], // 254 bytes
    [`${'a/'.repeat(2046)}ab`, `${'a/'.repeat(2046)}ab`], // 4094 bytes: "/" + it + NUL is PATH_MAX
  ])('%s -> %s', (raw, want) => {
    expect(normalizeEntryPath(raw)).toEqual({ ok: true, path: want });
  });
  it.each([
    ['/etc/passwd', 'ENTRY_ABSOLUTE'],
    ['../x', 'ENTRY_DOTDOT'],
    ['a/../../x', 'ENTRY_DOTDOT'],
    ['a/..', 'ENTRY_DOTDOT'],
    ['', 'ENTRY_EMPTY_NAME'],
    [`a/${'n'.repeat(256)}/b`, 'ENTRY_NAME_TOO_LONG'],
    ['\u00e9'.repeat(128), 'ENTRY_NAME_TOO_LONG'],
    [Array.from({ length: 21 }, () => 'p'.repeat(200)).join('/'), 'ENTRY_PATH_TOO_LONG'],
    [`${'a/'.repeat(2047)}a`, 'ENTRY_PATH_TOO_LONG'], // 4095 bytes: "/" + it + NUL is 4097
  ])('refuses %s (%s)', (raw, code) => {
    const r = normalizeEntryPath(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe(code);
  });
});

// Each case: what the run has written so far, the next entry, the decision.
const W = (pairs: [string, EntryKind][]) => new Map<string, EntryKind>([['', 'dir'], ...pairs]);

describe('decideEntry', () => {
  it.each<[string, Map<string, EntryKind>, { path: string; kind: EntryKind; linkpath?: string }, string]>([
    ['clean: a file in a known dir', W([['bin', 'dir']]), { path: 'bin/sh', kind: 'file' }, 'create'],
    ['missing parents are implicit', W([]), { path: 'a/b/c', kind: 'file' }, 'create'],
    ['a symlink then a file through it', W([['lnk', 'symlink']]), { path: 'lnk/x', kind: 'file' }, 'refuse:ENTRY_THROUGH_SYMLINK'],
    ['a symlink to /etc then a write into it (deeper)', W([['etc2', 'symlink']]), { path: 'etc2/cron.d/evil', kind: 'file' }, 'refuse:ENTRY_THROUGH_SYMLINK'],
    ['a directory over a symlink', W([['lnk', 'symlink']]), { path: 'lnk', kind: 'dir' }, 'refuse:ENTRY_DIR_OVER_NONDIR'],
    ['a file under a file', W([['f', 'file']]), { path: 'f/x', kind: 'file' }, 'refuse:ENTRY_PARENT_NOT_DIR'],
    ['duplicate file: last wins', W([['f', 'file']]), { path: 'f', kind: 'file' }, 'replace'],
    ['duplicate symlink over a file', W([['f', 'file']]), { path: 'f', kind: 'symlink', linkpath: '/etc/passwd' }, 'replace'],
    ['a file over a directory', W([['d', 'dir']]), { path: 'd', kind: 'file' }, 'refuse:ENTRY_NONDIR_OVER_DIR'],
    ['duplicate directory: metadata only', W([['d', 'dir']]), { path: 'd', kind: 'dir' }, 'update-dir'],
    ['the top entry', W([]), { path: '', kind: 'dir' }, 'update-dir'],
    ['the top entry as a symlink', W([]), { path: '', kind: 'symlink', linkpath: '/' }, 'refuse:ENTRY_TOP_NOT_DIR'],
    ['hard link out (..)', W([]), { path: 'h', kind: 'hardlink', linkpath: '../../etc/shadow' }, 'refuse:LINK_OUTSIDE'],
    ['hard link out (absolute)', W([]), { path: 'h', kind: 'hardlink', linkpath: '/etc/shadow' }, 'refuse:LINK_OUTSIDE'],
    ['hard link to something not extracted', W([]), { path: 'h', kind: 'hardlink', linkpath: 'etc/shadow' }, 'refuse:LINK_TARGET_MISSING'],
    ['hard link to a directory', W([['d', 'dir']]), { path: 'h', kind: 'hardlink', linkpath: 'd' }, 'refuse:LINK_TO_DIR'],
    ['hard link to itself', W([['h', 'file']]), { path: 'h', kind: 'hardlink', linkpath: 'h' }, 'refuse:LINK_TO_SELF'],
    ['hard link inside', W([['bin', 'dir'], ['bin/a', 'file']]), { path: 'bin/b', kind: 'hardlink', linkpath: 'bin/a' }, 'create'],
    ['device as non-root is recorded', W([['dev', 'dir']]), { path: 'dev/null', kind: 'char' }, 'record'],
  ])('%s', (_name, written, entry, want) => {
    const d = decideEntry(entry, written, false);
    expect(d.action === 'refuse' ? `refuse:${d.code}` : d.action).toBe(want);
  });

  it('creates device nodes when it can mknod', () => {
    expect(decideEntry({ path: 'dev/null', kind: 'char' }, W([['dev', 'dir']]), true).action).toBe('create');
  });

  it('lists implicit parents outermost first', () => {
    expect(decideEntry({ path: 'a/b/c', kind: 'file' }, W([['a', 'dir']]), false)).toEqual({ action: 'create', implicitDirs: ['a/b'] });
  });
});
