import { MiB } from '../../units.js';
import type { Measured, OvercommitMode } from '../model.js';

/** 004's limit, and its two requests: one must exceed it, one must fit. */
export const LIMIT_BYTES = 64 * MiB;

export const LARGE_BYTES = 128 * MiB;

export const SMALL_BYTES = 8 * MiB;

/** 'ok' or the errno code of one child step ('ENOMEM'), or the step's status when it did not run. */
export type StepOutcome = string;

/** One of the program's two mmap lines. */
export interface ProgramMmap {
  succeeded: boolean;
  /** strerror's text as the program printed it; null when it succeeded. */
  error: string | null;
  line: string;
}

/** 004's RLIMIT_AS program as a process. */
export interface RlimitProgramRun {
  /** Why it could not be run (not built); null when it ran. */
  unavailable: string | null;
  lines: string[];
  stderr: string;
  exitCode: number | null;
  signal: string | null;
  /** RLIMIT_AS from /proc/<pid>/limits while the program was stopped after its setrlimit (null: unlimited or not read). */
  limitSoftBytes: number | null;
  limitHardBytes: number | null;
  /** The program's address space (VmSize) at that point. */
  vmSizeBytes: number | null;
  large: ProgramMmap | null;
  small: ProgramMmap | null;
}

export interface RlimitAsEvidence extends Measured {
  mode: OvercommitMode;
  /** The soft RLIMIT_AS applied in the relative child, and the address-space size it was added to. */
  limitBytes: number | null;
  baseBytes: number;
  headroomBytes: number;
  /** 128 MiB mmap before the limit: shows the size is accepted when only the limit differs. */
  controlMmap128: StepOutcome;
  mmap128: StepOutcome;
  mmap8: StepOutcome;
  noreserveMmap128: StepOutcome;
  noreserveMmap8: StepOutcome;
  sbrk128: StepOutcome;
  sbrk8: StepOutcome;
  /** How the relative child ended when it did not finish; null when it did. */
  childProblem: string | null;
  program: RlimitProgramRun;
}
