import fs from 'node:fs';
import path from 'node:path';
import { imageLxcVersion } from '../lxc/image-version.js';
import { resolveInTargetOrNull } from '../core/target-path.js';
import type { LxcVersion } from '../lxc/keys.js';
import { deviceModel, type ContainerChoice } from './device.js';
import { containerMissingHint, containerMissingMessage } from './layout.js';
import { Findings, type Finding } from './doctor/findings.js';
import { RULES } from './doctor/rules.js';
import { buildView } from './doctor/view.js';

// `thunderbox doctor`: a prepared container checked as the device will see it, without
// starting anything, by a table of start-time rules (doctor/rules.ts): each row says what
// liblxc, the kernel or Thunder does when the container starts, sees it statically in the
// image (paths resolved inside it, the config with everything it includes, the plugin JSON,
// Thunder's config and environment) and names the fix. Its verdict (no errors) is meant to
// equal a real start on the device: test/e2e/doctor-corpus.test.ts starts every case of a
// public corpus and compares. Side-effect free (reads only) and quick: the rootfs is walked
// once (lstat only) for ownership, ELF files are read only for ThunderPlugin's closure and a
// handful of probes.

export type { Finding };

export interface DoctorOptions {
  /** The image root on this host (Buildroot's TARGET_DIR). */
  target: string;
  /** Thunder's data path on the device when given (--datapath); default: the image's Thunder config. */
  datapath?: string;
  callsign: string;
  /** The plugin's class when no plugin JSON says it. */
  classname?: string;
  /** LXC version the config is checked against (default 6). */
  lxcVersion?: LxcVersion;
  /** The plugin JSON on this host (prepare's --plugin-json), null for none (--no-plugin-json); default: searched in the image. */
  pluginJson?: string | null;
  /** How many rootfs entries (in sorted walk order) have their owners checked; setuid/setgid files always are. Default 200. */
  ownerSample?: number;
}

export interface DoctorResult {
  /** The <Callsign>/Container directory on this host. */
  containerDir: string;
  findings: Finding[];
  errors: number;
  warnings: number;
  /** Errors by the rule (doctor/rules.ts) that found them. */
  ruleErrors: Record<string, number>;
}

export async function runDoctor(o: DoctorOptions): Promise<DoctorResult> {
  const target = path.resolve(o.target);
  const f = new Findings();
  const ruleErrors: Record<string, number> = {};
  const device = deviceModel(target, { datapath: o.datapath });
  const choice: ContainerChoice = device.choose(o.callsign, { classname: o.classname, pluginJson: o.pluginJson });
  // the container Thunder starts: the first of its search paths that holds one
  const home = choice.chosen ?? choice.searched.find((s) => s.kind === 'data')!;
  const deviceDir = choice.chosen?.dir ?? path.posix.join(home.lxcpath, 'Container');
  const containerDir = resolveInTargetOrNull(target, deviceDir) ?? path.join(target, deviceDir);
  const done = (): DoctorResult => ({
    containerDir,
    findings: f.list,
    errors: f.list.filter((d) => d.severity === 'error').length,
    warnings: f.list.filter((d) => d.severity === 'warning').length,
    ruleErrors,
  });
  const prepareHint = `run thunderbox prepare ${o.callsign} <rootfs> --target ${target}${o.datapath !== undefined ? ` --datapath ${o.datapath}` : ''} first`;

  if (!choice.chosen) {
    f.error('CONTAINER_MISSING', containerMissingMessage(choice, o.callsign), containerMissingHint(target, o.datapath, o.callsign, device));
    return done();
  }
  const configFile = path.join(containerDir, 'config');
  let text: string;
  try {
    text = fs.readFileSync(configFile, 'utf8');
  } catch {
    f.error('CONFIG_MISSING', `${containerDir} has no LXC config (${configFile} is missing or unreadable)`, prepareHint, { file: configFile });
    return done();
  }

  // the grammar of the image's own LXC release, unless one is given; 6 when the image says none
  const view = buildView({ target, callsign: o.callsign, lxcVersion: o.lxcVersion ?? imageLxcVersion(target)?.grammar ?? 6, pluginJson: o.pluginJson, ownerSample: o.ownerSample ?? 200 }, device, choice, deviceDir, containerDir, text);
  for (const rule of RULES) {
    const before = f.list.length;
    rule.check(view, f);
    const n = f.list.slice(before).filter((d) => d.severity === 'error').length;
    if (n) ruleErrors[rule.id] = n;
  }
  return done();
}
