import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Diagnostic } from '../core/diagnostic.js';
import { ThunderboxError, errnoCode, fail } from '../core/errors.js';
import { generatedFileOp, readFileOrNull, writeFileAtomic } from '../core/fsutil.js';
import { utime } from '../core/mtime.js';
import type { DirOp, FileOp, Op, Plan } from '../core/plan.js';
import { resolveInTarget } from '../core/target-path.js';
import { ArchVote, archNameOfLxcArch } from '../lxc/arch.js';
import { renderContainerConfig } from '../lxc/container-config.js';
import { chooseCgroupLayout, type CgroupLayout } from './cgroup-layout.js';
import { renderOciConfig } from '../oci/config.js';
import { ociContextFromImage, ociImageInputs } from '../oci/from-image.js';
import { ociBootFiles, ociUsernsScript } from '../oci/userns.js';
import { permissionTable } from '../buildroot/permission-table.js';
import type { ContainerSpec } from '../profile/spec.js';
import { probeArchive, readArchive, type ArchiveInfo } from '../rootfs/archive-reader.js';
import { fingerprintDirectory, readDirectory, type DirWalkOptions } from '../rootfs/dir-reader.js';
import { TreeWriter, type MountPoint, type TreeStats } from '../rootfs/tree-writer.js';
import type { FilterSink, SizeReport } from '../rootfs/filter-sink.js';
import type { TreeView } from '../rootfs/tree-view.js';
import type { EntrySink } from '../rootfs/entry.js';
import type { SharedFile } from './minimize.js';
import { toHost } from '../lxc/idmap.js';
import { subidEdits } from '../lxc/subids.js';
import { includedConfigs } from '../lxc/includes.js';
import { parseConfig } from '../lxc/document.js';
import { commentOutSeccompProfile, restoreSeccompProfile, type SeccompEdit } from './common-conf.js';
import { BASE_MOUNT_TARGETS, COMMON_CONF, OCI_CONFIG_NAME, STAMP_NAME, TABLE_NAME, didYouMean, nearCallsigns, readStamp } from './layout.js';
import { CONTAINER_NAME, deviceModel, identityOf, pluginDirs, type DeviceModel, type PluginIdentity, type SearchPath, type ThunderPlugin } from './device.js';
import { planMessaging } from './messaging.js';
import { setExecutionMode, setJsonString, type PluginConfig } from './plugin-json.js';

// `thunderbox prepare`: plan the container trees, the plugin JSON edits and the common.conf
// edit for a set of containers in one image root; the transaction (core/transaction.ts)
// applies them all or none.
//
// A container is <target><lxcpath>/Container/ holding (the lxcpath where Thunder looks for it:
// <datapath>/<classname> by default, <persistentpath>/<callsign> with location persistent;
// thunder/device.ts)
//   rootfs/              the tree, owned by the idmap's host ids (as root) ...
//   config               the LXC config (rootfs path as on the device)
//   device_table.txt     ... or, when not root, a Buildroot permission table with those owners
//   thunderbox.stamp     what this tree was made from: a second run with the same inputs is a no-op


export interface PrepareRequest {
  /** Image root on this host (absolute). */
  target: string;
  /** Thunder's data path when the command line or manifest sets it; default: the image's config.json, else Thunder's default. */
  datapath?: string;
  containers: ContainerSpec[];
  /** Edit the image's Thunder config where a container needs it (the messaging directory); false: --no-thunder-config. */
  thunderConfig?: boolean;
  force: boolean;
  isRoot: boolean;
  toolVersion: string;
  /** SOURCE_DATE_EPOCH, when set. */
  epoch?: number;
  /** The device's cgroup layout for the limits (--cgroup); default: read from the image (cgroup-layout.ts). */
  cgroup?: CgroupLayout;
  /** Buildroot's .config (BR2_CONFIG or --br2-config): its BR2_INIT_* and cgroup mount packages tell the layout too. */
  br2Config?: string;
  onProgress?: (callsign: string, done: number, total: number) => void;
}

export interface BuildFacts {
  arch: string | null;
  archName: string | null;
  stats: TreeStats;
  /** Files and bytes in the container against the full rootfs. */
  size: SizeReport;
  /** A minimised rootfs: each path kept (not their parent directories) and why. */
  kept?: [string, string][];
  /** --dedupe-with-host: the image files the tree shares (a change to one makes the next run rebuild). */
  shared?: SharedFile[];
  notes: string[];
  /** Found while building (a locked rootfs top, ...): shown with the plan's diagnostics. */
  warnings: Diagnostic[];
  tableLines?: number;
}

export interface ContainerReport {
  callsign: string;
  /** Host path of the Container directory. */
  dir: string;
  deviceDir: string;
  source: string;
  status: 'create' | 'replace' | 'unchanged';
  pluginJson?: { path: string; previous?: string; changed: boolean };
  facts?: BuildFacts;
  config?: string;
  /** An unchanged container: what the doctor found when it last checked it. */
  doctor?: DoctorRecord;
}

export interface PreparePlan {
  plan: Plan;
  reports: ContainerReport[];
}

/** What the doctor found when it last checked the container (kept in the stamp). */
export interface DoctorRecord {
  errors: number;
  warnings: number;
  /** What the doctor read from the image (thunder/doctor-inputs.ts) when it checked. */
  inputs?: string;
}

interface Stamp {
  fingerprint: string;
  facts: BuildFacts;
  doctor?: DoctorRecord;
  /** --seccomp off-common-conf: the lines of common.conf (and its includes) commented out for it. */
  seccompEdits?: SeccompEdit[];
}

/**
 * Keep the doctor's verdict in the stamp: an unchanged container the doctor found errors in
 * (or never checked) is checked again on the next run, so a second `make` cannot pass where
 * the first failed. The doctor runs after the tree is in place, so this is a change of its own:
 * a file op the caller applies as a transaction (locked, journalled: a run killed while writing
 * it is rolled back by the next, which then checks again). Null when the stamp says so already.
 */
export function doctorRecordOp(containerDir: string, d: DoctorRecord, epoch?: number): FileOp | null {
  const file = path.join(containerDir, STAMP_NAME);
  const before = readFileOrNull(file)?.toString('utf8');
  const stamp = readStamp<Stamp>(containerDir);
  if (before === undefined || !stamp || (stamp.doctor?.errors === d.errors && stamp.doctor?.warnings === d.warnings && stamp.doctor?.inputs === d.inputs)) return null;
  stamp.doctor = { errors: d.errors, warnings: d.warnings, inputs: d.inputs };
  return editOp(file, `the doctor's verdict (${d.errors} errors, ${d.warnings} warnings)`, before, JSON.stringify(stamp, null, 1) + '\n', epoch);
}

