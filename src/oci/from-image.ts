import fs from 'node:fs';
import type { Diagnostic } from '../core/diagnostic.js';
import { fail } from '../core/errors.js';
import { readTextFile } from '../core/read-text.js';
import { resolveInTarget, resolveInTargetOrNull } from '../core/target-path.js';
import { derivedVethPair } from '../lxc/container-config.js';
import { parseConfig } from '../lxc/document.js';
import type { ContainerSpec } from '../profile/spec.js';
import { COMMON_CONF_CAP_DROP, ociNetnsPath, type OciContext } from './config.js';
import { joinsBootUserns, joinsNamedNetns, ociUsernsPath, ociUsernsScript } from './userns.js';
import { lxcSeccompToOci } from './seccomp.js';

// What config.json takes from the image: what an LXC container of the same image gets from
// common.conf (its lxc.cap.drop and the seccomp policy its lxc.seccomp.profile names), and a
// program of the rootfs for process.args.

export const COMMON_CONF = '/usr/share/lxc/config/common.conf';

/** The init runc leaves waiting: ThunderPlugin when the rootfs has it, else its shell. */
export const INIT_CANDIDATES = ['/usr/bin/ThunderPlugin', '/bin/sh', '/bin/busybox'];

export interface ImageCommonConf {
  /** device path of the file read, or null when the image has none (LXC not installed) */
  file: string | null;
  /** its text (null with file) */
  text: string | null;
  capDrop: string[];
  /** device path of the seccomp policy, or null (none named, or turned off) */
  profile: string | null;
}

/** common.conf's lxc.cap.drop (accumulated; an empty value clears) and last lxc.seccomp.profile. */
export function readCommonConf(target: string): ImageCommonConf {
  const host = resolveInTargetOrNull(target, COMMON_CONF);
  const r = host === null ? null : readTextFile(host);
  if (!r || !r.ok) return { file: null, text: null, capDrop: [...COMMON_CONF_CAP_DROP], profile: null };
  const { doc } = parseConfig(r.text, COMMON_CONF);
  let capDrop: string[] = [];
  let profile: string | null = null;
  for (const l of doc.lines) {
    if (l.kind !== 'entry') continue;
    if (l.key === 'lxc.cap.drop') capDrop = l.value === '' ? [] : [...capDrop, ...l.value!.split(/\s+/).filter(Boolean)];
    if (l.key === 'lxc.seccomp.profile') profile = l.value === '' ? null : l.value!;
  }
  return { file: COMMON_CONF, text: r.text, capDrop, profile };
}

/**
 * What config.json reads from the image (common.conf and the seccomp policy it names), for
 * prepare's fingerprint: a changed policy makes the next run write config.json again.
 */
export function ociImageInputs(target: string): string {
  const cc = readCommonConf(target);
  const read = (p: string | null) => {
    if (p === null) return null;
    const h = resolveInTargetOrNull(target, p);
    const r = h === null ? null : readTextFile(h);
    return r?.ok ? r.text : null;
  };
  return JSON.stringify([cc.file, cc.text, cc.profile, read(cc.profile)]);
}

export interface OciImageContext {
  ctx: OciContext;
  notes: string[];
  warnings: Diagnostic[];
}

/**
 * The OciContext for a container whose rootfs is at rootfsHost (this host's path), in the
 * image at target. A seccomp policy that cannot be carried over stops prepare.
 */
