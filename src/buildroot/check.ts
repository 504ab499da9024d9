import fs from 'node:fs';
import path from 'node:path';
import type { Diagnostic } from '../core/diagnostic.js';
import { lint } from '../kconfig/lint.js';
import { DEFAULT_USES } from '../kconfig/rules.js';
import { TARGETS } from '../kconfig/targets.js';
import { parseBr2Config } from './br2-config.js';
import { cgroupMountCheck } from './cgroup-mount.js';

// `thunderbox buildroot check [DIR]`: lint a br2-external tree (by default this repo).
// One rule a function, each with the facts it rests on (Buildroot's manual
// customize-outside-br, support/scripts/mkusers, makedevs, the overlay rsync):
//   - external.desc: "name:" of [A-Za-z0-9_]+; Config.in and external.mk exist;
//   - configs/*_defconfig: BR2_DOWNLOAD_FORCE_CHECK_HASHES=y; $(BR2_EXTERNAL_<NAME>_PATH)/...
//     files exist;
//   - scripts: executable, with a shebang;
//   - permission tables: 10 fields, type in fFdrcbp, octal mode; users tables: 9+ fields;
//   - overlays: a mode that `rsync --chmod=u=rwX,go=rX` changes needs a permission table line;
//   - kernel fragments: kconfig lint against the defconfig's Pi target.

interface Ctx {
  dir: string;
  name?: string;
  out: Diagnostic[];
  /** Device paths that some permission table of the tree sets. */
  tabled: Set<string>;
}

const err = (c: Ctx, code: string, file: string, message: string, hint: string, line?: number): void => void c.out.push({ code, severity: 'error', file: path.relative(c.dir, file) || file, ...(line ? { line, col: 1 } : {}), message, hint });
const warn = (c: Ctx, code: string, file: string, message: string, hint: string, line?: number): void => void c.out.push({ code, severity: 'warning', file: path.relative(c.dir, file) || file, ...(line ? { line, col: 1 } : {}), message, hint });

function externalDesc(c: Ctx): void {
  const f = path.join(c.dir, 'external.desc');
  if (!fs.existsSync(f)) return err(c, 'BR_EXTERNAL_DESC', f, 'external.desc is missing', 'write "name: YOURNAME" into external.desc');
  const lines = fs.readFileSync(f, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith('name:'));
  const name = i >= 0 ? lines[i]!.slice(5).trim() : '';
  if (!/^[A-Za-z0-9_]+$/.test(name)) err(c, 'BR_EXTERNAL_NAME', f, `name "${name}" is not [A-Za-z0-9_]+`, 'Buildroot derives BR2_EXTERNAL_<name>_PATH from it', i + 1 || 1);
  else c.name = name;
  lines.forEach((l, n) => {
    if (l.trim() && !/^(name|desc):/.test(l)) err(c, 'BR_EXTERNAL_DESC', f, `unknown line "${l}"`, 'external.desc has only name: and desc: lines', n + 1);
  });
  for (const need of ['Config.in', 'external.mk']) if (!fs.existsSync(path.join(c.dir, need))) err(c, 'BR_EXTERNAL_FILE', path.join(c.dir, need), `${need} is missing`, 'Buildroot requires it in every external tree (it may be empty)');
}

function refs(c: Ctx, value: string): string[] {
  const re = new RegExp(`\\$\\(BR2_EXTERNAL_${c.name ?? '[A-Za-z0-9_]+'}_PATH\\)(/[^\\s"]*)`, 'g');
  return [...value.matchAll(re)].map((m) => path.join(c.dir, m[1]!));
}

function tableCheck(c: Ctx, file: string): void {
  fs.readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (!l || l.startsWith('#')) return;
    const f = l.split(/\s+/);
    if (f.length !== 10) return err(c, 'BR_TABLE', file, `${f.length} fields; a permission table line has 10`, '<name> <type> <mode> <uid> <gid> <major> <minor> <start> <inc> <count>', i + 1);
    const [name, type, mode] = f as [string, string, string];
    if (!/^[fFdrcbp]$/.test(type)) err(c, 'BR_TABLE', file, `type "${type}" is not one of f F d r c b p`, 'f file, d directory, c/b devices, p fifo, r recursive, F file with a glob', i + 1);
    if (!/^[0-7]{1,4}$/.test(mode) && !(mode === '-1' && /[fFr]/.test(type))) err(c, 'BR_TABLE', file, `mode "${mode}" is not octal`, 'e.g. 755 or 4755', i + 1);
    c.tabled.add(name);
  });
}

function usersTable(c: Ctx, file: string): void {
  fs.readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (!l || l.startsWith('#')) return;
    const f = l.split(/\s+/);
    if (f.length < 9) err(c, 'BR_USERS_TABLE', file, `${f.length} fields; a users table line has 9 or more`, '<user> <uid> <group> <gid> <password> <home> <shell> <groups> <comment>', i + 1);
    else if (f[0] === 'root') err(c, 'BR_USERS_TABLE', file, 'root cannot be defined in a users table', 'pick another user name', i + 1);
  });
}

function scripts(c: Ctx, files: string[]): void {
  for (const f of files) {
    if (!fs.existsSync(f)) continue;
    const head = fs.readFileSync(f, 'utf8').slice(0, 2);
    if (head !== '#!') err(c, 'BR_SCRIPT_SHEBANG', f, 'the script has no #! line', 'start it with #!/bin/sh');
    if ((fs.statSync(f).mode & 0o111) === 0) err(c, 'BR_SCRIPT_MODE', f, 'the script is not executable', `chmod +x ${path.relative(c.dir, f)} (and commit the mode)`);
  }
}