/** An edit of a file that is there: the new text keeps the file's mode and owner. */
function editOp(file: string, reason: string, before: string, after: string, mtime: number | undefined): FileOp {
  const st = fs.statSync(file);
  return { kind: 'file', path: file, reason, before, after, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime };
}


/** writeFileAtomic's temporary files (.NAME.tbx-tmp-PID-RANDOM) at the top of a container directory. */
function strayTemps(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /^\..+\.tbx-tmp-\d+-[0-9a-f]+$/.test(n));
}

function diag(code: string, severity: Diagnostic['severity'], message: string, hint?: string, file?: string): Diagnostic {
  return { code, severity, message, ...(hint ? { hint } : {}), ...(file ? { file } : {}) };
}

/** The plugin JSON Thunder reads for this container, or null with --no-plugin-json. */
function findPlugin(req: PrepareRequest, device: DeviceModel, spec: ContainerSpec): ThunderPlugin | null {
  if (spec.pluginJson === null) return null;
  if (spec.pluginJson === 'auto') {
    const found = device.plugin(spec.callsign);
    if (found) return found;
    const dirs = pluginDirs(device.thunder);
    // a typo of the callsign (OCMD, ocdm): --no-plugin-json would make a container Thunder never uses
    const near = nearCallsigns(req.target, req.datapath, spec.callsign, device);
    const typo = near.length ? `${didYouMean(near)}the callsign is the plugin JSON's "callsign" (else its file name), as Thunder reads it; ` : '';
    fail('PLUGIN_JSON_NOT_FOUND', `no plugin config for ${spec.callsign}: no ${spec.callsign}.json, and no file with "callsign": "${spec.callsign}", in ${dirs.map((d) => path.join(req.target, d)).join(', ')}`, `${typo}install the plugin's ${spec.callsign}.json in the image, or pass --plugin-json FILE${near.length ? '' : ' (--no-plugin-json builds a container Thunder only finds by the classname you give with --classname)'}`);
  }
  const p = device.pluginAt(spec.pluginJson);
  if (p) return p;
  fail('PLUGIN_JSON_NOT_FOUND', `plugin config ${spec.pluginJson} for ${spec.callsign} is not a file inside the image root ${req.target}`, 'give a path inside --target (thunderbox never writes outside it), or a device path such as /etc/Thunder/plugins/OCDM.json');
}

/** Where a container goes, and the plugin JSON that says so. */
interface Placement {
  plugin: ThunderPlugin | null;
  identity: PluginIdentity;
  home: SearchPath;
  /** <lxcpath>/Container on the device. */
  deviceDir: string;
}

/** The backends Thunder's ProcessContainers knows by name (Source/com/Communicator.h, ContainerConfig). */
const CONTAINER_TYPES = ['lxc', 'runc', 'crun', 'dobby', 'awc'];

function place(req: PrepareRequest, device: DeviceModel, spec: ContainerSpec): Placement {
  const plugin = findPlugin(req, device, spec);
  if (plugin?.diagnostics.length) fail(plugin.diagnostics[0]!.code, plugin.diagnostics[0]!.message, `${plugin.diagnostics[0]!.hint ?? 'fix the file'} (nothing was changed)`, { file: plugin.host, line: plugin.diagnostics[0]!.line, col: plugin.diagnostics[0]!.col });
  let identity: PluginIdentity;
  if (plugin) {
    identity = { ...identityOf(plugin), callsign: spec.callsign };
    if (!plugin.classname) {
      if (!spec.classname) fail('PLUGIN_CLASSNAME_MISSING', `${plugin.file} has no "classname": Thunder cannot load the plugin, and looks for its container at <datapath>/<classname>`, 'add the plugin\'s "classname" to its JSON (e.g. "classname": "OCDM")', { file: plugin.host, line: 1, col: 1 });
      identity.classname = spec.classname;
    } else if (spec.classname && spec.classname !== plugin.classname.value) {
      fail('CLASSNAME_MISMATCH', `${spec.callsign}: --classname ${spec.classname}, but ${plugin.file} says "classname": "${plugin.classname.value}", which is what Thunder uses`, 'leave --classname out (it is for a container without a plugin JSON)', { file: plugin.host, line: plugin.classname.line, col: plugin.classname.col });
    }
    const ct = plugin.containertype;
    // the backends this container is made for: lxc's config always, runc's config.json with runc or both
    const served = spec.runtime === 'both' ? ['lxc', 'runc'] : [spec.runtime];
    // (unless the plugin's backend is asked for: prepare then sets it)
    if (ct && !served.includes(ct.value.toLowerCase()) && spec.containertype === undefined) {
      const known = CONTAINER_TYPES.includes(ct.value.toLowerCase());
      const made = spec.runtime === 'both' ? 'an LXC container and an OCI bundle for runc' : spec.runtime === 'runc' ? 'an OCI bundle for runc' : 'an LXC container';
      const other = ct.value.toLowerCase() === 'runc' ? ', or prepare it with --runtime runc (runtime: runc)' : ct.value.toLowerCase() === 'lxc' ? ', or prepare it with --runtime lxc or both' : '';
      fail('CONTAINERTYPE_OTHER', `${plugin.file} selects the container backend "${ct.value}" (configuration.root.configuration.containertype)${known ? '' : ', which Thunder does not know'}; thunderbox prepares ${made}, which that backend would not start`, known ? `set "containertype": "${served[0]}"${other}` : `Thunder's backends are lxc, runc, crun, dobby and awc: set "containertype": "${served[0]}"`, { file: plugin.host, line: ct.line, col: ct.col });
    }
  } else {
    identity = { callsign: spec.callsign, classname: spec.classname ?? spec.callsign };
  }
  const home = device.home(identity, spec.location);
  return { plugin, identity, home, deviceDir: path.posix.join(home.lxcpath, CONTAINER_NAME) };
}

function sourceIdentity(spec: ContainerSpec, walk: DirWalkOptions): unknown {
  if (spec.rootfs.kind === 'dir') return { dir: spec.rootfs.path, tree: fingerprintDirectory(spec.rootfs.path, walk) };
  const st = fs.statSync(spec.rootfs.path);
  return { archive: spec.rootfs.path, size: st.size, mtime: st.mtimeMs, ino: st.ino, dev: st.dev };
}

/**
 * What a directory source must not copy: every container tree (`<datapath>/<X>/Container`),
 * thunderbox's own files, and the directories above containers when nothing else is in them
 * (they exist only because of the containers; copying them would make a run depend on the
 * one before). `<datapath>/<X>/` keeps whatever else it holds, such as OCDM's *.drm modules.
 */
