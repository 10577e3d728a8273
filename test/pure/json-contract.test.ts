import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Evidence, EvidenceValue, Measured, OvercommitMode, RunReport } from '../../lib/experiments/model.js';
import { ruleSets as experiments } from '../../lib/experiments/rules.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const read = <T>(path: string): T => JSON.parse(readFileSync(join(fixtures, path), 'utf8')) as T;

/**
 * The evidence keys of every finding of `run --mode all --json` by the code before every
 * experiment became measure() + rules (commit 7c5c062, 6.18 here), per experiment, mode and
 * claim: each top-level key, and `key.inner` for the keys of an object (or of an array's first
 * element) one level down. Derived from that run's JSON; the keys are the public contract.
 */
const before = read<{ keys: Record<string, Record<string, Record<string, string[]>>> }>('evidence-keys-7c5c062.json').keys;

/** The 6.18 captures of measure(), per experiment and mode: one evidence (with its mode), or one per mode. */
function captures(file: string): [OvercommitMode, Measured][] {
  const f = read<Record<string, unknown>>(`evidence/6.18/${file}`);
  const single = f.mode ?? f.runnerMode;
  if (single !== undefined) return [[single as OvercommitMode, f as Measured]];
  const modes = Object.keys(f).filter((k) => ['0', '1', '2'].includes(k));
  // A capture not keyed by mode and without one (copy-on-write) is the same in every mode.
  if (modes.length === 0) return [[0, f as Measured]];
  return modes.map((k) => [Number(k) as OvercommitMode, f[k] as Measured]);
}

const isObject = (v: EvidenceValue | undefined): v is Evidence => typeof v === 'object' && v !== null && !Array.isArray(v);
const inner = (v: EvidenceValue | undefined): Evidence | undefined =>
  Array.isArray(v) ? (isObject(v[0]) ? v[0] : undefined) : isObject(v) ? v : undefined;

/** The keys of `keys` (as in evidence-keys-7c5c062.json) that `evidence` lacks. */
function lost(keys: readonly string[], evidence: Evidence): string[] {
  return keys.filter((k) => {
    const [outer, nested] = k.split('.') as [string, string | undefined];
    if (!(outer in evidence)) return true;
    if (nested === undefined) return false;
    const o = inner(evidence[outer]);
    // A null or empty value (nothing measured) has no inner keys to lose.
    return o !== undefined && !(nested in o);
  });
}

const cases = readdirSync(join(fixtures, 'evidence/6.18'))
  .filter((f) => f.endsWith('.json'))
  .flatMap((file) => {
    const id = file.replace(/\.json$/, '');
    return captures(file)
      .filter(([mode]) => before[id]?.[mode] !== undefined)
      .map(([mode, evidence]) => ({ id, mode, evidence, keys: before[id]![mode]! }));
  });

describe('JSON contract: every evidence key a finding had is still there', () => {
  it('compares the findings of the experiments whose keys were lost once, in every mode captured', () => {
    const compared = cases.map((c) => `${c.id}@${c.mode}`);
    for (const id of ['settings@0', 'sparse-array@0', 'fork-inheritance@0', 'mode-matrix@0', 'mode-matrix@2', 'accounting@0']) {
      expect(compared).toContain(id);
    }
  });

  it.each(cases.map((c) => [`${c.id} in mode ${c.mode}`, c] as const))('%s', (_, c) => {
    const experiment = experiments.find((x) => x.id === c.id)!;
    const findings = judgeEvidence(experiment, c.evidence, c.mode);
    expect(findings.every((f) => f.evidence !== undefined)).toBe(true);
    const missing = findings.flatMap((f) => lost(c.keys[f.claim] ?? [], f.evidence).map((k) => `${f.claim}: ${k}`));
    // Claims that ran then are still findings (one that did is no longer judged in this mode: not a key contract).
    expect(findings.filter((f) => c.keys[f.claim] !== undefined).length).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('the old-format saved run (report-run-a.json) has findings with evidence objects', () => {
    const old = read<RunReport>('report-run-a.json');
    expect(old.runs.flatMap((r) => r.findings).every((f) => isObject(f.evidence))).toBe(true);
  });
});
