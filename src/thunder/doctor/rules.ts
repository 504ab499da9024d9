import { DirView } from '../../rootfs/tree-view.js';
import { TARGET_PROBES } from '../doctor-inputs.js';
import { ROOTFS_PROBES, checkArch, checkEnvironment, checkLxc, checkMounts, checkOwnership, checkSeccomp, checkThunderPlugin, probeElf } from './base.js';
import type { StartRule } from './rule.js';

// The doctor: one row per start-time rule, run in this order (a later row may read what an
// earlier one found, view.facts). How to add a rule: write its check in the file of its group,
// add a row here with what happens at start and the corpus cases (test/helpers/device-corpus.ts)
// that prove it; test/e2e/doctor-corpus.test.ts checks that every row names a case and every
// case names its rows, and that the doctor's verdict equals a real start on each case.

export const RULES: readonly StartRule[] = [
  {
    id: 'lxc-config',
    what: 'liblxc loads the config and everything it includes, and refuses the whole container on an unknown key or a bad value',
    hint: 'see thunderbox lxc keys',
    cases: ['config-unknown-key', 'config-include-missing'],
    check: (v, f) => checkLxc(f, v.text, v.configFile, v.target, v.o.lxcVersion),
  },
  {
    id: 'environment-required',
    what: 'Thunder hands the container PATH (to find ThunderPlugin) and MESSAGE_DISPATCHER_CONFIG only through lxc.environment',
    hint: 'add lxc.environment = PATH and lxc.environment = MESSAGE_DISPATCHER_CONFIG',
    cases: ['env-path-missing'],
    check: (v, f) => checkEnvironment(f, v.own, v.configFile),
  },
  {
    id: 'seccomp-state',
    what: 'liblxc loads the seccomp profile the config (or common.conf) names; a missing file fails the start',
    hint: 'install the profile in the image or turn seccomp off for the container',
    cases: ['seccomp-profile-missing', 'good-seccomp-default', 'good-seccomp-off'],
    check: (v, f) => checkSeccomp(f, v.own, v.configFile, v.target),
  },
  {
    id: 'plugin-json',
    what: 'Thunder starts the plugin in its container only when the plugin JSON says "mode": "Container"',
    hint: 'set configuration.root.mode to "Container" (thunderbox prepare does)',
    cases: ['plugin-mode-local', 'good-privileged'],
    check: (v, f) => f.list.push(...v.pre.plugin),
  },
  {
    id: 'rootfs-path',
    what: 'liblxc mounts lxc.rootfs.path as the container\'s root; a missing directory fails the start',
    hint: 'make lxc.rootfs.path the container\'s rootfs on the device',
    cases: ['rootfs-path-missing'],
    check: (v, f) => f.list.push(...v.pre.rootfs),
  },
  {
    id: 'thunderplugin-closure',
    what: 'ThunderPlugin is exec\'d by bare name on the container\'s PATH; the dynamic linker then needs every library it and the plugin load',
    hint: 'keep ThunderPlugin and its libraries in the rootfs',
    cases: ['thunderplugin-missing', 'thunderplugin-interpreter-missing'],
    check: (v, f) => {
      if (!v.tree || !v.rootfs) return;
      v.facts.mainElf = checkThunderPlugin(f, v.tree, v.rootfs.host, v.own.environment, v.plugin);
    },
  },
  {
    id: 'architecture',
    what: 'the kernel runs only programs of its own architecture (or its 32-bit compat one); lxc.arch sets the personality',
    hint: 'prepare the container from a rootfs built for the device',
    cases: ['good-unprivileged'],
    check: (v, f) => {
      if (!v.tree || !v.rootfs) return;
      checkArch(f, v.own, v.configFile, v.rootfs.host, v.facts.mainElf ?? probeElf(v.tree, ROOTFS_PROBES), probeElf(new DirView(v.target), TARGET_PROBES));
    },
  },
  {
    id: 'mount-points',
    what: 'liblxc mounts proc, sys, dev and every lxc.mount.entry; a missing source, a missing target or a symlink on the way fails the start',
    hint: 'make mount points real directories in the rootfs, and mount sources exist in the image',
    cases: ['mount-proc-symlink', 'mount-source-missing', 'good-mount'],
    check: (v, f) => {
      if (!v.tree || !v.rootfs) return;
      checkMounts(f, v.own, v.configFile, v.target, v.tree, v.rootfs);
    },
  },
  {
    id: 'ownership',
    what: 'in an unprivileged container, files owned by host ids outside the idmap appear as nobody (a setuid one loses its meaning)',
    hint: 'own the rootfs through the idmap (thunderbox prepare does)',
    cases: ['good-unprivileged', 'good-shared-uid'],
    check: (v, f) => {
      if (!v.rootfs) return;
      checkOwnership(f, v.own, v.configFile, v.containerDir, v.rootfs, v.o.ownerSample, v.target);
    },
  },
];
