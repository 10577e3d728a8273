import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding } from '../../lib/experiments/model.js';
import type { RlimitAsEvidence } from '../../lib/experiments/rlimit-as/evidence.js';
import { rlimitAsClaims, rlimitAsRules } from '../../lib/experiments/rlimit-as/rules.js';
import { parseLimits } from '../../lib/kernel/limits.js';
import { MiB } from '../../lib/units.js';

/** Measured on this host (6.18, mode 0): the program as its own process, the child with a relative limit. */
const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/rlimit-as.json'), 'utf8'),
) as RlimitAsEvidence;

const judge = (e: RlimitAsEvidence): Map<string, Finding> => new Map(judgeEvidence(rlimitAsRules, e, e.mode).map((f) => [f.claim, f]));

describe('rlimit-as rules', () => {
  it('judges the captured run: every claim holds, the program with its own lines', () => {
    const f = judge(captured);
    expect([...f.keys()]).toEqual(Object.values(rlimitAsClaims).map((c) => c.id));
    for (const id of f.keys()) expect(f.get(id)!.holds, id).toBe(true);
    const literal = f.get('rlimit-program-64mb')!;
    expect(literal.observed).toContain(`'${captured.program.lines[0]}'`);
    expect(literal.evidence.literalMmap128).toBe('Cannot allocate memory');
  });

  it("004's program inside a process already past 64 MiB: both requests refused, the claim fails", () => {
    const p = captured.program;
    const big: RlimitAsEvidence = {
      ...captured,
      program: {
        ...p,
        vmSizeBytes: 550 * MiB,
        lines: ['mmap(128MB) failed as expected: Cannot allocate memory', 'mmap(8MB) failed: Cannot allocate memory'],
        small: { succeeded: false, error: 'Cannot allocate memory', line: 'mmap(8MB) failed: Cannot allocate memory' },
      },
    };
    const f = judge(big).get('rlimit-program-64mb')!;
    expect(f.holds).toBe(false);
    expect(f.observed).toContain("'mmap(8MB) failed: Cannot allocate memory'");
    expect(f.observed).toContain('550.0 MiB');
  });

  it('undecided when the program did not run, did not finish, or its limit was not the 64 MiB it sets', () => {
    const p = captured.program;
    expect(judge({ ...captured, program: { ...p, unavailable: 'not built' } }).get('rlimit-program-64mb')!.reason).toBe('not built');
    expect(
      judge({ ...captured, program: { ...p, exitCode: 1, stderr: 'setrlimit: Operation not permitted\n' } }).get('rlimit-program-64mb')!
        .reason,
    ).toBe('the program exited 1: setrlimit: Operation not permitted');
    const wrongLimit = judge({ ...captured, program: { ...p, limitSoftBytes: null } }).get('rlimit-program-64mb')!;
    expect(wrongLimit.holds).toBeNull();
    expect(wrongLimit.reason).toMatch(/read unlimited/);
  });

  it("the child's errno codes decide the general claims; a child that did not finish leaves them undecided, not the program's", () => {
    const f = judge({ ...captured, mmap8: 'ENOMEM', sbrk128: 'ok' });
    expect(f.get('rlimit-as-mmap-enomem')!.holds).toBe(false);
    expect(f.get('rlimit-as-brk-enomem')!.holds).toBe(false);
    expect(f.get('rlimit-as-mmap-enomem')!.observed).toContain('mmap(8 MiB) -> ENOMEM');
    const died = judge({ ...captured, childProblem: 'the child was ended by SIGKILL (steps: ...)' });
    for (const id of ['rlimit-as-mmap-enomem', 'rlimit-as-brk-enomem', 'rlimit-as-independent-of-overcommit', 'mmap-fails-on-rlimit-as']) {
      expect(died.get(id)!.holds, id).toBeNull();
    }
    expect(died.get('rlimit-program-64mb')!.holds).toBe(true);
  });
});

describe('/proc/<pid>/limits', () => {
  it('parses soft and hard, unlimited as null', () => {
    const text =
      'Limit                     Soft Limit           Hard Limit           Units     \n' +
      'Max stack size            8388608              unlimited            bytes     \n' +
      'Max address space         67108864             unlimited            bytes     \n';
    expect(parseLimits(text)['Max address space']).toEqual({ soft: 67108864, hard: null });
    expect(parseLimits(text)['Max stack size']).toEqual({ soft: 8388608, hard: null });
  });
});
