import path from 'node:path';
import { LineCounter, parseDocument, isMap, isPair, isScalar, isSeq, visit, type Document, type Node } from 'yaml';
import { z } from 'zod';
import type { Diagnostic } from '../core/diagnostic.js';
import { ThunderboxError, fail } from '../core/errors.js';
import { readTextFile } from '../core/read-text.js';
import type { ContainerInput, IdmapInput, Positions, SourcePos } from './input.js';
import type { LimitsInput } from './limits.js';
import { nearest } from '../core/suggest.js';
import { parseEnvFlag, parseShareFlag } from './resolve.js';
import { IFNAME, type HostNetwork, type MountSpec, type NetSpec } from './spec.js';

// thunderbox.yaml. Shape (every key optional except containers):
//
//   thunder: { datapath: /usr/share/Thunder }
//   containers:
//     OCDM:
//       rootfs: output/images/rootfs.tar   # an archive or directory (relative to this file), or: target
//       location: data                      # data: <datapath>/<classname>/Container | persistent: <persistentpath>/<callsign>/Container
//       classname: OCDM                     # only without a plugin JSON (plugin-json: false)
//       console: { log: /var/log/OCDM.console.log, size: 1MB }
//       arch: auto                          # or an lxc.arch name
//       idmap: default                      # none | default | { base, size, share: [{uid, gid}] } | ["u 0 100000 65536", ...]
//       net: { type: empty }                # or a list; veth: { type: veth, link, ipv4, ipv6, hwaddr, veth-pair }
//       tmp: true                           # bind /tmp (Thunder's communicator socket)
//       mounts: [{ host: /testshare, path: TestLogging, rw: true, optional: false, mode: "0770", owner: 1000 }]
//       environment: [PATH, MESSAGE_DISPATCHER_CONFIG, "LOG_LEVEL=3"]
//       seccomp: default                    # off | off-common-conf
//       runtime: lxc                        # runc | both (an OCI config.json for Thunder's runc backend)
//       containertype: runc                 # the plugin JSON's backend (default: the runtime; none for both)
//       plugin-json: auto                   # a path in the image, or false
//       unmapped-to-nobody: false           # files of ids outside the idmap: error, or the container's nobody
//       fix-root-mode: false                # make a locked rootfs top (0700) traversable
//       keep-devices: false                 # keep device nodes in an unprivileged container
//       minimize: true                      # or { roots: [/usr/bin/x], keep: ["usr/share/zoneinfo/**"], thunder-roots: true }
//       dedupe-with-host: false             # hard-link files identical to the image's own copies
//       limits: { memory: 128M, memory-swap: 128M, pids: 256, cpu: { weight: 100, cpus: "0-1" }, nofile: 1024 }
//
// zod checks the shape; the yaml CST gives every error its line and column.
//
// A mode is read as the octal the user wrote, never as YAML's number: YAML 1.2 reads an
// unquoted 0770 as decimal 770 (which is 0o1402). So mode is taken from the scalar's source
// text: 0770, 770, "0770" and "770" are all 0o770 (chmod's reading: the digits are octal),
// 0o770 too; anything else (0x1ff, 0789, 1e3, -1) is refused at its line and column.

const octal = z.string().regex(/^0?[0-7]{3,4}$/, 'an octal mode such as "0770"');

const mount = z.strictObject({
  host: z.string().min(1),
  path: z.string().min(1),
  rw: z.boolean().optional(),
  ro: z.boolean().optional(),
  optional: z.boolean().optional(),
  mode: octal.optional(),
  owner: z.union([z.number().int().nonnegative(), z.string().regex(/^\d+(:\d+)?$/, 'UID or UID:GID')]).optional(),
});

const net = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('empty') }),
  z.strictObject({
    type: z.literal('veth'),
    link: z.string().min(1),
    ipv4: z.string().optional(),
    ipv6: z.string().optional(),
    gateway: z.string().optional(),
    gateway6: z.string().optional(),
    hwaddr: z.string().optional(),
    'veth-pair': z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('routed'),
    interconnect: z.string().optional(),
    ipv4: z.union([z.string(), z.array(z.string())]).optional(),
    ipv6: z.union([z.string(), z.array(z.string())]).optional(),
    gateway6: z.string().optional(),
    routes: z.union([z.string(), z.array(z.string())]).optional(),
    hwaddr: z.string().optional(),
    'veth-pair': z.string().optional(),
  }),
]);

