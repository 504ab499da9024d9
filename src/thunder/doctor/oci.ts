import fs from 'node:fs';
import path from 'node:path';
import { checkOciConfig } from '../../oci/check.js';
import { resolveInTargetOrNull } from '../../core/target-path.js';
import { DirView } from '../../rootfs/tree-view.js';
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
  if (!fs.existsSync(file)) return;
  for (const d of checkOciConfig(file, { sysroot: v.target })) f.list.push(d);
  const wrong = imageRuncMismatch(v.target);
  if (wrong) f.error('OCI_RUNC_ARCH', `${wrong}: on the device Thunder's runc backend cannot run it ("exec format error")`, 'build runc for the device (BR2_PACKAGE_RUNC), not a copy of the build host\'s', { file: resolveInTargetOrNull(v.target, '/usr/bin/runc') ?? undefined });
}

/**
 * The image's runc must run on the device: Thunder execs it there. A build host's copied into
 * an image of another architecture runs on the build host, and fails on the device. Null when
 * it fits (or either is unknown).
 */
export function imageRuncMismatch(target: string): string | null {
  const image = new DirView(target);
  const runc = probeElf(image, ['/usr/bin/runc']);
  const device = probeElf(image, TARGET_PROBES);
  return runc && device && !kernelRuns(device.elf, runc.elf) ? `the image's /usr/bin/runc is ${describeElf(runc.elf)}, but its ${device.path} is ${describeElf(device.elf)}` : null;
}
