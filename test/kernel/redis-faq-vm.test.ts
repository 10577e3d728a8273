// The FAQ's own scenario on the real redis-server, in a throwaway 5.1.15 guest (TCG, 1 GiB): a
// dataset larger than what stays free, then BGSAVE in mode 0. Whatever the kernel does, the run
// must be the scenario it claims to be, and its verdicts the ones its evidence gives. Needs qemu,
// a static busybox, cpio, the shared 5.1.15 image and a redis-server on the host (the guest uses
// the host's through the shared /usr); skips visibly without them. The host's /proc/sys/vm is
// never touched: the mode switch happens in the guest.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RedisServerEvidence } from '../../lib/experiments/redis-server/index.js';
import { mode0Reading } from '../../lib/experiments/redis-server/rules.js';
import { MODE0_RULES } from '../../lib/kernel/admission.js';
import { findRedisServer } from '../../lib/redis/server.js';
import type { RunReport } from '../../lib/verdict/types.js';
import { checkRun } from '../../lib/vm/matrix.js';
import { checkHostTools } from '../../lib/vm/requirements.js';
import { RUN_VM_MARGIN_S, runVm } from '../helpers.js';

const root = join(import.meta.dirname, '../..');
/** The boot (up to 3 minutes under a loaded TCG) and the scenario (about half a minute at 1 GiB). */
const GUEST_S = 330;

/** scripts/kernels.sh's 5.1 line: the shared image, never fetched. */
function kernel51(): string | undefined {
  const r = spawnSync(join(root, 'scripts/kernels.sh'), ['5.1'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split(' ')[1] : undefined;
}

const kernel = kernel51();
const tools = checkHostTools({ modules: false, compressedModules: false, ext4Image: false });
const redis = findRedisServer();
const missing =
  'missing' in tools
    ? tools.missing.join(' ')
    : kernel === undefined
      ? 'no shared/kernels/vmlinuz-5.1.15-kvmlab beside the repository'
      : 'missing' in redis
        ? redis.missing
        : '';
if (missing !== '') console.warn(`redis-faq-vm: skipped: ${missing}`);

describe.skipIf(missing !== '')(`the FAQ's BGSAVE in a 5.1.15 guest${missing === '' ? '' : ` — skipped: ${missing}`}`, () => {
  it(
    'mode 0: a dataset larger than what stays free, BGSAVE ok or err with its log, and verdicts its evidence gives',
    () => {
      const r = runVm(kernel!, ['--memory', '1G'], ['run', 'redis-server', '--mode', '0', '--json'], GUEST_S);
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as RunReport;
      expect(report.system.vm?.kernel).toBe('5.1.15');
      expect(checkRun(report, ['redis-server'])).toEqual([]);
      const run = report.runs.find((x) => x.experiment === 'redis-server' && x.mode === 0)!;
      expect(run.status, run.reason).toBe('ran');
      const e = run.evidence as unknown as RedisServerEvidence;
      expect(e.problem).toBeUndefined();

      // The scenario: the guest knew it was disposable, filled with the server's own writes,
      // more than stayed free, with the heap charged (the fork has something to check).
      expect(e.scenario).toBe('disposable');
      expect(e.fill).toBe('setrange');
      expect(e.redisVersion).toMatch(/^\d+\.\d+/);
      expect(e.usedMemoryBytes!).toBeGreaterThanOrEqual(e.datasetBytes);
      expect(e.rssBytes!).toBeGreaterThan(e.memAvailableBytes);
      expect(e.largestAccountedBytes!).toBeGreaterThan(0);
      expect(e.memFreeBytes!).toBeGreaterThan(0);
      expect(e.commitLimitBytes!).toBeGreaterThan(0);
      expect(e.committedAsBytes!).toBeGreaterThan(0);

      // BGSAVE's outcome, its reply and its log agree.
      expect(['ok', 'err']).toContain(e.bgsave);
      const forkLine = e.bgsaveLog.some((l) => /Can't save in background: fork/.test(l));
      if (e.bgsave === 'ok') {
        expect(e.bgsaveReply).toMatch(/Background saving started/);
        expect(e.bgsaveLog.some((l) => /Background saving terminated with success/.test(l))).toBe(true);
      } else {
        expect(e.bgsaveReply).toMatch(/^error/);
      }

      // The verdicts read the claim from this run: the FAQ holds exactly when the fork was refused;
      // the rule named is the one whose prediction matches what the fork did.
      const faq = run.findings.find((f) => f.claim === 'redis-bgsave-mode0-free-ram')!;
      expect(faq.holds).toBe(e.bgsave === 'err' && forkLine);
      const rule = run.findings.find((f) => f.claim === 'redis-bgsave-mode0-rule')!;
      const reading = mode0Reading(e);
      if ('missing' in reading) throw new Error(reading.missing);
      const outcome = forkLine ? 'refuse' : 'accept';
      if (rule.holds === true) {
        const named = rule.evidence.rule;
        expect(named === MODE0_RULES.free ? reading.free.predicts : reading.ramSwap.predicts).toBe(outcome);
        expect(named === MODE0_RULES.free ? reading.ramSwap.predicts : reading.free.predicts).not.toBe(outcome);
      }
      console.log(`redis-faq-vm: 5.1.15 mode 0: BGSAVE ${e.bgsave}; ${e.bgsaveLog.join(' | ')}; ${rule.observed}`);
    },
    (GUEST_S + RUN_VM_MARGIN_S + 30) * 1000,
  );
});
