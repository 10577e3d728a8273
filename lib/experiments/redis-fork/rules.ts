import { gib, mib } from '../../units.js';
import type { BoundClass } from '../../verdict/decide.js';
import { copyFits as fitsUnderLimit } from '../../verdict/fits.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_000, DOC_001 } from '../documents.js';
import type { Evidence } from '../model.js';
import type { ForkAttempt, RedisForkEvidence } from './evidence.js';

/** Why the child did not get as far as a fork the claim can be judged on. */
function incomplete(a: ForkAttempt): string | undefined {
  if (a.mmapStatus !== 'ok')
    return `the ${gib(a.regionBytes)} region could not be mapped (${a.mmapCode ?? a.mmapStatus}), so the fork was never reached`;
  if (a.touchStatus !== 'ok')
    return `the dataset was not written (touch ${a.touchStatus}, ${a.touchedPages} pages; exit ${a.exitCode}, signal ${a.signal})`;
  if (a.forkStatus !== 'ok' && a.forkStatus !== 'failed') return `the fork step did not run (${a.forkStatus})`;
  if (a.memAvailable === null || a.commitLimit === null || a.committedAs === null) return '/proc/meminfo was not read before the fork';
  return undefined;
}

/** Free RAM around the fork: the lower and higher of the readings just before and after it. */
function freeRange(a: ForkAttempt): [number, number] {
  const values = [a.memAvailable!, a.memAvailableAfter ?? a.memAvailable!];
  return [Math.min(...values), Math.max(...values)];
}

/** The region against the room CommitLimit left before the fork (verdict/fits.ts). */
function copyFits(a: ForkAttempt): BoundClass {
  const committed = a.committedAs ?? 0;
  return fitsUnderLimit(
    { commitLimitBytes: a.commitLimit ?? 0, committedAsBytes: committed, committedAsAfterBytes: a.committedAsAfter },
    { label: 'a copy of the region', bytes: a.regionBytes },
  );
}

function summary(e: RedisForkEvidence): string {
  const a = e.attempt;
  if (a.mmapStatus !== 'ok')
    return `A child's mmap of a ${gib(a.regionBytes)} private writable region ${a.mmapStatus} (${a.mmapCode ?? 'no errno'})`;
  const mem =
    a.memAvailable === null
      ? 'meminfo not read'
      : `MemAvailable ${gib(a.memAvailable)} (${a.memAvailableAfter === null ? 'not read after' : `${gib(a.memAvailableAfter)} after`}), MemFree ${gib(a.memFree!)}, MemTotal+SwapTotal ${gib(a.memTotal! + a.swapTotal!)}, CommitLimit ${gib(a.commitLimit!)}, Committed_AS ${gib(a.committedAs!)} just before the fork`;
  const fork = a.forkStatus === 'ok' ? 'succeeded' : `${a.forkStatus} (${a.forkCode ?? 'no errno'})`;
  return `A child holding a ${gib(a.regionBytes)} private writable region, ${mib(a.datasetBytes)} of it written (${a.touchedPages} pages, in a ${mib(a.cgroupLimitBytes)} memory cgroup): fork ${fork}; ${mem}`;
}

function findingEvidence(e: RedisForkEvidence): Evidence {
  const out: Evidence = { ...e.attempt, scenario: e.scenario };
  if (e.mode === 2) return { ...out, headroomBytes: e.headroomBytes, first: e.first === null ? null : { ...e.first } };
  return out;
}

export const redisForkRules = defineRules<RedisForkEvidence>({
  id: 'redis-fork',
  title: 'Fork of a process holding more memory than is free (the Redis FAQ), in the mode in force',
  requires: { root: true, memoryCgroup: true },
  rules: [
    {
      claim: {
        id: 'mode0-fork-fails-without-free-ram',
        text: 'If the overcommit_memory setting is set to zero the fork will fail unless there is as much free RAM as required to really duplicate all the parent memory pages',
        source: DOC_000,
        modes: [0],
      },
      missing: (e) => {
        const why = incomplete(e.attempt);
        if (why !== undefined) return why;
        const [low, high] = freeRange(e.attempt);
        if (e.attempt.regionBytes <= high) {
          return `the parent's ${gib(e.attempt.regionBytes)} was not more than the free RAM around the fork (MemAvailable ${gib(low)} to ${gib(high)}): the FAQ predicts nothing`;
        }
        return undefined;
      },
      // More to duplicate than free RAM: the FAQ predicts that the fork fails.
      judge: (e) => ({ holds: e.attempt.forkStatus !== 'ok' }),
      observe: (e, v) => {
        if (v.holds === null) return summary(e);
        const over = e.attempt.regionBytes - freeRange(e.attempt)[1];
        return `${summary(e)}. The parent's memory exceeded free RAM by ${gib(over)}, so the FAQ predicts failure; ${
          v.holds
            ? `the fork was refused (${e.attempt.forkCode})`
            : 'the kernel let the fork through: its mode-0 check did not compare the copy with free RAM'
        }.`;
      },
      evidence: findingEvidence,
    },
    {
      claim: {
        id: 'mode1-fork-succeeds',
        text: 'Setting overcommit_memory to 1 tells Linux to relax and perform the fork in a more optimistic allocation fashion',
        source: DOC_000,
        modes: [1],
      },
      missing: (e) => incomplete(e.attempt),
      judge: (e) => ({ holds: e.attempt.forkStatus === 'ok' }),
      observe: (e, v) => {
        if (v.holds === null) return summary(e);
        const [, high] = freeRange(e.attempt);
        const more = e.attempt.regionBytes > high ? `, though the parent held ${gib(e.attempt.regionBytes - high)} more than was free` : '';
        return `${summary(e)}. ${v.holds ? `The fork went through${more}` : `The fork was refused (${e.attempt.forkCode})`}.`;
      },
      evidence: findingEvidence,
    },
    {
      claim: {
        id: 'mode2-fork-checked',
        text: 'Account and check on fork (mode 2: a fork whose copy of the private writable memory would exceed CommitLimit is refused)',
        source: DOC_001,
        modes: [2],
      },
      missing: (e) => incomplete(e.attempt),
      // Committed_AS read before the fork already holds the region once: the copy fits if a second
      // one does. Whether it does is decided against the room others left, which they move: a copy
      // within that noise of CommitLimit is no verdict.
      judge: (e) => {
        const a = e.attempt;
        const fits = copyFits(a);
        if (fits.side === null) return { holds: null, reason: fits.reason };
        const refused = a.forkStatus === 'failed' && a.forkCode === 'ENOMEM';
        return { holds: refused === (fits.side === 'below') };
      },
      observe: (e, v) => {
        const a = e.attempt;
        const first =
          e.first === null
            ? ''
            : `First a ${gib(e.first.regionBytes)} region: mmap ${e.first.mmapStatus} (${e.first.mmapCode ?? 'no errno'}); CommitLimit - Committed_AS was ${gib(e.headroomBytes!)}. Then: `;
        if (v.holds === null) return `${first}${summary(e)}`;
        const fits = copyFits(a).side === 'above';
        const outcome =
          a.forkStatus === 'ok' ? 'let through' : a.forkCode === 'ENOMEM' ? 'refused with ENOMEM' : `${a.forkStatus} (${a.forkCode})`;
        return `${first}${summary(e)}. A copy of the ${gib(a.regionBytes)} region ${fits ? 'fits' : 'does not fit'} under CommitLimit (Committed_AS + region = ${gib(a.committedAs! + a.regionBytes)}); the fork was ${outcome}.`;
      },
      evidence: findingEvidence,
    },
  ],
});