function dirExclusions(req: PrepareRequest, datapath: string, containerDirs: readonly string[], source: string): (rel: string) => boolean {
  // Where the datapath lies from the source: below it (the image's own root), the source itself,
  // or above it (a callsign's directory given as the source). inData(rel) is rel's path inside
  // the datapath, or null outside it.
  const data = resolveInTarget(req.target, datapath);
  const down = path.relative(source, data).split(path.sep).join('/');
  const up = path.relative(data, source).split(path.sep).join('/');
  const outside = (r: string) => r.startsWith('..') || path.isAbsolute(r);
  const inData = (rel: string): string | null => {
    if (down === '') return rel;
    if (!outside(down)) return rel === down ? '' : rel.startsWith(`${down}/`) ? rel.slice(down.length + 1) : null;
    if (!outside(up)) return rel === '' ? up : `${up}/${rel}`;
    return null;
  };
  const own = (base: string) => base.startsWith('.thunderbox.') || /\.tbx-(new|old|tmp)/.test(base);
  // the host side of shared directories belongs to the device, not inside a container
  const shared = new Set(
    req.containers.flatMap((s) => s.mounts.map((m) => path.relative(source, resolveInTarget(req.target, m.host)).split(path.sep).join('/'))).filter((r) => r !== '' && !r.startsWith('..')),
  );
  // the containers of this run, wherever they are (a persistent path too)
  const planned = new Set(containerDirs.map((d) => path.relative(source, d).split(path.sep).join('/')).filter((r) => r !== '' && !r.startsWith('..')));
  const exclude = (rel: string): boolean => {
    const base = path.posix.basename(rel);
    if (own(base) || shared.has(rel) || planned.has(rel)) return true;
    const d = inData(rel);
    if (d === null) return false;
    // <datapath>/<Callsign>/Container: a container, never copied into another
    if (/^[^/]+\/Container$/.test(d)) return true;
    // the datapath, or a callsign's directory in it, that holds nothing else is left out too
    if (rel !== '' && !d.includes('/')) {
      let names: string[];
      try {
        if (!fs.lstatSync(path.join(source, rel)).isDirectory()) return false;
        names = fs.readdirSync(path.join(source, rel));
      } catch {
        return false;
      }
      return names.every((n) => exclude(`${rel}/${n}`));
    }
    return false;
  };
  return exclude;
}

function mountTargets(spec: ContainerSpec): MountPoint[] {
  const out: MountPoint[] = [...BASE_MOUNT_TARGETS];
  if (spec.tmpMount) out.push({ path: 'tmp', mode: 0o1777 });
  for (const m of spec.mounts) out.push({ path: m.path, mode: m.mode ?? 0o755, owner: m.owner, explicit: m.mode !== undefined || m.owner !== undefined, user: true });
  return out;
}

/** The host (device) side of a shared directory: owned by the host ids its container owner maps to. */
function hostDirOwner(spec: ContainerSpec, m: { owner?: { uid: number; gid: number } }): { uid: number; gid: number } {
  const cu = m.owner?.uid ?? 0;
  const cg = m.owner?.gid ?? 0;
  if (spec.idmap.length === 0) return { uid: cu, gid: cg };
  return { uid: toHost(spec.idmap, 'u', cu) ?? cu, gid: toHost(spec.idmap, 'g', cg) ?? cg };
}

/** Whether the shared files are still the ones the container was made with (a chmod or chown changes the container's file too). */
function sharedUnchanged(files: readonly SharedFile[]): boolean {
  return files.every(([host, ino, size, mtimeMs, mode, uid, gid]) => {
    const st = fs.lstatSync(host, { throwIfNoEntry: false });
    return st !== undefined && st.ino === ino && st.size === size && st.mtimeMs === mtimeMs && st.mode === mode && st.uid === uid && st.gid === gid;
  });
}

/**
 * The decompressed archive between the two passes of a minimised prepare over an xz, bzip2
 * or zstd archive: in the system's temporary directory, not beside the rootfs, so the image's
 * filesystem needs room for the result only (an 8 MB container from a 300 MB rootfs). When the
 * temporary directory has no room for it, the second pass decompresses the archive again.
 * Removed after the second pass, and when the run fails.
 */
interface Spool {
  file: string;
  /** False once a write failed for lack of space: pass 2 reads the archive itself. */
  ok: boolean;
}

function newSpool(): Spool {
  return { file: path.join(os.tmpdir(), `thunderbox-pass1-${process.pid}-${randomBytes(4).toString('hex')}.tar`), ok: true };
}

function writeAll(fd: number, chunk: Buffer): void {
  for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off);
}

interface BuildInput {
  req: PrepareRequest;
  spec: ContainerSpec;
  walk: DirWalkOptions;
  deviceDir: string;
  /** The Container directory on this host. */
  dir: string;
  fingerprint: string;
  plugin?: PluginConfig;
  /** The Container directory on the device. */
  containerDir?: string;
  /** Image files this run rewrites (plugin JSON, common.conf, subuid/subgid). */
  rewritten: ReadonlySet<string>;
  cgroup?: { layout: CgroupLayout; from: string };
  /** --seccomp off-common-conf: the commented-out lines this container keeps off (in its stamp). */
  seccompEdits: SeccompEdit[];
}

/**
 * A minimised rootfs or one that shares files with the image: read the source once to know
 * what is in it (an archive: a first pass that writes nothing), pick the entries, and put a
 * filter in front of the writer. Errors (an unresolved library, a wrong-arch one) stop here,
 * before anything is written.
 */
