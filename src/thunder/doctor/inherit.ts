import type { Findings } from './findings.js';
import type { DeviceView } from './view.js';

// lxc.environment = NAME (no value) copies NAME from the environment of the process that loads
// the config: on the device, Thunder's (thunder/environment.ts). liblxc 5.0.2 refuses the
// whole config when NAME is not set there ("Failed to parse config file ... at line
// lxc.environment = NAME"): nothing starts. Includes count (common.conf.d/ too).

export function checkInheritedEnvironment(v: DeviceView, f: Findings): void {
  for (const e of v.entries) {
    if (e.key !== 'lxc.environment' || e.value === '' || e.value.includes('=')) continue;
    const name = e.value.trim();
    if (name in v.thunderEnv) continue;
    f.error('ENV_NOT_IN_THUNDER', `lxc.environment = ${name} takes ${name} from Thunder's environment, which has no ${name} (Thunder has ${Object.keys(v.thunderEnv).sort().join(', ')}): liblxc refuses the config and nothing starts`, `give it a value (lxc.environment = ${name}=...), or remove the line`, { file: e.file, line: e.line });
  }
}
