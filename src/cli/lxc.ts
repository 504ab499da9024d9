import { Option, type Command } from 'commander';
import { formatDiagnostic, type Diagnostic } from '../core/diagnostic.js';
import { UsageError, fail } from '../core/errors.js';
import { Output } from './output.js';

interface CheckFlags {
  sysroot?: string;
  lxcVersion?: string;
  json?: boolean;
  quiet?: boolean;
}

function version(v: string | undefined): 5 | 6 | 7 {
  const n = Number(v ?? '6');
  if (n !== 5 && n !== 6 && n !== 7) throw new UsageError(`--lxc-version ${v} is not 5, 6 or 7`);
  return n;
}

export function register(program: Command): void {
  const lxc = program.command('lxc').summary('check LXC container configs').description('LXC container configs: check them against every key of LXC 5, 6 and 7.')
    .addHelpText('after', '\nExamples:\n  thunderbox lxc check output/target/usr/share/Thunder/OCDM/Container/config \\\n      --sysroot output/target\n  thunderbox lxc migrate /var/lib/lxc/old/config --write\n  thunderbox lxc keys | grep idmap')
  lxc
    .command('check')
    .summary('report what liblxc would refuse or misread in LXC configs')
    .description(
      `Check LXC config files key by key, as liblxc reads them (includes followed inside --sysroot):
unknown and legacy keys, values, network keys and their order, idmaps, mount entries, caps and
namespaces, include cycles, rootfs backends; and warn about what loads but misbehaves (an
inline "# comment" in a value, flags = down, a key set twice). Exit 0 clean, 1 errors, 2 usage.`,
    )
    .argument('<file...>', 'config files')
    .option('--sysroot <dir>', 'image root that absolute lxc.include paths are inside (default /)')
    .addOption(new Option('--lxc-version <n>', 'LXC version the configs are for').choices(['5', '6', '7']).default('6'))
    .option('--json', 'print the diagnostics as JSON')
    .option('-q, --quiet', 'print errors only')
    .addHelpText('after', '\nExamples:\n  thunderbox lxc check output/target/usr/share/Thunder/OCDM/Container/config \\\n      --sysroot output/target\n  thunderbox lxc check --lxc-version 5 /var/lib/lxc/*/config\n\nEvery key and its grammar: thunderbox lxc keys')
    .action(async (files: string[], f: CheckFlags) => {
      const { checkConfig } = await import('../lxc/check.js');
      const out = new Output(f);
      const all = files.flatMap((file) => checkConfig(file, { version: version(f.lxcVersion), sysroot: f.sysroot }));
      const errors = all.filter((d) => d.severity === 'error').length;
      if (f.json) out.json(errors === 0, all);
      else for (const d of all) if (d.severity === 'error' || !f.quiet) process.stdout.write(formatDiagnostic(d) + '\n');
      out.say(`${files.length} file(s): ${errors} error(s), ${all.length - errors} warning(s)`);
      if (errors) process.exitCode = 1;
    });
  lxc
    .command('migrate')
    .summary('convert LXC 2.x keys (lxc.network.*, lxc.utsname, ...) to current ones')
    .description(
      `Rename legacy keys as lxc-update-config does, without its bugs (lxc.limit.*, indexed
lxc.network.N.ipv4, the rootfs driver, comment lines), print a unified diff and what is left
for lxc check. --write replaces FILE atomically and keeps FILE.bak.`,
    )
    .argument('<file>', 'the config to convert')
    .option('--write', 'replace the file (the old one stays as FILE.bak)')
    .addOption(new Option('--lxc-version <n>', 'LXC version to convert for').choices(['5', '6', '7']).default('6'))
    .option('--sysroot <dir>', 'image root for lxc.include when checking the result')
    .option('--json', 'print {ok, diagnostics, file, changed, written, diff} as JSON')
    .addHelpText('after', '\nExamples:\n  thunderbox lxc migrate /var/lib/lxc/old/config\n  thunderbox lxc migrate /var/lib/lxc/old/config --write')
    .action(async (file: string, f: { write?: boolean; lxcVersion?: string; sysroot?: string; json?: boolean }) => {
      const out = new Output(f);
      // --json: the diff and the findings go into the document instead
      const say = (s: string) => {
        if (!f.json) process.stdout.write(s);
      };
      const warn = (d: Diagnostic) => {
        if (!f.json) process.stderr.write(formatDiagnostic(d) + '\n');
      };
      const fs = await import('node:fs');
      const { migrateConfig, toOriginal } = await import('../lxc/migrate.js');
      const { checkConfigText } = await import('../lxc/check.js');
      const { createTwoFilesPatch } = await import('diff');
      const { writeFileAtomic } = await import('../core/fsutil.js');
      const { readTextFile } = await import('../core/read-text.js');
      const r = readTextFile(file);
      if (!r.ok) fail('CONFIG_UNREADABLE', `cannot read ${file}: ${r.reason}`, 'give the path of an LXC config', { file });
      const text = r.text;
      const v = version(f.lxcVersion);
      const m = migrateConfig(text, file, v);
      for (const n of m.notes) warn(n);
      const diff = m.changed ? createTwoFilesPatch(file, file, text, m.after) : null;
      let written = false;
      if (!m.changed) {
        say(`${file}: nothing to convert\n`);
      } else {
        say(diff!);
        if (f.write) {
          const st = fs.statSync(file);
          writeFileAtomic(`${file}.bak`, text, { mode: st.mode & 0o7777 });
          writeFileAtomic(file, m.after, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
          written = true;
          say(`wrote ${file} (the old one is ${file}.bak)\n`);
        }
      }
      // what is left, at the lines of the file as the user wrote it
      const left = checkConfigText(m.after, file, { version: v, sysroot: f.sysroot }).map((d) => toOriginal(m, file, d));
      for (const d of left) warn(d);
      const failed = left.some((d) => d.severity === 'error');
      out.json(!failed, [...m.notes, ...left], { file, changed: m.changed, written, diff });
      if (failed) process.exitCode = 1;
    });
  lxc
    .command('keys')
    .summary('list every LXC config key with its grammar and versions')
    .addOption(new Option('--lxc-version <n>', 'only the keys of this LXC version').choices(['5', '6', '7']))
    .option('--json', 'print {ok, diagnostics, keys: [{key, since, until, grammar, doc, legacy}]} as JSON')
    .addHelpText('after', '\nExample:\n  thunderbox lxc keys --lxc-version 5 | grep net')
    .action(async (f: { lxcVersion?: string; json?: boolean }) => {
      const { KEYS, NET_KEYS, available } = await import('../lxc/keys.js');
      const v = f.lxcVersion ? version(f.lxcVersion) : undefined;
      const ver = (d: { since?: number; until?: number }) => (d.since || d.until ? ` [LXC ${d.since ?? 5}-${d.until ?? 7}]` : '');
      if (f.json) {
        const row = (key: string, d: { since?: number; until?: number; grammar: { text: string }; doc: string; legacy?: readonly string[] }, extra: Record<string, unknown> = {}) => ({ key, since: d.since ?? null, until: d.until ?? null, grammar: d.grammar.text, doc: d.doc, legacy: d.legacy ?? [], ...extra });
        const keys = [
          ...KEYS.filter((k) => !v || available(k, v)).map((k) => row(`${k.key}${k.prefix ? '<name>' : ''}`, k)),
          ...NET_KEYS.map((n) => row(`lxc.net.<N>.${n.sub}`, { ...n, legacy: n.legacy?.map((l) => `lxc.network.${l}`) }, { types: n.types ?? null })),
        ];
        new Output(f).json(true, [], { version: v ?? null, keys });
        return;
      }
      for (const k of KEYS) {
        if (v && !available(k, v)) continue;
        process.stdout.write(`${k.key}${k.prefix ? '<name>' : ''}${ver(k)}: ${k.grammar.text}. ${k.doc}${k.legacy ? ` (was ${k.legacy.join(', ')})` : ''}\n`);
      }
      for (const n of NET_KEYS) process.stdout.write(`lxc.net.<N>.${n.sub}${n.types ? ` (${n.types.join('/')})` : ''}: ${n.grammar.text}. ${n.doc}${n.legacy ? ` (was lxc.network.${n.legacy.join(', ')})` : ''}\n`);
    });
}