async function selectEntries(b: BuildInput, stage: string, writer: TreeWriter, signal: AbortSignal | undefined, notes: string[], warnings: Diagnostic[], kept: [string, string][], shared: SharedFile[], info: ArchiveInfo | null, spool: Spool | null): Promise<FilterSink> {
  const { spec, req } = b;
  // loaded here: a plain or a no-op run does not need the ELF reader, the closure or the matcher
  const [{ ArchiveIndex }, { FilterSink }, { DirView }, { findShared, selectMinimal, walk }] = await Promise.all([import('../rootfs/archive-index.js'), import('../rootfs/filter-sink.js'), import('../rootfs/tree-view.js'), import('./minimize.js')]);
  let view: TreeView;
  let sha256: ((rel: string) => string | undefined) | undefined;
  if (info) {
    const index = new ArchiveIndex({ hash: spec.dedupeWithHost });
    // xz, bzip2, zstd: decompressed once; the second pass reads the plain tar kept in the spool
    let fd = spool ? fs.openSync(spool.file, 'wx', 0o600) : null;
    const tee = (c: Buffer) => {
      if (fd === null || !spool?.ok) return;
      try {
        writeAll(fd, c);
      } catch (err) {
        if (errnoCode(err) !== 'ENOSPC' && errnoCode(err) !== 'EDQUOT') throw err;
        spool.ok = false;
        fs.closeSync(fd);
        fd = null;
        fs.rmSync(spool.file, { force: true });
      }
    };
    try {
      await readArchive(spec.rootfs.path, info, index, { signal, onProgress: (n) => req.onProgress?.(spec.callsign, n / 2, info.size), tee: spool ? tee : undefined });
    } finally {
      if (fd !== null) fs.closeSync(fd);
    }
    if (spool) notes.push(spool.ok ? `the ${info.codec.name} archive was decompressed once, into ${spool.file} (removed after the second pass), so ${req.target}'s filesystem needs room for the container only` : `no room in ${path.dirname(spool.file)} for the decompressed archive: it was decompressed a second time instead (set TMPDIR to a directory with room to save that)`);
    view = index;
    sha256 = (rel) => index.sha256(rel);
  } else {
    view = new DirView(spec.rootfs.path);
  }
  let selected: Set<string> | null = null;
  if (spec.minimize) {
    const sel = selectMinimal(view, spec, spec.minimize, { plugin: b.plugin, mountPaths: spec.mounts.map((m) => m.path) });
    const errors = sel.problems.filter((p) => p.severity === 'error');
    if (errors.length) throw new ThunderboxError(sel.problems.map((p) => ({ ...p, file: p.file ?? spec.rootfs.path })));
    warnings.push(...sel.problems);
    notes.push(...sel.notes);
    kept.push(...[...sel.why].sort((x, y) => (x[0] < y[0] ? -1 : 1)));
    selected = sel.paths;
  }
  let dedupe = new Map<string, string>();
  if (spec.dedupeWithHost) {
    let paths: Iterable<string> | null = selected;
    if (!paths) {
      const all: string[] = [];
      walk(view, '', all);
      paths = all.filter((p) => !b.walk.exclude(p));
    }
    const s = findShared(view, paths, { target: req.target, containerDir: b.dir, stageDir: stage, sha256, sourceDir: spec.rootfs.kind === 'dir' ? spec.rootfs.path : undefined, idmap: spec.idmap, skip: (rel) => b.walk.overrides.has(rel), rewritten: b.rewritten }, notes);
    dedupe = s.links;
    shared.push(...s.files);
  }
  return new FilterSink(writer, selected, dedupe, spec.rootfs.kind === 'dir' ? spec.rootfs.path : undefined);
}

/** Extract or copy the rootfs into `dir` (a new directory, or nothing with dryRun) and render the config. */
async function buildContainer(b: BuildInput, dir: string, signal: AbortSignal | undefined, dryRun: boolean): Promise<{ facts: BuildFacts; config: string }> {
  const { req, spec } = b;
  const rootfs = path.join(dir, 'rootfs');
  if (!dryRun) fs.mkdirSync(rootfs, 0o700);
  const vote = new ArchVote();
  const notes: string[] = [];
  const warnings: Diagnostic[] = [];
  const writer = new TreeWriter({
    root: rootfs,
    source: spec.rootfs.path,
    chown: req.isRoot,
    canMknod: req.isRoot,
    idmap: spec.idmap,
    // directories the archive implies or the container needs (mount points): made now, like the config
    implicitMtime: req.epoch ?? Math.floor(Date.now() / 1000),
    dryRun,
    unmappedToNobody: spec.unmappedToNobody,
    skipDevices: spec.idmap.length > 0 && !spec.keepDevices,
    // also with --arch given: the ELF files say which qemu-user `try` needs (linux32 could be either)
    onElf: (id) => vote.add(id),
  });
  let filter: FilterSink | undefined;
  const kept: [string, string][] = [];
  const shared: SharedFile[] = [];
  const selecting = spec.minimize !== undefined || spec.dedupeWithHost;
  let spool: Spool | null = null;
  try {
    const info = spec.rootfs.kind === 'archive' ? probeArchive(spec.rootfs.path) : null;
    // two passes over a tool-decompressed archive: the first keeps the plain tar in the spool
    spool = selecting && !dryRun && info?.codec.tool ? newSpool() : null;
    if (selecting) filter = await selectEntries(b, dir, writer, signal, notes, warnings, kept, shared, info, spool);
    const sink: EntrySink = filter ?? writer;
    if (info) {
      const fromSpool = spool?.ok ? spool.file : null;
      const pass2 = fromSpool ? probeArchive(fromSpool) : info;
      const total = info.size;
      const progress = (n: number) => req.onProgress?.(spec.callsign, filter ? total / 2 + (n / pass2.size) * (total / 2) : n, total);
      const read = await readArchive(fromSpool ?? spec.rootfs.path, pass2, sink, { signal, onProgress: progress });
      if (read.xattrs.length) {
        const shown = read.xattrs.slice(0, 5).map((x) => `${x.path} (${x.names.join(', ')})`).join(', ');
        warnings.push(diag('XATTRS_NOT_SET', 'warning', `${spec.callsign}: ${read.xattrs.length} entries carry extended attributes that thunderbox does not set: ${shown}${read.xattrs.length > 5 ? ', ...' : ''}; a file capability (security.capability, e.g. ping's cap_net_raw) is lost in the container`, 'set them after prepare (setcap or setfattr in a post-fakeroot script, for an unprivileged container as namespaced capabilities), or leave --xattrs out of the archive if they are not needed', spec.rootfs.path));
      }
    } else {
      await readDirectory(spec.rootfs.path, sink, { ...b.walk, signal });
    }
    notes.push(...(await writer.ensureDirs(mountTargets(spec))));
    const top = writer.checkTopMode(spec.fixRootMode);
    if (top === 'fixed') notes.push('the rootfs top directory was locked (no access for others); --fix-root-mode made it 0755');
    if (top === 'locked') {
      warnings.push(diag('ROOT_MODE_LOCKED', 'warning', `${spec.callsign}: the rootfs top directory in ${spec.rootfs.path} denies access to other users (an archive made from a mktemp -d directory is 0700): every non-root user in the container is locked out`, 'rebuild the archive from a 0755 directory, or pass --fix-root-mode', spec.rootfs.path));
    }
  } catch (err) {
    await writer.abort(); // the writer thread stops before the transaction removes the stage
    throw err;
  } finally {
    if (spool) fs.rmSync(spool.file, { force: true });
  }
  await writer.finish();

  if (writer.unmapped.length) {
    const shown = writer.unmapped.slice(0, 20).join(', ');
    fail('IDMAP_UNMAPPED_OWNER', `${spec.callsign}: ${writer.unmapped.length} rootfs entries are owned by ids the idmap does not cover: ${shown}${writer.unmapped.length > 20 ? ', ...' : ''}`, 'widen the idmap (size) or map those ids with --share-uid', { file: spec.rootfs.path });
  }
  let arch: string | null = spec.arch === 'auto' ? null : spec.arch;
  const voted = vote.result();
  const archName: string | null = voted?.guess.name ?? (arch === null ? null : archNameOfLxcArch(arch));
  if (spec.arch === 'auto') {
    if (voted) {
      arch = voted.guess.lxcArch;
      if (voted.others.length) notes.push(`architecture ${voted.guess.name} from ${voted.count} ELF files; also seen: ${voted.others.join(', ')}`);
    } else {
      notes.push('no ELF executables found: lxc.arch left out (the host personality applies); pass --arch to set it');
    }
  }
  if (writer.stats.devices && !req.isRoot) notes.push(`${writer.stats.devices} device nodes recorded in ${TABLE_NAME} (creating them needs root)`);
  if (writer.stats.devicesSkipped) notes.push(`${writer.stats.devicesSkipped} device nodes left out: an unprivileged container cannot use them and lxc.autodev provides /dev (--keep-devices keeps them)`);
  if (writer.stats.toNobody) notes.push(`${writer.stats.toNobody} entries owned by ids outside the idmap now belong to the container's nobody (65534)`);
  const size: SizeReport = filter?.report() ?? { files: writer.stats.files, bytes: writer.stats.bytes, fullFiles: writer.stats.files, fullBytes: writer.stats.bytes, percent: 100, sharedFiles: 0, sharedBytes: 0 };
  const facts: BuildFacts = { arch, archName, stats: writer.stats, size, notes, warnings, ...(spec.minimize ? { kept } : {}), ...(shared.length ? { shared } : {}) };
  const config = renderContainerConfig(spec, { containerDir: b.deviceDir, toolVersion: req.toolVersion, arch, cgroup: b.cgroup });
  if (dryRun) return { facts, config };
  const mtime = req.epoch;
  writeFileAtomic(path.join(dir, 'config'), config, { mode: 0o644, mtime });
  if (spec.runtime !== 'lxc') {
    // the OCI bundle for Thunder's runc backend, served by the same rootfs (oci/config.ts)
    const oci = ociContextFromImage(req.target, spec, rootfs, archName);
    facts.notes.push(...oci.notes);
    facts.warnings.push(...oci.warnings);
    writeFileAtomic(path.join(dir, OCI_CONFIG_NAME), renderOciConfig(spec, oci.ctx), { mode: 0o644, mtime });
  }
  if (!req.isRoot) {
    // the host side of shared directories (in the image, outside the container) goes in the table too
    const extra = spec.mounts.map((m) => ({ path: m.host, record: { kind: 'dir' as const, mode: m.mode ?? 0o755, ...hostDirOwner(spec, m) } }));
    const t = permissionTable(`${b.deviceDir}/rootfs`, writer.records, extra, [
      `Buildroot permission table (BR2_ROOTFS_DEVICE_TABLE) for ${b.deviceDir}/rootfs`,
      `generated by thunderbox ${req.toolVersion}: owners are host ids (container ids through the idmap)`,
      '<name> <type> <mode> <uid> <gid> <major> <minor> <start> <inc> <count>',
    ]);
    writeFileAtomic(path.join(dir, TABLE_NAME), t.text, { mode: 0o644, mtime });
    facts.tableLines = t.lines;
    if (t.skipped.length) {
      // their owners (and a device node among them) do not reach the image: a warning, not a note
      facts.warnings.push(diag('TABLE_NAME_WHITESPACE', 'warning', `${spec.callsign}: ${t.skipped.length} paths with white space cannot be listed in ${TABLE_NAME} (makedevs reads names with %s), so the image will not give them their owners: ${t.skipped.slice(0, 5).join(', ')}${t.skipped.length > 5 ? ', ...' : ''}`, 'rename them, or run prepare as root (from a post-fakeroot script), where owners are set directly', path.join(dir, TABLE_NAME)));
    }
  }
  const stamp: Stamp = { fingerprint: b.fingerprint, facts, ...(b.seccompEdits.length ? { seccompEdits: b.seccompEdits } : {}) };
  writeFileAtomic(path.join(dir, STAMP_NAME), JSON.stringify(stamp, null, 1) + '\n', { mode: 0o644, mtime });
  fs.chmodSync(dir, 0o755);
  if (mtime !== undefined) fs.utimesSync(dir, utime(mtime), utime(mtime));
  return { facts, config };
}

