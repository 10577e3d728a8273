import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding } from '../../lib/experiments/model.js';
import { measureRlimitAs, type RlimitAsEvidence, rlimitAs, rlimitAsClaims } from '../../lib/experiments/rlimit-as/index.js';
import { parseLimits } from '../../lib/kernel/limits.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { MiB } from '../../lib/units.js';
import { currentMode } from '../helpers.js';

/** Measured on this host (6.18, mode 0): the program as its own process, the child with a relative limit. */
const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/rlimit-as.json'), 'utf8'),
) as RlimitAsEvidence;

const judge = (e: RlimitAsEvidence): Map<string, Finding> => new Map(judgeEvidence(rlimitAs, e, e.mode).map((f) => [f.claim, f]));

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

describe('rlimit-as on this kernel', () => {
  it('cites the errno codes the child reported and the lines the program printed', async () => {
    await withSettingsLock('shared', async () => {
      const e = await measureRlimitAs(currentMode());
      expect(e.childProblem).toBeNull();
      expect(e.limitBytes).toBe(e.baseBytes + 64 * MiB);
      for (const o of [e.controlMmap128, e.mmap128, e.mmap8, e.noreserveMmap128, e.noreserveMmap8, e.sbrk128, e.sbrk8]) {
        expect(o === 'ok' || /^E[A-Z]+$/.test(o), o).toBe(true);
      }
      const f = judge(e);
      expect(f.get('rlimit-as-mmap-enomem')!.observed).toContain(`mmap(128 MiB) -> ${e.mmap128}, mmap(8 MiB) -> ${e.mmap8}`);
      expect(f.get('rlimit-as-brk-enomem')!.observed).toContain(`brk(+128 MiB) -> ${e.sbrk128}, brk(+8 MiB) -> ${e.sbrk8}`);
      // The program: its lines parsed into the evidence, cited verbatim, its limit read in /proc while it was stopped.
      const p = e.program;
      expect(p.unavailable).toBeNull();
      expect(p.exitCode).toBe(0);
      expect(p.limitSoftBytes).toBe(64 * MiB);
      expect(p.vmSizeBytes).toBeGreaterThan(0);
      expect([p.large!.line, p.small!.line]).toEqual(p.lines);
      if (!p.large!.succeeded) expect(p.large!.line).toBe(`mmap(128MB) failed as expected: ${p.large!.error}`);
      const literal = f.get('rlimit-program-64mb')!;
      for (const line of p.lines) expect(literal.observed).toContain(`'${line}'`);
    });
  });
});
