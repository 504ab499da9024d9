import fs from 'node:fs';
import path from 'node:path';
import type { Diagnostic, Severity } from '../core/diagnostic.js';
import { readTextFile } from '../core/read-text.js';
import { parseConfig, type ConfigLine } from './document.js';
import { checkIdmap, formatIdmapLine, parseIdmapValue, type IdMapLine } from './idmap.js';
import { available, lookupKey, suggest, type LxcVersion, type NetType } from './keys.js';
import { NAMESPACES, checkHwaddr, valueFindings } from './values.js';
import { mountFields } from './mount-entry.js';
import { cgroupV2Form } from './limits.js';

// `thunderbox lxc check`: every rule about one key comes from its row in keys.ts; this file
// holds what spans lines, in the order liblxc applies a config:
//   - includes are read in place (files, and *.conf in directories), inside --sysroot;
//   - lxc.net.N.type resets NIC N, so keys before it are lost, and type-specific keys are
//     refused unless the NIC already has that type;
//   - lxc.cap.keep and lxc.cap.drop, lxc.namespace.clone and .keep exclude each other
//     (an empty value clears);
//   - idmap lines accumulate (an empty value clears) and must make a map the kernel takes.
// liblxc refuses a config at load time for most errors; mount entries, idmap semantics,
// rootfs backends and MTUs it only meets at start. Errors are errors either way.

export interface CheckOptions {
  version: LxcVersion;
  /** Absolute includes resolve inside this directory (the image root); default '/'. */
  sysroot?: string;
}

const ROOTFS_BACKENDS = ['dir', 'zfs', 'lvm', 'rbd', 'btrfs', 'overlay', 'overlayfs', 'loop', 'nbd'];
const MOUNT_OPTS = new Set([
  'atime', 'dev', 'diratime', 'exec', 'noatime', 'nodev', 'nodiratime', 'noexec', 'norelatime', 'nostrictatime', 'nosymfollow', 'nosuid', 'relatime', 'ro', 'rw', 'strictatime', 'suid',
  'bind', 'move', 'defaults', 'rbind', 'sync', 'async', 'dirsync', 'lazytime', 'mand', 'nomand', 'remount',
  'private', 'shared', 'slave', 'unbindable', 'rprivate', 'rshared', 'rslave', 'runbindable',
  'optional', 'relative',
]);

interface NicState {
  type?: NetType;
  typeLine?: number;
}

interface Ctx {
  o: CheckOptions;
  out: Diagnostic[];
  stack: string[];
  nics: Map<number, NicState>;
  caps: { keep: boolean; drop: boolean };
  ns: { clone: boolean; keep: boolean };
  idmap: { line: IdMapLine; file: string; n: number }[];
  seen: Map<string, Map<string, number>>;
  /** lxc.rootfs.path so far (absolute mount targets must lie inside it). */
  rootfs?: string;
  /** The first cgroup v1 and v2 limit key (devices.* aside: common.conf sets both on purpose). */
  cgroup: { v1?: { file: string; l: ConfigLine }; v2?: { file: string; l: ConfigLine } };
}

function col(l: ConfigLine, part: 'key' | 'value'): number {
  const indent = /^[ \t]*/.exec(l.raw)![0].length;
  if (part === 'key') return indent + 1;
  const eq = l.raw.indexOf('=');
  return eq + 2 + (/^=[ \t]*/.exec(l.raw.slice(eq))![0].length - 1);
}

function add(c: Ctx, file: string, l: ConfigLine, part: 'key' | 'value', severity: Severity, code: string, message: string, hint: string): void {
  c.out.push({ code, severity, file, line: l.line, col: col(l, part), message, hint });
}

function readInclude(c: Ctx, from: string, l: ConfigLine, value: string): void {
  const root = c.o.sysroot ?? '/';
  const host = value.startsWith('/') ? path.join(root, value) : path.resolve(value);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(host);
  } catch {
    st = undefined;
  }
  const isDir = value.endsWith('/') || st?.isDirectory();
  if (isDir) {
    if (!st) return; // a missing include directory is fine for liblxc (common.conf.d/)
    for (const name of fs.readdirSync(host).sort()) {
      if (name.length >= 6 && name.endsWith('.conf')) checkFile(c, path.join(host, name), { from, l });
    }
    return;
  }
  if (!st) {
    add(c, from, l, 'value', 'error', 'LXC_INCLUDE_MISSING', `lxc.include ${value} does not exist${c.o.sysroot ? ` in ${root}` : ''}`, 'fix the path, or pass --sysroot with the image root the config is for');
    return;
  }
  checkFile(c, host, { from, l });
}

