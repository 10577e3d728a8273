import { mib } from '../../units.js';
import { both } from '../../verdict/combine.js';
import { judgeAbove } from '../../verdict/decide.js';
import { measured, notMeasured, type Part } from '../../verdict/part.js';
import { toleranceFromRange } from '../../verdict/tolerance.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_000 } from '../documents.js';
import type { Claim, Evidence, Verdict } from '../model.js';
import { type CopyOnWriteEvidence, PARTIAL_STRIDE_PAGES, type RegionPages } from './evidence.js';

const C = {
  shared: {
    id: 'fork-shares-pages',
    text: 'Avec le mécanisme de copy-on-write, les pages ne sont dupliquées que si le fork (ou le process original) écrit dessus (the parent and child share the common memory pages; a page is duplicated only when it changes)',
    source: DOC_000,
  },
  virtualNotPhysical: {
    id: 'fork-doubles-virtual-not-physical',
    text: 'Redis forke le process, ce qui a pour effet de doubler la mémoire virtuelle nécessaire, mais pas nécessairement la mémoire physique',
    source: DOC_000,
  },
  allWritten: {
    id: 'all-pages-written-cow-saves-nothing',
    text: "Dans le cas extrême où quelqu'un aura écrit sur TOUTES les pages de RAM utilisées par la DB, le copy-on-write n'aura servi à rien",
    source: DOC_000,
  },
} satisfies Record<string, Claim>;

const counts = (p: RegionPages | null): string => (p === null ? 'unknown' : `${p.sharedPages} shared, ${p.privatePages} private`);

const story = (e: CopyOnWriteEvidence): string =>
  `The parent wrote all ${e.regionPages} pages of a ${mib(e.regionBytes)} private region, then forked. In the child's smaps the region had ${counts(e.afterFork)} pages right after the fork; ` +
  `after the child wrote ${e.partialWrittenPages} of them (one in ${PARTIAL_STRIDE_PAGES}): ${counts(e.afterPartialWrite)}; after it wrote all of them: ${counts(e.afterFullWrite)}.`;

/** The region's pages at a point, or why they are not there: a smaps read that failed is no verdict. */
const pagesAt = (p: RegionPages | null, when: string): Part<RegionPages> =>
  p === null ? notMeasured(`the child's smaps ${when} was not read or did not show the region`) : measured(p);

/** Pages as `expected` at a point: decided only where smaps was read. */
function pagesAre(p: RegionPages | null, when: string, expected: (p: RegionPages) => boolean): Verdict {
  const part = pagesAt(p, when);
  return part.ok ? { holds: expected(part.value) } : { holds: null, reason: part.missing };
}

const sharedAtFork = (e: CopyOnWriteEvidence): Verdict =>
  pagesAre(e.afterFork, 'after the fork', (p) => p.sharedPages === e.regionPages && p.privatePages === 0);
const onlyWrittenCopied = (e: CopyOnWriteEvidence): Verdict =>
  pagesAre(
    e.afterPartialWrite,
    'after the partial write',
    (p) => p.privatePages === e.partialWrittenPages && p.sharedPages === e.regionPages - e.partialWrittenPages,
  );
const allCopied = (e: CopyOnWriteEvidence): Verdict =>
  pagesAre(e.afterFullWrite, 'after the full write', (p) => p.privatePages === e.regionPages && p.sharedPages === 0);
/** The copy a fork makes: the parent's VmSize less its 'dc' VMAs (the smaller of the reads around the fork). */
const copyable = (e: CopyOnWriteEvidence): number => Math.min(e.parentCopyableBeforeBytes, e.parentCopyableAfterBytes);
/**
 * How far below the copy the child's VmSize may be by noise. The parent's reads before and after
 * the fork bound what it held at the fork, so their lower one is a bound the child must reach
 * however far the other moved (a thread's arena mapped meanwhile); only what Node's threads map
 * and unmap unseen by either read (a V8 page, an arena trim) is left: the tool's own jitter.
 */
const vmSizeTolerance = (): number => toleranceFromRange(0);
/** Whether the child holds all the copy: its VmSize above it by more than the noise (undecided within it). */
function virtualDoubled(e: CopyOnWriteEvidence): Verdict {
  if (e.childVmSizeBytes === null) return { holds: null, reason: "the child's VmSize was not read" };
  return judgeAbove(
    { changeBytes: e.childVmSizeBytes, toleranceBytes: vmSizeTolerance() },
    { label: 'the parent’s copyable memory', bytes: copyable(e) },
    { noise: 'the parent’s threads moved its VmSize', value: 'the child’s VmSize was' },
  );
}

function virtualWords(e: CopyOnWriteEvidence): string {
  const v = virtualDoubled(e);
  if (v.holds === true) return 'The child holds all of it: with the parent, twice the virtual memory';
  if (v.holds === false) return `The child is short of it by more than ${mib(vmSizeTolerance())}: the virtual memory is not doubled`;
  return `Whether the child holds all of it cannot be told: ${v.reason}`;
}

/** The evidence, with the VmSize tolerance the rules computed (a key findings always had). */
const findingEvidence = (e: CopyOnWriteEvidence): Evidence => ({ ...(e as unknown as Evidence), vmSizeToleranceBytes: vmSizeTolerance() });

export const copyOnWriteRules = defineRules<CopyOnWriteEvidence>({
  id: 'copy-on-write',
  title: "000's copy-on-write after fork: the pages a child shares with its parent and the ones it copies, from the child's smaps",
  requires: {},
  rules: [
    {
      claim: C.shared,
      evidence: findingEvidence,
      judge: (e) => both(sharedAtFork(e), onlyWrittenCopied(e)),
      observe: (e, v) =>
        `${story(e)} ${v.holds === null ? '' : v.holds ? 'Exactly the written pages were copied.' : 'The copies do not match the pages written.'}`,
    },
    {
      // The child holds a copy of every mapping fork copies (virtual doubled) yet, at first, no
      // page of the region of its own (physical not).
      claim: C.virtualNotPhysical,
      evidence: findingEvidence,
      judge: (e) => both(virtualDoubled(e), sharedAtFork(e)),
      observe: (e) => {
        const childVm = e.childVmSizeBytes ?? 0;
        const charge = e.committedInChildBytes === null ? 'not read' : `${e.committedInChildBytes - e.committedBeforeForkBytes} B`;
        return (
          `The child's VmSize right after the fork was ${childVm} B (${mib(childVm)}); the parent's was ${e.parentVmSizeBytes} B (${mib(e.parentVmSizeBytes)}) just before it, ` +
          `of which ${mib(e.parentDontCopyBytes)} is in VMAs marked 'dc' (MADV_DONTFORK), which fork never copies: the rest, ${mib(copyable(e))} (the smaller of the reads before and after), is what a copy holds (besides runChild's result area, ${mib(e.resultReadBytes)} for the child's reads). ` +
          `${virtualWords(e)}; ` +
          `of the region the child had ${counts(e.afterFork)} pages (${sharedAtFork(e).holds === true ? 'all still shared: no physical copy' : 'not all shared'}). Committed_AS grew by ${charge} across the fork (evidence only: other processes move it too).`
        );
      },
    },
    {
      claim: C.allWritten,
      evidence: findingEvidence,
      judge: allCopied,
      observe: (e, v) =>
        `${story(e)} ${
          v.holds
            ? `With every page written the child holds its own copy of all ${e.regionPages} pages: as much memory as without copy-on-write.`
            : `With every page written the child holds ${counts(e.afterFullWrite)} pages: not a copy of each.`
        }`,
    },
  ],
});
