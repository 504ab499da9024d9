import fs from 'node:fs';
import path from 'node:path';
import { checkOciConfig } from '../../oci/check.js';
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
}
