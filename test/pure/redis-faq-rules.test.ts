// The FAQ's own scenario (redis-server in a throwaway VM, modes 0 and 1) judged on captured and
// constructed evidence: pure, no server, no kernel.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { OvercommitMode } from '../../lib/experiments/model.js';
import type { RedisServerEvidence } from '../../lib/experiments/redis-server/evidence.js';
import { mode0Reading, redisServerRules as redisServer } from '../../lib/experiments/redis-server/rules.js';
import { MODE0_RULES } from '../../lib/kernel/admission.js';
import { GiB, MiB } from '../../lib/units.js';

/** `vm --kernel 5.1.15 --memory 1G -- run redis-server --mode 0,1 --json`: Debian 12's redis-server 7.0.15 in a TCG guest. */
const captured = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/redis-server/faq-5.1.15.json'), 'utf8')) as {
  runs: { mode: OvercommitMode; evidence: RedisServerEvidence; findings: { claim: string; holds: boolean | null }[] }[];
};
const at = (mode: OvercommitMode): RedisServerEvidence => captured.runs.find((r) => r.mode === mode)!.evidence;
const finding = (e: RedisServerEvidence, claim: string) => judgeEvidence(redisServer, e, e.mode).find((f) => f.claim === claim)!;

const refused = at(0);
/** The same server, its fork let through: the save ran (the log of the mode-1 run). */
const saved: RedisServerEvidence = { ...refused, bgsave: 'ok', bgsaveReply: at(1).bgsaveReply, bgsaveLog: at(1).bgsaveLog };
/** The pre-5.2 rule's free estimate moved to `bytes` (MemFree carries it). */
const withFree = (e: RedisServerEvidence, bytes: number): RedisServerEvidence => {
  const f = e.freeEstimate!;
  const rest = f.cachedBytes + f.buffersBytes + f.swapCachedBytes - f.shmemBytes + f.swapFreeBytes + f.reclaimableBytes;
  return { ...e, freeEstimate: { ...f, memFreeBytes: bytes - rest + f.totalReservePages * e.pageSize } };
};