/**
 * The Container directory on this host: its parents resolved inside the image like the
 * device would, the directory itself never a symlink (replacing it would replace whatever
 * the link points at).
 */
function containerDirIn(target: string, deviceDir: string): string {
  const dir = path.join(resolveInTarget(target, path.posix.dirname(deviceDir)), path.posix.basename(deviceDir));
  if (fs.lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) {
    fail('CONTAINER_DIR_SYMLINK', `${dir} is a symbolic link`, 'remove the link (thunderbox replaces the Container directory whole and will not follow it)', { file: dir });
  }
  return dir;
}

export interface PlanOptions {
  /** Read the sources without writing, so the plan can show the exact config (--dry-run). */
  scan: boolean;
}

/** A host path inside the image as the device sees it. */
function devicePath(target: string, host: string): string {
  return '/' + path.relative(target, host).split(path.sep).join('/');
}

/** Every container with a stamp where prepare puts them: under the data path (by classname) and the persistent path (by callsign). */
function containerStamps(req: PrepareRequest, device: DeviceModel): { dir: string; callsign: string; stamp: Stamp }[] {
  const out: { dir: string; callsign: string; stamp: Stamp }[] = [];
  for (const base of [...new Set([device.thunder.datapath, device.thunder.persistentpath])]) {
    const data = resolveInTarget(req.target, base);
    let names: string[];
    try {
      names = fs.readdirSync(data);
    } catch {
      continue;
    }
    for (const n of names.sort()) {
      const dir = path.join(data, n, 'Container');
      const stamp = readStamp<Stamp>(dir);
      if (stamp) out.push({ dir, callsign: n, stamp });
    }
  }
  return out;
}

/**
 * No container of this run wants common.conf's profile off: put back the lines an earlier
 * `--seccomp off-common-conf` commented out (its stamp lists them), in this transaction. Not
 * while another container of the image still has it that way; not a line changed since; and a
 * profile commented out by someone else is only reported.
 */
