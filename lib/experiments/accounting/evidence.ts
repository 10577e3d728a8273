import type { CommittedChange } from '../../verdict/tolerance.js';
import type { Measured, OvercommitMode } from '../model.js';

export const mappingKinds = [
  'file-private-rw',
  'file-shared-rw',
  'file-private-ro',
  'anon-shared-rw',
  'anon-shared-ro',
  'anon-private-ro',
  'anon-private-rw',
] as const;

export type MappingKind = (typeof mappingKinds)[number];

interface KindShape {
  file: boolean;
  shared: boolean;
  writable: boolean;
}

export function shapeOf(kind: MappingKind): KindShape {
  const [backing, sharing, prot] = kind.split('-');
  return { file: backing === 'file', shared: sharing === 'shared', writable: prot === 'rw' };
}

/** 001's table: private writable mappings (file or anonymous) and shared anonymous ones cost their size; the rest 0. */
export function documentedCharged(kind: MappingKind): boolean {
  const s = shapeOf(kind);
  return (!s.shared && s.writable) || (!s.file && s.shared);
}

/** What the documents say a kind costs: 001's table; with MAP_NORESERVE nothing in modes 0 and 1 (004), ignored in mode 2 (001). */
export function documentedCharge(kind: MappingKind, noreserve: boolean, mode: OvercommitMode): boolean {
  return documentedCharged(kind) && !(noreserve && mode !== 2);
}

/**
 * Shared anonymous memory is charged by the shmem file behind it, not through VM_ACCOUNT: its
 * VmFlags never show the charge, so only Committed_AS can.
 */
export const flagsShowCharge = (kind: MappingKind): boolean => shapeOf(kind).file || !shapeOf(kind).shared;

/** One action, from both sides. */
export interface ChargeReading {
  /** Committed_AS over the trials (action and control deltas, change, noise, tolerance). */
  change: CommittedChange;
  /**
   * What the action changed in the bytes of its range in VMAs marked 'ac' (exact, from smaps,
   * read once, outside the Committed_AS readings); null when the kernel shows no VmFlags.
   */
  accountedDeltaBytes: number | null;
  /** The VmFlags of the mapping after the action ([] once unmapped). */
  vmFlags: string[];
}

export interface KindEvidence {
  kind: MappingKind;
  noreserve: boolean;
  sizeBytes: number;
  /** What the documents predict for this kind, flag and mode. */
  documentedBytes: number;
  mmap: ChargeReading;
  munmap: ChargeReading;
}

export interface ShmfsEvidence {
  sizeBytes: number;
  touchedBytes: number;
  mmap: ChargeReading;
  write: ChargeReading;
  /** munmap and ftruncate to 0: the written pages freed. */
  release: ChargeReading;
}

export interface WritableCopiesEvidence {
  sizeBytes: number;
  touchedBytes: number;
  mmap: ChargeReading;
  write: ChargeReading;
  munmap: ChargeReading;
}

export const mprotectSteps = ['mmap', 'writable', 'readOnly', 'writableAgain', 'pageWritten', 'readOnlyAfterWrite', 'munmap'] as const;
export type MprotectStep = (typeof mprotectSteps)[number];
export const MPROTECT_LABEL: Record<MprotectStep, string> = {
  mmap: 'mmap (read-only)',
  writable: 'rw (never written)',
  readOnly: 'r (never written)',
  writableAgain: 'rw again',
  pageWritten: 'one page written',
  readOnlyAfterWrite: 'r (after a write)',
  munmap: 'munmap',
};

export interface MprotectEvidence {
  sizeBytes: number;
  steps: Record<MprotectStep, ChargeReading>;
}

export interface MremapEvidence {
  sizeBytes: number;
  /** To twice the size, then to half of it. */
  grow: ChargeReading;
  shrink: ChargeReading;
}

/** Measured in forked children (one per trial), which read /proc/meminfo and their smaps around each step. */
export interface ChildPartProblem {
  problem: string;
}

export interface BrkEvidence {
  sizeBytes: number;
  raise: ChargeReading;
  lower: ChargeReading;
}

export interface StackEvidence {
  /** What the stack step reports it used (its stackBytes). */
  usedBytes: number;
  /** The VMA the step grew most (smaps before and after it), as after the step; null if none grew. */
  grownVma: { start: string; end: string; pathname: string; vmFlags: string[]; created: boolean } | null;
  growthBytes: number;
  grow: ChargeReading;
}

export interface AccountingEvidence extends Measured {
  mode: OvercommitMode;
  /** The page size of the machine measured (absent from runs saved before it was recorded). */
  pageSize?: number;
  sizeBytes: number;
  /** Why the size is smaller than SIZE_BYTES (mode 2), or null. */
  sizeNote: string | null;
  trials: number;
  reads: number;
  kinds: KindEvidence[];
  shmfs: ShmfsEvidence;
  writableCopies: WritableCopiesEvidence;
  mprotect: MprotectEvidence;
  mremap: MremapEvidence;
  brk: BrkEvidence | ChildPartProblem;
  stack: StackEvidence | ChildPartProblem;
  /** Milliseconds each part took, and the CPU time this process spent on it (children not included). */
  spentMs: Record<string, number>;
  cpuMs: Record<string, number>;
}
