/** What exec-stack records: a traced child's VMAs before exec and at the exec'd program's first instruction. */
import type { CommittedChange } from '../../verdict/tolerance.js';
import type { Measured } from '../model.js';

/** The [stack] VMA of the exec'd program at its first instruction. */
export interface ExecStackVma {
  sizeBytes: number;
  /** Its pages in memory then (the arguments, environment and auxiliary vector exec wrote). */
  rssBytes: number;
  vmFlags: string[];
}

/** One exec: the child before it (the forked copy) and at the new program's first instruction. */
export interface ExecTrial {
  /** The signal of the child's stop after exec: SIGTRAP (5) when exec succeeded; -1 when it ended instead. */
  stopSignal: number;
  /** The child's bytes in VMAs marked 'ac' before exec and at the first instruction (null without VmFlags). */
  accountedBeforeBytes: number | null;
  accountedAfterBytes: number | null;
  /** null: no [stack] VMA was found. */
  stack: ExecStackVma | null;
}

export interface ExecStackEvidence extends Measured {
  pageSize: number;
  trials: ExecTrial[];
  /** Committed_AS from the stop before exec to the stop at the first instruction, against the same program with no exec (interleaved). */
  committed: CommittedChange;
}
