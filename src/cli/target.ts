import fs from 'node:fs';
import path from 'node:path';
import { failUsage } from '../core/errors.js';

export interface ChosenTarget {
  target: string;
  from: string;
  explicit: boolean;
  /** --target given as / itself ("/", "//", "/."): the one way to write into this machine's root. */
  literalRoot: boolean;
}

/** The image root: --target, else $TARGET_DIR (Buildroot sets it for hooks), else the current directory. */
export function chooseTarget(flag: string | undefined): ChosenTarget {
  if (flag !== undefined) return { target: path.resolve(flag), from: '--target', explicit: true, literalRoot: /^\/(?:\.?\/)*\.?$/.test(flag) };
  const env = process.env.TARGET_DIR;
  if (env) return { target: path.resolve(env), from: '$TARGET_DIR', explicit: false, literalRoot: false };
  return { target: process.cwd(), from: 'the current directory', explicit: false, literalRoot: false };
}

/**
 * For commands that write into the image root: refuse one that is this machine's / (also
 * through a symlink or "..") unless it was given as `--target /`.
 */
export function refuseHostRoot(t: ChosenTarget): void {
  let real = t.target;
  try {
    real = fs.realpathSync(t.target);
  } catch {
    // missing: the caller says so
  }
  if (real === '/' && !t.literalRoot) {
    const how = t.target === '/' ? '' : ` (${t.target} from ${t.from} resolves to /)`;
    failUsage('TARGET_IS_ROOT', `the image root would be / (the build host itself)${how}`, 'pass --target DIR (Buildroot: output/target), or --target / if you really mean this machine');
  }
}
