import { parseConfig, renderConfig } from '../lxc/document.js';

// The wiki's way of turning seccomp off: comment out `lxc.seccomp.profile = ...` in the
// device's common.conf. Idempotent (a commented line is a comment), and only those lines
// change: "# " is put before the key, the indentation and the rest of the line stay.

export interface SeccompPatch {
  after: string;
  /** 1-based numbers of the lines commented out by this edit. */
  commented: number[];
  /** Was a commented-out profile line already there? */
  alreadyOff: boolean;
}

export function commentOutSeccompProfile(text: string): SeccompPatch {
  const { doc } = parseConfig(text);
  const commented: number[] = [];
  let alreadyOff = false;
  for (const l of doc.lines) {
    if (l.kind === 'entry' && l.key === 'lxc.seccomp.profile') {
      const indent = /^[ \t]*/.exec(l.raw)![0];
      l.raw = `${indent}# ${l.raw.slice(indent.length)}`;
      commented.push(l.line);
    } else if (l.kind === 'comment' && /^[ \t]*#\s*lxc\.seccomp\.profile\s*=/.test(l.raw)) {
      alreadyOff = true;
    }
  }
  return { after: renderConfig(doc), commented, alreadyOff };
}
