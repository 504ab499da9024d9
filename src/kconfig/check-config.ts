import type { OptionState, State } from './lint.js';

// `thunderbox kconfig check-config`: lxc-checkconfig's report (same sections and labels, in
// its order), then the options thunderbox adds for Thunder containers. lxc-checkconfig says
// "enabled" for y and m alike; this report says which, and exits 1 when a required option is
// missing (lxc-checkconfig always exits 0).

const SECTIONS = ['Namespaces', 'Control groups', 'Misc', 'Checkpoint/Restore'] as const;

function word(s: OptionState): string {
  if (s.state === 'y') return 'enabled';
  if (s.state === 'm') return 'enabled (module)';
  return s.need === 'required' || s.lxcCheckconfig?.mandatory ? 'required' : 'missing';
}

export function checkConfigReport(states: OptionState[]): string {
  const out: string[] = [];
  for (const sec of SECTIONS) {
    out.push(`--- ${sec} ---`);
    for (const s of states.filter((x) => x.lxcCheckconfig?.section === sec)) out.push(`${s.lxcCheckconfig!.label}: ${word(s)}`);
    out.push('');
  }
  out.push('--- Thunder containers (thunderbox) ---');
  for (const s of states.filter((x) => !x.lxcCheckconfig)) out.push(`CONFIG_${s.option}: ${word(s)}${s.need === 'no' ? '' : ` (${s.need})`}`);
  return out.join('\n') + '\n';
}

export interface CheckConfigEntry {
  option: string;
  state: State;
  required: boolean;
  feature: string;
}

export function checkConfigJson(states: OptionState[]): CheckConfigEntry[] {
  return states.map((s) => ({ option: `CONFIG_${s.option}`, state: s.state, required: s.need === 'required' || s.lxcCheckconfig?.mandatory === true, feature: s.feature }));
}
