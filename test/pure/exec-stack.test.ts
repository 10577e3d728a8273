import { describe, expect, it } from 'vitest';
import type { ExecStackEvidence, ExecTrial } from '../../lib/experiments/exec-stack/evidence.js';
import { execStackRules } from '../../lib/experiments/exec-stack/rules.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { seededRandom, underLoad } from '../../lib/measure/load-model.js';
import { KiB } from '../../lib/units.js';
import { changeFromDeltas } from '../../lib/verdict/tolerance.js';

const STACK = 132 * KiB;
const BEFORE = 252 * KiB;
/** The new image's charged bytes besides its stack. */
const OTHERS = 24 * KiB;

function trial(o: { ac?: boolean; signal?: number; stack?: boolean } = {}): ExecTrial {
  const ac = o.ac ?? true;
  return {
    stopSignal: o.signal ?? 5,
    accountedBeforeBytes: BEFORE,
    accountedAfterBytes: OTHERS + (ac ? STACK : 0),
    stack:
      o.stack === false
        ? null
        : { sizeBytes: STACK, rssBytes: 8 * KiB, vmFlags: ['rd', 'wr', 'mr', 'mw', 'me', 'gd', ...(ac ? ['ac'] : [])] },
  };
}

function evidence(o: { ac?: boolean; charged?: boolean; noise?: number; signal?: number; stack?: boolean } = {}): ExecStackEvidence {
  const delta = OTHERS + ((o.charged ?? o.ac ?? true) ? STACK : 0) - BEFORE;
  return {
    pageSize: 4096,
    trials: Array.from({ length: 7 }, () => trial(o)),
    committed: changeFromDeltas(
      Array.from({ length: 7 }, (_, i) => delta + (i === 0 ? (o.noise ?? 0) : 0)),
      Array.from({ length: 7 }, () => 0),
    ),
  };
}

const verdict = (e: ExecStackEvidence) => judgeEvidence(execStackRules, e, 0)[0]!;

describe('exec-stack rule, on constructed evidence', () => {
  it('holds when the stack is marked ac and Committed_AS counts it', () => {
    const f = verdict(evidence());
    expect(f.holds).toBe(true);
    expect(f.observed).toContain('[stack] VMA was 132 KiB');
    expect(f.observed).toContain('VmFlags rd wr mr mw me gd ac');
  });

  it('fails when the stack is not charged (VmFlags and Committed_AS agree)', () => {
    expect(verdict(evidence({ ac: false })).holds).toBe(false);
  });

  it('is undecided when the two sides disagree', () => {
    // The stack is not marked 'ac', yet Committed_AS moved by the image with its stack, clearly (4 KiB tolerance).
    const clear = judgeEvidence(
      execStackRules,
      { ...evidence({ ac: false }), committed: { ...evidence().committed, toleranceBytes: 4 * KiB } },
      0,
    )[0]!;
    expect(clear.holds).toBeNull();
    expect(clear.reason).toMatch(/VmFlags say .* but Committed_AS/);
  });

  it('is undecided when the child was not stopped at exec or showed no stack', () => {
    const trap = verdict(evidence({ signal: 19 }));
    expect(trap.holds).toBeNull();
    expect(trap.reason).toMatch(/signal 19, not SIGTRAP/);
    expect(verdict(evidence({ stack: false })).reason).toMatch(/no \[stack\] VMA/);
    expect(verdict({ ...evidence(), trials: [] }).holds).toBeNull();
  });

  it('under load, noise may make it undecided but never turns it around', () => {
    const random = seededRandom(19);
    for (let i = 0; i < 50; i++) {
      expect([true, null]).toContain(verdict(underLoad(evidence(), random)).holds);
      expect([false, null]).toContain(verdict(underLoad(evidence({ ac: false }), random)).holds);
    }
  });
});