/** rsync --chmod=u=rwX,go=rX: what an overlay file's mode becomes on the target. */
function rsyncMode(mode: number, dir: boolean): number {
  const x = dir || (mode & 0o111) !== 0;
  return (0o600 | (x ? 0o100 : 0)) | (0o044 | (x ? 0o011 : 0));
}

function overlay(c: Ctx, root: string): void {
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = `${rel}/${n}`;
      const st = fs.lstatSync(path.join(root, r));
      if (st.isSymbolicLink()) continue;
      const mode = st.mode & 0o7777;
      const after = rsyncMode(mode, st.isDirectory());
      if (mode !== after && !c.tabled.has(r)) warn(c, 'BR_OVERLAY_MODE', path.join(root, r), `mode ${mode.toString(8)} becomes ${after.toString(8)} in the image (Buildroot copies overlays with rsync --chmod=u=rwX,go=rX)`, `add a permission table line: ${r} ${st.isDirectory() ? 'd' : 'f'} ${mode.toString(8)} 0 0 - - - - -`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
}

async function defconfigs(c: Ctx): Promise<void> {
  const dir = path.join(c.dir, 'configs');
  if (!fs.existsSync(dir)) return warn(c, 'BR_NO_CONFIGS', dir, 'no configs/ directory: Buildroot lists an external tree\'s defconfigs from there', 'add configs/<name>_defconfig');
  for (const n of fs.readdirSync(dir).filter((x) => x.endsWith('_defconfig')).sort()) {
    const f = path.join(dir, n);
    const text = fs.readFileSync(f, 'utf8');
    const v = parseBr2Config(text);
    if (v.get('BR2_DOWNLOAD_FORCE_CHECK_HASHES')?.value !== 'y') err(c, 'BR_DEFCONFIG_HASHES', f, 'BR2_DOWNLOAD_FORCE_CHECK_HASHES=y is missing', 'add it: every download is then checked against a hash');
    for (const [k, { value, line }] of v) {
      for (const p of refs(c, value)) if (!fs.existsSync(p)) err(c, 'BR_DEFCONFIG_REF', f, `${k} names ${path.relative(c.dir, p)}, which does not exist`, 'fix the path', line);
    }
    const table = (k: string) => refs(c, v.get(k)?.value ?? '');
    scripts(c, [...table('BR2_ROOTFS_POST_BUILD_SCRIPT'), ...table('BR2_ROOTFS_POST_FAKEROOT_SCRIPT'), ...table('BR2_ROOTFS_POST_IMAGE_SCRIPT')]);
    for (const t of table('BR2_ROOTFS_DEVICE_TABLE')) if (fs.existsSync(t)) once(c, t, () => tableCheck(c, t));
    for (const t of table('BR2_ROOTFS_USERS_TABLES')) if (fs.existsSync(t)) usersTable(c, t);
    const frags = table('BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES').filter((p) => fs.existsSync(p));
    const target = TARGETS.find((t) => t.defconfig === v.get('BR2_LINUX_KERNEL_DEFCONFIG')?.value)?.name;
    // the cgroup mount package the defconfig names (a package that selects one, as
    // Metrological's Thunder does cgroupfs-mount, is not in a defconfig: post-build sees the .config)
    const br2 = new Map([...v].map(([k, x]) => [k, x.value]));
    for (const d of cgroupMountCheck(br2, f, [])) c.out.push({ ...d, file: path.relative(c.dir, f) });
    if (frags.length && target) {
      const cmdline = table('BR2_PACKAGE_RPI_FIRMWARE_CMDLINE_FILE').find((p) => fs.existsSync(p));
      // a v1 image (cgroupfs-mount) needs the v1 controllers Linux 6.12 splits out (MEMCG_V1)
      const uses = br2.get('BR2_PACKAGE_CGROUPFS_MOUNT') === 'y' ? new Set([...DEFAULT_USES, 'cgroup-v1' as const]) : DEFAULT_USES;
      const r = await lint(frags, { target, uses, cmdline });
      for (const d of r.diagnostics) if (d.severity !== 'note') c.out.push({ ...d, file: d.file ? path.relative(c.dir, d.file) : d.file, message: `${n} (${target}): ${d.message}` });
    }
    for (const o of table('BR2_ROOTFS_OVERLAY')) if (fs.existsSync(o)) once(c, o, () => overlay(c, o));
  }
}

const done = new WeakMap<Ctx, Set<string>>();
/** A table or overlay named by several defconfigs is checked once. */
function once(c: Ctx, key: string, fn: () => void): void {
  const s = done.get(c) ?? new Set<string>();
  done.set(c, s);
  if (s.has(key)) return;
  s.add(key);
  fn();
}

function boardScripts(c: Ctx): void {
  const board = path.join(c.dir, 'board');
  if (!fs.existsSync(board)) return;
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.sh')) found.push(p);
    }
  };
  walk(board);
  scripts(c, found);
}

export async function checkExternal(dir: string): Promise<Diagnostic[]> {
  const c: Ctx = { dir: path.resolve(dir), out: [], tabled: new Set() };
  externalDesc(c);
  boardScripts(c);
  await defconfigs(c);
  // scripts may be listed by several defconfigs: report each problem once
  const seen = new Set<string>();
  return c.out.filter((d) => {
    const k = `${d.code}|${d.file}|${d.line}|${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
