import type { Diagnostic } from '../core/diagnostic.js';
import { commentLine, parseConfig, renderConfig, type ConfigLine } from './document.js';
import { NET_KEYS, REMOVED_LEGACY, legacyExact, type LxcVersion } from './keys.js';
import { cgroupV2Form } from './limits.js';

// `thunderbox lxc migrate`: LXC 2.x keys to their current names, as lxc-update-config does,
// without its bugs (reference: lxc/lxc src/lxc/cmd/lxc-update-config.in):
//   - lxc.network.<sub> becomes lxc.net.<N>.<sub>, N counting lxc.network.type lines from 0;
//     lxc.network.<i>.<sub> keeps its index; bare ipv4/ipv6 become ipv4.address/ipv6.address,
//     also under an index (lxc-update-config leaves lxc.net.0.ipv4, an unknown key);
//   - lxc.limit.<name> becomes lxc.prlimit.<name> (lxc-update-config misses it);
//   - lxc.rootfs becomes lxc.rootfs.path with the driver of lxc.rootfs.backend wherever that
//     line is (lxc-update-config honours it only as the last line), and a value that already
//     has a driver keeps it (lxc-update-config prefixes a second one);
//   - lxc.rootfs.backend, lxc.pivotdir, lxc.kmsg are dropped, each with a note;
//   - comment lines are left alone (lxc-update-config rewrites them too);
//   - for LXC 7, cgroup v1 lines (lxc.cgroup.<controller>.*) become their cgroup v2 form where
//     v2 has one (lxc/limits.ts cgroupV2Form: memory.max, memory.swap.max, cpu.weight, ...);
//     the others are commented out with a note.
// Every other byte stays: the key is replaced in place, spacing and value untouched.

export interface Migration {
  after: string;
  changed: boolean;
  notes: Diagnostic[];
  /** For each line of `after` (index = line - 1): the line it came from, as written there. */
  origin: { line: number; raw: string }[];
}

/**
 * A diagnostic about the converted text placed in the original file: its line there, and the
 * column moved by what the conversion changed before it (a longer key). Diagnostics about
 * other files (includes) pass unchanged.
 */
export function toOriginal(m: Migration, file: string, d: Diagnostic): Diagnostic {
  if (d.file !== file || d.line === undefined) return d;
  const o = m.origin[d.line - 1];
  if (!o) return d;
  const now = m.after.split('\n')[d.line - 1]?.replace(/\r$/, '') ?? o.raw;
  if (d.col === undefined || now === o.raw) return { ...d, line: o.line };
  // the key is replaced in place (same indentation): a column after it moves by the difference
  const keyEnd = (/^[ \t]*[^ \t=]*/.exec(now)?.[0].length ?? 0) + 1;
  const col = d.col <= keyEnd ? d.col : Math.max(1, d.col - (now.length - o.raw.length));
  return { ...d, line: o.line, col };
}

const netLegacy = new Map<string, string>();
for (const n of NET_KEYS) {
  netLegacy.set(n.sub, n.sub);
  for (const l of n.legacy ?? []) netLegacy.set(l, n.sub);
}

function renameKey(l: ConfigLine, key: string): ConfigLine {
  const i = l.raw.indexOf(l.key!);
  return { ...l, raw: l.raw.slice(0, i) + key + l.raw.slice(i + l.key!.length), key };
}

function setValue(l: ConfigLine, value: string): ConfigLine {
  const eq = l.raw.indexOf('=');
  const rest = l.raw.slice(eq + 1);
  const start = eq + 1 + (/^[ \t]*/.exec(rest)![0].length);
  const end = l.raw.replace(/[ \t]+$/, '').length;
  return { ...l, raw: l.raw.slice(0, start) + value + l.raw.slice(end), value };
}

