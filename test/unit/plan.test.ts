import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import type { FileOp, TreeOp } from '../../src/core/plan.js';
import { resolveContainer } from '../../src/profile/resolve.js';
import { planPrepare, type PrepareRequest } from '../../src/thunder/prepare.js';
import { writeSample } from '../../src/thunder/sample.js';
import { snapshot } from '../helpers/tree.js';
import { tmpDir } from '../helpers/tmp.js';

// Planning reads the image and the inputs and returns what would change; it writes nothing.

function request(target: string, archive: string, extra: Partial<PrepareRequest> = {}, input = {}): PrepareRequest {
  return {
    target,
    datapath: '/usr/share/Thunder',
    containers: [resolveContainer('OCDM', { rootfs: archive, ...input }, { target })],
    force: false,
    isRoot: true,
    toolVersion: 'test',
    ...extra,
  };
}

describe('planPrepare', () => {
  it('a new container: a tree op and the plugin JSON edit, and nothing written', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const before = snapshot(dir, { hash: true });
    const { plan, reports } = await planPrepare(request(s.target, s.archive), { scan: true });
    expect(snapshot(dir, { hash: true })).toEqual(before);
    expect(plan.root).toBe(s.target);
    expect(plan.ops.map((o) => [o.kind, path.relative(s.target, o.path)])).toEqual([
      ['tree', 'usr/share/Thunder/OCDM/Container'],
      ['file', 'etc/Thunder/plugins/OCDM.json'],
      ['file', 'etc/Thunder/config.json'],
    ]);
    const tree = plan.ops[0] as TreeOp;
    expect(tree.detail).toEqual([`rootfs/ from ${s.archive}`, 'config', 'thunderbox.stamp']);
    const json = plan.ops[1] as FileOp;
    expect(json.reason).toBe('OCDM: configuration.root.mode "Local" -> "Container"; configuration.root.configuration.containertype set to "lxc"');
    expect(json.after).toContain('"mode":"Container"');
    expect(reports[0]).toMatchObject({ callsign: 'OCDM', status: 'create', deviceDir: '/usr/share/Thunder/OCDM/Container' });
    expect(reports[0]!.facts).toMatchObject({ arch: 'linux32', archName: 'armhf' });
    expect(reports[0]!.config).toContain('lxc.arch = linux32');
  });

  it('seccomp off-common-conf adds one common.conf edit and a warning, also for several containers', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    fs.writeFileSync(path.join(s.target, 'etc/Thunder/plugins/Two.json'), fs.readFileSync(path.join(s.target, 'etc/Thunder/plugins/OCDM.json'), 'utf8').replace('"classname":"OCDM"', '"classname":"Two"'));
    const req = request(s.target, s.archive, {}, { seccomp: 'off-common-conf' });
    req.containers.push(resolveContainer('Two', { rootfs: s.archive, seccomp: 'off-common-conf' }, { target: s.target }));
    const { plan } = await planPrepare(req, { scan: false });
    const files = plan.ops.filter((o) => o.kind === 'file').map((o) => path.relative(s.target, o.path));
    expect(files).toEqual(['etc/Thunder/plugins/OCDM.json', 'etc/Thunder/plugins/Two.json', 'etc/Thunder/config.json', 'usr/share/lxc/config/common.conf']);
    expect(plan.diagnostics.map((d) => d.code)).toEqual(['SECCOMP_GLOBAL']);
  });

  it('a container listed twice is refused', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    const req = request(s.target, s.archive);
    req.containers.push(req.containers[0]!);
    await expect(planPrepare(req, { scan: false })).rejects.toBeInstanceOf(ThunderboxError);
  });

  it('no common.conf in the image: a warning, since the config includes it', async () => {
    const dir = tmpDir();
    const s = writeSample(dir, 1700000000);
    fs.rmSync(path.join(s.target, 'usr/share/lxc'), { recursive: true });
    const { plan } = await planPrepare(request(s.target, s.archive), { scan: false });
    expect(plan.diagnostics).toMatchObject([{ code: 'COMMON_CONF_MISSING', severity: 'warning' }]);
  });
});
