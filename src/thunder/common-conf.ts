import { parseConfig, renderConfig } from '../lxc/document.js';

// The wiki's way of turning seccomp off: comment out `lxc.seccomp.profile = ...` in the
// device's common.conf. Idempotent (a commented line is a comment), and only those lines
// change: "# " is put before the key, the indentation and the rest of the line stay.

export interface SeccompPatch {
  after: string;
  /** 1-based numbers of the lines commented out by this edit. */
  commented: number[];
  /** Each line commented out, as it reads now: what a later --seccomp default puts back (the stamp keeps them). */
  edits: { line: number; commented: string }[];
  /** Was a commented-out profile line already there? */
  alreadyOff: boolean;
}

export function commentOutSeccompProfile(text: string): SeccompPatch {
  const { doc } = parseConfig(text);
  const commented: number[] = [];
  const edits: { line: number; commented: string }[] = [];
  let alreadyOff = false;
  for (const l of doc.lines) {
    if (l.kind === 'entry' && l.key === 'lxc.seccomp.profile') {
      const indent = /^[ \t]*/.exec(l.raw)![0];
      l.raw = `${indent}# ${l.raw.slice(indent.length)}`;
      commented.push(l.line);
      edits.push({ line: l.line, commented: l.raw });
    } else if (l.kind === 'comment' && /^[ \t]*#\s*lxc\.seccomp\.profile\s*=/.test(l.raw)) {
      alreadyOff = true;
    }
  }
  return { after: renderConfig(doc), commented, edits, alreadyOff };
}

/** A line that `--seccomp off-common-conf` commented out, as the container's stamp keeps it. */
export interface SeccompEdit {
  /** The file, as a path on the device (common.conf or a file it includes). */
  file: string;
  line: number;
  /** The line as thunderbox left it: `# ` put after its indentation. */
  commented: string;
}

export interface SeccompRestore {
  after: string;
  /** 1-based numbers of the lines put back. */
  restored: number[];
  /** Edits whose line is no longer in the file as thunderbox left it (changed or removed since): left alone. */
  gone: { line: number; commented: string }[];
}

/**
 * Undo commentOutSeccompProfile: each line it commented out, found as it left it (at its line
 * number, else the first such line not yet restored), gets the `# ` taken out again. A line
 * someone changed since is not touched.
 */
export function restoreSeccompProfile(text: string, edits: readonly { line: number; commented: string }[]): SeccompRestore {
  const { doc } = parseConfig(text);
  const restored: number[] = [];
  const gone: { line: number; commented: string }[] = [];
  const done = new Set<number>();
  for (const e of edits) {
    const at = doc.lines.find((l) => l.line === e.line && l.raw === e.commented && !done.has(l.line)) ?? doc.lines.find((l) => l.raw === e.commented && !done.has(l.line));
    if (!at) {
      gone.push(e);
      continue;
    }
    const indent = /^[ \t]*/.exec(at.raw)![0];
    at.raw = indent + at.raw.slice(indent.length + 2);
    done.add(at.line);
    restored.push(at.line);
  }
  return { after: renderConfig(doc), restored: restored.sort((a, b) => a - b), gone };
}
