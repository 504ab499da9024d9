import type { Command } from 'commander';
import { Output } from './output.js';
import { chooseTarget, refuseHostRoot } from './target.js';

interface Flags {
  manifest?: string;
  target?: string;
  json?: boolean;
  quiet?: boolean;
  dryRun?: boolean;
}

export function register(program: Command): void {
  const net = program.command('net').summary('container networking: addresses and the device\'s host networks').description('Container networking from the manifest: the addressing plan, and the device\'s bridges, forwarding and NAT.')
    .addHelpText('after', '\nExamples:\n  thunderbox net plan --manifest board/raspberrypi3/thunderbox.yaml\n  thunderbox net render --manifest board/raspberrypi3/thunderbox.yaml \\\n      --target output/target')
  net
    .command('plan')
    .summary('print the addressing table (container, interface, address, gateway, bridge or route)')
    .requiredOption('--manifest <file>', 'thunderbox.yaml')
    .option('--json', 'print it as JSON')
    .addHelpText('after', '\nExample:\n  thunderbox net plan --manifest board/raspberrypi3/thunderbox.yaml')
    .action(async (f: Flags) => {
      const { loadManifest } = await import('../profile/manifest.js');
      const { allocateManifest } = await import('../net/manifest-nets.js');
      const r = allocateManifest(loadManifest(f.manifest!));
      if (f.json) {
        new Output(f).json(true, [], { manifest: f.manifest!, rows: r.rows });
        return;
      }
      const rows = [['CONTAINER', 'IF', 'ADDRESS', 'GATEWAY', 'VIA'], ...r.rows.map((x) => [x.callsign, `eth${x.nic}`, x.address ?? '-', x.gateway ?? '-', x.via + (x.routes?.length ? `; routed ${x.routes.join(' ')}` : '')])];
      const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
      for (const row of rows) process.stdout.write(row.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd() + '\n');
    });
  net
    .command('render')
    .summary('write the device\'s networking files (init script, sysctl, dnsmasq) into the image')
    .requiredOption('--manifest <file>', 'thunderbox.yaml with networks (and routed containers)')
    .option('--target <dir>', 'image root (default $TARGET_DIR, else the current directory)')
    .option('--dry-run', 'print what would change')
    .option('--json', 'print a machine-readable summary')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', '\nExample:\n  thunderbox net render --manifest board/raspberrypi3/thunderbox.yaml \\\n      --target output/target')
    .action(async (f: Flags) => {
      const out = new Output(f);
      const t = chooseTarget(f.target);
      refuseHostRoot(t);
      const { loadManifest } = await import('../profile/manifest.js');
      const { planNet } = await import('../net/render.js');
      const { applyPlan, settle } = await import('../core/transaction.js');
      const { VERSION } = await import('../core/version.js');
      const { sourceDateEpoch } = await import('../core/epoch.js');
      if (!f.dryRun && settle(t.target)) out.say('recovered: an interrupted earlier run was rolled back first');
      const plan = planNet(loadManifest(f.manifest!), t.target, VERSION, sourceDateEpoch());
      const ops = plan.ops.map((op) => ({ kind: op.kind, path: op.path, reason: op.reason }));
      if (f.dryRun) {
        for (const op of plan.ops) out.say(`${op.kind === 'keep' ? '=' : '~'} ${op.path}: ${op.reason}`);
        out.json(true, plan.diagnostics, { target: t.target, dryRun: true, ops });
        return;
      }
      const r = await applyPlan(plan);
      for (const p of r.changed) out.say(`wrote ${p}`);
      if (!r.changed.length) out.say('nothing to do: the networking files are up to date');
      out.json(true, plan.diagnostics, { target: t.target, dryRun: false, ops, changed: r.changed });
    });
}
