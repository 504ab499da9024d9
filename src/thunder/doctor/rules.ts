import { TARGET_PROBES } from '../doctor-inputs.js';
import { ROOTFS_PROBES, checkArch, checkEnvironment, checkLxc, checkMounts, checkOwnership, checkSeccomp, checkThunderPlugin, probeElf } from './base.js';
import { checkFstab } from './fstab.js';
import { checkHostHooks, checkStartHooks } from './hooks.js';
import { checkInheritedEnvironment } from './inherit.js';
import { checkIdmapClear } from './idmap.js';
import { checkInitCwd, checkInitIds } from './init.js';
import { checkCgroupLimits } from './cgroup-limits.js';
import { checkPrlimits, checkProcOom, checkSysctls, checkTtyMax } from './limits.js';
import { checkBridges, checkGateways, checkHwaddr, checkNetScripts, checkPhys, checkVethPair } from './net.js';
import { checkThunderPluginExec } from './program.js';
import type { StartRule } from './rule.js';
import { checkSeccompProfile } from './seccomp-policy.js';
import { checkSubids } from './subids.js';
import { checkOciBundle } from './oci.js';
import { checkConsoleLog, checkMessaging, checkRootUser, checkRunDir, checkShadowing } from './thunder.js';
import { checkContainerTraversal, checkMountSourceTraversal } from './traverse.js';
import { pathDirs } from './view.js';

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
    cases: ['seccomp-profile-missing', 'seccomp-profile-in-common-conf-d', 'good-seccomp-default', 'good-seccomp-off'],
    check: (v, f) => checkSeccomp(f, v.entries, v.configFile, v.target),
  },
  {
    id: 'plugin-json',
    what: 'Thunder starts the plugin in its container only when the plugin JSON says "mode": "Container"',
    hint: 'set configuration.root.mode to "Container" (thunderbox prepare does)',
    proof: 'doctor-test',
    cases: ['a plugin JSON in Local mode: PLUGIN_MODE naming the file and line; none at all is a warning', 'root.user the rootfs does not name: ROOT_USER_UNKNOWN; containertype of another backend: PLUGIN_CONTAINER_TYPE'],
    check: (v, f) => f.list.push(...v.pre.plugin),
  },
  {
    id: 'rootfs-path',
    what: 'liblxc mounts lxc.rootfs.path as the container\'s root; a missing directory fails the start',
    hint: 'make lxc.rootfs.path the container\'s rootfs on the device',
    cases: ['rootfs-path-missing', 'rootfs-path-in-include', 'good-rootfs-path-overridden'],
    check: (v, f) => f.list.push(...v.pre.rootfs),
  },
  {
    id: 'thunderplugin-closure',
    what: 'ThunderPlugin is exec\'d by bare name on the container\'s PATH; the dynamic linker then needs every library it and the plugin load',
    hint: 'keep ThunderPlugin and its libraries in the rootfs',
    cases: ['thunderplugin-missing', 'thunderplugin-interpreter-missing', 'thunderplugin-env-bash', 'thunderplugin-off-thunder-path', 'good-thunderplugin-shebang-past-256'],
    check: (v, f) => {
      if (!v.tree || !v.rootfs) return;
      v.facts.mainElf = checkThunderPlugin(f, v.tree, v.rootfs.host, v.own.environment, v.plugin, pathDirs(v.initEnv.get('PATH')));
    },
  },
  {
    id: 'architecture',
    what: 'the kernel runs only programs of its own architecture (or its 32-bit compat one); lxc.arch sets the personality',
    hint: 'prepare the container from a rootfs built for the device',
    cases: ['good-unprivileged'],
    check: (v, f) => {
      if (!v.tree || !v.rootfs) return;
      checkArch(f, v.own, v.configFile, v.rootfs.host, v.facts.mainElf ?? probeElf(v.tree, ROOTFS_PROBES), probeElf(v.image, TARGET_PROBES));
    },
  },
  {
    id: 'mount-points',
    what: 'liblxc mounts proc, sys, dev and every lxc.mount.entry; a missing source, a missing target or a symlink on the way fails the start',
    hint: 'make mount points real directories in the rootfs, and mount sources exist in the image',
    cases: ['mount-proc-symlink', 'mount-source-missing', 'mount-in-include-no-target', 'mount-source-relative', 'good-mount', 'good-mount-dot-relative'],
    check: (v, f) => {
      if (!v.tree || !v.rootfs) return;
      checkMounts(f, v.entries, v.rootHost !== null, v.target, v.tree, v.rootfs);
    },
  },
  {
    id: 'ownership',
    what: 'in an unprivileged container, files owned by host ids outside the idmap appear as nobody (a setuid one loses its meaning)',
    hint: 'own the rootfs through the idmap (thunderbox prepare does)',
    cases: ['good-unprivileged', 'good-privileged', 'good-shared-uid'],
    check: (v, f) => {
      if (!v.rootfs) return;
      checkOwnership(f, v.own, v.configFile, v.containerDir, v.rootfs, v.o.ownerSample, v.target);
    },
  },
  {
    id: 'environment-inherited',
    what: 'liblxc copies a bare lxc.environment NAME from the launcher (Thunder) and refuses the whole config when Thunder has no NAME',
    hint: 'give the name a value, or remove it',
    cases: ['env-unset-name', 'env-unset-in-include', 'good-env'],
    check: checkInheritedEnvironment,
  },
  {
    id: 'hooks-host',
    what: 'liblxc runs pre-start, pre-mount, mount, autodev and start-host hooks with the device\'s /bin/sh -c, as root, with device paths; a hook that fails (127 not found, 126 not executable) stops the start',
    hint: 'give the hook a program the image has, executable, with its interpreter',
    cases: ['hook-pre-start-missing', 'hook-pre-start-not-executable', 'hook-pre-start-exits-1', 'hook-mount-false', 'hook-pre-start-interpreter-missing', 'hook-pre-start-crlf', 'hook-in-include', 'hook-in-include-of-include', 'hook-in-common-conf-d', 'hook-mount-only-in-rootfs', 'hook-start-host-only-in-rootfs', 'good-hooks'],
    check: checkHostHooks,
  },
  {
    id: 'hooks-start',
    what: 'liblxc checks the first start hook\'s whole value as a path in the rootfs (access X_OK), then runs every start hook inside the container with its /bin/sh',
    hint: 'put start hooks in the rootfs, without arguments in the first',
    cases: ['hook-start-not-in-rootfs', 'hook-start-with-arguments', 'hook-start-not-executable', 'good-hooks'],
    check: checkStartHooks,
  },
  {
    id: 'traverse-container',
    what: 'an unprivileged container is set up by its root (the idmap\'s host id for 0), which must enter every directory down to the rootfs and the rootfs top',
    hint: 'chmod 0755 the directories above the rootfs',
    cases: ['traverse-container-dir-0700', 'traverse-lxcpath-0700', 'traverse-datapath-0700', 'traverse-rootfs-top-0700', 'good-rootfs-top-0700-mapped'],
    check: checkContainerTraversal,
  },
  {
    id: 'traverse-mount-sources',
    what: 'an unprivileged container\'s root mounts the lxc.mount.entry sources, so it must enter every directory above each source',
    hint: 'chmod o+x the directories above the mount source',
    cases: ['traverse-mount-source-parent', 'good-mount'],
    check: checkMountSourceTraversal,
  },
  {
    id: 'thunderplugin-exec',
    what: 'liblxc execvp()s ThunderPlugin as the container\'s root: it needs an x bit that root may use, directories it can enter, and a "#!" line (no CRLF) whose interpreter is in the rootfs',
    hint: 'chmod 755 ThunderPlugin, Unix line ends, an interpreter the rootfs has',
    cases: ['thunderplugin-not-executable', 'thunderplugin-crlf', 'thunderplugin-root-0700', 'thunderplugin-dir-0700', 'good-thunderplugin-plain-script', 'good-usr-bin-group'],
    check: checkThunderPluginExec,
  },
  {
    id: 'seccomp-policy',
    what: 'liblxc parses the seccomp profile at start (version line, policy line, rules) and refuses one it cannot read; the filter it loads applies to the init\'s exec',
    hint: 'fix the profile, or seccomp off for this container',
    cases: ['seccomp-bad-version', 'seccomp-bad-policy', 'seccomp-debug', 'seccomp-bad-action', 'seccomp-errno-without-number', 'seccomp-bad-arch', 'seccomp-allowlist-too-short', 'seccomp-denies-execve', 'seccomp-denylist-default-errno', 'seccomp-v1-denylist', 'good-seccomp-custom', 'good-seccomp-allowlist'],
    check: checkSeccompProfile,
  },
  {
    id: 'mount-fstab',
    what: 'liblxc opens lxc.mount.fstab at start and mounts each line as a mount entry',
    hint: 'install the fstab in the image with complete lines and existing sources',
    cases: ['fstab-missing', 'fstab-three-fields', 'fstab-source-missing', 'good-fstab'],
    check: checkFstab,
  },
  {
    id: 'newuidmap-subids',
    what: 'with a setuid newuidmap on PATH, liblxc maps ids through it even as root: the image\'s passwd must name root and its subuid/subgid must give root every mapped range',
    hint: 'add root\'s ranges to the image\'s /etc/subuid and /etc/subgid',
    cases: ['subuid-missing', 'subuid-too-short', 'subgid-missing', 'subuid-other-user', 'newuidmap-no-passwd', 'good-newuidmap', 'good-newuidmap-not-setuid'],
    check: checkSubids,
  },
  {
    id: 'prlimit',
    what: 'liblxc sets lxc.prlimit.* on the init before it runs; the kernel refuses bad limits, and some limits are too low for the set-up to finish',
    hint: 'use a known resource with SOFT <= HARD and sane values',
    cases: ['prlimit-nofile-3', 'prlimit-soft-over-hard', 'prlimit-nofile-over-nr-open', 'prlimit-unknown', 'prlimit-fsize-0', 'prlimit-nofile-empty-soft', 'prlimit-nofile-minus-one', 'good-prlimit', 'good-prlimit-empty-hard'],
    check: checkPrlimits,
  },
  {
    id: 'cgroup-limits',
    what: 'liblxc writes lxc.cgroup.* (v1) or lxc.cgroup2.* (v2) into the container\'s cgroup at start; keys of the layout the device does not mount are dropped with a warning, and the container starts without those limits',
    hint: 'write the limits for the layout the image mounts (thunderbox prepare does)',
    cases: ['cgroup-v2-limits-on-v1-image', 'good-cgroup-v1-limits'],
    check: checkCgroupLimits,
  },
  {
    id: 'tty-max',
    what: 'liblxc opens lxc.tty.max ptys in the container\'s devpts before the init runs; the kernel gives a new devpts at most kernel.pty.max less kernel.pty.reserve',
    hint: 'a few ttys (0 to 4)',
    cases: ['tty-max-4000'],
    check: checkTtyMax,
  },
  {
    id: 'sysctl',
    what: 'liblxc writes each lxc.sysctl.* from inside the container before the init runs, where only /proc/sys/net is writable (proc:mixed); a name the kernel lacks fails too',
    hint: 'set device-wide sysctls on the device',
    cases: ['sysctl-kernel-pid-max', 'sysctl-net-unknown', 'good-sysctl-net'],
    check: checkSysctls,
  },
  {
    id: 'proc-oom',
    what: 'liblxc writes lxc.proc.oom_score_adj for the init; an unprivileged container\'s root cannot lower it (CAP_SYS_RESOURCE)',
    hint: 'an oom_score_adj of 0 or more',
    cases: ['proc-oom-score-negative'],
    check: checkProcOom,
  },
  {
    id: 'idmap-clear',
    what: 'an empty lxc.idmap clears the map; liblxc before 6.0 keeps the cleared root mapping, and a map set again after it fails the start',
    hint: 'remove the earlier lxc.idmap lines instead of clearing them',
    cases: ['idmap-cleared-in-config'],
    check: checkIdmapClear,
  },
  {
    id: 'init-cwd',
    what: 'liblxc changes to lxc.init.cwd inside the container before it execs the init',
    hint: 'make lxc.init.cwd a directory of the rootfs',
    cases: ['init-cwd-missing', 'init-cwd-file', 'init-cwd-denied', 'good-init'],
    check: checkInitCwd,
  },
  {
    id: 'init-ids',
    what: 'liblxc switches to lxc.init.uid and lxc.init.gid, which in an unprivileged container must be mapped',
    hint: 'use ids inside the idmap',
    cases: ['init-uid-unmapped', 'init-gid-unmapped', 'good-init'],
    check: checkInitIds,
  },
  {
    id: 'net-gateway',
    what: 'a container has one default route: liblxc fails at the second NIC with an ipv4 (ipv6) gateway; gateway auto takes the bridge\'s address, which the boot must give it',
    hint: 'one gateway',
    cases: ['net-gateway-twice', 'net-gateway-auto-no-address', 'good-veth-bridge', 'good-gateway-auto'],
    check: checkGateways,
  },
  {
    id: 'net-hwaddr',
    what: 'the kernel refuses a multicast MAC (first octet odd) for an interface',
    hint: 'a unicast MAC',
    cases: ['net-hwaddr-multicast', 'good-veth-bridge'],
    check: checkHwaddr,
  },
  {
    id: 'net-script-up',
    what: 'liblxc runs lxc.net.N.script.up on the device\'s side when the NIC comes up; a failure stops the start',
    hint: 'install the script (routed-up) in the image',
    cases: ['net-script-up-missing', 'good-routed'],
    check: checkNetScripts,
  },
  {
    id: 'net-bridge',
    what: 'liblxc attaches a veth to lxc.net.N.link, a bridge that must exist at start (made at boot, e.g. by S40thunderbox-net)',
    hint: 'let S40thunderbox-net make the bridge',
    cases: ['net-bridge-missing', 'net-bridge-script-not-run', 'good-veth-bridge'],
    check: checkBridges,
  },
  {
    id: 'net-veth-pair',
    what: 'liblxc creates a veth\'s device-side end under lxc.net.N.veth.pair at start; a name the device already has (a tap device or bridge made at boot) fails it',
    hint: 'leave veth.pair out, or a name nothing else makes',
    cases: ['net-veth-pair-is-bridge', 'good-veth-bridge'],
    check: checkVethPair,
  },
  {
    id: 'net-phys',
    what: 'liblxc moves a phys NIC\'s lxc.net.N.link, a network device of the device, into the container; one that does not exist at start fails it',
    hint: 'name a device the hardware has, or one the boot scripts make',
    cases: ['net-phys-not-made'],
    check: checkPhys,
  },
  {
    id: 'console-log',
    what: 'liblxc opens lxc.console.logfile on the device\'s side before the container starts; its directory must exist then (a tmpfs the device mounts at boot hides what the image holds)',
    hint: 'log to a directory the device has at boot',
    cases: ['console-log-dir-missing', 'console-log-under-tmp', 'console-log-symlink-to-run', 'good-console-log'],
    check: checkConsoleLog,
  },
  {
    id: 'run-dir',
    what: 'liblxc keeps its locks under /run (/run/lxc/lock): without the directory in the image lxc_container_new fails before anything starts',
    hint: 'keep Buildroot\'s skeleton /run in the image',
    cases: ['image-without-run'],
    check: checkRunDir,
  },
  {
    id: 'thunder-shadowing',
    what: 'Thunder starts the first Container of <volatilepath>/<callsign>, <persistentpath>/<callsign>, <datapath>/<classname>: one the image holds earlier shadows the later one',
    hint: 'keep one container per plugin on Thunder\'s search path',
    proof: 'doctor-test',
    cases: ['Thunder\'s search order: a container at an earlier path shadows the prepared one (CONTAINER_SHADOWED)', 'a container the image holds under the volatile path (/tmp, a tmpfs at boot) shadows nothing: Thunder never sees it'],
    check: checkShadowing,
  },
  {
    id: 'thunder-messaging',
    what: 'Thunder makes its messaging directory as root, 0755 unless messaging.path carries a mode, and keeps an existing one\'s mode: an unprivileged container\'s messages are lost',
    hint: 'messaging.path "MessageDispatcher|0777" (thunderbox prepare sets it)',
    proof: 'doctor-test',
    cases: ['an unprivileged container and Thunder\'s messaging directory: a warning unless its root can write there'],
    check: checkMessaging,
  },
  {
    id: 'thunder-root-user',
    what: 'with root.user or root.group that the rootfs does not name, Thunder runs the plugin as uid (gid) 0, silently',
    hint: 'add the user to the rootfs\'s /etc/passwd',
    proof: 'doctor-test',
    cases: ['root.user the rootfs does not name: ROOT_USER_UNKNOWN; containertype of another backend: PLUGIN_CONTAINER_TYPE'],
    check: checkRootUser,
  },
  {
    id: 'oci-bundle',
    what: 'Thunder\'s runc backend hands Container/config.json to the image\'s /usr/bin/runc (create --no-new-keyring --bundle, then exec --detach); runc refuses a bundle against the runtime spec, with empty args, terminal true, no /proc or no linux section, and a namespace path nothing made at boot (an unprivileged bundle\'s user namespace is its S39thunderbox-userns script\'s, with the same maps)',
    hint: 'prepare with --runtime runc (or both); thunderbox oci check names each problem',
    proof: 'doctor-test',
    cases: ['an OCI bundle beside the config: oci check\'s findings (OCI_NO_RUNC without /usr/bin/runc in the image, OCI_ARGS_EMPTY), containertype runc a note'],
    check: (v, f) => checkOciBundle(v, f),
  },
];
