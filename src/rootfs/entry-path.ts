// Path rules for archive entries. Pure: no filesystem access.
//   - absolute names are refused (GNU tar would strip the '/', we do not guess);
//   - any '..' component is refused, wherever it stands;
//   - '.', empty components and trailing slashes are dropped: './a//b/' is 'a/b';
//   - the top itself ('.', './') becomes ''.

export type PathResult = { ok: true; path: string } | { ok: false; code: 'ENTRY_ABSOLUTE' | 'ENTRY_DOTDOT' | 'ENTRY_EMPTY_NAME'; message: string };

// Fast path (most entries of a real archive): "./a/b" or "a/b/" with nothing to fold.
const PLAIN = /^(?:\.\/)?((?:[^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)(?:\/(?:[^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+))*)\/?$/;

export function normalizeEntryPath(raw: string): PathResult {
  const m = PLAIN.exec(raw);
  if (m) return { ok: true, path: m[1]! };
  if (raw.length === 0) return { ok: false, code: 'ENTRY_EMPTY_NAME', message: 'entry has an empty name' };
  if (raw.startsWith('/')) return { ok: false, code: 'ENTRY_ABSOLUTE', message: `entry "${raw}" has an absolute name` };
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, code: 'ENTRY_DOTDOT', message: `entry "${raw}" contains ".."` };
    parts.push(part);
  }
  return { ok: true, path: parts.join('/') };
}

/** 'a/b/c' -> ['a', 'a/b'] */
export function ancestors(p: string): string[] {
  const out: string[] = [];
  let i = p.indexOf('/');
  while (i !== -1) {
    out.push(p.slice(0, i));
    i = p.indexOf('/', i + 1);
  }
  return out;
}