const hostNetwork = z.strictObject({
  ipv4: z.string().optional(),
  ipv6: z.string().optional(),
  nat: z.boolean().optional(),
  forward: z.boolean().optional(),
  dhcp: z.boolean().optional(),
});

const idmap = z.union([
  z.enum(['default', 'none']),
  z.strictObject({
    base: z.number().int().nonnegative().optional(),
    size: z.number().int().positive().optional(),
    share: z.array(z.strictObject({ uid: z.number().int().nonnegative(), gid: z.number().int().nonnegative().optional() })).optional(),
  }),
  z.array(z.string()),
]);

// sizes and counts as written: limits.ts checks them (units, ranges) at their positions
const size = z.union([z.string(), z.number()]);
const limits = z.strictObject({
  memory: size.optional(),
  'memory-swap': size.optional(),
  pids: size.optional(),
  cpu: z.strictObject({ weight: size.optional(), cpus: z.union([z.string(), z.number().int().nonnegative()]).optional() }).optional(),
  nofile: size.optional(),
});

const container = z.strictObject({
  rootfs: z.string().min(1).optional(),
  classname: z.string().min(1).optional(),
  location: z.enum(['data', 'persistent']).optional(),
  console: z.strictObject({ log: z.string().min(1), size: z.union([z.string().min(1), z.number().int().nonnegative()]).optional() }).optional(),
  arch: z.string().optional(),
  idmap: idmap.optional(),
  net: z.union([net, z.array(net)]).optional(),
  tmp: z.boolean().optional(),
  mounts: z.array(mount).optional(),
  environment: z.array(z.string().min(1)).optional(),
  seccomp: z.enum(['default', 'off', 'off-common-conf']).optional(),
  runtime: z.enum(['lxc', 'runc', 'both']).optional(),
  containertype: z.enum(['lxc', 'runc']).optional(),
  'plugin-json': z.union([z.string().min(1), z.literal(false)]).optional(),
  'unmapped-to-nobody': z.boolean().optional(),
  'fix-root-mode': z.boolean().optional(),
  'keep-devices': z.boolean().optional(),
  minimize: z
    .union([
      z.boolean(),
      z.strictObject({
        roots: z.array(z.string().min(1)).optional(),
        keep: z.array(z.string().min(1)).optional(),
        'thunder-roots': z.boolean().optional(),
      }),
    ])
    .optional(),
  'dedupe-with-host': z.boolean().optional(),
  limits: limits.optional(),
});

const thunderSection = z.strictObject({ datapath: z.string().startsWith('/').optional(), 'edit-config': z.boolean().optional() });

const manifestSchema = z.strictObject({
  thunder: thunderSection.optional(),
  networks: z.record(z.string().regex(IFNAME, 'an interface name (1-15 characters)'), hostNetwork).optional(),
  'routed-pool': z.string().optional(),
  containers: z.record(z.string(), container),
});

export type RawContainer = z.infer<typeof container>;

export interface Manifest {
  file: string;
  /** Positions of the top-level values ('routed-pool', 'networks.lxcbr0.ipv4', ...). */
  at: Positions;
  datapath?: string;
  /** thunder.edit-config: false leaves the image's Thunder config alone. */
  editThunderConfig?: boolean;
  networks: HostNetwork[];
  /** Where routed interconnects come from (CIDR). */
  routedPool?: string;
  /** In file order. */
  containers: { name: string; input: ContainerInput }[];
}

function where(doc: Document, lc: LineCounter, file: string, p: readonly PropertyKey[], key?: string): Pick<Diagnostic, 'file' | 'line' | 'col'> {
  let node = doc.getIn(p as unknown[], true) as { range?: [number, number, number] | null } | undefined;
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((it) => isScalar(it.key) && it.key.value === key);
    if (pair && isScalar(pair.key)) node = pair.key;
  }
  for (let i = p.length; !node?.range && i > 0; i--) node = doc.getIn(p.slice(0, i - 1) as unknown[], true) as typeof node;
  const pos = lc.linePos(node?.range?.[0] ?? 0);
  return { file, line: pos.line, col: pos.col };
}

