import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { CgroupMallocRun, MallocFailureEvidence, MallocRun } from '../../lib/experiments/malloc-failure/evidence.js';
import { mallocFailureRules } from '../../lib/experiments/malloc-failure/rules.js';
import type { OvercommitMode } from '../../lib/experiments/model.js';
import { GiB, KiB, MiB } from '../../lib/units.js';

const OVER = 3 * GiB;

function mode2Run(over: Partial<MallocRun> = {}): MallocRun & { room: NonNullable<MallocFailureEvidence['mode2']>['room'] } {
  return {
    pid: 100,
    sizesBytes: [64 * KiB, 8 * MiB, OVER],
    blocks: [
      { sizeBytes: 64 * KiB, address: '0x5500', vma: 'heap', vmaPathname: '[heap]' },
      { sizeBytes: 8 * MiB, address: '0x7f00', vma: 'anonymous', vmaPathname: '' },
    ],
    writtenBlocks: 2,
    failure: { sizeBytes: OVER, errno: 12, message: 'Cannot allocate memory' },
    exitCode: 1,
    signal: null,
    timedOut: false,
    stdout: [],
    room: { commitLimitBytes: 10 * GiB, committedAsBytes: 8 * GiB, guardRaisedKbytes: null, overRoomBytes: OVER },
    ...over,
  };
}

function cgroupRun(over: Partial<CgroupMallocRun> = {}): CgroupMallocRun {
  return {
    pid: 101,
    sizesBytes: [64 * KiB, ...Array.from({ length: 12 }, () => 8 * MiB)],
    blocks: [
      { sizeBytes: 64 * KiB, address: '0x5500', vma: 'heap', vmaPathname: '[heap]' },
      { sizeBytes: 8 * MiB, address: '0x7f00', vma: 'anonymous', vmaPathname: '' },
    ],
    writtenBlocks: 4,
    failure: null,
    exitCode: null,
    signal: 'SIGKILL',
    timedOut: false,
    stdout: ['wrote 8388608', 'malloc 8388608 0x7f00'],
    cgroupVersion: 1,
    cgroupLimitBytes: 32 * MiB,
    oomKillsBefore: 0,
    oomKillsAfter: 1,
    ...over,
  };
}

function evidence(over: Partial<MallocFailureEvidence> = {}): MallocFailureEvidence {
  return { mode: 0, pageSize: 4096, mode2: mode2Run(), mode2Reason: null, overcommit: cgroupRun(), overcommitReason: null, ...over };
}

const verdicts = (e: MallocFailureEvidence, mode: OvercommitMode = e.mode) =>
  Object.fromEntries(judgeEvidence(mallocFailureRules, e, mode).map((f) => [f.claim, f]));

describe('malloc-failure rules, on constructed evidence', () => {
  it('hold when mode 2 reports its failed call and overcommit ends in a silent OOM kill', () => {
    const v = verdicts(evidence());
    expect(v['malloc-calls-brk-or-mmap']!.holds).toBe(true);
    expect(v['malloc-calls-brk-or-mmap']!.observed).toContain('the [heap] (brk)');
    expect(v['mode2-malloc-fails-at-call']!.holds).toBe(true);
    expect(v['mode2-malloc-fails-at-call']!.observed).toContain(`malloc ${OVER} failed 12`);
    expect(v['overcommit-malloc-failure-not-local']!.holds).toBe(true);
  });

  it('fails brk-or-mmap when a block lies in no anonymous or heap VMA', () => {
    const blocks = [{ sizeBytes: 8 * MiB, address: '0x1', vma: 'other' as const, vmaPathname: '/lib/x.so' }];
    expect(
      verdicts(evidence({ mode2: mode2Run({ blocks }), overcommit: null, overcommitReason: 'x' }), 2)['malloc-calls-brk-or-mmap']!.holds,
    ).toBe(false);
  });

  it('fails the mode-2 claim when the request was admitted, or the program died, or the size is not the one asked', () => {
    expect(
      verdicts(evidence({ mode2: mode2Run({ failure: null, exitCode: 0, writtenBlocks: 3 }) }))['mode2-malloc-fails-at-call']!.holds,
    ).toBe(false);
    expect(
      verdicts(evidence({ mode2: mode2Run({ failure: null, exitCode: null, signal: 'SIGKILL' }) }))['mode2-malloc-fails-at-call']!.holds,
    ).toBe(false);
    const wrongSize = mode2Run({ failure: { sizeBytes: 8 * MiB, errno: 12, message: 'x' }, writtenBlocks: 1 });
    expect(verdicts(evidence({ mode2: wrongSize }))['mode2-malloc-fails-at-call']!.holds).toBe(false);
    // ...and the contrast then has no locality to lose.
    expect(verdicts(evidence({ mode2: wrongSize }))['overcommit-malloc-failure-not-local']!.holds).toBe(false);
  });

  it('fails the overcommit claim when malloc itself failed in the cgroup, or nothing killed the program', () => {
    const failed = cgroupRun({ failure: { sizeBytes: 8 * MiB, errno: 12, message: 'x' }, signal: null, exitCode: 1 });
    expect(verdicts(evidence({ overcommit: failed }))['overcommit-malloc-failure-not-local']!.holds).toBe(false);
    expect(verdicts(evidence({ overcommit: cgroupRun({ signal: null, exitCode: 0 }) }))['overcommit-malloc-failure-not-local']!.holds).toBe(
      false,
    );
  });

  it('is undecided when the SIGKILL is not attributed to the OOM killer, a run timed out, or a run was not made', () => {
    const unattributed = verdicts(evidence({ overcommit: cgroupRun({ oomKillsAfter: 0 }) }))['overcommit-malloc-failure-not-local']!;
    expect(unattributed.holds).toBeNull();
    expect(unattributed.reason).toMatch(/OOM-kill count did not move/);
    expect(verdicts(evidence({ overcommit: cgroupRun({ timedOut: true }) }))['overcommit-malloc-failure-not-local']!.holds).toBeNull();
    const no2 = verdicts(evidence({ mode2: null, mode2Reason: 'not writable' }));
    expect(no2['mode2-malloc-fails-at-call']!.holds).toBeNull();
    expect(no2['overcommit-malloc-failure-not-local']!.reason).toMatch(/mode-2 contrast was not made \(not writable\)/);
  });

  it('judges the overcommit claim only in modes 0 and 1', () => {
    const e = evidence({ mode: 2, overcommit: null, overcommitReason: 'mode 2 is in force' });
    expect(Object.keys(verdicts(e))).toEqual(['malloc-calls-brk-or-mmap', 'mode2-malloc-fails-at-call']);
  });
});
