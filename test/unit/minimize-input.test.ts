import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ThunderboxError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/profile/manifest.js';
import { resolveContainer } from '../../src/profile/resolve.js';
import type { ContainerInput } from '../../src/profile/input.js';
import { tmpDir } from '../helpers/tmp.js';

// minimize / keep / roots / dedupe-with-host: from the manifest and the flags to the spec.

function codes(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ThunderboxError) return e.diagnostics.map((d) => d.code);
    throw e;
  }
  return [];
}

function resolveIn(input: ContainerInput) {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'rootfs.tar'), '');
  return resolveContainer('OCDM', { rootfs: path.join(dir, 'rootfs.tar'), ...input }, { target: dir });
}

describe('minimize in the manifest', () => {
  it('true, an object, or absent', () => {
    const m = parseManifest(
      `containers:
  A: { rootfs: a.tar, minimize: true }
  B:
    rootfs: b.tar
    minimize: { roots: [/usr/bin/helper], keep: ["usr/share/zoneinfo/**"], thunder-roots: false }
    dedupe-with-host: true
  C: { rootfs: c.tar }
`,
      '/x/thunderbox.yaml',
    );
    const [a, b, c] = m.containers.map((x) => x.input);
    expect(a).toMatchObject({ minimize: true });
    expect(b).toMatchObject({ minimize: true, roots: ['/usr/bin/helper'], keep: ['usr/share/zoneinfo/**'], thunderRoots: false, dedupeWithHost: true });
    expect(c!.minimize).toBeUndefined();
  });

  it('unknown keys and wrong types are errors with their line', () => {
    try {
      parseManifest('containers:\n  A:\n    rootfs: a.tar\n    minimize: { rots: [/x] }\n', 'm.yaml');
      expect.unreachable();
    } catch (e) {
      const d = (e as ThunderboxError).diagnostics[0]!;
      expect(d.code).toBe('MANIFEST_UNKNOWN_KEY');
      expect(d.line).toBe(4);
      expect(d.message).toContain('"rots"');
    }
  });
});

describe('minimize resolved', () => {
  it('--root and --keep imply it; the Thunder roots are on unless turned off; roots are normalised', () => {
    expect(resolveIn({}).minimize).toBeUndefined();
    expect(resolveIn({ minimize: true }).minimize).toEqual({ roots: [], keep: [], thunderRoots: true });
    expect(resolveIn({ roots: ['usr/bin/x', '/opt//y/'] }).minimize).toEqual({ roots: ['/usr/bin/x', '/opt/y'], keep: [], thunderRoots: true });
    expect(resolveIn({ keep: ['etc/ssl/**'] }).minimize).toEqual({ roots: [], keep: ['etc/ssl/**'], thunderRoots: true });
    expect(resolveIn({ thunderRoots: false, roots: ['/bin/x'] }).minimize).toEqual({ roots: ['/bin/x'], keep: [], thunderRoots: false });
    expect(resolveIn({ dedupeWithHost: true }).dedupeWithHost).toBe(true);
  });

  it('contradictions and bad roots are errors', () => {
    expect(codes(() => resolveIn({ thunderRoots: false }))).toEqual(['MINIMIZE_NO_ROOTS']);
    expect(codes(() => resolveIn({ minimize: false, keep: ['x'] }))).toEqual(['MINIMIZE_OFF']);
    expect(codes(() => resolveIn({ roots: ['/usr/../../etc'] }))).toEqual(['ROOT_INVALID']);
    expect(codes(() => resolveIn({ roots: ['/'] }))).toEqual(['ROOT_INVALID']);
  });
});

describe('keep patterns', () => {
  it('one that names no path is KEEP_INVALID (it was an internal error in picomatch), a glob passes', () => {
    for (const k of ['', '/', '  ', '//']) expect(codes(() => resolveIn({ minimize: true, keep: [k] }))).toEqual(['KEEP_INVALID']);
    expect(codes(() => resolveIn({ minimize: true, keep: ['usr/share/zoneinfo/**', '/etc/ssl/*'] }))).toEqual([]);
  });
});
