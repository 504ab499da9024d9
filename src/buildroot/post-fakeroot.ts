import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ThunderboxError, errnoCode, fail } from '../core/errors.js';
import { resolveInTarget } from '../core/target-path.js';
import { STAMP_NAME, TABLE_NAME } from '../thunder/layout.js';
import { deviceModel } from '../thunder/device.js';
import { parseTable, type TableLine } from './permission-table.js';
import { readTextFile } from '../core/read-text.js';

// `thunderbox buildroot post-fakeroot TARGET_DIR`: apply the permission tables that
// `prepare` wrote as a normal user, inside Buildroot's fakeroot, with makedevs' semantics:
//   d  make the directory if missing, then chown, then chmod
//   f  the file must exist; chown, then chmod (chown clears setuid/setgid: chmod comes last)
//   c b p  make the node if missing, then chown, then chmod
//   and, beyond makedevs, a symlink's owner (lchown) from `# thunderbox:symlink` lines
// The result is the image makedevs gives for BR2_ROOTFS_DEVICE_TABLE with the same table.

/**
 * The Container directories prepare makes: <lxcpath>/Container for the lxcpaths under Thunder's
 * data path (<datapath>/<classname>) and persistent path (<persistentpath>/<callsign>).
 */
function containerDirs(target: string, datapath: string | undefined): string[] {
  const tc = deviceModel(target, { datapath }).thunder;
  const out: string[] = [];
  for (const base of [...new Set([tc.datapath, tc.persistentpath])]) {
    const data = resolveInTarget(target, base);
    let names: string[];
    try {
      names = fs.readdirSync(data).sort();
    } catch {
      continue;
    }
    out.push(...names.map((n) => path.join(data, n, 'Container')));
  }
  return out;
}

/** The tables prepare wrote: <lxcpath>/Container/device_table.txt. */
function findTables(target: string, datapath: string | undefined): string[] {
  return containerDirs(target, datapath).map((d) => path.join(d, TABLE_NAME)).filter((f) => fs.existsSync(f));
}

function applyTableLine(target: string, l: TableLine): void {
  const where = { file: l.file, line: l.line };
  const p = path.join(resolveInTarget(target, path.posix.dirname(l.name)), path.posix.basename(l.name));
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (l.type === 'l') {
    if (!st?.isSymbolicLink()) fail('TABLE_TYPE', `${l.name} is not a symbolic link`, 'run thunderbox prepare again: the table and the tree disagree', where);
    fs.lchownSync(p, l.uid, l.gid);
    return;
  }
  if (st?.isSymbolicLink()) fail('TABLE_SYMLINK', `${l.name} is a symbolic link in the image; a permission table line would change what it points to`, 'remove the line or the link', where);
  try {
    switch (l.type) {
      case 'd':
        if (!st) fs.mkdirSync(p, { recursive: true });
        else if (!st.isDirectory()) fail('TABLE_TYPE', `${l.name} is not a directory`, 'fix the image or the table', where);
        break;
      case 'f':
        if (!st) fail('TABLE_MISSING', `${l.name} does not exist in the image`, 'run thunderbox prepare again: the table and the tree disagree', where);
        if (!st.isFile()) fail('TABLE_TYPE', `${l.name} is not a regular file`, 'fix the image or the table', where);
        break;
      default:
        if (!st) {
          if (l.type === 'p') execFileSync('mkfifo', [p]);
          else execFileSync('mknod', [p, l.type, String(l.major), String(l.minor)]);
        }
    }
    fs.chownSync(p, l.uid, l.gid);
    fs.chmodSync(p, l.mode);
  } catch (err) {
    if (err instanceof ThunderboxError) throw err;
    fail('TABLE_APPLY', `${l.name}: ${errnoCode(err) ?? String(err)}`, 'run inside fakeroot (as a Buildroot post-fakeroot script) or as root', where);
  }
}

export function postFakeroot(target: string, datapath?: string): { tables: string[]; lines: number } {
  const tables = findTables(target, datapath);
  return { tables, lines: applyTables(target, tables) };
}

/**
 * Whether `target` is the copy Buildroot makes of TARGET_DIR for one filesystem image
 * (fs/common.mk: $(BUILD_DIR)/buildroot-fs/<fs>/target, where post-fakeroot scripts run), and
 * not TARGET_DIR itself.
 */
export function isFilesystemCopy(target: string, buildDir: string | undefined): boolean {
  if (!buildDir) return false;
  const rel = path.relative(path.join(path.resolve(buildDir), 'buildroot-fs'), path.resolve(target));
  return !rel.startsWith('..') && !path.isAbsolute(rel) && rel.split(path.sep).length === 2 && path.basename(rel) === 'target';
}

/**
 * The files prepare keeps beside each container for the build alone (the stamp that makes a
 * second run a no-op, the permission table post-fakeroot applies): removed from a filesystem
 * image's copy, after the tables are applied, so that they do not ship. TARGET_DIR keeps them
 * for the next `make` and for the doctor. Returns the files removed.
 */
export function dropBuildFiles(target: string, datapath: string | undefined): string[] {
  const removed: string[] = [];
  for (const dir of containerDirs(target, datapath)) {
    for (const f of [TABLE_NAME, STAMP_NAME]) {
      const p = path.join(dir, f);
      if (fs.lstatSync(p, { throwIfNoEntry: false })?.isFile()) {
        fs.rmSync(p);
        removed.push(p);
      }
    }
  }
  return removed;
}

/** Apply permission tables given by name (makedevs' job for BR2_ROOTFS_DEVICE_TABLE). */
export function applyTables(target: string, files: string[]): number {
  if (process.getuid?.() !== 0) {
    fail('NOT_FAKEROOT', 'applying permission tables changes owners, so it runs as (fake)root', 'call it from a Buildroot post-fakeroot script (BR2_ROOTFS_POST_FAKEROOT_SCRIPT), or under fakeroot');
  }
  const st = fs.statSync(target, { throwIfNoEntry: false });
  if (!st) fail('TARGET_MISSING', `the image root ${target} does not exist`, 'give TARGET_DIR (Buildroot: output/target) first', { file: target });
  if (!st.isDirectory()) fail('TARGET_NOT_DIR', `the image root ${target} is not a directory`, 'give TARGET_DIR (Buildroot: output/target) first', { file: target });
  let n = 0;
  for (const t of files) {
    // a table lists every entry of a rootfs: hundreds of kB are usual, 64 MB is not a table
    const r = readTextFile(t, 64 * 1024 * 1024);
    if (!r.ok) fail('TABLE_UNREADABLE', `cannot read the permission table ${t}: ${r.reason}`, 'give a permission table file (makedevs format), e.g. board/raspberrypi3/device_table.txt', { file: t });
    const { lines, diagnostics } = parseTable(r.text, t);
    if (diagnostics.length) throw new ThunderboxError(diagnostics);
    for (const l of lines) applyTableLine(target, l);
    n += lines.length;
  }
  return n;
}
