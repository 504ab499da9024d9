// Path rules for archive entries. Pure: no filesystem access.
//   - absolute names are refused (GNU tar would strip the '/', we do not guess);
//   - any '..' component is refused, wherever it stands;
//   - '.', empty components and trailing slashes are dropped: './a//b/' is 'a/b';
//   - the top itself ('.', './') becomes '';
//   - a component over NAME_MAX (255 bytes) or a path that as /PATH is over PATH_MAX (4096
//     bytes with its NUL) cannot exist on Linux: refused, naming it (the writer also checks
//     the path under the staging directory, which is longer).

export type PathResult = { ok: true; path: string } | { ok: false; code: 'ENTRY_ABSOLUTE' | 'ENTRY_DOTDOT' | 'ENTRY_EMPTY_NAME' | 'ENTRY_NAME_TOO_LONG' | 'ENTRY_PATH_TOO_LONG'; message: string };

export const NAME_MAX = 255;
export const PATH_MAX = 4096;

/** A name shortened for a message: its start and end, and its length in bytes. */
export function shortName(p: string): string {
  const n = Buffer.byteLength(p);
  return p.length <= 120 ? `"${p}"` : `"${p.slice(0, 60)}...${p.slice(-40)}" (${n} bytes)`;
}

function lengthProblem(p: string): PathResult | null {
  if (p.length * 3 <= NAME_MAX) return null; // UTF-8 has at most 3 bytes per UTF-16 unit
  if (Buffer.byteLength(p) + 2 > PATH_MAX) return { ok: false, code: 'ENTRY_PATH_TOO_LONG', message: `entry ${shortName(p)} is longer than PATH_MAX (${PATH_MAX} bytes): no file can have that path` };
  for (const c of p.split('/')) {
    if (c.length * 3 > NAME_MAX && Buffer.byteLength(c) > NAME_MAX) return { ok: false, code: 'ENTRY_NAME_TOO_LONG', message: `entry ${shortName(p)} has a name of ${Buffer.byteLength(c)} bytes (${shortName(c)}); a name has at most ${NAME_MAX} (NAME_MAX)` };
  }
  return null;
}

// Fast path (most entries of a real archive): "./a/b" or "a/b/" with nothing to fold.
const PLAIN = /^(?:\.\/)?((?:[^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)(?:\/(?:[^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+))*)\/?$/;

export function normalizeEntryPath(raw: string): PathResult {
  const m = PLAIN.exec(raw);
  if (m) return lengthProblem(m[1]!) ?? { ok: true, path: m[1]! };
  if (raw.length === 0) return { ok: false, code: 'ENTRY_EMPTY_NAME', message: 'entry has an empty name' };
  if (raw.startsWith('/')) return { ok: false, code: 'ENTRY_ABSOLUTE', message: `entry "${raw}" has an absolute name` };
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, code: 'ENTRY_DOTDOT', message: `entry "${raw}" contains ".."` };
    parts.push(part);
  }
  const p = parts.join('/');
  return lengthProblem(p) ?? { ok: true, path: p };
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