describe("the FAQ's scenario: rules on captured evidence", () => {
  it('is the scenario it claims to be: a throwaway VM, a dataset larger than MemAvailable, the heap charged', () => {
    for (const mode of [0, 1] as const) {
      const e = at(mode);
      expect(e.scenario).toBe('disposable');
      expect(e.fill).toBe('setrange');
      expect(e.rssBytes!).toBeGreaterThan(e.memAvailableBytes);
      expect(e.largestAccountedBytes!).toBeGreaterThan(0);
    }
  });

  it('re-judges the captured run to its own verdicts', () => {
    for (const r of captured.runs) {
      const again = judgeEvidence(redisServer, r.evidence, r.mode);
      expect(again.map((f) => [f.claim, f.holds])).toEqual(r.findings.map((f) => [f.claim, f.holds]));
    }
  });

  it('the rule read from the run: the one of the two whose prediction matches what the fork did', () => {
    const r = mode0Reading(refused);
    if ('missing' in r) throw new Error(r.missing);
    const f = finding(refused, 'redis-bgsave-mode0-rule');
    const refusedFork = refused.bgsaveLog.some((l) => /Can't save in background: fork/.test(l));
    const expected = [
      ...(r.free.predicts === (refusedFork ? 'refuse' : 'accept') ? [MODE0_RULES.free] : []),
      ...(r.ramSwap.predicts === (refusedFork ? 'refuse' : 'accept') ? [MODE0_RULES.ramSwap] : []),
    ];
    expect(f.evidence.rule ?? null).toBe(expected.length === 1 ? expected[0] : null);
  });
});

describe("the FAQ's scenario: rules on constructed evidence", () => {
  it('mode 0, the fork refused with the log line: the FAQ holds, and the kernel follows the free-memory estimate', () => {
    const e = withFree(refused, refused.largestAccountedBytes! / 2);
    expect(finding(e, 'redis-bgsave-mode0-free-ram').holds).toBe(true);
    const rule = finding(e, 'redis-bgsave-mode0-rule');
    expect(rule.holds).toBe(true);
    expect(rule.evidence.rule).toBe(MODE0_RULES.free);
    expect(rule.observed).toMatch(/Can't save in background: fork: Cannot allocate memory/);
  });

  it('mode 0, the fork let through: the FAQ fails, and the kernel follows RAM + swap', () => {
    const e = withFree(saved, saved.largestAccountedBytes! / 2);
    expect(finding(e, 'redis-bgsave-mode0-free-ram').holds).toBe(false);
    const rule = finding(e, 'redis-bgsave-mode0-rule');
    expect(rule.holds).toBe(true);
    expect(rule.evidence.rule).toBe(MODE0_RULES.ramSwap);
  });

  it('mode 0: a refusal neither rule predicts (the request fits both) is a rule this tool does not know', () => {
    const e = withFree({ ...refused, largestAccountedBytes: 64 * MiB }, 2 * GiB);
    expect(finding(e, 'redis-bgsave-mode0-rule').holds).toBe(false);
    expect(finding(e, 'redis-bgsave-mode0-rule').evidence.rule).toBeNull();
  });

  it('mode 0: a request both rules accept, accepted, or one at a limit, tells nothing', () => {
    const both = finding(withFree({ ...saved, largestAccountedBytes: 64 * MiB }, 2 * GiB), 'redis-bgsave-mode0-rule');
    expect(both.holds).toBeNull();
    expect(both.reason).toMatch(/tells them not apart/);
    const close = finding(withFree(refused, refused.largestAccountedBytes! + MiB / 2), 'redis-bgsave-mode0-rule');
    expect(close.holds).toBeNull();
    expect(close.reason).toMatch(/within/);
  });

  it("mode 0: the free estimate's own movement before BGSAVE is the tolerance: a request it could cover is `?`", () => {
    const limit = refused.largestAccountedBytes! - 8 * MiB;
    const steady = withFree(refused, limit);
    const readings = [-6, -3, 0, 3, 6].map((d) => withFree(refused, limit + d * MiB).freeEstimate!);
    const moving = { ...steady, freeEstimateReadings: readings };
    const still = { ...steady, freeEstimateReadings: [steady.freeEstimate!, steady.freeEstimate!, steady.freeEstimate!] };
    const r = mode0Reading(moving);
    if ('missing' in r) throw new Error(r.missing);
    expect(r.toleranceBytes).toBeGreaterThanOrEqual(12 * MiB);
    expect(r.free.predicts).toBeNull();
    expect(finding(moving, 'redis-bgsave-mode0-rule').holds).toBeNull();
    expect(finding(moving, 'redis-bgsave-mode0-rule').reason).toMatch(/within/);
    const s = mode0Reading(still);
    if ('missing' in s) throw new Error(s.missing);
    expect(s.free.predicts).toBe('refuse');
    expect(finding(still, 'redis-bgsave-mode0-rule').holds).toBe(true);
    // A run saved with one reading measured no movement: it keeps the bound it was judged with.
    const old = mode0Reading(steady);
    if ('missing' in old) throw new Error(old.missing);
    expect(old.toleranceBytes).toBeGreaterThan(limit / 32);
    expect(old.free.predicts).toBeNull();
  });

  it('mode 0: a BGSAVE error without the fork line, or a run without the readings, gives no rule', () => {
    const other = finding({ ...refused, bgsaveLog: ['Write error saving DB on disk: No space left on device'] }, 'redis-bgsave-mode0-rule');
    expect(other.holds).toBeNull();
    expect(other.reason).toMatch(/without the log's fork line/);
    const old = finding({ ...refused, largestAccountedBytes: undefined, freeEstimate: undefined }, 'redis-bgsave-mode0-rule');
    expect(old.holds).toBeNull();
    expect(old.reason).toMatch(/not read before BGSAVE/);
  });

  it('mode 1: the save is judged; copy-on-write is left to a shared machine, saying so', () => {
    expect(finding(at(1), 'redis-bgsave-mode1').holds).toBe(at(1).bgsave === 'ok');
    expect(finding({ ...at(1), bgsave: 'err' }, 'redis-bgsave-mode1').holds).toBe(false);
    const cow = finding(at(1), 'redis-cow-written-pages');
    expect(cow.holds).toBeNull();
    expect(cow.reason).toMatch(/FAQ's scenario/);
  });

  it('a server that did not start, crashed or answered garbage: `?` for every claim, with the reason', () => {
    for (const problem of [
      'redis-server: redis-server exited (1) before listening; it said: FATAL CONFIG FILE ERROR',
      'redis-server: Connection is closed.',
      'redis-server: redis-server answered INFO server with "+garbage"',
    ]) {
      for (const mode of [0, 1] as const) {
        const fs = judgeEvidence(redisServer, { ...at(mode), problem }, mode);
        expect(fs.length).toBeGreaterThan(0);
        for (const f of fs) {
          expect(f.holds).toBeNull();
          expect(f.reason).toBe(problem);
        }
      }
    }
  });
});
