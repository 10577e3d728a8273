/** The shape of the coverage inventory's entries (coverage.ts), and the helpers that write them. */
import type { LayoutOptions } from './sentences.js';

/** Why a sentence is not tested. */
export type Exclusion =
  /** A title, a table's header, a list's lead-in. */
  | 'heading'
  | 'link'
  /** A question whose answer (the next sentences) is what is tested. */
  | 'question'
  /** Commands or a program listing that states nothing the listed claims do not. */
  | 'code'
  /** Introduces, names or frames what follows; states nothing the kernel could contradict. */
  | 'framing'
  | 'recommendation'
  | 'opinion'
  /** About the documentation, standards, applications or operators, not the kernel. */
  | 'not about the kernel'
  /** About the kernel, but no run can observe it (said with why). */
  | 'not observable'
  /** About the kernel and testable, but no claim measures it yet (said with what is missing). */
  | 'not yet measured';

/** One sentence (or, with `through`, a run of sentences such as a program listing). */
export interface CoverageEntry {
  /** The sentence's exact text as the splitter gives it. */
  text: string;
  /** The last sentence of the run this entry covers, when it covers more than one. */
  through?: string;
  /** With `through`: how many sentences the run has (so totals need no document). */
  sentences?: number;
  /** The claims that test it, as 'experiment/claim'; absent when it is excused. */
  claims?: readonly string[];
  excused?: Exclusion;
  /** Why, in a few words, when the kind of exclusion does not say it all. */
  why?: string;
}

export interface DocumentCoverage {
  /** The document's file name in shared/seeds. */
  source: string;
  /** How the splitter reads it. */
  layout: LayoutOptions;
  entries: readonly CoverageEntry[];
}

export const m = (text: string, ...claims: string[]): CoverageEntry => ({ text, claims });
export const x = (excused: Exclusion, text: string, why?: string): CoverageEntry =>
  why === undefined ? { text, excused } : { text, excused, why };
export const block = (
  text: string,
  through: string,
  sentences: number,
  entry: Omit<CoverageEntry, 'text' | 'through' | 'sentences'>,
): CoverageEntry => ({
  text,
  through,
  sentences,
  ...entry,
});
