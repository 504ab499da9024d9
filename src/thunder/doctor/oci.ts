import fs from 'node:fs';
import path from 'node:path';
import { checkOciConfig } from '../../oci/check.js';
import { imageUsernsScripts, namespacePaths, ociUsernsScript } from '../../oci/userns.js';
import { lineCol } from '../../core/diagnostic.js';
import { readTextFile } from '../../core/read-text.js';
import { resolveInTargetOrNull } from '../../core/target-path.js';
import { DirView, type TreeView } from '../../rootfs/tree-view.js';
import { TARGET_PROBES } from '../doctor-inputs.js';
import { describeElf } from '../../rootfs/elf.js';
import { kernelRuns, probeElf } from './base.js';
import { OCI_CONFIG_NAME } from '../layout.js';
import type { Findings } from './findings.js';
import type { DeviceView } from './view.js';

// The OCI bundle beside the LXC config (prepare --runtime runc or both): what Thunder's runc
// backend hands to the image's /usr/bin/runc, checked by `thunderbox oci check`'s rules
// (src/oci/check.ts: the runtime-spec schema and what runc create needs, each measured with
// real runc). A container without one has nothing to check here.

export function checkOciBundle(v: DeviceView, f: Findings): void {
  const file = path.join(v.containerDir, OCI_CONFIG_NAME);
  // a boot script an earlier prepare wrote for this callsign's unprivileged bundle, which the
  // container does not join (now privileged, or LXC only): it makes a namespace nobody uses
  const script = imageUsernsScripts(v.target).find((s) => s.device === ociUsernsScript(v.callsign));
  const cfg = fs.existsSync(file) ? readTextFile(file) : null;
  if (script?.userns && !(cfg?.ok && namespacePaths(cfg.text).some((n) => n.path === script.userns))) {
    f.warning('OCI_USERNS_SCRIPT_STALE', `${script.device} makes the user namespace ${script.userns} at boot, which ${cfg ? 'the bundle' : 'the container'} does not join: it is left from an earlier prepare, and makes a namespace nothing uses`, `remove it (rm ${script.host})`, { file: script.host });
  }
  if (!cfg) return;
  for (const d of checkOciConfig(file, { sysroot: v.target })) f.list.push(d);
  // NAME=$VAR: Thunder's runc backend passes --env NAME=<its value> only when it has VAR (not
  // empty); otherwise the entry stays as written, the literal "$VAR" (measured with real Thunder)
  if (cfg.ok) {
    let env: unknown;
    try {
      env = (JSON.parse(cfg.text) as { process?: { env?: unknown } }).process?.env;
    } catch {
      env = undefined; // oci check said so
    }
    for (const e of Array.isArray(env) ? env : []) {
      const m = typeof e === 'string' ? /^([^=]+)=\$(.+)$/.exec(e) : null;
      if (!m || (v.thunderEnv[m[2]!] ?? '') !== '') continue;
      const { line } = lineCol(cfg.text, cfg.text.indexOf(JSON.stringify(e)));
      f.warning('OCI_ENV_NOT_IN_THUNDER', `process.env "${e}" takes ${m[2]} from Thunder, which has ${v.thunderEnv[m[2]!] === undefined ? `no ${m[2]}` : `an empty ${m[2]}`} (Thunder has ${Object.keys(v.thunderEnv).sort().join(', ')}): Thunder's runc backend passes nothing for it, and the container gets ${m[1]} as written, the literal "$${m[2]}"`, `give it a value (--env ${m[1]}=...), or remove it`, { file, line });
    }
  }
  const wrong = imageRuncMismatch(v.target, v.image);
  if (wrong) f.error('OCI_RUNC_ARCH', `${wrong}: on the device Thunder's runc backend cannot run it ("exec format error")`, 'build runc for the device (BR2_PACKAGE_RUNC), not a copy of the build host\'s', { file: resolveInTargetOrNull(v.target, '/usr/bin/runc') ?? undefined });
}

/**
 * The image's runc must run on the device: Thunder execs it there. A build host's copied into
 * an image of another architecture runs on the build host, and fails on the device. Null when
 * it fits (or either is unknown).
 */
export function imageRuncMismatch(target: string, image: TreeView = new DirView(target)): string | null {
  const runc = probeElf(image, ['/usr/bin/runc']);
  const device = probeElf(image, TARGET_PROBES);
  return runc && device && !kernelRuns(device.elf, runc.elf) ? `the image's /usr/bin/runc is ${describeElf(runc.elf)}, but its ${device.path} is ${describeElf(device.elf)}` : null;
}