/** Manifest keys of a container whose ContainerInput field is named otherwise. */
const FIELD: Record<string, string> = { 'plugin-json': 'pluginJson', 'unmapped-to-nobody': 'unmappedToNobody', 'fix-root-mode': 'fixRootMode', 'keep-devices': 'keepDevices', 'dedupe-with-host': 'dedupeWithHost', 'minimize.roots': 'roots', 'minimize.keep': 'keep', 'minimize.thunder-roots': 'thunderRoots', 'limits.memory-swap': 'limits.memorySwap', 'limits.cpu.weight': 'limits.cpuWeight', 'limits.cpu.cpus': 'limits.cpus' };

/** Every value under `node` by path ('a.0.b'), at its first character; a single net is also net.0. */
function positions(node: unknown, lc: LineCounter, file: string, prefix: string, out: Record<string, SourcePos>, container: boolean): void {
  const put = (p: string, n: Node | null | undefined) => {
    const at = n?.range?.[0];
    if (at === undefined) return;
    const { line, col } = lc.linePos(at);
    let f = p;
    if (container) for (const [k, v] of Object.entries(FIELD)) if (f === k || f.startsWith(`${k}.`)) f = v + f.slice(k.length);
    out[f] ??= { file, line, col };
  };
  if (isMap(node)) {
    for (const it of node.items) {
      if (!isPair(it) || !isScalar(it.key)) continue;
      const p = prefix === '' ? String(it.key.value) : `${prefix}.${String(it.key.value)}`;
      put(p, (it.value as Node | null) ?? (it.key as Node));
      positions(it.value, lc, file, p, out, container);
      if (container && p === 'net' && isMap(it.value)) positions(it.value, lc, file, 'net.0', out, container);
    }
  } else if (isSeq(node)) {
    node.items.forEach((it, i) => {
      const p = `${prefix}.${i}`;
      put(p, it as Node);
      positions(it, lc, file, p, out, container);
    });
  }
}

function toInput(raw: RawContainer, dir: string, at: Positions): ContainerInput {
  const out: ContainerInput = { at };
  if (raw.rootfs !== undefined) out.rootfs = raw.rootfs === 'target' ? 'target' : path.resolve(dir, raw.rootfs);
  if (raw.arch !== undefined) out.arch = raw.arch;
  if (raw.classname !== undefined) out.classname = raw.classname;
  if (raw.location !== undefined) out.location = raw.location;
  if (raw.console !== undefined) out.console = { log: raw.console.log, ...(raw.console.size !== undefined ? { size: String(raw.console.size) } : {}) };
  if (raw.idmap !== undefined) {
    let m: IdmapInput;
    if (raw.idmap === 'default' || raw.idmap === 'none') m = { kind: raw.idmap };
    else if (Array.isArray(raw.idmap)) m = { kind: 'lines', lines: raw.idmap };
    else m = { kind: 'plan', base: raw.idmap.base ?? 100000, size: raw.idmap.size ?? 65536, share: (raw.idmap.share ?? []).map((s) => ({ uid: s.uid, gid: s.gid ?? s.uid })) };
    out.idmap = m;
  }
  if (raw.net !== undefined) {
    const list = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
    out.net = (Array.isArray(raw.net) ? raw.net : [raw.net]).map((n): NetSpec => {
      if (n.type === 'empty') return n;
      if (n.type === 'routed') return { type: 'routed', interconnect: n.interconnect, ipv4: list(n.ipv4), ipv6: list(n.ipv6), gateway6: n.gateway6, routes: list(n.routes), hwaddr: n.hwaddr, vethPair: n['veth-pair'] };
      return { type: 'veth', link: n.link, ipv4: n.ipv4, ipv6: n.ipv6, gateway: n.gateway, gateway6: n.gateway6, hwaddr: n.hwaddr, vethPair: n['veth-pair'] };
    });
  }
  if (raw.tmp !== undefined) out.tmp = raw.tmp;
  if (raw.mounts) {
    out.mounts = raw.mounts.map((m): MountSpec => ({
      host: m.host,
      path: m.path,
      rw: m.rw ?? (m.ro === undefined ? false : !m.ro),
      optional: m.optional ?? false,
      mode: m.mode === undefined ? undefined : parseInt(m.mode, 8),
      owner: m.owner === undefined ? undefined : typeof m.owner === 'number' ? { uid: m.owner, gid: m.owner } : parseShareFlag(m.owner),
      ...(m.rw === false || m.ro === true ? { readOnlyAsked: true } : {}),
    }));
  }
  if (raw.environment) {
    out.environment = raw.environment.map(parseEnvFlag);
  }
  if (raw.seccomp) out.seccomp = raw.seccomp;
  if (raw.runtime) out.runtime = raw.runtime;
  if (raw.containertype) out.containertype = raw.containertype;
  if (raw['plugin-json'] !== undefined) out.pluginJson = raw['plugin-json'];
  if (raw['unmapped-to-nobody'] !== undefined) out.unmappedToNobody = raw['unmapped-to-nobody'];
  if (raw['fix-root-mode'] !== undefined) out.fixRootMode = raw['fix-root-mode'];
  if (raw['keep-devices'] !== undefined) out.keepDevices = raw['keep-devices'];
  if (raw.minimize !== undefined) {
    if (typeof raw.minimize === 'boolean') out.minimize = raw.minimize;
    else {
      out.minimize = true;
      if (raw.minimize.roots) out.roots = raw.minimize.roots;
      if (raw.minimize.keep) out.keep = raw.minimize.keep;
      if (raw.minimize['thunder-roots'] !== undefined) out.thunderRoots = raw.minimize['thunder-roots'];
    }
  }
  if (raw['dedupe-with-host'] !== undefined) out.dedupeWithHost = raw['dedupe-with-host'];
  if (raw.limits !== undefined) {
    const l = raw.limits;
    const v: LimitsInput = { memory: l.memory, memorySwap: l['memory-swap'], pids: l.pids, cpuWeight: l.cpu?.weight, cpus: l.cpu?.cpus === undefined ? undefined : String(l.cpu.cpus), nofile: l.nofile };
    out.limits = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined));
  }
  return out;
}

