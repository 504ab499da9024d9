import path from 'node:path';

/** The image root: --target, else $TARGET_DIR (Buildroot sets it for hooks), else the current directory. */
export function chooseTarget(flag: string | undefined): { target: string; from: string; explicit: boolean } {
  if (flag !== undefined) return { target: path.resolve(flag), from: '--target', explicit: true };
  const env = process.env.TARGET_DIR;
  if (env) return { target: path.resolve(env), from: '$TARGET_DIR', explicit: false };
  return { target: process.cwd(), from: 'the current directory', explicit: false };
}
