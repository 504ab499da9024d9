import path from 'node:path';
import { ThunderboxError } from '../core/errors.js';
import type { ContainerInput } from '../profile/input.js';
import type { Manifest } from '../profile/manifest.js';
import { allocate, readLock, type AllocationResult } from './allocate.js';

/** Addresses handed out, beside the manifest (not core/lock.ts's .thunderbox.lock, the run lock). */
const ADDRESS_LOCK_NAME = 'thunderbox.lock';

function lockFileFor(manifest: Manifest): string {
  return path.join(path.dirname(path.resolve(manifest.file)), ADDRESS_LOCK_NAME);
}

/** Allocate over every container of the manifest (so numbering never depends on which are prepared). */
export function allocateManifest(manifest: Manifest, inputs?: Map<string, ContainerInput>): AllocationResult {
  const all = manifest.containers.map((c) => {
    const input = inputs?.get(c.name) ?? c.input;
    return { callsign: c.name, net: input.net ?? [{ type: 'empty' as const }], at: input.at };
  });
  const file = lockFileFor(manifest);
  const r = allocate(all, manifest.networks, manifest.routedPool, readLock(file), manifest.file, manifest.at);
  if (r.errors.length) throw new ThunderboxError(r.errors);
  return r;
}

export function allocateForManifest(manifest: Manifest, wanted: { name: string; input: ContainerInput }[]): { wanted: { name: string; input: ContainerInput }[]; lock?: { file: string; text: string } } {
  const r = allocateManifest(manifest, new Map(wanted.map((w) => [w.name, w.input])));
  const nets = new Map(r.containers.map((c) => [c.callsign, c.net]));
  return {
    // every wanted container is one of the manifest's (prepare refuses others)
    wanted: wanted.map((w) => ({ name: w.name, input: { ...w.input, net: nets.get(w.name)! } })),
    // a lock file only when something was allocated
    lock: Object.keys(r.lock.bridges).length || Object.keys(r.lock.interconnects).length || Object.keys(r.lock.bridges6 ?? {}).length ? { file: lockFileFor(manifest), text: JSON.stringify(r.lock, null, 1) + '\n' } : undefined,
  };
}
