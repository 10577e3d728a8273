/** What malloc-failure records: the malloc program's runs, in mode 2 and in a memory cgroup under overcommit. */
import type { Mode2Room } from '../../measure/mode2.js';
import type { Measured, OvercommitMode } from '../model.js';

/** Where a block malloc returned lies: the brk heap, an anonymous mapping of its own (mmap), or neither. */
export type BlockVma = 'heap' | 'anonymous' | 'other' | 'none';

export interface MallocBlock {
  sizeBytes: number;
  /** The address malloc returned, in hex. */
  address: string;
  vma: BlockVma;
  /** That VMA's smaps pathname ('[heap]', '' for anonymous), null when no VMA holds the address. */
  vmaPathname: string | null;
}

/** The program's own report of a failed malloc. */
export interface MallocFailureLine {
  sizeBytes: number;
  errno: number;
  message: string;
}

export interface MallocRun {
  /** The program's pid. */
  pid: number;
  /** The requests the program was given, in order. */
  sizesBytes: number[];
  /** Every block malloc returned, in order, with the VMA that held it at the program's pause after the call. */
  blocks: MallocBlock[];
  /** The blocks the program finished writing ("wrote" lines). */
  writtenBlocks: number;
  /** The program's failed-malloc line, or null when it printed none. */
  failure: MallocFailureLine | null;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Everything it printed. */
  stdout: string[];
}

/** The run inside a memory cgroup, under overcommit. */
export interface CgroupMallocRun extends MallocRun {
  cgroupVersion: 1 | 2;
  cgroupLimitBytes: number;
  /** The group's OOM-kill count before and after (v1 memory.oom_control, v2 memory.events). */
  oomKillsBefore: number;
  oomKillsAfter: number;
}

export interface MallocFailureEvidence extends Measured {
  /** The mode the run was in (the cgroup run is made in it when it is 0 or 1). */
  mode: OvercommitMode;
  pageSize: number;
  /** The run in mode 2 whose last request is the commit room + 1 GiB, and the room it was sized from; null when not run. */
  mode2: (MallocRun & { room: Mode2Room }) | null;
  mode2Reason: string | null;
  /** The run in a memory cgroup in the run's mode (0 or 1); null in mode 2, with why. */
  overcommit: CgroupMallocRun | null;
  overcommitReason: string | null;
}
