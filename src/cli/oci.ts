import { Option, type Command } from 'commander';
import { formatDiagnostic } from '../core/diagnostic.js';
import { Output } from './output.js';

interface CheckFlags {
  sysroot?: string;
  runtime?: 'runc' | 'crun';
  json?: boolean;
  quiet?: boolean;
}

const EXAMPLES = '\nExamples:\n  thunderbox oci check --sysroot output/target \\\n      output/target/usr/share/Thunder/OCDM/Container/config.json\n  thunderbox oci check config.json --json';

export function register(program: Command): void {
  const oci = program.command('oci').summary('check OCI bundles (config.json) for Thunder\'s runc backend').description('OCI bundles: the config.json Thunder\'s runc backend hands to runc.')
    .addHelpText('after', EXAMPLES);
  oci
    .command('check')
    .summary('report what runc would refuse in an OCI config.json')
    .description(
      `Check config.json files against the OCI runtime-spec v1.1.0 JSON Schema, and for what runc
create needs as Thunder runs it: process.args not empty, terminal false, a /proc mount, a linux
section; warn without a /tmp bind (Thunder's communicator) or a /dev tmpfs. With --sysroot (the
image root): /usr/bin/runc in the image, the rootfs, process.args[0] and bind sources inside it.
Exit 0 clean, 1 errors, 2 usage.`,
    )
    .argument('<file...>', 'config.json files')
    .option('--sysroot <dir>', 'the image root the bundle is in (Buildroot TARGET_DIR)')
    .addOption(new Option('--runtime <name>', 'the runtime the image runs it with').choices(['runc', 'crun']).default('runc'))
    .option('--json', 'print the diagnostics as JSON')
    .option('-q, --quiet', 'print errors only')
    .addHelpText('after', EXAMPLES)
    .action(async (files: string[], f: CheckFlags) => {
      const { checkOciConfig } = await import('../oci/check.js');
      const out = new Output(f);
      const all = files.flatMap((file) => checkOciConfig(file, { sysroot: f.sysroot, runtime: f.runtime }));
      const errors = all.filter((d) => d.severity === 'error').length;
      if (f.json) out.json(errors === 0, all);
      else for (const d of all) if (d.severity === 'error' || !f.quiet) process.stdout.write(formatDiagnostic(d) + '\n');
      out.say(`${files.length} file(s): ${errors} error(s), ${all.length - errors} warning(s)`);
      if (errors) process.exitCode = 1;
    });
}