/** The keys an object at this path of the manifest takes, for "did you mean". */
function keysAt(p: readonly PropertyKey[]): string[] {
  const k = (s: { shape: Record<string, unknown> }) => Object.keys(s.shape);
  const tail = p.slice(p[0] === 'containers' ? 2 : 0).map(String);
  if (p.length === 0) return k(manifestSchema);
  if (p[0] === 'thunder') return k(thunderSection);
  if (p[0] === 'networks') return k(hostNetwork);
  if (p[0] !== 'containers') return [];
  const at = tail.filter((x) => !/^\d+$/.test(x)).join('.');
  if (at === '') return k(container);
  if (at === 'mounts') return k(mount);
  if (at === 'net') return [...new Set(net.options.flatMap((o) => k(o)))];
  if (at === 'idmap') return ['base', 'size', 'share'];
  if (at === 'idmap.share') return ['uid', 'gid'];
  if (at === 'minimize') return ['roots', 'keep', 'thunder-roots'];
  if (at === 'limits') return k(limits);
  if (at === 'limits.cpu') return ['weight', 'cpus'];
  return [];
}

function unknownKeyHint(key: string, p: readonly PropertyKey[]): string {
  const near = nearest(key, keysAt(p));
  return near.length ? `did you mean ${near.slice(0, 2).join(' or ')}?` : 'check the spelling; the keys are listed in README.md (Manifest)';
}

/**
 * doc.toJS(), whose errors (an alias to an anchor not yet set, an alias bomb: more than
 * 100 aliases expanded) become MANIFEST_YAML at the alias.
 */
function toJS(doc: Document, lc: LineCounter, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    if (!(err instanceof Error) || err instanceof ThunderboxError) throw err;
    const missing = /Unresolved alias.*: (.*)$/.exec(err.message)?.[1];
    let at = 0;
    visit(doc, {
      Alias(_k, node) {
        if (missing === undefined || node.source === missing) {
          at = node.range?.[0] ?? 0;
          return visit.BREAK;
        }
        return undefined;
      },
    });
    const pos = lc.linePos(at);
    const bomb = /alias count/i.test(err.message);
    fail('MANIFEST_YAML', bomb ? 'the aliases (*name) expand to too many nodes (over 100 aliases in all): a YAML alias bomb' : err.message.split('\n')[0]!, bomb ? 'write the values out, or use fewer aliases' : 'define the anchor (&name) before its alias (*name)', { file, line: pos.line, col: pos.col });
  }
}

/**
 * Every containers.*.mounts[*].mode, read from the text as written (see the top of the file):
 * a valid one becomes the string of its octal digits, others are diagnostics.
 */
