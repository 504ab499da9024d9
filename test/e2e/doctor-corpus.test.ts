import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOnDevice } from '../../src/lxc/device-start.js';
import { runDoctor } from '../../src/thunder/doctor.js';
import { RULES } from '../../src/thunder/doctor/rules.js';
import { thunderEnvironment } from '../../src/thunder/environment.js';
import { CORPUS, MARKER, buildCase, type CorpusCase } from '../helpers/device-corpus.js';
import { REPO } from '../helpers/cli.js';

// The doctor against real starts: every case of the public corpus (test/helpers/device-corpus.ts)
// is built, started as Thunder's LXC backend starts it on the device (src/lxc/device-start.ts,
// ThunderPlugin by bare name, Thunder's environment only), and checked by the doctor. The start
// verdict is taken here, in this run; the case also carries the verdict it had when it was
// written, so a liblxc that behaves differently fails loudly. Network cases start in a network
// namespace made here (198.18.0.0/15 addresses), with the bridges the device makes at boot.

const PARALLEL = 2;
const results: { name: string; started: boolean; doctorOk: boolean; error?: string; codes: string[] }[] = [];

/** At most PARALLEL bodies at once (the machine has 2 cores). */
let running = 0;
const waiting: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function netns(bridges: string[]): { name: string; remove: () => void } {
  const name = `tbxc-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  const remove = () => execFileSync('ip', ['netns', 'del', name]);
  try {
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    // "NAME" or "NAME=ADDRESS/PREFIX" (the address the device's boot gives the bridge)
    for (const spec of bridges) {
      const [b, addr] = spec.split('=') as [string, string | undefined];
      execFileSync('ip', ['-n', name, 'link', 'add', 'name', b, 'type', 'bridge']);
      if (addr) execFileSync('ip', ['-n', name, 'addr', 'add', addr, 'dev', b]);
      execFileSync('ip', ['-n', name, 'link', 'set', b, 'up']);
    }
  } catch (e) {
    remove();
    throw e;
  }
  return { name, remove };
}

// the cases run concurrently: helpers/tmp.ts removes its directories after each test, so the
// corpus keeps its own, one per case, removed when the case is done (and all of them at the end)
let root = '';
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tbx-corpus-'));
  fs.chmodSync(root, 0o755);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function run(c: CorpusCase) {
  const dir = fs.mkdtempSync(path.join(root, `${c.name}-`));
  fs.chmodSync(dir, 0o755);
  try {
    return await runIn(dir, c);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runIn(dir: string, c: CorpusCase) {
  const callsign = `C${c.name.replace(/[^A-Za-z0-9]/g, '')}${randomBytes(2).toString('hex')}`.slice(0, 60);
  const t = await buildCase(dir, c, callsign);
  // the truth is this host's liblxc 5.0.2: the doctor is asked about LXC 5
  const doctor = await runDoctor({ target: t.target, callsign, pluginJson: null, lxcVersion: 5 });
  const ns = c.net ? netns(c.net.bridges) : null;
  try {
    const r = await startOnDevice({ target: t.target, lxcpath: t.lxcpath, name: 'Container', command: ['ThunderPlugin'], env: thunderEnvironment(), timeoutMs: 15_000, ...(ns ? { netns: ns.name } : {}) });
    return { doctor, r, started: r.started && r.output.includes(MARKER) };
  } finally {
    ns?.remove();
  }
}

describe('the doctor against a device-faithful start, on the public corpus', () => {
  it('the table and the corpus name each other: every rule has a case that proves it, every case names its rules', () => {
    const names = new Set(CORPUS.map((c) => c.name));
    expect(names.size).toBe(CORPUS.length);
    const doctorTests = fs.readFileSync(path.join(REPO, 'test/e2e/doctor.test.ts'), 'utf8');
    for (const rule of RULES) {
      expect(rule.cases.length, `${rule.id} names no case`).toBeGreaterThan(0);
      expect(rule.what.length).toBeGreaterThan(20);
      for (const name of rule.cases) {
        if (rule.proof === 'doctor-test') expect(doctorTests, `${rule.id}: no test "${name}" in doctor.test.ts`).toContain(`it('${name.replace(/'/g, "\\'")}'`);
        else expect(CORPUS.find((c) => c.name === name)?.rules, `${rule.id} names ${name}, which does not name it back`).toContain(rule.id);
      }
    }
    for (const c of CORPUS) {
      expect(c.rules.length, `${c.name} names no rule`).toBeGreaterThan(0);
      for (const id of c.rules) expect(RULES.find((r) => r.id === id)?.cases, `${c.name} names ${id}, which does not list it`).toContain(c.name);
    }
    expect(CORPUS.filter((c) => !c.starts).length).toBeGreaterThanOrEqual(45);
    expect(CORPUS.filter((c) => c.starts).length).toBeGreaterThanOrEqual(15);
  });

  it.concurrent.each(CORPUS.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { doctor, r, started } = await limited(() => run(c));
    results.push({ name: c.name, started, doctorOk: doctor.errors === 0, error: r.error, codes: doctor.findings.filter((f) => f.severity === 'error').map((f) => f.code) });
    const errors = doctor.findings.filter((f) => f.severity === 'error').map((f) => `${f.code}: ${f.message}`);
    expect(started, `truth changed: liblxc now ${started ? 'starts' : 'does not start'} ${c.name} (written when it ${c.starts ? 'started' : 'did not'}); ${r.error ?? ''}\n${r.lxcLog.split('\n').filter((l) => / ERROR /.test(l)).slice(0, 3).join('\n')}`).toBe(c.starts);
    expect(doctor.errors === 0, `the doctor says ${doctor.errors === 0 ? 'it starts' : 'it does not start'}, the start says ${started ? 'it starts' : `it does not (${r.error})`}:\n${errors.join('\n')}`).toBe(started);
    // a broken case is caught by a rule it names, a good one passes those it names
    if (!c.starts) expect(c.rules.filter((id) => doctor.ruleErrors[id]), `${c.name}: none of ${c.rules.join(', ')} found it; errors came from ${Object.keys(doctor.ruleErrors).join(', ')}`).not.toEqual([]);
  }, 60_000);

  afterAll(() => {
    const agree = results.filter((x) => x.started === x.doctorOk).length;
    if (process.env.TBX_CORPUS_REPORT) for (const x of results) process.stdout.write(`${x.name}: ${x.started ? 'started' : `not started (${x.error})`}; doctor: ${x.codes.join(' ') || 'ok'}\n`);
    process.stdout.write(`doctor corpus: ${results.length} cases (${results.filter((x) => !x.started).length} did not start), the doctor agreed with the start on ${agree} of ${results.length}\n`);
  });
});
