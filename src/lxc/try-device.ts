import fs from 'node:fs';
import path from 'node:path';
import type { Diagnostic } from '../core/diagnostic.js';
import { fail } from '../core/errors.js';
import { resolveInTarget } from '../core/target-path.js';
import { thunderEnvironment } from '../thunder/environment.js';
import { startOnDevice, type DeviceStartResult } from './device-start.js';
import { parseConfig, values } from './document.js';
import { THUNDER_HOSTS, containerBinfmt, findOnPath } from './execute.js';
import { CONTAINER_NAME, deviceModel } from '../thunder/device.js';
import { containerMissingHint, containerMissingMessage } from '../thunder/layout.js';

// `thunderbox try <callsign>` (the default, device-faithful mode): the container Thunder would
// start, started as Thunder starts it (device-start.ts), with Thunder's environment and
// Thunder's communicator socket in the device's /tmp.

export interface DeviceTryRequest {
  target: string;
  /** --datapath; default: the image's Thunder config. */
  datapath?: string;
  callsign: string;
  classname?: string;
  /** default: ThunderPlugin (R4: WPEProcess) by bare name when the rootfs has it, else /bin/sh -c true */
  command: string[];
  timeoutMs?: number;
  logLevel?: string;
  signal?: AbortSignal;
  onOutput?: (text: string) => void;
  /** the container chosen (<lxcpath>/Container), before it starts */
  onChosen?: (container: string) => void;
}

export interface DeviceTryResult extends DeviceStartResult {
  /** the container, as the device path <lxcpath>/Container */
  container: string;
  command: string[];
  notes: Diagnostic[];
}


export async function tryOnDevice(req: DeviceTryRequest): Promise<DeviceTryResult> {
  const notes: Diagnostic[] = [];
  // the container Thunder starts: the first of its search paths holding one (thunder/device.ts)
  const model = deviceModel(req.target, { datapath: req.datapath });
  const choice = model.choose(req.callsign, { classname: req.classname });
  if (!choice.chosen) fail('CONTAINER_MISSING', containerMissingMessage(choice, req.callsign), containerMissingHint(req.target, req.datapath, req.callsign, model));
  // Thunder hands a plugin whose containertype names another backend to that backend: this
  // LXC container is never started for it (the doctor's PLUGIN_CONTAINER_TYPE)
  // a plugin JSON not in Container mode: Thunder runs the plugin outside any container (the doctor's PLUGIN_MODE)
  const mode = choice.plugin?.mode;
  if (choice.plugin && mode?.value !== 'Container') fail('PLUGIN_MODE', `${choice.plugin.file}${mode ? `:${mode.line}` : ''}: configuration.root.mode is ${mode ? `"${mode.value}"` : 'not set'}, not "Container": Thunder runs ${req.callsign} outside its container, and never starts ${choice.chosen.dir}`, `set "configuration": {"root": {"mode": "Container"}} (thunderbox prepare ${req.callsign} does)`);
  const ctype = choice.plugin?.containertype;
  if (ctype && ctype.value.toLowerCase() !== 'lxc') fail('PLUGIN_CONTAINER_TYPE', `${choice.plugin!.file}:${ctype.line}: configuration.root.configuration.containertype is "${ctype.value}", not "lxc": Thunder starts ${req.callsign} with that backend, never this LXC container (${choice.chosen.dir})`, 'set "containertype": "lxc" in the plugin JSON, or remove it when Thunder is built with the LXC backend only');
  const { lxcpath } = choice.chosen;
  const container = choice.chosen.dir;
  const dir = choice.chosen.host;
  const configFile = path.join(dir, 'config');
  let text: string;
  try {
    text = fs.readFileSync(configFile, 'utf8');
  } catch {
    fail('CONFIG_UNREADABLE', `${configFile} cannot be read`, 'make it readable, or run thunderbox prepare again');
  }
  // read only for the architecture and the default command: liblxc reads the config itself
  const { doc } = parseConfig(text, configFile);
  containerBinfmt(dir, doc, notes);
  req.onChosen?.(container);
  let command = req.command;
  if (command.length === 0) {
    const rootfsValue = values(doc, 'lxc.rootfs.path').pop()?.replace(/^dir:/, '');
    const rootfs = rootfsValue?.startsWith('/') ? resolveInTarget(req.target, rootfsValue) : path.join(dir, 'rootfs');
    const host = THUNDER_HOSTS.find((n) => findOnPath(rootfs, n) !== null);
    command = host ? [host] : ['/bin/sh', '-c', 'true'];
  }
  const r = await startOnDevice({
    target: req.target,
    lxcpath,
    name: CONTAINER_NAME,
    command,
    // what Thunder exports follows the image's config: its volatile path and messaging folder
    env: thunderEnvironment({ volatilepath: model.thunder.volatilepath, messagingPath: model.thunder.messaging.folder }),
    communicator: true,
    timeoutMs: req.timeoutMs,
    logLevel: req.logLevel,
    signal: req.signal,
    onOutput: req.onOutput,
  });
  return { ...r, container, command, notes };
}
