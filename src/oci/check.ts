import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { findNodeAtLocation, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { lineCol, type Diagnostic } from '../core/diagnostic.js';
import { findUp } from '../core/find-up.js';
import { fail } from '../core/errors.js';
import { readTextFile } from '../core/read-text.js';
import { resolveInTargetOrNull } from '../core/target-path.js';
import { bootMakesNetns, bootScriptTexts, configMapLines, imageUsernsScripts, USERNS_DIR } from './userns.js';

// `thunderbox oci check` and the doctor's bundle rules: an OCI bundle's config.json against the
// runtime-spec v1.1.0 JSON Schema (schemas/oci-runtime-spec/v1.1.0, the OCI's own files), and
// what runc needs at create as Thunder's runc backend drives it (measured with real Thunder and
// runc 1.1.5, issue 15): process.args not empty ("args must not be empty"), a /proc mount
// ("open /proc/self/fd: no such file or directory"), a linux section ("nsexec-1: ns paths are
// empty"), terminal false ("cannot allocate tty if runc will detach without setting console
// socket"), and, inside the image, /usr/bin/runc (Thunder runs it by that path), the rootfs and
// the sources of bind mounts. Every finding carries file:line:col of the JSON text.
//
// The schemas say draft-04; the keywords they use (type, properties, required, enum, pattern,
// minimum/maximum, items, oneOf/anyOf, $ref to sibling files, no `id`, no boolean
// exclusiveMinimum) mean the same in the draft ajv v8 implements, so they are compiled with
// their `$schema` line left out rather than with a draft-04 meta-schema package.

export const SCHEMA_DIR = 'schemas/oci-runtime-spec/v1.1.0';

let validator: ValidateFunction | undefined;

function compile(): ValidateFunction {
  if (validator) return validator;
  const root = findUp(import.meta.url, (d) => fs.existsSync(path.join(d, SCHEMA_DIR, 'config-schema.json'))) ?? fail('OCI_SCHEMA_MISSING', `thunderbox's copy of the OCI runtime-spec schema (${SCHEMA_DIR}) is missing`, 'reinstall thunderbox');
  const dir = path.join(root, SCHEMA_DIR);
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const s = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>;
    delete s.$schema;
    ajv.addSchema(s, f);
  }
  validator = ajv.getSchema('config-schema.json')!;
  return validator;
}

export interface OciCheckOptions {
  /** the image root: /usr/bin/runc, the rootfs and mount sources are looked for in it */
  sysroot?: string;
  /** the bundle's directory on the device (default: the file's directory, as a device path below sysroot) */
  runtime?: 'runc' | 'crun';
}

type At = Pick<Diagnostic, 'file' | 'line' | 'col'>;

function pointerPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function schemaMessage(e: ErrorObject): string {
  const where = e.instancePath === '' ? 'the document' : e.instancePath.slice(1).replace(/\//g, '.');
  switch (e.keyword) {
    case 'required':
      return `${where} lacks "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `${where} is not one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type':
      return `${where} must be ${(e.params as { type: string }).type}`;
    default:
      return `${where} ${e.message ?? 'is not valid'}`;
  }
}

/** Check the text of a config.json; file is what diagnostics name. */
export function checkOciConfigText(text: string, file: string, opts: OciCheckOptions = {}): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (node: Node | undefined): At => {
    const { line, col } = lineCol(text, node?.offset ?? 0);
    return { file, line, col };
  };
  const push = (code: string, severity: Diagnostic['severity'], message: string, hint: string, node?: Node) => out.push({ code, severity, message, hint, ...at(node) });
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  if (errors.length || !tree) {
    const e = errors[0];
    const { line, col } = lineCol(text, e?.offset ?? 0);
    out.push({ code: 'OCI_JSON_SYNTAX', severity: 'error', message: `not JSON: ${e ? printParseErrorCode(e.error) : 'empty'}`, hint: 'runc reads config.json with a strict JSON parser: fix the syntax', file, line, col });
    return out;
  }
  const doc = JSON.parse(text) as unknown;
  const node = (...p: (string | number)[]) => findNodeAtLocation(tree, p);
  const v = compile();
  if (!v(doc)) {
    // the deepest error at each place: oneOf/anyOf report their branches too
    const seen = new Set<string>();
    for (const e of v.errors ?? []) {
      if (e.keyword === 'oneOf' || e.keyword === 'anyOf' || e.keyword === 'if') continue;
      const key = `${e.instancePath}|${e.keyword}|${e.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const target = e.keyword === 'additionalProperties' ? [...pointerPath(e.instancePath), (e.params as { additionalProperty: string }).additionalProperty] : pointerPath(e.instancePath);
      push('OCI_SCHEMA', 'error', schemaMessage(e), 'see the OCI runtime spec v1.1.0 (config.md, config-linux.md) for the field', node(...target) ?? node(...pointerPath(e.instancePath)));
    }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return out;
  const cfg = doc as { process?: { args?: unknown; terminal?: unknown }; root?: { path?: unknown }; mounts?: unknown; linux?: unknown };
  // what runc create needs as Thunder runs it
  if (cfg.process && (!Array.isArray(cfg.process.args) || cfg.process.args.length === 0)) {
    push('OCI_ARGS_EMPTY', 'error', 'process.args is empty: runc create fails with "args must not be empty"', 'give the init runc leaves waiting, e.g. ["/usr/bin/ThunderPlugin"] (Thunder then runs runc exec)', node('process', 'args') ?? node('process'));
  }
  if (!cfg.process) push('OCI_NO_PROCESS', 'error', 'no process section: runc create has nothing to start', 'add "process" with "args", "cwd" and "terminal": false', tree);
  if (cfg.process?.terminal === true) {
    push('OCI_TERMINAL', 'error', 'process.terminal is true: Thunder runs runc create detached without a console socket ("cannot allocate tty if runc will detach without setting console socket")', 'set "terminal": false', node('process', 'terminal'));
  }
  if (cfg.linux === undefined) push('OCI_NO_LINUX', 'error', 'no linux section: runc fails with "nsexec-1: ns paths are empty"', 'add "linux" with its namespaces (mount, pid, ipc, uts, network)', tree);
  const mounts = Array.isArray(cfg.mounts) ? (cfg.mounts as { destination?: unknown; type?: unknown; source?: unknown; options?: unknown }[]) : [];
  if (!mounts.some((m) => m?.destination === '/proc' && m.type === 'proc')) {
    push('OCI_NO_PROC', 'error', 'no proc mount at /proc: runc fails with "open /proc/self/fd: no such file or directory"', 'add {"destination": "/proc", "type": "proc", "source": "proc"}', node('mounts') ?? tree);
  }
  if (!mounts.some((m) => m?.destination === '/tmp' && Array.isArray(m.options) && (m.options as unknown[]).some((o) => o === 'rbind' || o === 'bind'))) {
    push('OCI_NO_TMP', 'warning', 'no bind of /tmp: ThunderPlugin does not reach Thunder\'s communicator socket (/tmp/communicator) nor its message directory, and Thunder times out waiting for the plugin', 'add {"destination": "/tmp", "type": "bind", "source": "/tmp", "options": ["rbind", "rw"]}', node('mounts') ?? tree);
  }
  if (!mounts.some((m) => m?.destination === '/dev' && m.type === 'tmpfs')) {
    push('OCI_NO_DEV_TMPFS', 'warning', 'no tmpfs on /dev: runc creates its device nodes as files in the rootfs\'s own /dev', 'add {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755"]}', node('mounts') ?? tree);
  }
  if (opts.sysroot) {
    const sysroot = path.resolve(opts.sysroot);
    const runtime = opts.runtime ?? 'runc';
    const bin = resolveInTargetOrNull(sysroot, `/usr/bin/${runtime}`);
    if (bin === null || !fs.statSync(bin, { throwIfNoEntry: false })?.isFile()) {
      push(runtime === 'runc' ? 'OCI_NO_RUNC' : 'OCI_NO_CRUN', 'error', `the image has no /usr/bin/${runtime}: Thunder's ${runtime} backend runs it by that path inside its own root`, runtime === 'runc' ? 'build the image with BR2_PACKAGE_RUNC=y (BR2_PACKAGE_THUNDER_PROCESSCONTAINERS_BE_RUNC selects it)' : `install ${runtime} in the image`, tree);
    }
    checkBootNamespaces(sysroot, cfg.linux, push, node);
    const bundleHost = path.dirname(path.resolve(file));
    const inImage = (p: string) => {
      const rel = path.relative(sysroot, p);
      return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
    };
    if (!inImage(bundleHost)) {
      push('OCI_BUNDLE_OUTSIDE', 'error', `${file} is not inside the image ${sysroot}`, 'give the config.json of a bundle in the image (e.g. <target>/usr/share/Thunder/<Class>/Container/config.json)', tree);
    } else {
      const bundleDevice = `/${path.relative(sysroot, bundleHost).split(path.sep).join('/')}`;
      const rootPath = typeof cfg.root?.path === 'string' ? cfg.root.path : null;
      if (rootPath !== null) {
        const dev = path.posix.resolve(bundleDevice, rootPath);
        const host = resolveInTargetOrNull(sysroot, dev);
        if (host === null || !fs.statSync(host, { throwIfNoEntry: false })?.isDirectory()) {
          push('OCI_ROOTFS_MISSING', 'error', `root.path ${rootPath} (${dev} on the device) is not a directory in the image`, 'prepare the container (thunderbox prepare --runtime runc), or fix root.path', node('root', 'path'));
        } else {
          const args = Array.isArray(cfg.process?.args) ? (cfg.process.args as unknown[]) : [];
          const a0 = typeof args[0] === 'string' ? args[0] : null;
          if (a0 !== null && a0.startsWith('/')) {
            const p = resolveInTargetOrNull(host, a0);
            if (p === null || !fs.statSync(p, { throwIfNoEntry: false })?.isFile()) {
              push('OCI_ARGS_MISSING', 'error', `process.args[0] ${a0} is not in the rootfs: runc create looks it up and fails ("exec: ... no such file or directory")`, 'name a program of the rootfs, e.g. /usr/bin/ThunderPlugin or /bin/sh', node('process', 'args', 0));
            }
          } else if (a0 !== null) {
            push('OCI_ARGS_BARE', 'warning', `process.args[0] ${a0} is a bare name: runc create looks it up in the PATH of process.env, which Thunder fills only at exec`, 'give it by absolute path, e.g. /usr/bin/ThunderPlugin', node('process', 'args', 0));
          }
        }
      }
      mounts.forEach((m, i) => {
        const opts2 = Array.isArray(m?.options) ? (m.options as unknown[]) : [];
        const isBind = m?.type === 'bind' || opts2.includes('bind') || opts2.includes('rbind');
        if (!isBind || typeof m.source !== 'string' || !m.source.startsWith('/')) return;
        // what the device's kernel and init provide at boot, not the image
        if (/^\/(proc|sys|dev|run|tmp)(\/|$)/.test(m.source)) return;
        const host = resolveInTargetOrNull(sysroot, m.source);
        if (host === null || !fs.existsSync(host)) {
          push('OCI_MOUNT_SOURCE_MISSING', 'error', `mount ${i} binds ${m.source}, which the image does not have: runc create fails`, `create ${m.source} in the image (prepare makes shared folders), or remove the mount`, node('mounts', i, 'source'));
        }
      });
    }
  }
  return out;
}

