import type { Findings } from './findings.js';
import type { DeviceView } from './view.js';

// An empty lxc.idmap clears the map read so far (confile.c set_config_idmaps -> lxc_clear_idmaps).
// liblxc before 6.0 frees the list but keeps its pointers to the root mappings
// (conf->root_nsuid_map / root_nsgid_map, set by the first u/g line for id 0; stable-5.0
// conf.c lxc_clear_idmaps), so a map cleared after root was mapped, and set again, starts with
// stale root mappings. Measured with liblxc 5.0.2: "lxc.idmap =" in an include, then
// "u 0 200000 65536" and "g 0 200000 65536", failed ("Invalid argument - Failed to setresgid(0, 0, 0)").
// 6.0 resets both pointers (lxc_clear_idmaps), so there the same config starts.

export function checkIdmapClear(v: DeviceView, f: Findings): void {
  let rootMapped = false;
  for (const e of v.entries) {
    if (e.key !== 'lxc.idmap') continue;
    if (e.value.trim() === '') {
      if (!rootMapped) continue;
      const msg = `an empty lxc.idmap clears the map after a line that maps the container's root: liblxc before 6.0 keeps the cleared root mapping and the start fails ("Failed to setresgid(0, 0, 0)"; measured with 5.0.2)`;
      const hint = 'write the map you want without clearing it: remove the earlier lxc.idmap lines (or the include that has them) instead of the empty lxc.idmap';
      if (v.o.lxcVersion < 6) f.error('IDMAP_CLEAR_LXC5', msg, hint, { file: e.file, line: e.line });
      else f.warning('IDMAP_CLEAR_LXC5', `${msg}; LXC ${v.o.lxcVersion} resets it`, `${hint} (check with --lxc-version 5 for a device with LXC 5)`, { file: e.file, line: e.line });
      return;
    }
    if (/^[ub]\s+0\s/.test(e.value.trim()) || /^g\s+0\s/.test(e.value.trim())) rootMapped = true;
  }
}
