/**
 * `overcommit-lab demo sparse`: 004's sparse program over 1 GiB, its own loop in its own process,
 * then what it cannot see, read by the tool while it was stopped. A demonstration, not an
 * experiment: it judges nothing (the sparse-array experiment runs the same program, smaller).
 */

import { PROGRAM_STRIDE_BYTES, type SparseProgramRun } from '../experiments/sparse-array/evidence.js';
import { PROGRAM_BYTES, runSparseProgram } from '../experiments/sparse-array/measure.js';
import { readMeminfo } from '../kernel/meminfo.js';
import { readThpSettings } from '../kernel/thp.js';
import { pageSize } from '../native/mapping.js';
import { formatBytes, formatEvidenceValue } from '../report/format.js';
import { withTouchConfinement } from '../safety/touch-confinement.js';
import { mib } from '../units.js';
import { strideWords } from '../verdict/page-size.js';
import type { EvidenceValue } from '../verdict/types.js';

/**
 * How long the demo's program may run before it is killed: its 1 GiB loop takes seconds on an
 * idle machine, far longer on a busy one or under software emulation (TCG).
 */
const DEMO_TIMEOUT_MS = 600_000;

export interface SparseDemoResult {
  /** The program's own lines. */
  programOutput: string[];
  run: SparseProgramRun;
  swapTotalBytes: number;
  swapFreeBytes: number;
  /** This machine's page (the program's mincore counts these) and huge page (null without THP). */
  pageSize: number;
  thpEnabled: string | null;
  thpSizeBytes: number | null;
}

export interface SparseDemoOptions {
  progress?: (message: string) => void;
}

/** Why `demo sparse` did not run: touching 1 GiB is not safe here. */
export class SparseDemoSkipped extends Error {
  override name = 'SparseDemoSkipped';
}

/** 004's sparse program over 1 GiB, its own loop in its own process, measured at its two points. */
export async function runSparseDemo(options: SparseDemoOptions = {}): Promise<SparseDemoResult> {
  const mem = readMeminfo();
  options.progress?.(`demo sparse: 004's program writing every page of ${mib(PROGRAM_BYTES)}`);
  const r = await withTouchConfinement(PROGRAM_BYTES, (enter) => runSparseProgram(PROGRAM_BYTES, enter, DEMO_TIMEOUT_MS));
  if ('skipped' in r) throw new SparseDemoSkipped(`demo sparse skipped: ${r.skipped}`);
  const thp = readThpSettings();
  return {
    programOutput: r.value.lines,
    run: r.value,
    swapTotalBytes: mem.swapTotal,
    swapFreeBytes: mem.swapFree,
    pageSize,
    thpEnabled: thp.enabled,
    thpSizeBytes: thp.sizeBytes,
  };
}

/** The demo's terminal text. */
export function renderSparseDemo(result: SparseDemoResult): string {
  const r = result.run;
  const lines = [
    `$ ${r.args.length === 0 ? './sparse' : `./sparse ${r.args.join(' ')}`}   # 004's program, its own process (pid ${r.pid})`,
    ...r.lines,
  ];
  if (r.stderr !== '') lines.push(...r.stderr.trimEnd().split('\n'));
  if (r.exitCode !== 0) lines.push(`(the program ${r.signal !== null ? `was ended by ${r.signal}` : `exited ${r.exitCode}`})`);
  lines.push(
    '',
    `What the program cannot see, read by the tool while it was stopped (${r.confinement ?? 'not placed'}; oom_score_adj ${r.oomScoreAdj ?? 'unchanged'}):`,
  );
  const row = (key: string, value: EvidenceValue, note = '') => {
    const exact = typeof value === 'number' && key.endsWith('Bytes') ? ` (${value})` : '';
    lines.push(`    ${key.padEnd(24)} ${formatEvidenceValue(key, value)}${exact}${note}`);
  };
  for (const [title, p] of [
    ['after its mmap, before its loop', r.mapped],
    ['after its loop', r.touched],
  ] as const) {
    if (p === null) continue;
    lines.push(`  ${title}:`);
    row('residentPages', p.residentPages, "   (the program's own mincore)");
    row('vmaRssBytes', p.vmaRssBytes, '   (the mapping in /proc/<pid>/smaps)');
    row('vmaAnonymousBytes', p.vmaAnonymousBytes);
    row('vmFlags', p.vmFlags.join(' '));
    row('rssBytes', p.rssBytes, "   (the program's VmRSS)");
    row('committedAsBytes', p.committedAsBytes);
  }
  lines.push('  across them:');
  if (r.touchMs !== null) row('touchMs', Math.round(r.touchMs), "   (the program's loop)");
  if (r.committedTouch !== null)
    row('committedTouchBytes', r.committedTouch.changeBytes, `   (Committed_AS; noise ±${formatBytes(r.committedTouch.toleranceBytes)})`);
  if (r.committedMmap !== null)
    row(
      'committedMmapBytes',
      r.committedMmap.changeBytes,
      `   (Committed_AS across the mmap; noise ±${formatBytes(r.committedMmap.toleranceBytes)})`,
    );
  row('swapFreeBytes', result.swapFreeBytes);
  // 004 counts a write per 4096 bytes as a page: what its loop was on this machine's pages.
  lines.push(`  the loop: ${strideWords(r.bytes, PROGRAM_STRIDE_BYTES, result.pageSize, r.printedTouchedPages)}`);
  lines.push(
    `  transparent hugepages: ${result.thpEnabled ?? 'absent'}${result.thpSizeBytes === null ? '' : ` (${formatBytes(result.thpSizeBytes)} pages)`}`,
  );
  return `${lines.join('\n')}\n`;
}