export function checkOciConfig(file: string, opts: OciCheckOptions = {}): Diagnostic[] {
  const r = readTextFile(file);
  if (!r.ok) return [{ code: 'OCI_CONFIG_UNREADABLE', severity: 'error', message: `cannot read ${file}: ${r.reason}`, hint: 'give the config.json of an OCI bundle', file }];
  return checkOciConfigText(r.text, file, opts);
}

const PATH_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * The namespaces config.json joins by path are made at boot: a user namespace (and a network
 * namespace in it) by the container's S39thunderbox-userns script, a privileged container's
 * network namespace by S40thunderbox-net (ip netns add). runc create fails on a path nothing
 * made ("namespace path: lstat ...: no such file or directory"); runc exec of a container
 * with a user namespace cannot enter a network namespace of the device's ("error executing
 * setns process"); runc joins a user namespace as it is, writing no map of its own.
 */
function checkBootNamespaces(sysroot: string, linux: unknown, push: (code: string, severity: Diagnostic['severity'], message: string, hint: string, node?: Node) => void, node: (...p: (string | number)[]) => Node | undefined): void {
  const list = Array.isArray((linux as { namespaces?: unknown } | undefined)?.namespaces) ? ((linux as { namespaces: unknown[] }).namespaces as { type?: unknown; path?: unknown }[]) : [];
  const joined = list.map((n, i) => ({ type: String(n?.type), path: typeof n?.path === 'string' && n.path !== '' ? n.path : null, i }));
  if (!joined.some((n) => n.path !== null)) return;
  const scripts = imageUsernsScripts(sysroot);
  const hasUserns = joined.some((n) => n.type === 'user');
  let others: { host: string; text: string }[] | undefined;
  const bootTexts = (except: ReadonlySet<string> = new Set()) => (others ??= bootScriptTexts(sysroot)).filter((o) => !except.has(o.host)).map((o) => o.text);
  const unshare = PATH_DIRS.some((d) => {
    const h = resolveInTargetOrNull(sysroot, `${d}/unshare`);
    return h !== null && fs.existsSync(h);
  });
  let unshareSaid = false;
  for (const n of joined) {
    if (n.path === null) continue;
    const at = node('linux', 'namespaces', n.i, 'path');
    const by = scripts.find((x) => x.userns === n.path || x.netns === n.path);
    const lstat = `runc create fails ("namespace path: lstat ${n.path}: no such file or directory")`;
    if (by) {
      if ((by.mode & 0o111) === 0) push('OCI_BOOT_SCRIPT_MODE', 'error', `${by.device}, which makes ${n.path} at boot, is not executable: BusyBox's rcS runs /etc/init.d/S??* as programs, so the namespace is not made and ${lstat}`, `chmod 0755 ${by.device} (prepare writes it so)`, at);
      if (!unshare && !unshareSaid) {
        unshareSaid = true;
        // a warning: a BusyBox shell built with FEATURE_SH_STANDALONE runs its applets without
        // links (Debian's busybox-static does; Buildroot's configuration does not)
        push('OCI_NO_UNSHARE', 'warning', `${by.device} makes ${n.path} with unshare, which the image does not have in ${PATH_DIRS.join(', ')}: unless its shell runs BusyBox's unshare applet without a link, the namespace is not made at boot and ${lstat}`, "build the image with util-linux's unshare (BR2_PACKAGE_UTIL_LINUX=y, BR2_PACKAGE_UTIL_LINUX_UNSHARE=y), or BusyBox's (CONFIG_UNSHARE)", at);
      }
      // the network namespace S39 makes holds loopback only: its veths come from S40thunderbox-net
      if (n.type === 'network') {
        const name = path.posix.basename(n.path);
        const scripts39 = new Set(scripts.map((x) => x.host));
        const vethed = bootTexts(scripts39).some((t) => t.includes(`netns ${name}\n`) || t.includes(`netns ${name} `));
        if (!vethed) push('OCI_NETNS_NO_VETH', 'warning', `${by.device} makes the network namespace ${n.path} (loopback only), and nothing else in the image's /etc/init.d gives it a veth at boot: the container starts without its network`, 'describe the container\'s net in a manifest and let thunderbox write S40thunderbox-net (prepare --manifest, or net render)', at);
      }
      if (n.type === 'user' && by.maps) {
        for (const [kind, key] of [['u', 'uidMappings'], ['g', 'gidMappings']] as const) {
          const want = configMapLines(linux, key);
          const have = by.maps[kind];
          // a warning: the container starts (measured), with the script's ids
          if (want.join(',') !== have.join(',')) push('OCI_USERNS_MAP_DIFFERS', 'warning', `${by.device} gives the user namespace ${n.path} the ${kind === 'u' ? 'uid' : 'gid'} map "${have.join(', ')}", but config.json's ${key} are "${want.join(', ')}": runc joins the namespace as it is and writes no map, so the container starts with ids that are not the ones its rootfs and shared folders were made for`, 'prepare the container again (it writes the script and config.json from one idmap)', node('linux', key) ?? at);
        }
      }
      continue;
    }
    const name = path.posix.basename(n.path);
    if (n.type === 'network' && /^\/(var\/)?run\/netns\/[^/]+$/.test(n.path)) {
      const made = bootMakesNetns(bootTexts().map((text) => ({ text })), name);
      if (!made) push('OCI_NAMESPACE_NOT_MADE', 'error', `config.json joins the network namespace ${n.path}, which nothing in the image's /etc/init.d makes at boot: ${lstat}`, 'describe the container\'s net in a manifest and let thunderbox write S40thunderbox-net (prepare --manifest, or net render)', at);
      else if (hasUserns) push('OCI_NETNS_NOT_OWNED', 'error', `config.json joins the network namespace ${n.path}, made at boot outside the container's user namespace: runc enters the user namespace first and then cannot enter it (runc 1.1.5: create fails with "can't get final child's PID from pipe: EOF" when the user namespace is joined by path; with a new one, exec, which starts ThunderPlugin, fails with "error executing setns process")`, `prepare the container again: its S39thunderbox-userns script makes the network namespace inside its user namespace`, at);
      continue;
    }
    if (n.type === 'user' && n.path.startsWith(`${USERNS_DIR}/`)) {
      push('OCI_NAMESPACE_NOT_MADE', 'error', `config.json joins the user namespace ${n.path}, which no /etc/init.d/S39thunderbox-userns-* script of the image makes at boot: ${lstat}`, 'prepare the container again (it writes the script)', at);
    }
  }
}
