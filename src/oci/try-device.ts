import fs from 'node:fs';
import path from 'node:path';
import type { Diagnostic } from '../core/diagnostic.js';
import { fail } from '../core/errors.js';
import { readTextFile } from '../core/read-text.js';
import { resolveInTarget, resolveInTargetOrNull } from '../core/target-path.js';
import { THUNDER_HOSTS, findOnPath } from '../lxc/execute.js';
import { CONTAINER_NAME, deviceModel } from '../thunder/device.js';
import { thunderEnvironment } from '../thunder/environment.js';
import { OCI_CONFIG_NAME } from '../thunder/layout.js';
import { startOciOnDevice, type OciRuntime, type OciStartResult } from './device-start.js';
import { imageRuncMismatch } from '../thunder/doctor/oci.js';

// `thunderbox try <callsign> --runtime runc|crun`: the bundle Thunder's runc backend would take
// (the first of its search paths holding Container/config.json, RunCImplementation.cpp), started
// as it starts it (device-start.ts), with Thunder's environment and its communicator socket.

export interface OciTryRequest {
  target: string;
  datapath?: string;
  callsign: string;
  classname?: string;
  runtime: OciRuntime;
  /** default: ThunderPlugin by bare name when the rootfs has it (Thunder's exec), else /bin/sh -c true */
  command: string[];
  timeoutMs?: number;
  onChosen?: (bundle: string) => void;
  signal?: AbortSignal;
  onOutput?: (s: string) => void;
}

export interface OciTryResult extends OciStartResult {
  /** the bundle, as the device path <searchpath>/Container */
  container: string;
  command: string[];
  diagnostics: Diagnostic[];
}

export async function tryOciOnDevice(req: OciTryRequest): Promise<OciTryResult> {
  const model = deviceModel(req.target, { datapath: req.datapath });
  const choice = model.choose(req.callsign, { classname: req.classname });
  const found = choice.searched.find((s) => {
    const h = resolveInTargetOrNull(req.target, path.posix.join(s.lxcpath, CONTAINER_NAME, OCI_CONFIG_NAME));
    return h !== null && fs.statSync(h, { throwIfNoEntry: false })?.isFile();
  });
  if (!found) fail('BUNDLE_MISSING', `no OCI bundle for ${req.callsign} where Thunder's runc backend looks (classname ${choice.identity.classname}): ${choice.searched.map((s) => `${s.lxcpath}/Container/config.json`).join(', ')}`, `run thunderbox prepare ${req.callsign} <rootfs> --runtime runc --target ${req.target} first`);
  const bundle = path.posix.join(found.lxcpath, CONTAINER_NAME);
  req.onChosen?.(bundle);
  let command = req.command;
  if (command.length === 0) {
    const r = readTextFile(resolveInTarget(req.target, path.posix.join(bundle, OCI_CONFIG_NAME)));
    let rootPath = 'rootfs';
    try {
      const p = r.ok ? (JSON.parse(r.text) as { root?: { path?: unknown } }).root?.path : undefined;
      if (typeof p === 'string') rootPath = p;
    } catch {
      // runc says what is wrong with it at create
    }
    const rootfs = resolveInTarget(req.target, path.posix.resolve(bundle, rootPath));
    const host = THUNDER_HOSTS.find((n) => findOnPath(rootfs, n) !== null);
    command = host ? [host] : ['/bin/sh', '-c', 'true'];
  }
  // the device cannot exec an image's runc of another architecture; here it might run (a build
  // host's copy with its libraries): not started, as on the device
  const wrongArch = req.runtime === 'runc' ? imageRuncMismatch(req.target) : null;
  if (wrongArch) fail('TRY_RUNC_ARCH', `${wrongArch}: on the device Thunder's runc backend cannot run it ("exec format error"), so the bundle does not start there, and try does not start it here`, 'build runc for the device (BR2_PACKAGE_RUNC), not a copy of the build host\'s (thunderbox doctor: OCI_RUNC_ARCH)', { file: resolveInTargetOrNull(req.target, '/usr/bin/runc') ?? undefined });
  const r = await startOciOnDevice({
    target: req.target,
    bundle,
    callsign: req.callsign,
    runtime: req.runtime,
    command,
    env: thunderEnvironment({ volatilepath: model.thunder.volatilepath, messagingPath: model.thunder.messaging.folder }),
    volatilepath: model.thunder.volatilepath,
    communicator: true,
    timeoutMs: req.timeoutMs,
    signal: req.signal,
    onOutput: req.onOutput,
  });
  const diagnostics: Diagnostic[] = [
    { code: r.runtimeSource === 'image' ? 'TRY_RUNTIME_IMAGE' : 'TRY_RUNTIME_LENT', severity: 'note', message: r.runtimeSource === 'image' ? `${req.runtime}: the image's /usr/bin/${req.runtime}` : `${req.runtime}: the image has no /usr/bin/${req.runtime}; this host's ${r.runtimePath} was lent at that path (with the libraries the image lacks)` },
    ...r.notes.map((n): Diagnostic => ({ code: 'TRY_HOST_DIFFERS', severity: 'note', message: n })),
    ...r.slow.map((s): Diagnostic => ({ code: 'TRY_RUNC_SLOW', severity: 'warning', message: `${s}: Thunder gives each runc call 2 s and fails the start after that`, hint: 'a loaded build host is slower than the device may be; on the device, check the time runc create takes' })),
  ];
  return { ...r, container: bundle, command, diagnostics };
}
