import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(REPO, 'bin', 'thunderbox.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI (npm test builds it first). */
export async function tbx(args: string[], opts: Options = {}): Promise<CliResult> {
  const r = await execa(process.execPath, [BIN, ...args], { reject: false, ...opts, env: { MESSAGE_DISPATCHER_CONFIG: '/tmp/MessageDispatcher', ...(opts.env ?? {}) } });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