export function ociContextFromImage(target: string, spec: ContainerSpec, rootfsHost: string, archName: string | null): OciImageContext {
  const notes: string[] = [];
  const warnings: Diagnostic[] = [];
  const cc = readCommonConf(target);
  let seccomp: OciContext['seccomp'] = null;
  if (spec.seccomp === 'default' && cc.profile) {
    const file = resolveInTarget(target, cc.profile);
    const r = readTextFile(file);
    if (!r.ok) fail('OCI_SECCOMP_PROFILE', `${spec.callsign}: ${COMMON_CONF} names the seccomp policy ${cc.profile}, but ${r.reason}`, 'install LXC\'s config files in the image (BR2_PACKAGE_LXC), or use --seccomp off', { file });
    const arch = archName ?? hostArchName();
    const conv = lxcSeccompToOci(r.text, arch);
    const p = conv.problems[0];
    if (p) fail(p.code, `${spec.callsign}: ${cc.profile}: ${p.message}`, p.hint ?? 'fix the policy', { file, line: p.line });
    seccomp = conv.seccomp;
  } else if (spec.seccomp === 'default') {
    notes.push(cc.file ? `${COMMON_CONF} names no seccomp policy: config.json has none` : `the image has no ${COMMON_CONF} (LXC not installed): config.json gets no seccomp policy and drops ${cc.capDrop.join(' ')}, LXC's default`);
  }
  const init = INIT_CANDIDATES.find((p) => {
    const h = resolveInTargetOrNull(rootfsHost, p);
    return h !== null && fs.statSync(h, { throwIfNoEntry: false })?.isFile();
  });
  if (!init) {
    warnings.push({ code: 'OCI_NO_INIT', severity: 'warning', message: `${spec.callsign}: the rootfs has none of ${INIT_CANDIDATES.join(', ')}: runc create looks process.args[0] up and fails`, hint: 'keep ThunderPlugin (or a shell) in the rootfs' });
  }
  // Thunder's runc backend makes no network: a veth, on a bridge or routed, is made at boot by
  // S40thunderbox-net, in a named namespace the bundle joins; an empty net is a namespace of
  // its own (loopback only). An unprivileged bundle joins a user namespace made at boot too
  // (oci/userns.ts), the named network namespace made inside it
  const joined = joinsNamedNetns(spec);
  if (joined && spec.runtime === 'both') {
    const links = [...new Set(spec.net.flatMap((n) => (n.type === 'veth' && n.link ? [n.link] : [])))];
    // a host end with a fixed name (a routed NIC's veth.pair, or one given) is S40's from boot:
    // liblxc cannot make its own (measured, liblxc 5.0.2: "File exists - Failed to create veth pair")
    const pairs = spec.net.flatMap((n, i) => (n.type === 'routed' ? [n.vethPair ?? derivedVethPair(spec.callsign, i)] : n.type === 'veth' && n.vethPair ? [n.vethPair] : []));
    const twice = pairs.length
      ? `liblxc cannot make the LXC container's when Thunder starts it through its LXC backend: the host end ${pairs.join(', ')} is there already, and the start fails ("Failed to create veth pair")`
      : `liblxc makes the LXC container's when Thunder starts it, with the same MAC and address${links.length ? ` on ${links.join(', ')}` : ''}: when Thunder uses its LXC backend, both are up at once`;
    warnings.push({ code: 'OCI_BOTH_NET_TWICE', severity: 'warning', message: `${spec.callsign}: runtime both with a veth: S40thunderbox-net makes the OCI bundle's veth at boot, and ${twice}`, hint: 'give a networked container one runtime (runtime: lxc or runtime: runc), the one the plugin JSON\'s containertype selects' });
  }
  const userns = joinsBootUserns(spec);
  if (userns) notes.push(`the user namespace (${spec.idmap.map((l) => `${l.kind} ${l.nsid} ${l.hostid} ${l.range}`).join(', ')})${joined ? ' and the network namespace' : ''} the bundle joins ${joined ? 'are' : 'is'} made at boot by ${ociUsernsScript(spec.callsign)}`);
  return { ctx: { args: [init ?? INIT_CANDIDATES[0]!], capDrop: cc.capDrop, seccomp, ...(joined ? { netnsPath: ociNetnsPath(spec.callsign) } : {}), ...(userns ? { usernsPath: ociUsernsPath(spec.callsign) } : {}) }, notes, warnings };
}

function hostArchName(): string {
  switch (process.arch) {
    case 'x64':
      return 'x86_64';
    case 'arm64':
      return 'aarch64';
    case 'arm':
      return 'armhf';
    case 'ia32':
      return 'i686';
    default:
      return process.arch;
  }
}