function checkFile(c: Ctx, file: string, includedBy?: { from: string; l: ConfigLine }): void {
  const real = fs.existsSync(file) ? fs.realpathSync(file) : file;
  if (c.stack.includes(real)) {
    if (includedBy) add(c, includedBy.from, includedBy.l, 'value', 'error', 'LXC_INCLUDE_CYCLE', `including ${file} again makes a cycle (${[...c.stack, real].join(' -> ')}); liblxc crashes on it`, 'remove one of the lxc.include lines');
    return;
  }
  const r = readTextFile(file);
  if (!r.ok) {
    if (!includedBy) c.out.push({ code: 'CONFIG_UNREADABLE', severity: 'error', file, message: `cannot read ${file}: ${r.reason}`, hint: 'give the path of an LXC config file' });
    else if (r.problem === 'missing') add(c, includedBy.from, includedBy.l, 'value', 'error', 'LXC_INCLUDE_MISSING', `lxc.include ${file} does not exist`, 'fix the path, or pass --sysroot with the image root the config is for');
    else add(c, includedBy.from, includedBy.l, 'value', 'error', 'LXC_INCLUDE_UNREADABLE', `lxc.include ${file} cannot be read: ${r.reason}`, 'an include names a config file, or a directory whose *.conf files are read');
    return;
  }
  c.stack.push(real);
  checkText(c, r.text, file);
  c.stack.pop();
}

function checkMountEntry(c: Ctx, file: string, l: ConfigLine, v: string): void {
  // liblxc reads the value with getmntent(3) (measured with 5.0.2 starting containers):
  // source, target, type and options are needed (fewer: the mount fails at start); dump and
  // pass are read if they are numbers, else taken as 0; anything after them is ignored
  const f = mountFields(v);
  if (f.length < 4) {
    add(c, file, l, 'value', 'error', 'LXC_MOUNT_FIELDS', `a mount entry has 4 to 6 fields (source target type options [dump [pass]]), this one ${f.length}: the container does not start`, 'e.g. lxc.mount.entry = /tmp tmp none bind,optional 0 0');
    return;
  }
  const rest = f.slice(4);
  const comment = rest.findIndex((x) => x.startsWith('#'));
  const fields = comment === -1 ? rest : rest.slice(0, comment); // "# ..." has its own warning below
  const bad = fields.slice(0, 2).find((x) => !/^\d+$/.test(x));
  if (bad !== undefined) add(c, file, l, 'value', 'warning', 'LXC_MOUNT_FIELDS', `${fields.indexOf(bad) === 0 ? 'dump' : 'pass'} field "${bad}" is not a number: liblxc reads it as 0`, 'write 0 0 after the options');
  else if (fields.length > 2) add(c, file, l, 'value', 'warning', 'LXC_MOUNT_FIELDS', `"${fields.slice(2).join(' ')}" after dump and pass is ignored (a mount entry has at most 6 fields)`, 'remove it, or put a comment on a line of its own');
  const [, target, , opts] = f as [string, string, string, string];
  for (const o of opts.split(',')) {
    const name = o.split('=')[0]!;
    if (name === 'create') {
      if (o !== 'create=dir' && o !== 'create=file') add(c, file, l, 'value', 'error', 'LXC_MOUNT_OPTION', `"${o}" must be create=dir or create=file`, 'create=dir makes a directory, create=file an empty file');
    } else if (name === 'idmap') {
      if (!/^idmap=(container|\/.+)$/.test(o)) add(c, file, l, 'value', 'error', 'LXC_MOUNT_OPTION', `"${o}" must be idmap=container or idmap=/path`, 'see lxc.container.conf(5)');
    } else if (!MOUNT_OPTS.has(o) && !o.includes('=')) {
      add(c, file, l, 'value', 'warning', 'LXC_MOUNT_OPTION_UNKNOWN', `"${o}" is not a mount flag LXC knows; it is passed to the filesystem as data`, 'check the spelling (bind, rbind, ro, rw, optional, create=dir, ...)');
    }
  }
  if (target.startsWith('/')) {
    const rootfs = c.rootfs?.replace(/^[a-z]+:/, '');
    if (!rootfs || !(target === rootfs || target.startsWith(`${rootfs}/`))) {
      add(c, file, l, 'value', 'warning', 'LXC_MOUNT_ABSOLUTE', `the target ${target} is absolute and outside the rootfs${rootfs ? ` (${rootfs})` : ''}: LXC skips this mount`, 'write the target relative to the rootfs (no leading /)');
    }
  }
  if (target.split('/').includes('..')) add(c, file, l, 'value', 'error', 'LXC_MOUNT_TARGET', `the target ${target} climbs out of the rootfs`, 'mount targets stay inside the container');
}