export function migrateConfig(text: string, file: string, version: LxcVersion): Migration {
  const { doc } = parseConfig(text, file);
  const notes: Diagnostic[] = [];
  const note = (l: ConfigLine, message: string) => notes.push({ code: 'LXC_MIGRATED', severity: 'note', file, line: l.line, message });
  const backend = doc.lines.filter((l) => l.kind === 'entry' && l.key === 'lxc.rootfs.backend').pop()?.value;
  const memory = doc.lines.filter((l) => l.kind === 'entry' && l.key === 'lxc.cgroup.memory.limit_in_bytes').pop()?.value;
  let nic = -1;
  const out: ConfigLine[] = [];
  for (const l of doc.lines) {
    if (l.kind !== 'entry') {
      out.push(l);
      continue;
    }
    const key = l.key!;
    if (REMOVED_LEGACY.some((r) => r.key === key)) {
      note(l, `dropped ${key} (${REMOVED_LEGACY.find((r) => r.key === key)!.note})`);
      continue;
    }
    if (key === 'lxc.rootfs') {
      const v = l.value ?? '';
      const hasDriver = /^[a-z]+:/.test(v);
      const value = hasDriver || v === '' ? v : `${backend ?? 'dir'}:${v}`;
      out.push(setValue(renameKey(l, 'lxc.rootfs.path'), value));
      note(l, `lxc.rootfs -> lxc.rootfs.path${value !== v ? ` (driver ${backend ?? 'dir'})` : ''}`);
      continue;
    }
    const netOld = /^lxc\.network(?:\.(\d+))?(?:\.(.+))?$/.exec(key);
    if (netOld) {
      const [, idx, sub] = netOld;
      if (sub === undefined && idx === undefined) {
        out.push(renameKey(l, 'lxc.net'));
        note(l, 'lxc.network -> lxc.net');
        continue;
      }
      if (sub === 'type' && idx === undefined) nic++;
      const index = idx ?? String(Math.max(nic, 0));
      const newSub = sub === undefined ? undefined : (netLegacy.get(sub) ?? sub);
      const nk = newSub === undefined ? `lxc.net.${index}` : `lxc.net.${index}.${newSub}`;
      out.push(renameKey(l, nk));
      note(l, `${key} -> ${nk}`);
      continue;
    }
    const netNew = /^lxc\.net\.(\d+)\.(ipv4|ipv6)$/.exec(key);
    if (netNew) {
      const nk = `lxc.net.${netNew[1]}.${netNew[2]}.address`;
      out.push(renameKey(l, nk));
      note(l, `${key} -> ${nk}`);
      continue;
    }
    if (key.startsWith('lxc.limit.')) {
      const nk = `lxc.prlimit.${key.slice('lxc.limit.'.length)}`;
      out.push(renameKey(l, nk));
      note(l, `${key} -> ${nk}`);
      continue;
    }
    const nk = legacyExact.get(key);
    if (nk) {
      out.push(renameKey(l, nk));
      note(l, `${key} -> ${nk}`);
      continue;
    }
    if (version >= 7 && /^lxc\.cgroup\.(?!dir|relative)/.test(key)) {
      const v2 = cgroupV2Form(key, l.value ?? '', memory);
      if (v2) {
        out.push(setValue(renameKey(l, v2.key), v2.value));
        note(l, `${key} = ${l.value ?? ''} -> ${v2.key} = ${v2.value} (LXC 7 has no cgroup v1 keys; the device must mount cgroup v2)`);
        continue;
      }
      out.push({ ...commentLine(`${l.raw.trim()}   # removed in LXC 7 (cgroup v1): write it as lxc.cgroup2.*`), eol: l.eol, line: l.line });
      note(l, `${key} commented out: LXC 7 has no cgroup v1 keys; the lxc.cgroup2 equivalent must be written by hand`);
      continue;
    }
    out.push(l);
  }
  const after = renderConfig({ file, lines: out });
  return { after, changed: after !== text, notes, origin: out.map((l) => ({ line: l.line, raw: doc.lines[l.line - 1]?.raw ?? l.raw })) };
}