function restoreCommonConf(req: PrepareRequest, recorded: { dir: string; callsign: string; stamp: Stamp }[], runDirs: Set<string>, commonConf: string, commonText: string, fileOps: Map<string, FileOp>, overridesFor: Map<string, { content: Buffer; mtime: number }>, editMtime: number, diagnostics: Diagnostic[]): void {
  const ours = recorded.filter((x) => runDirs.has(x.dir));
  const others = recorded.filter((x) => !runDirs.has(x.dir));
  if (ours.length && others.length) {
    diagnostics.push(diag('SECCOMP_RESTORE_KEPT', 'warning', `${ours.map((x) => x.callsign).join(', ')} no longer uses --seccomp off-common-conf, but ${others.map((x) => x.callsign).join(', ')} in the image still does: common.conf's lxc.seccomp.profile stays commented out, so seccomp stays off for every container`, `prepare ${others.map((x) => x.callsign).join(', ')} with --seccomp default (or off) too, and the line is put back`, commonConf));
    return;
  }
  const edits = ours.flatMap((x) => x.stamp.seccompEdits!);
  let active = false;
  let commentedLeft: { file: string; line: number } | undefined;
  for (const { file, text } of includedConfigs(req.target, commonConf, commonText)) {
    const device = devicePath(req.target, file);
    const mine = edits.filter((e) => e.file === device);
    const r = restoreSeccompProfile(text, mine);
    for (const g of r.gone) diagnostics.push(diag('SECCOMP_RESTORE_GONE', 'warning', `line ${g.line} of ${device}, which an earlier --seccomp off-common-conf commented out, is no longer "${g.commented}": it is left as it is`, `check lxc.seccomp.profile in ${file} by hand`, file));
    const doc = parseConfig(r.after, file).doc;
    active ||= doc.lines.some((l) => l.kind === 'entry' && l.key === 'lxc.seccomp.profile');
    const left = doc.lines.find((l) => l.kind === 'comment' && /^[ \t]*#\s*lxc\.seccomp\.profile\s*=/.test(l.raw));
    if (left && !commentedLeft) commentedLeft = { file, line: left.line };
    if (!r.restored.length) continue;
    fileOps.set(file, editOp(file, `put back lxc.seccomp.profile (line ${r.restored.join(', ')}), commented out by an earlier --seccomp off-common-conf for ${ours.map((x) => x.callsign).join(', ')}`, text, r.after, editMtime));
    overridesFor.set(file, { content: Buffer.from(r.after), mtime: editMtime });
  }
  if (!active && commentedLeft && req.containers.some((s) => s.seccomp === 'default')) {
    diagnostics.push(diag('SECCOMP_COMMON_CONF_OFF', 'warning', `--seccomp default, but common.conf's lxc.seccomp.profile is commented out (line ${commentedLeft.line} of ${devicePath(req.target, commentedLeft.file)}), not by a thunderbox run that recorded it: seccomp is off for every container`, `uncomment line ${commentedLeft.line} of ${commentedLeft.file} to turn common.conf's profile back on`, commentedLeft.file));
  }
}

export async function planPrepare(req: PrepareRequest, opts: PlanOptions): Promise<PreparePlan> {
  const ops: Op[] = [];
  const dirOpsEarly: DirOp[] = [];
  const diagnostics: Diagnostic[] = [];
  const reports: ContainerReport[] = [];
  const fileOps = new Map<string, FileOp>();
  const names = new Set<string>();
  // the limits' keys follow the device's cgroup layout: one answer for the whole image
  let cgroup: { layout: CgroupLayout; from: string } | undefined;
  if (req.containers.some((c) => c.limits)) {
    const c = chooseCgroupLayout(req.target, { override: req.cgroup, br2Config: req.br2Config });
    const errors = c.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length) throw new ThunderboxError(errors);
    diagnostics.push(...c.diagnostics);
    cgroup = { layout: c.layout, from: c.from };
  }
  for (const spec of req.containers) {
    if (names.has(spec.callsign)) fail('CALLSIGN_DUPLICATE', `${spec.callsign} is listed twice`, 'give each container once');
    names.add(spec.callsign);
  }

  // Where each container goes: where Thunder will look for it (thunder/device.ts)
  const device = deviceModel(req.target, { datapath: req.datapath });
  const placed = new Map<string, Placement>();
  for (const spec of req.containers) placed.set(spec.callsign, place(req, device, spec));
  const byHome = new Map<string, string>();
  for (const spec of req.containers) {
    const p = placed.get(spec.callsign)!;
    const other = byHome.get(p.deviceDir);
    if (other !== undefined) {
      fail('CONTAINER_SHARED', `${other} and ${spec.callsign} both want their own container at ${p.deviceDir}: Thunder looks there for every plugin of class ${p.identity.classname}, so one would replace the other`, `give one of them (or both) location: persistent (--location persistent): its container then lives under ${device.thunder.persistentpath}/<callsign>, where Thunder looks first`);
    }
    byHome.set(p.deviceDir, spec.callsign);
  }

  // The text edits first: a directory source copies the image as it will be after them.
  const overridesFor = new Map<string, { content: Buffer; mtime: number }>();
  const editMtime = req.epoch ?? Math.floor(Date.now() / 1000);
  const jsonPaths = new Map<string, string>();
  const plugins = new Map<string, PluginConfig>();
  for (const spec of req.containers) {
    const plugin = placed.get(spec.callsign)!.plugin;
    if (!plugin) continue;
    const file = plugin.host;
    jsonPaths.set(spec.callsign, file);
    const before = plugin.text;
    // a minimised rootfs also depends on the plugin library the plugin JSON names (the edit keeps it)
    if (spec.minimize?.thunderRoots) plugins.set(spec.callsign, { file, locator: plugin.locator });
    const root = plugin.root.join('.');
    const edit = setExecutionMode(before, file, 'Container', plugin.root);
    const reasons = edit.changed ? [`${root}.mode ${edit.previous === undefined ? 'set to' : `"${edit.previous}" ->`} "Container"`] : [];
    let after = edit.after;
    // R5 picks the backend by name: with more than one built (measured with real Thunder, LXC and
    // runc) and neither processcontainers.default nor containertype, it starts nothing ("Container
    // runtime system not specified"); naming "lxc" is right with one backend too. R4 builds one
    // backend and has no such key.
    // With runtime both, the container serves either backend: the plugin JSON is left to choose
    // (containertype, else processcontainers.default; README "Thunder's runc backend").
    // Asked for (containertype:), the backend is set, also over another of the ones made.
    const asked = spec.containertype;
    const have = plugin.containertype?.value.toLowerCase();
    if (asked !== undefined && have !== asked) {
      after = setJsonString(after, file, [...plugin.root, 'configuration', 'containertype'], asked).after;
      reasons.push(`${root}.configuration.containertype ${have === undefined ? 'set to' : `"${plugin.containertype!.value}" ->`} "${asked}" (asked)`);
    } else if (asked === undefined && device.thunder.release === 'R5' && !plugin.containertype && spec.runtime !== 'both') {
      after = setJsonString(after, file, [...plugin.root, 'configuration', 'containertype'], spec.runtime).after;
      reasons.push(`${root}.configuration.containertype set to "${spec.runtime}"${device.thunder.containersDefault ? ` (${device.thunder.file} sets processcontainers.default "${device.thunder.containersDefault.value}")` : ''}`);
    }
    if (after !== before) {
      fileOps.set(file, editOp(file, `${spec.callsign}: ${reasons.join('; ')}`, before, after, editMtime));
      overridesFor.set(file, { content: Buffer.from(after), mtime: editMtime });
    } else {
      ops.push({ kind: 'keep', path: file, reason: `${spec.callsign}: already in Container mode` });
    }
  }
  // An unprivileged container's root must be able to write to Thunder's messaging directory
  if (req.containers.some((c) => c.idmap.length > 0)) {
    if (req.thunderConfig === false) {
      diagnostics.push(diag('THUNDER_CONFIG_LEFT', 'note', `--no-thunder-config: ${device.thunder.file ?? 'Thunder\'s config'} was left alone; the doctor says whether an unprivileged container can write to ${device.thunder.messaging.dir}`));
    } else {
      const m = planMessaging(device);
      diagnostics.push(...m.diagnostics);
      for (const ok of m.ok) ops.push({ kind: 'keep', path: device.thunder.host ?? device.thunder.messaging.dir, reason: ok });
      if (m.config) {
        fileOps.set(m.config.file, editOp(m.config.file, m.config.reasons.join('; '), m.config.before, m.config.after, editMtime));
        overridesFor.set(m.config.file, { content: Buffer.from(m.config.after), mtime: editMtime });
      }
      if (m.dir) {
        const st = fs.statSync(m.dir.host);
        dirOpsEarly.push({ kind: 'dir', path: m.dir.host, reason: m.dir.reason, mode: (st.mode & 0o7000) | 0o777, uid: st.uid, gid: st.gid });
      }
    }
  }
  const commonConf = resolveInTarget(req.target, COMMON_CONF);
  const commonText = readFileOrNull(commonConf)?.toString('utf8') ?? null;
  // the stamps of the image's containers: which lines an earlier off-common-conf commented out
  const runDirs = new Set(req.containers.map((spec) => containerDirIn(req.target, placed.get(spec.callsign)!.deviceDir)));
  const recorded = containerStamps(req, device).filter((x) => x.stamp.seccompEdits?.length);
  let seccompEdits: SeccompEdit[] = [];
  if (req.containers.some((s) => s.seccomp === 'off-common-conf')) {
    if (commonText === null) {
      fail('COMMON_CONF_MISSING', `--seccomp off-common-conf: ${commonConf} does not exist`, 'build the image with LXC (BR2_PACKAGE_LXC=y) first, or use --seccomp off to turn seccomp off for this container alone', { file: commonConf });
    }
    diagnostics.push(diag('SECCOMP_GLOBAL', 'warning', `seccomp is turned off in ${COMMON_CONF}: this affects every container on the device`, 'prefer --seccomp off, which turns it off for this container only', commonConf));
    // common.conf and what it includes (LXC's includes common.conf.d/, whose *.conf may set
    // the profile too): the line is commented out wherever it is
    let alreadyOff = false;
    let edited = false;
    for (const { file, text } of includedConfigs(req.target, commonConf, commonText)) {
      const patch = commentOutSeccompProfile(text);
      alreadyOff ||= patch.alreadyOff;
      const device = devicePath(req.target, file);
      // what this run comments out, and what earlier runs did that is still there: kept in the
      // stamp of every off-common-conf container, so that the last one to leave puts it back
      const lines = new Set(patch.after.split('\n').map((l) => l.replace(/\r$/, '')));
      seccompEdits.push(...patch.edits.map((e) => ({ file: device, ...e })));
      for (const e of recorded.flatMap((x) => x.stamp.seccompEdits!)) {
        if (e.file === device && lines.has(e.commented) && !seccompEdits.some((k) => k.file === e.file && k.line === e.line)) seccompEdits.push(e);
      }
      if (!patch.commented.length) continue;
      edited = true;
      fileOps.set(file, editOp(file, `comment out lxc.seccomp.profile (line ${patch.commented.join(', ')})`, text, patch.after, editMtime));
      overridesFor.set(file, { content: Buffer.from(patch.after), mtime: editMtime });
    }
    if (!edited) ops.push({ kind: 'keep', path: commonConf, reason: alreadyOff ? 'lxc.seccomp.profile already commented out' : 'no lxc.seccomp.profile line to comment out' });
  } else if (commonText === null) {
    diagnostics.push(diag('COMMON_CONF_MISSING', 'warning', `the image has no ${COMMON_CONF}, which the container config includes`, 'enable LXC in the image (BR2_PACKAGE_LXC=y); the container cannot start without it', commonConf));
  } else {
    restoreCommonConf(req, recorded, runDirs, commonConf, commonText, fileOps, overridesFor, editMtime, diagnostics);
  }

  for (const spec of req.containers) {
    if (spec.dedupeWithHost && spec.idmap.length === 0) {
      fail('DEDUPE_PRIVILEGED', `${spec.callsign}: --dedupe-with-host with --idmap none: the container's root is the device's root and could change every shared file of the image`, 'use an idmap (the default), or leave --dedupe-with-host out');
    }
    if (spec.dedupeWithHost && !req.isRoot) {
      fail('DEDUPE_NEEDS_ROOT', `${spec.callsign}: --dedupe-with-host as a normal user (Buildroot's post-build): Buildroot applies its permission tables afterwards, and they would change the shared files inside the container too`, 'run prepare with --dedupe-with-host from a post-fakeroot script (BR2_ROOTFS_POST_FAKEROOT_SCRIPT), or as root, or leave --dedupe-with-host out');
    }
  }
  const dirOps = new Map<string, DirOp>(dirOpsEarly.map((d) => [d.path, d]));
  for (const spec of req.containers) {
    if (spec.idmap.length === 0) {
      diagnostics.push(diag('PRIVILEGED', 'warning', `${spec.callsign} runs privileged (--idmap none): root in the container is root on the device`, 'leave the idmap at its default unless the plugin needs host root'));
    }
    for (const m of spec.mounts) {
      const mode = m.mode ?? 0o755;
      if (mode & 0o7000) diagnostics.push(diag('MOUNT_MODE_SPECIAL', 'warning', `${spec.callsign}: mode ${mode.toString(8)} for ${m.host} sets ${[mode & 0o4000 && 'setuid', mode & 0o2000 && 'setgid', mode & 0o1000 && 'sticky'].filter(Boolean).join(', ')} (the wiki's chmod 7770 does this by accident)`, 'use 0770 unless those bits are meant'));
      if (mode & 0o002) diagnostics.push(diag('MOUNT_WORLD_WRITABLE', 'warning', `${spec.callsign}: ${m.host} would be writable by everyone (mode ${mode.toString(8)})`, 'give the owner with owner: UID and use 0770'));
      const host = resolveInTarget(req.target, m.host);
      const own = hostDirOwner(spec, m);
      const st = fs.lstatSync(host, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) fail('MOUNT_HOST_NOT_DIR', `${spec.callsign}: the shared directory ${m.host} is a ${st.isSymbolicLink() ? 'symlink' : 'file'} in the image (${host})`, 'remove it, or mount another directory');
      const explicit = m.mode !== undefined || m.owner !== undefined;
      const same = st && (st.mode & 0o7777) === mode && (!req.isRoot || (st.uid === own.uid && st.gid === own.gid));
      if (!st || (explicit && !same)) {
        dirOps.set(host, { kind: 'dir', path: host, reason: `${spec.callsign}: shared directory ${m.host}, mode ${mode.toString(8)}, host owner ${own.uid}:${own.gid}${req.isRoot ? '' : ` (owner in ${TABLE_NAME})`}`, mode, ...own });
      } else {
        ops.push({ kind: 'keep', path: host, reason: `${spec.callsign}: shared directory ${m.host} is there` });
      }
    }
  }
  for (const f of subidEdits(req.target, req.containers.map((c) => c.idmap), editMtime)) {
    if (f.kind === 'file') fileOps.set(f.path, f);
    else ops.push(f);
  }

  for (const spec of req.containers) {
    const { deviceDir } = placed.get(spec.callsign)!;
    const dir = containerDirIn(req.target, deviceDir);
    const overrides = new Map<string, { content: Buffer; mtime: number }>();
    if (spec.rootfs.kind === 'dir') {
      for (const [file, o] of overridesFor) {
        const rel = path.relative(spec.rootfs.path, file);
        if (!rel.startsWith('..') && !path.isAbsolute(rel)) overrides.set(rel.split(path.sep).join('/'), o);
      }
    }
    const containerDirs = [...placed.values()].map((p) => containerDirIn(req.target, p.deviceDir));
    const walk: DirWalkOptions = { exclude: spec.rootfs.kind === 'dir' ? dirExclusions(req, device.thunder.datapath, containerDirs, spec.rootfs.path) : () => false, overrides };
    const locator = plugins.get(spec.callsign)?.locator ?? null;
    const fingerprint = createHash('sha256')
      .update(JSON.stringify({ v: req.toolVersion, spec, deviceDir, root: req.isRoot, epoch: req.epoch ?? null, source: sourceIdentity(spec, walk), locator, ...(spec.runtime !== 'lxc' ? { oci: ociImageInputs(req.target) } : {}) }))
      .digest('hex');
    const report: ContainerReport = { callsign: spec.callsign, dir, deviceDir, source: spec.rootfs.path, status: fs.existsSync(dir) ? 'replace' : 'create' };
    const jp = jsonPaths.get(spec.callsign);
    if (jp) report.pluginJson = { path: jp, changed: fileOps.has(jp), previous: fileOps.has(jp) ? undefined : 'Container' };
    reports.push(report);
    // an unprivileged OCI bundle's user namespace is made at boot (oci/userns.ts); the script an
    // earlier prepare wrote for a bundle this one no longer has (now privileged, or LXC only)
    // makes a namespace nobody joins: said, not removed (it is the image's file now)
    const boot = ociBootFiles(spec, req.toolVersion);
    const oldScript = resolveInTarget(req.target, ociUsernsScript(spec.callsign));
    if (boot.length === 0 && readFileOrNull(oldScript)?.toString('utf8').includes('# Generated by thunderbox')) {
      diagnostics.push(diag('OCI_USERNS_SCRIPT_STALE', 'warning', `${spec.callsign}: ${ociUsernsScript(spec.callsign)}, which an earlier prepare wrote for an unprivileged OCI bundle, is still in the image; this container no longer joins a user namespace made at boot, so it makes one at every boot that nothing uses`, `remove it (rm ${oldScript})`, oldScript));
    }
    for (const f of boot) {
      const op = generatedFileOp(resolveInTarget(req.target, f.device), f.content, f.mode, { keep: `${spec.callsign}: its user namespace's boot script is up to date`, write: `${spec.callsign}: the user namespace its OCI bundle joins, made at boot (${f.device})` }, req.epoch);
      if (op.kind === 'keep') ops.push(op);
      else fileOps.set(op.path, op);
    }
    const stamp = req.force ? null : readStamp<Stamp>(dir);
    if (stamp && stamp.fingerprint === fingerprint && (!stamp.facts.shared || sharedUnchanged(stamp.facts.shared))) {
      const config = renderContainerConfig(spec, { containerDir: deviceDir, toolVersion: req.toolVersion, arch: stamp.facts.arch, cgroup });
      // a temporary file an older version left when killed while writing the stamp: the tree
      // is not what a clean run makes, so it is made again (which drops the stray file)
      if (readFileOrNull(path.join(dir, 'config'))?.toString('utf8') === config && fs.existsSync(path.join(dir, 'rootfs')) && strayTemps(dir).length === 0 && (spec.runtime === 'lxc' || fs.existsSync(path.join(dir, OCI_CONFIG_NAME)))) {
        report.status = 'unchanged';
        report.facts = stamp.facts;
        report.config = config;
        report.doctor = stamp.doctor;
        ops.push({ kind: 'keep', path: dir, reason: `${spec.callsign}: made from the same inputs already` });
        continue;
      }
    }
    // replacing a container made as root (its rootfs owned by the mapped root): a normal user
    // could move it aside but never remove it, and the old tree would stay in the image
    const old = report.status === 'replace' && !req.isRoot ? fs.lstatSync(path.join(dir, 'rootfs'), { throwIfNoEntry: false }) : undefined;
    if (old && old.uid !== process.getuid?.()) {
      fail('CONTAINER_NOT_OURS', `${spec.callsign}: the container in ${dir} was made as root (its rootfs belongs to uid ${old.uid}): this user cannot remove it to put the new one in its place`, `remove it as root (rm -rf ${dir}), or run prepare as root`, { file: dir });
    }
    const b: BuildInput = { req, spec, walk, deviceDir, dir, fingerprint, plugin: plugins.get(spec.callsign), rewritten: new Set(fileOps.keys()), seccompEdits: spec.seccomp === 'off-common-conf' ? seccompEdits : [], cgroup };
    if (opts.scan) {
      const r = await buildContainer(b, dir, undefined, true);
      report.facts = r.facts;
      report.config = r.config;
    }
    ops.push({
      kind: 'tree',
      path: dir,
      reason: `${spec.callsign}: container from ${spec.rootfs.kind === 'archive' ? 'archive' : 'directory'} ${spec.rootfs.path}`,
      detail: [`rootfs/ from ${spec.rootfs.path}`, 'config', ...(spec.runtime === 'lxc' ? [] : [OCI_CONFIG_NAME]), ...(req.isRoot ? [] : [TABLE_NAME]), STAMP_NAME],
      build: async (stage, ctx) => {
        const r = await buildContainer(b, stage, ctx.signal, false);
        report.facts = r.facts;
        report.config = r.config;
      },
    });
  }
  ops.push(...dirOps.values(), ...fileOps.values());
  return { plan: { root: req.target, ops, diagnostics, dirMtime: req.epoch }, reports };
}

export function assertTargetUsable(target: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch {
    fail('TARGET_MISSING', `the image root ${target} does not exist`, 'pass --target with an existing directory (Buildroot: output/target)');
  }
  if (!st.isDirectory()) fail('TARGET_NOT_DIR', `the image root ${target} is not a directory`, 'pass --target with a directory');
}
