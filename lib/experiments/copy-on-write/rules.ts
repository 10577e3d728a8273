import { mib } from '../../units.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_000 } from '../documents.js';
import type { Claim } from '../model.js';
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

const sharedAtFork = (e: CopyOnWriteEvidence): boolean => e.afterFork!.sharedPages === e.regionPages && e.afterFork!.privatePages === 0;
const onlyWrittenCopied = (e: CopyOnWriteEvidence): boolean =>
  e.afterPartialWrite!.privatePages === e.partialWrittenPages && e.afterPartialWrite!.sharedPages === e.regionPages - e.partialWrittenPages;
const allCopied = (e: CopyOnWriteEvidence): boolean =>
  e.afterFullWrite!.privatePages === e.regionPages && e.afterFullWrite!.sharedPages === 0;
/** The copy a fork makes: the parent's VmSize less its 'dc' VMAs (the smaller of the reads around the fork). */
const copyable = (e: CopyOnWriteEvidence): number => Math.min(e.parentCopyableBeforeBytes, e.parentCopyableAfterBytes);
const virtualDoubled = (e: CopyOnWriteEvidence): boolean => e.childVmSizeBytes! >= copyable(e) - e.vmSizeToleranceBytes;

export const copyOnWriteRules = defineRules<CopyOnWriteEvidence>({
  id: 'copy-on-write',
  title: "000's copy-on-write after fork: the pages a child shares with its parent and the ones it copies, from the child's smaps",
  requires: {},
  rules: [
    {
      claim: C.shared,
      judge: (e) => ({ holds: sharedAtFork(e) && onlyWrittenCopied(e) }),
      observe: (e, v) => `${story(e)} ${v.holds ? 'Exactly the written pages were copied.' : 'The copies do not match the pages written.'}`,
    },
    {
      // The child holds a copy of every mapping fork copies (virtual doubled) yet, at first, no
      // page of the region of its own (physical not).
      claim: C.virtualNotPhysical,
      judge: (e) => ({ holds: virtualDoubled(e) && sharedAtFork(e) }),
      observe: (e) => {
        const childVm = e.childVmSizeBytes!;
        const charge = e.committedInChildBytes === null ? 'not read' : `${e.committedInChildBytes - e.committedBeforeForkBytes} B`;
        return (
          `The child's VmSize right after the fork was ${childVm} B (${mib(childVm)}); the parent's was ${e.parentVmSizeBytes} B (${mib(e.parentVmSizeBytes)}) just before it, ` +
          `of which ${mib(e.parentDontCopyBytes)} is in VMAs marked 'dc' (MADV_DONTFORK), which fork never copies: the rest, ${mib(copyable(e))} (the smaller of the reads before and after), is what a copy holds (besides runChild's result area, ${mib(e.resultReadBytes)} for the child's reads). ` +
          `${virtualDoubled(e) ? 'The child holds all of it: with the parent, twice the virtual memory' : `The child is short of it by more than ${mib(e.vmSizeToleranceBytes)}: the virtual memory is not doubled`}; ` +
          `of the region the child had ${counts(e.afterFork)} pages (${sharedAtFork(e) ? 'all still shared: no physical copy' : 'not all shared'}). Committed_AS grew by ${charge} across the fork (evidence only: other processes move it too).`
        );
      },
    },
    {
      claim: C.allWritten,
      judge: (e) => ({ holds: allCopied(e) }),
      observe: (e, v) =>
        `${story(e)} ${
          v.holds
            ? `With every page written the child holds its own copy of all ${e.regionPages} pages: as much memory as without copy-on-write.`
            : `With every page written the child holds ${counts(e.afterFullWrite)} pages: not a copy of each.`
        }`,
    },
  ],
});
