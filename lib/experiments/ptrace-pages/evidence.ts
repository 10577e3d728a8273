/** What ptrace-pages measures: per mapping kind and write method, the tracee's VMA and Committed_AS around the writes. */
import type { CommittedChange } from '../../verdict/tolerance.js';
import type { Measured } from '../model.js';

/** The two read-only private kinds 001 says cost nothing: a file's pages, and anonymous ones. */
export type PtraceKind = 'file-private-ro' | 'anon-private-ro';
/** /proc/<pid>/mem (pwrite) or PTRACE_POKEDATA: both force the write past the protection (FOLL_FORCE). */
export type PtraceMethod = 'mem' | 'poke';

/** The tracee's mapping at one point, read in its smaps. */
export interface TraceeVma {
  anonymousBytes: number;
  /** The mapping's bytes in VMAs marked 'ac' (charged); null when the kernel shows no VmFlags. */
  accountedBytes: number | null;
  vmFlags: string[];
}

/** One action trial: the mapping before and after the tracer's writes. */
export interface PtraceTrial {
  before: TraceeVma;
  after: TraceeVma;
  /** Pages the tracer wrote, and the errno that stopped it (0: none did). */
  writtenPages: number;
  writeErrno: number;
}

export interface PtraceCase {
  kind: PtraceKind;
  method: PtraceMethod;
  trials: PtraceTrial[];
  /** Committed_AS across the writes, against the same program run with no write (interleaved). */
  committed: CommittedChange;
}

/** Mode 2 on a throwaway VM: a tracer writes a private read-only anonymous mapping larger than the commit room. */
export interface PtracePastLimit {
  /** CommitLimit and Committed_AS in the mode-2 window, at the tracee's stop before the writes, and the room between them. */
  commitLimitBytes: number;
  committedBeforeBytes: number;
  roomBytes: number;
  /** overcommit_kbytes the settings guard wrote to narrow CommitLimit to Committed_AS + its margin. */
  guardKbytes: number | null;
  mappedBytes: number;
  writtenPages: number;
  writeErrno: number;
  /** The tracee's Anonymous growth over the writes. */
  anonymousGrowthBytes: number;
  /** Committed_AS and CommitLimit at the stop after the writes. */
  committedAfterBytes: number;
  commitLimitAfterBytes: number;
}

export interface PtracePagesEvidence extends Measured {
  pageSize: number;
  /** Each mapping's size. */
  mappedBytes: number;
  cases: PtraceCase[];
  /** The mode-2 part; null (with why) off a throwaway VM; absent in runs made before it existed. */
  pastLimit?: PtracePastLimit | null;
  pastLimitReason?: string | null;
}
