import type { LimitsInput } from './limits.js';
import type { EnvSpec, MountSpec, NetSpec, RuntimeMode, SeccompMode } from './spec.js';

// What the manifest or the command line says about one container, before defaults.
// Every field is optional; resolve.ts fills in the defaults and checks values.

export type IdmapInput =
  | { kind: 'default' }
  | { kind: 'none' }
  | { kind: 'plan'; base: number; size: number; share: { uid: number; gid: number }[] }
  | { kind: 'lines'; lines: string[] };

/** Where a value was written (a manifest's line and column). */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

/**
 * Positions of a container's values in the manifest, by field path: 'rootfs', 'net.0.ipv4',
 * 'mounts.1.mode' ('' is the container's own key). null: the field came from a flag, which
 * has no position (and its enclosing fields' positions do not apply).
 */
export type Positions = Readonly<Record<string, SourcePos | null>>;

/** The position of a field, or of the nearest enclosing one that has one ('net.0.ipv4', 'net.0', 'net', ''). */
export function positionOf(at: Positions | undefined, field: string): SourcePos | undefined {
  if (!at) return undefined;
  for (let f = field; ; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') {
    const p = at[f];
    if (p !== undefined) return p ?? undefined;
    if (f === '') return undefined;
  }
}

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
  runtime?: RuntimeMode;
  /** the backend the plugin JSON selects (containertype), asked for; with runtime both nothing is set unless asked */
  containertype?: 'lxc' | 'runc';
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
  /** Merged field by field: --memory replaces the manifest's limits.memory only. */
  limits?: LimitsInput;
  /** Where the manifest wrote these values. */
  at?: Positions;
}

/**
 * Later inputs win, field by field (command line over manifest). A field a later input sets
 * loses the earlier input's positions: they would point at a value no longer used.
 */
export function mergeInputs(...inputs: ContainerInput[]): ContainerInput {
  const out: ContainerInput = {};
  let at: Record<string, SourcePos | null> = {};
  for (const i of inputs) {
    for (const [k, v] of Object.entries(i)) {
      if (v === undefined || k === 'at') continue;
      // limits merge one level down: each limit is a field of its own
      const fields = k === 'limits' ? Object.keys(v as object).filter((f) => (v as Record<string, unknown>)[f] !== undefined).map((f) => `limits.${f}`) : [k];
      (out as Record<string, unknown>)[k] = k === 'limits' ? { ...out.limits, ...Object.fromEntries(Object.entries(v as object).filter(([, x]) => x !== undefined)) } : v;
      at = Object.fromEntries(Object.entries(at).filter(([f]) => !fields.some((g) => f === g || f.startsWith(`${g}.`))));
      if (!i.at) for (const g of fields) at[g] = null;
    }
    Object.assign(at, i.at ?? {});
  }
  if (Object.keys(at).length) out.at = at;
  return out;
}
