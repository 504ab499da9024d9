import { Option, type Command } from 'commander';
import { UsageError } from '../core/errors.js';
import type { Diagnostic } from '../core/diagnostic.js';
import { DEFAULT_DATAPATH } from '../thunder/layout.js';
import { CALLSIGN } from '../profile/resolve.js';
import { runDoctor } from '../thunder/doctor.js';
import { Output } from './output.js';
import { chooseTarget } from './target.js';

interface DoctorFlags {
  target?: string;
  datapath?: string;
  classname?: string;
  lxcVersion?: string;
  json?: boolean;
  quiet?: boolean;
}

/** One finding: "FILE:LINE: error[CODE]: message" and its fix on the next line. */
function formatFinding(d: Diagnostic): string {
  const where = d.file ? `${d.file}${d.line !== undefined ? `:${d.line}` : ''}: ` : '';
  return `${where}${d.severity}[${d.code}]: ${d.message}${d.hint ? `\n  fix: ${d.hint}` : ''}`;
}

export function register(program: Command): void {
  program
    .command('doctor')
    .summary('check a prepared container as the device will see it (config, rootfs, libraries, mounts, owners, plugin JSON)')
    .description(
      `Check the container Thunder would start for <Callsign> (the first Container on
its search path: <volatilepath>/<callsign>, <persistentpath>/<callsign>,
<datapath>/<classname>) as the device will see it, without starting it. Each
rule says what liblxc, the kernel or Thunder does at start, read from the
config with everything it includes, the plugin JSON, Thunder's config and
Thunder's environment, paths resolved inside the image:
  - lxc check; lxc.rootfs.path; lxc.environment (PATH, MESSAGE_DISPATCHER_CONFIG,
    bare names Thunder's environment has);
  - ThunderPlugin on PATH, its libraries, exec by the container's root (x bit,
    directories, a #! line without CRLF whose interpreter is in the rootfs);
    lxc.arch against the rootfs and the image;
  - hooks (device-side ones in the image with the device's /bin/sh, start
    hooks in the rootfs); directories the container's root must enter (down to
    the rootfs, above mount sources); mounts and lxc.mount.fstab;
  - the seccomp profile as liblxc parses it; newuidmap with /etc/subuid and
    /etc/subgid; lxc.prlimit; lxc.init.cwd/uid/gid;
  - network: one gateway, a unicast hwaddr, script.up in the image, a bridge
    something in the image makes (a note: S40thunderbox-net at boot);
  - lxc.console.logfile's directory; Thunder: shadowing containers, the plugin
    mode and backend, root.user, the messaging directory (warning); owners
    against the idmap; seccomp notes.
Each finding names its fix. Exit 0 without errors (warnings allowed), 1 with
errors, 2 usage.`,
    )
    .argument('<callsign>', 'the prepared container, e.g. OCDM')
    .option('--target <dir>', 'image root (Buildroot TARGET_DIR); default $TARGET_DIR, else the current directory')
    .option('--datapath <path>', `Thunder data path on the device (default: the image's Thunder config, else ${DEFAULT_DATAPATH})`)
    .option('--classname <name>', 'the plugin\'s class when the image has no plugin JSON for the callsign')
    .addOption(new Option('--lxc-version <n>', 'LXC version on the device (default: the image\'s liblxc says, else 6)').choices(['5', '6', '7']))
    .option('--json', 'print {ok, diagnostics, callsign, containerDir, findings, errors, warnings} as JSON')
    .option('-q, --quiet', 'print errors only')
    .addHelpText(
      'after',
      `
Examples:
  thunderbox doctor OCDM --target output/target
  thunderbox doctor OCDM --target output/target --json |\n    jq '.findings[] | select(.severity == "error")'
  TARGET_DIR=output/target thunderbox doctor Netflix -q`,
    )
    .action(async (callsign: string, f: DoctorFlags) => {
      if (!CALLSIGN.test(callsign)) throw new UsageError(`"${callsign}" is not a usable callsign`, 'use letters, digits, "_", "." and "-", e.g. OCDM');
      const datapath = f.datapath;
      if (datapath !== undefined && !datapath.startsWith('/')) throw new UsageError(`--datapath ${datapath} is not absolute`, 'give the path on the device, e.g. /usr/share/Thunder');
      const out = new Output(f);
      const t = chooseTarget(f.target);
      const r = await runDoctor({ target: t.target, datapath, callsign, classname: f.classname, ...(f.lxcVersion !== undefined ? { lxcVersion: Number(f.lxcVersion) as 5 | 6 | 7 } : {}) });
      if (f.json) {
        out.json(r.errors === 0, r.findings, { callsign, containerDir: r.containerDir, findings: r.findings, errors: r.errors, warnings: r.warnings });
      } else {
        for (const d of r.findings) if (d.severity === 'error' || !f.quiet) process.stdout.write(formatFinding(d) + '\n');
        out.say(`${callsign}: ${r.errors} error(s), ${r.warnings} warning(s) in ${r.containerDir}${t.explicit ? '' : ` (target: ${t.from})`}`);
      }
      if (r.errors) process.exitCode = 1;
    });
}
