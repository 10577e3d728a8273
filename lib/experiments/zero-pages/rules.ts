import { mib } from '../../units.js';
import { type ChangeHypothesis, type ChangeWording, classifyChange, verdictOf } from '../../verdict/decide.js';
import { pagesOf, thpSizeText } from '../../verdict/page-size.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_001 } from '../documents.js';
import type { ZeroPagesEvidence } from './evidence.js';

/** A growth below this fraction of the region is no allocation; above (1 - it), every page was allocated. */
const DECISION_FRACTION = 0.1;

const NO_MEMORY: ChangeHypothesis = { label: 'no memory of their own', bytes: 0 };
const GROWTH_WORDING: ChangeWording = {
  noise: 'a huge page or a merged neighbour may move the Anonymous memory',
  value: 'the reads added Anonymous memory of',
};

/** The measured page: recorded, or (runs saved before it was) the region over the pages read, one per page. */
const pageSizeOf = (e: ZeroPagesEvidence): number => e.pageSize ?? e.mappedBytes / e.readPages;

/** The growth the verdict reads: the mapping's own Anonymous memory, exact per VMA. */
const grewBy = (e: ZeroPagesEvidence): number => Math.max(e.vmaAnonymousDeltaBytes, 0);

export const zeroPagesRules = defineRules<ZeroPagesEvidence>({
  id: 'zero-pages',
  title: "001's sparse arrays of zero pages: reading every page of a region never written, and what it costs",
  requires: {},
  rules: [
    {
      claim: {
        id: 'sparse-virtual-memory-is-zero-pages',
        text: 'Always overcommit: classic example is code using sparse arrays and just relying on the virtual memory consisting almost entirely of zero pages',
        source: DOC_001,
      },
      judge: (e) => {
        if (!e.allZero) return { holds: false, reason: 'a page never written did not read as zero' };
        // The VMA's Anonymous is exact, but a huge page or a neighbour merged in moves it: a tenth of the region either way.
        const growth = { changeBytes: grewBy(e), toleranceBytes: DECISION_FRACTION * e.mappedBytes };
        const c = classifyChange(growth, [NO_MEMORY, { label: 'memory for every page', bytes: e.mappedBytes }], GROWTH_WORDING);
        return verdictOf(c, (m) => m === NO_MEMORY);
      },
      observe: (e, v) => {
        const grown = grewBy(e);
        const zeroBacked = v.holds === true && e.residentPages === e.readPages;
        const cost = !e.allZero
          ? 'pages never written did not all read as zero'
          : v.holds === true
            ? zeroBacked
              ? `mincore counts all ${e.residentPages} pages resident while smaps gives them no Anonymous memory: they are backed by a zero page, not memory of their own`
              : `mincore counts ${e.residentPages} of ${e.readPages} pages resident, and smaps gives them no Anonymous memory of their own`
            : v.holds === false
              ? `the kernel gave the region ${mib(grown)} of memory of its own for pages that were only read (THP ${e.thpEnabled ?? 'absent'}, use_zero_page ${e.thpUseZeroPage ?? 'absent'}, huge page ${thpSizeText({ pageSize: pageSizeOf(e), thpSizeBytes: e.thpSizeBytes })})`
              : 'the growth is between the two outcomes';
        return (
          `Reading one int in each of the ${pagesOf(e.readPages, pageSizeOf(e))} of a ${mib(e.mappedBytes)} MAP_NORESERVE mapping took ${e.readMs.toFixed(0)} ms and read ${e.allZero ? 'only zeros' : 'non-zero values'}; ` +
          `it added ${e.vmaAnonymousDeltaBytes} B of Anonymous and ${e.vmaRssDeltaBytes} B of Rss to the mapping's VMA (smaps), and moved the process's RSS by ${mib(e.rssDeltaBytes)}: ${cost}. ` +
          `Read in ${e.confinement}.`
        );
      },
    },
  ],
});