function readModes(doc: Document, lc: LineCounter, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const containers = doc.get('containers', true);
  if (!isMap(containers)) return out;
  for (const c of containers.items) {
    const mounts = isMap(c.value) ? c.value.get('mounts', true) : undefined;
    if (!isSeq(mounts)) continue;
    for (const m of mounts.items) {
      const mode = isMap(m) ? m.get('mode', true) : undefined;
      if (!isScalar(mode) || mode.type !== 'PLAIN') continue; // quoted: a string, checked by zod
      const src = String(mode.source ?? mode.value);
      const digits = /^0o([0-7]{1,4})$/.exec(src)?.[1] ?? /^0?[0-7]{3,4}$/.exec(src)?.[0];
      if (digits !== undefined) {
        mode.value = digits.padStart(3, '0');
        continue;
      }
      const pos = lc.linePos(mode.range?.[0] ?? 0);
      out.push({ code: 'MANIFEST_INVALID', severity: 'error', file, line: pos.line, col: pos.col, message: `mode ${src} is not an octal permission mode`, hint: 'write the octal digits, as chmod takes them: mode: "0770"' });
    }
  }
  return out;
}

export function parseManifest(text: string, file: string): Manifest {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ThunderboxError(
      doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { code: 'MANIFEST_YAML', severity: 'error', file, line: pos.line, col: pos.col, message: e.message.split('\n')[0]!, hint: 'fix the YAML syntax there' };
      }),
    );
  }
  // a container's name is its key: a list or a map there would become a callsign like "[ a, b ]"
  const names = doc.get('containers', true);
  if (isMap(names)) {
    for (const it of names.items) {
      if (isScalar(it.key) && it.key.value !== null && typeof it.key.value !== 'object') continue;
      const pos = lc.linePos((it.key as Node | null)?.range?.[0] ?? names.range?.[0] ?? 0);
      fail('MANIFEST_INVALID', 'a container name must be a plain name (its callsign), not a list, a map or null', 'write it as a key such as OCDM:', { file, line: pos.line, col: pos.col });
    }
  }
  const modes = readModes(doc, lc, file);
  if (modes.length) throw new ThunderboxError(modes);
  const parsed = manifestSchema.safeParse(toJS(doc, lc, file));
  if (!parsed.success) {
    throw new ThunderboxError(
      parsed.error.issues.map((iss): Diagnostic => {
        const unknown = iss.code === 'unrecognized_keys' ? iss.keys[0] : undefined;
        const at = iss.path.length ? iss.path.join('.') : '(top level)';
        return {
          code: unknown ? 'MANIFEST_UNKNOWN_KEY' : 'MANIFEST_INVALID',
          severity: 'error',
          ...where(doc, lc, file, iss.path, unknown),
          message: unknown ? `unknown key "${unknown}" in ${at}` : `${at}: ${iss.message}`,
          hint: unknown ? unknownKeyHint(unknown, iss.path) : 'see README.md (Manifest) for the accepted values',
        };
      }),
    );
  }
  const dir = path.dirname(path.resolve(file));
  const top: Record<string, SourcePos> = {};
  positions(doc.contents, lc, file, '', top, false);
  const containersNode = doc.get('containers', true);
  const keyPos = (name: string): Node | undefined => (isMap(containersNode) ? (containersNode.items.find((it) => isScalar(it.key) && String(it.key.value) === name)?.key as Node | undefined) : undefined);
  const at = (name: string): Positions => {
    const out: Record<string, SourcePos> = {};
    const k = keyPos(name)?.range?.[0];
    if (k !== undefined) out[''] = { file, ...lc.linePos(k) };
    positions(isMap(containersNode) ? containersNode.get(name, true) : undefined, lc, file, '', out, true);
    return out;
  };
  return {
    file,
    at: top,
    datapath: parsed.data.thunder?.datapath,
    editThunderConfig: parsed.data.thunder?.['edit-config'],
    networks: Object.entries(parsed.data.networks ?? {}).map(([name, n]) => ({ name, ipv4: n.ipv4, ipv6: n.ipv6, nat: n.nat ?? false, forward: n.forward ?? n.nat ?? false, dhcp: n.dhcp ?? false })),
    routedPool: parsed.data['routed-pool'],
    containers: Object.entries(parsed.data.containers).map(([name, raw]) => ({ name, input: toInput(raw, dir, at(name)) })),
  };
}

export function loadManifest(file: string): Manifest {
  const r = readTextFile(file);
  if (!r.ok) fail('MANIFEST_UNREADABLE', `cannot read ${file}: ${r.reason}`, 'pass the path of a thunderbox.yaml with --manifest', { file });
  return parseManifest(r.text, file);
}