function checkEntry(c: Ctx, file: string, l: ConfigLine): void {
  const key = l.key!;
  const v = l.value ?? '';
  const m = lookupKey(key, c.o.version);
  switch (m.kind) {
    case 'unknown': {
      const s = suggest(key);
      add(c, file, l, 'key', 'error', 'LXC_UNKNOWN_KEY', `unknown key ${key}: liblxc refuses the whole config`, s ? `did you mean ${s}?` : 'see thunderbox lxc keys');
      return;
    }
    case 'legacy':
      add(c, file, l, 'key', 'error', 'LXC_LEGACY_KEY', `${key} was removed in LXC 3.0`, `write ${m.replacement}${m.note ? ` (${m.note})` : ''}; thunderbox lxc migrate converts the file`);
      return;
    case 'removed':
      add(c, file, l, 'key', 'error', 'LXC_REMOVED_KEY', `${key} was removed in LXC 3.0 (${m.note})`, 'delete the line; thunderbox lxc migrate does');
      return;
    case 'version': {
      const v2 = m.def.key === 'lxc.cgroup.' ? cgroupV2Form(key, v) : null;
      const hint = m.def.since ? `it needs LXC ${m.def.since}` : `it was removed after LXC ${m.def.until}${v2 ? `: write ${v2.key} = ${v2.value} (the device must mount cgroup v2); thunderbox lxc migrate --lxc-version ${m.version} converts it` : ''}`;
      add(c, file, l, 'key', 'error', 'LXC_KEY_VERSION', `${key} does not exist in LXC ${m.version}${m.def.key === 'lxc.cgroup.' ? ' (LXC 7 drops the cgroup v1 keys)' : ''}`, hint);
      return;
    }
    case 'net-bad':
      add(c, file, l, 'key', 'error', 'LXC_NET_KEY', `${key}: ${m.reason}`, 'network keys are lxc.net.<N>.type, .link, .flags, .hwaddr, .ipv4.address, ...');
      return;
    case 'net':
      checkNet(c, file, l, m.index, m.def.sub, m.def.types, v);
      if (v === '' && m.def.emptyError) add(c, file, l, 'value', 'error', 'LXC_VALUE', `${key} cannot be empty`, `expected ${m.def.grammar.text}`);
      if (v !== '') {
        const err = m.def.grammar.check(v, c.o.version);
        if (err) add(c, file, l, 'value', 'error', 'LXC_VALUE', `${key}: ${err}`, `expected ${m.def.grammar.text}`);
      }
      if (!m.def.multi && v !== '') noteDuplicate(c, file, l, key);
      return;
    case 'key':
      break;
  }
  const def = m.def;
  if (def.noValue) {
    if (v !== '') add(c, file, l, 'value', 'error', 'LXC_VALUE', `${key} takes no value: it only clears`, `write "${key} =" or remove the line`);
    if (/^lxc\.net\.\d+$/.test(key)) c.nics.delete(Number(key.split('.')[2]));
    if (key === 'lxc.net') c.nics.clear();
    return;
  }
  if (m.sub !== undefined && def.key === 'lxc.namespace.share.' && !NAMESPACES.includes(m.sub)) {
    add(c, file, l, 'key', 'error', 'LXC_VALUE', `${key}: "${m.sub}" is not a namespace`, `one of ${NAMESPACES.join(', ')}`);
  }
  if (v === '') {
    if (def.emptyError) add(c, file, l, 'value', 'error', 'LXC_VALUE', `${key} cannot be empty`, `expected ${def.grammar.text}`);
    clearState(c, key);
    return;
  }
  const err = def.grammar.check(v, c.o.version);
  if (!err) for (const f of valueFindings(key, v)) add(c, file, l, 'value', f.severity, f.code, f.message, f.hint);
  if (err) {
    const lenient = def.lenient?.includes(c.o.version);
    add(c, file, l, 'value', lenient ? 'warning' : 'error', 'LXC_VALUE', `${key}: ${err}${lenient ? ` (LXC ${c.o.version} loads it anyway)` : ''}`, `expected ${def.grammar.text}`);
  } else if (c.o.version > 5 && available(def, 5)) {
    // a value whose grammar changed: right for this version, refused by an older liblxc
    const old = def.grammar.check(v, 5);
    if (old) add(c, file, l, 'value', 'warning', 'LXC_VALUE_OLDER', `${key}: LXC ${c.o.version} loads it, LXC 5 refuses it: ${old}`, 'check with --lxc-version 5 when the device has LXC 5');
  }
  if (!def.multi) noteDuplicate(c, file, l, key);
  switch (key) {
    case 'lxc.include':
      readInclude(c, file, l, v);
      break;
    case 'lxc.mount.entry':
      checkMountEntry(c, file, l, v);
      break;
    case 'lxc.cap.keep':
    case 'lxc.cap.drop': {
      const keep = key === 'lxc.cap.keep';
      if ((keep && c.caps.drop) || (!keep && c.caps.keep)) add(c, file, l, 'key', 'error', 'LXC_CAP_KEEP_DROP', 'lxc.cap.keep and lxc.cap.drop exclude each other', 'use one of them, or clear the other first with an empty value (lxc.cap.drop =)');
      if (keep) c.caps.keep = true;
      else c.caps.drop = true;
      break;
    }
    case 'lxc.namespace.clone':
    case 'lxc.namespace.keep': {
      const clone = key === 'lxc.namespace.clone';
      if ((clone && c.ns.keep) || (!clone && c.ns.clone)) add(c, file, l, 'key', 'error', 'LXC_NS_CLONE_KEEP', 'lxc.namespace.clone and lxc.namespace.keep exclude each other', 'use one of them');
      if (clone) c.ns.clone = true;
      else c.ns.keep = true;
      break;
    }
    case 'lxc.rootfs.path': {
      c.rootfs = v;
      const t = /^([a-z]+):/.exec(v);
      if (t && !ROOTFS_BACKENDS.includes(t[1]!)) add(c, file, l, 'value', 'error', 'LXC_ROOTFS_BACKEND', `"${t[1]}" is not a storage backend; LXC fails when it starts`, `one of ${ROOTFS_BACKENDS.join(', ')} (dir:/path for a directory)`);
      else if (!t && !v.startsWith('/')) add(c, file, l, 'value', 'warning', 'LXC_ROOTFS_RELATIVE', `rootfs path "${v}" is relative`, 'give an absolute path, e.g. dir:/usr/share/Thunder/OCDM/Container/rootfs');
      break;
    }
  }
  if (/\s#/.test(v)) add(c, file, l, 'value', 'warning', 'LXC_INLINE_COMMENT', `"${v}": "#" after a value is part of the value, not a comment${key === 'lxc.mount.entry' ? ' (here it lands after the options, where liblxc ignores it)' : ''}`, 'put comments on their own line');
}

function clearState(c: Ctx, key: string): void {
  if (key === 'lxc.cap.keep' || key === 'lxc.cap.drop') c.caps = { keep: false, drop: false };
}

function noteDuplicate(c: Ctx, file: string, l: ConfigLine, key: string): void {
  const m = c.seen.get(file) ?? new Map<string, number>();
  c.seen.set(file, m);
  const prev = m.get(key);
  if (prev !== undefined) add(c, file, l, 'key', 'warning', 'LXC_DUPLICATE', `${key} is set again (first on line ${prev}); the later value wins silently`, 'keep one line');
  else m.set(key, l.line);
}

function checkNet(c: Ctx, file: string, l: ConfigLine, index: number, sub: string, types: NetType[] | undefined, v: string): void {
  const nic = c.nics.get(index) ?? {};
  c.nics.set(index, nic);
  if (sub === 'type') {
    if (nic.type) add(c, file, l, 'key', 'warning', 'LXC_NET_TYPE_AGAIN', `lxc.net.${index}.type again (first on line ${nic.typeLine}): it resets NIC ${index}, losing the keys set since`, 'set the type once, first');
    nic.type = v as NetType;
    nic.typeLine = l.line;
    return;
  }
  if (types) {
    if (!nic.type) add(c, file, l, 'key', 'error', 'LXC_NET_BEFORE_TYPE', `lxc.net.${index}.${sub} comes before lxc.net.${index}.type; liblxc refuses it`, `put lxc.net.${index}.type = ${types[0]} first`);
    else if (!types.includes(nic.type)) add(c, file, l, 'key', 'error', 'LXC_NET_WRONG_TYPE', `lxc.net.${index}.${sub} belongs to ${types.join('/')} NICs, and NIC ${index} is ${nic.type}`, `remove it or change the type`);
  } else if (!nic.type) {
    add(c, file, l, 'key', 'warning', 'LXC_NET_BEFORE_TYPE', `lxc.net.${index}.${sub} comes before lxc.net.${index}.type, which resets the NIC: this line is lost`, `put lxc.net.${index}.type first`);
  }
  if (sub === 'flags' && v !== '' && v !== 'up') add(c, file, l, 'value', 'warning', 'LXC_NET_FLAGS', `flags = ${v} brings the interface up all the same (any value means up)`, 'write flags = up, or leave the line out');
  if (sub === 'hwaddr' && v !== '' && v.split(':').length !== 6 && !checkHwaddr(v)) add(c, file, l, 'value', 'warning', 'LXC_HWADDR_LENGTH', `${v} has ${v.split(':').length} groups, not 6: liblxc ${v.split(':').length < 6 ? 'fills the rest with 00' : 'drops the rest'}`, 'write six hex pairs, e.g. 00:16:3e:12:34:56');
  if (sub === 'hwaddr' && /x/i.test(v)) add(c, file, l, 'value', 'warning', 'LXC_HWADDR_RANDOM', `${v}: each x becomes a random digit at start, so every boot and every image differs`, 'give a fixed MAC (thunderbox derives a stable one from the callsign)');
  if ((sub === 'name' || sub === 'veth.pair' || sub === 'link') && v.length > 15) add(c, file, l, 'value', 'warning', 'LXC_NET_NAME_LONG', `"${v}" is ${v.length} characters; interface names have at most 15 and LXC cuts it`, 'use a shorter name');
}

function checkText(c: Ctx, text: string, file: string): void {
  const { doc, diagnostics } = parseConfig(text, file);
  c.out.push(...diagnostics);
  for (const l of doc.lines) {
    if (l.kind !== 'entry') continue;
    if (l.key === 'lxc.idmap') {
      const v = l.value ?? '';
      if (v === '') {
        c.idmap = [];
        continue;
      }
      const r = parseIdmapValue(v);
      if ('error' in r) add(c, file, l, 'value', 'error', 'LXC_IDMAP_SYNTAX', `lxc.idmap: ${r.error}`, 'write u|g CONTAINER-ID HOST-ID RANGE, e.g. u 0 100000 65536');
      else c.idmap.push({ line: r, file, n: l.line });
      continue;
    }
    checkEntry(c, file, l);
    const layout = /^lxc\.cgroup2\./.test(l.key!) ? 'v2' : /^lxc\.cgroup\.(?!dir|relative)/.test(l.key!) ? 'v1' : null;
    if (layout && !/^lxc\.cgroup2?\.devices\./.test(l.key!)) c.cgroup[layout] ??= { file, l };
  }
}

const newCtx = (o: CheckOptions, stack: string[]): Ctx => ({ o, out: [], stack, nics: new Map(), caps: { keep: false, drop: false }, ns: { clone: false, keep: false }, idmap: [], seen: new Map(), cgroup: {} });

export function checkConfig(file: string, o: CheckOptions): Diagnostic[] {
  const c = newCtx(o, []);
  checkFile(c, file);
  finish(c);
  return c.out;
}

export function checkConfigText(text: string, file: string, o: CheckOptions): Diagnostic[] {
  const c = newCtx(o, [path.resolve(file)]);
  checkText(c, text, file);
  finish(c);
  return c.out;
}

function finish(c: Ctx): void {
  const { v1, v2 } = c.cgroup;
  if (v1 && v2) {
    const [first, later] = v1.l.line <= v2.l.line && v1.file === v2.file ? [v1, v2] : [v2, v1];
    add(c, later.file, later.l, 'key', 'warning', 'LXC_CGROUP_MIXED', `${later.l.key} and ${first.l.key} (${first.file === later.file ? `line ${first.l.line}` : first.file}) are limits for cgroup ${later === v2 ? 'v2' : 'v1'} and ${later === v2 ? 'v1' : 'v2'}: a device mounts one layout, and liblxc ignores the other set with a warning only (measured with 5.0.2: the container starts without those limits)`, 'keep the keys of the layout the device mounts (thunderbox prepare writes them for the image\'s: cgroupfs-mount v1, cgroupfs-v2-mount or systemd v2)');
  }
  if (c.idmap.length === 0) return;
  const at = c.idmap[0]!;
  for (const d of checkIdmap(c.idmap.map((x) => x.line))) c.out.push({ ...d, file: at.file, line: at.n, col: 1 });
  const shape = (k: 'u' | 'g') => c.idmap.filter((x) => x.line.kind === k).map((x) => `${x.line.nsid}:${x.line.range}`).sort().join(',');
  if (c.idmap.some((x) => x.line.kind === 'u') && c.idmap.some((x) => x.line.kind === 'g') && shape('u') !== shape('g')) {
    c.out.push({ code: 'LXC_IDMAP_SHAPE', severity: 'warning', file: at.file, line: at.n, col: 1, message: `the u and g maps differ in shape (${c.idmap.map((x) => formatIdmapLine(x.line)).join('; ')})`, hint: 'map the same container ranges for users and groups' });
  }
}
