import type { EnvSpec, MountSpec, NetSpec, SeccompMode } from './spec.js';

// What the manifest or the command line says about one container, before defaults.
// Every field is optional; resolve.ts fills in the defaults and checks values.

export type IdmapInput =
  | { kind: 'default' }
  | { kind: 'none' }
  | { kind: 'plan'; base: number; size: number; share: { uid: number; gid: number }[] }
  | { kind: 'lines'; lines: string[] };

export interface ContainerInput {
  rootfs?: string;
  classname?: string;
  location?: 'data' | 'persistent';
  console?: { log: string; size?: string };
  arch?: string;
  idmap?: IdmapInput;
  /** Extra ids mapped 1:1 (--share-uid), applied to the default or planned map. */
  share?: { uid: number; gid: number }[];
  net?: NetSpec[];
  tmp?: boolean;
  mounts?: MountSpec[];
  environment?: EnvSpec[];
  seccomp?: SeccompMode;
  /** 'auto' searches Thunder's plugin dirs; false skips the JSON. */
  pluginJson?: string | false;
  unmappedToNobody?: boolean;
  fixRootMode?: boolean;
  keepDevices?: boolean;
  /** A minimised rootfs (implied by roots or keep). */
  minimize?: boolean;
  roots?: string[];
  keep?: string[];
  thunderRoots?: boolean;
  dedupeWithHost?: boolean;
}

/** Later inputs win, field by field (command line over manifest). */
export function mergeInputs(...inputs: ContainerInput[]): ContainerInput {
  const out: ContainerInput = {};
  for (const i of inputs) {
    for (const [k, v] of Object.entries(i)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
