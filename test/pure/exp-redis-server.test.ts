import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { OvercommitMode } from '../../lib/experiments/model.js';
import type { RedisServerEvidence } from '../../lib/experiments/redis-server/evidence.js';
import { redisServerRules } from '../../lib/experiments/redis-server/rules.js';
import { MiB } from '../../lib/units.js';

/** `run redis-server --mode all --json` on this project's 6.18 VM with Debian 12's redis-server 7.0.15. */
const captured = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures/redis-server/run-all-6.18.json'), 'utf8')) as {
  runs: { mode: OvercommitMode; evidence: RedisServerEvidence; findings: { claim: string; holds: boolean | null }[] }[];
};
const at = (mode: OvercommitMode): RedisServerEvidence => captured.runs.find((r) => r.mode === mode)!.evidence;
const verdict = (e: RedisServerEvidence, claim: string) => judgeEvidence(redisServerRules, e, e.mode).find((f) => f.claim === claim)!;

describe('redis-server rules on captured and constructed evidence', () => {
  it('re-judges the captured run to its own verdicts', () => {
    for (const r of captured.runs) {
      // Claims added since the capture are judged too (redis-bgsave-mode0-rule: no readings, no verdict).
      const again = judgeEvidence(redisServerRules, r.evidence, r.mode).filter((f) => r.findings.some((g) => g.claim === f.claim));
      expect(again.map((f) => [f.claim, f.holds])).toEqual(r.findings.map((f) => [f.claim, f.holds]));
    }
  });

  it('overcommit warning: holds when Redis warns in mode 0 only, fails otherwise', () => {
    expect(verdict(at(0), 'redis-overcommit-warning').holds).toBe(true);
    expect(verdict(at(1), 'redis-overcommit-warning').holds).toBe(true);
    expect(verdict({ ...at(0), overcommitWarning: false, warningLines: [] }, 'redis-overcommit-warning').holds).toBe(false);
    expect(verdict({ ...at(1), overcommitWarning: true, warningLines: at(0).warningLines }, 'redis-overcommit-warning').holds).toBe(false);
  });

  it('mode 1: BGSAVE ok holds, err fails', () => {
    expect(verdict(at(1), 'redis-bgsave-mode1').holds).toBe(true);
    expect(verdict({ ...at(1), bgsave: 'err' }, 'redis-bgsave-mode1').holds).toBe(false);
  });

  it("mode 0: no verdict while the dataset fits in free RAM; the FAQ's case holds on a refused fork, fails on a save", () => {
    const small = verdict(at(0), 'redis-bgsave-mode0-free-ram');
    expect(small.holds).toBeNull();
    expect(small.reason).toMatch(/FAQ predicts nothing/);
    const faq = { ...at(0), memAvailableBytes: at(0).rssBytes! / 2 };
    expect(verdict(faq, 'redis-bgsave-mode0-free-ram').holds).toBe(false);
    const refused = { ...faq, bgsave: 'err' as const, bgsaveLog: at(2).bgsaveLog };
    expect(verdict(refused, 'redis-bgsave-mode0-free-ram').holds).toBe(true);
  });

  it('mode 2: a refused copy that does not fit holds; one let through fails; too close to CommitLimit is undecided', () => {
    expect(verdict(at(2), 'redis-bgsave-mode2-enomem').holds).toBe(true);
    expect(
      verdict({ ...at(2), bgsave: 'ok', bgsaveLog: [], bgsaveReply: 'Background saving started' }, 'redis-bgsave-mode2-enomem').holds,
    ).toBe(false);
    const fits = { ...at(2), commitLimitBytes: at(2).committedAsBytes! + at(2).serverAccountedBytes! + 512 * MiB };
    expect(verdict(fits, 'redis-bgsave-mode2-enomem').holds).toBe(false);
    const close = { ...at(2), commitLimitBytes: at(2).committedAsBytes! + at(2).serverAccountedBytes! + MiB / 2 };
    const v = verdict(close, 'redis-bgsave-mode2-enomem');
    expect(v.holds).toBeNull();
    expect(v.reason).toMatch(/within/);
  });

  it('copy-on-write: the written pages hold, the whole dataset fails, a noisy baseline or an early end is undecided', () => {
    expect(verdict(at(1), 'redis-cow-written-pages').holds).toBe(true);
    expect(verdict({ ...at(1), cowBytes: at(1).usedMemoryBytes! }, 'redis-cow-written-pages').holds).toBe(false);
    const noisy = verdict({ ...at(1), cowBaselineBytes: 64 * MiB, cowBytes: 80 * MiB }, 'redis-cow-written-pages');
    expect(noisy.holds).toBeNull();
    const early = verdict({ ...at(1), savingAfterWrites: false }, 'redis-cow-written-pages');
    expect(early.holds).toBeNull();
    expect(early.reason).toMatch(/ended before/);
  });

  it('a problem gives no verdict, with the reason', () => {
    for (const f of judgeEvidence(redisServerRules, { ...at(1), problem: 'redis-server: it crashed' }, 1)) {
      expect(f.holds).toBeNull();
      expect(f.reason).toBe('redis-server: it crashed');
    }
  });
});
