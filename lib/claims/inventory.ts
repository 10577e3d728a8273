/**
 * Checks and totals of the coverage inventory (coverage.ts), pure: the documents' text and the
 * experiments' claims are passed in, so that the test and `list --coverage` share them.
 */
import type { CoverageEntry, DocumentCoverage, Exclusion } from './coverage.js';
import { splitSentences } from './sentences.js';

/** A claim as the inventory names it ('experiment/claim') with the document it cites. */
export interface ClaimSource {
  ref: string;
  source: string;
}

const preview = (s: string) => JSON.stringify(s.length > 90 ? `${s.slice(0, 87)}...` : s);

/**
 * Walks the document's sentences against its entries, in order. Every sentence must be the next
 * entry's text (or inside its run, up to `through`): what is left over, out of order or not in
 * the document is a problem, named with the sentence.
 */
export function checkDocument(doc: DocumentCoverage, text: string): string[] {
  const sentences = splitSentences(text, doc.layout);
  const problems: string[] = [];
  let i = 0;
  for (const entry of doc.entries) {
    const at = sentences.indexOf(entry.text, i);
    if (at === -1) {
      problems.push(`${doc.source}: entry ${preview(entry.text)} is not a sentence of the document (after sentence ${i + 1})`);
      continue;
    }
    for (const skipped of sentences.slice(i, at))
      problems.push(`${doc.source}: sentence ${preview(skipped)} is neither mapped nor excused`);
    i = at + 1;
    if (entry.through !== undefined) {
      const end = sentences.indexOf(entry.through, at);
      if (end === -1) {
        problems.push(`${doc.source}: run ${preview(entry.text)} ends at ${preview(entry.through)}, which does not follow it`);
        continue;
      }
      if (entry.sentences !== end - at + 1)
        problems.push(`${doc.source}: run ${preview(entry.text)} has ${end - at + 1} sentences, not ${entry.sentences}`);
      i = end + 1;
    }
  }
  for (const left of sentences.slice(i)) problems.push(`${doc.source}: sentence ${preview(left)} is neither mapped nor excused`);
  return problems;
}

/** Entries that map to no claim and have no exclusion, or both; claim ids that do not exist; claims with no sentence in their document. */
export function checkClaims(coverage: readonly DocumentCoverage[], claims: readonly ClaimSource[]): string[] {
  const problems: string[] = [];
  const known = new Set(claims.map((c) => c.ref));
  const cited = new Set<string>();
  for (const doc of coverage) {
    for (const e of doc.entries) {
      const mapped = e.claims !== undefined && e.claims.length > 0;
      if (mapped === (e.excused !== undefined))
        problems.push(`${doc.source}: entry ${preview(e.text)} must have claims or an exclusion, not ${mapped ? 'both' : 'neither'}`);
      for (const ref of e.claims ?? []) {
        if (!known.has(ref)) problems.push(`${doc.source}: entry ${preview(e.text)} maps to ${ref}, which is no claim`);
        cited.add(`${doc.source} ${ref}`);
      }
    }
  }
  for (const c of claims) {
    if (!cited.has(`${c.source} ${c.ref}`)) problems.push(`${c.ref} cites ${c.source} but no sentence of it maps to the claim`);
  }
  return problems;
}

const sentenceCount = (e: CoverageEntry) => e.sentences ?? 1;

export interface CoverageTotals {
  sentences: number;
  /** Sentences mapped to at least one claim. */
  mapped: number;
  /** Sentences excused, by reason. */
  excused: Partial<Record<Exclusion, number>>;
  /** Claims some sentence maps to. */
  claims: number;
}

export function coverageTotals(docs: readonly DocumentCoverage[]): CoverageTotals {
  const t: CoverageTotals = { sentences: 0, mapped: 0, excused: {}, claims: 0 };
  const claims = new Set<string>();
  for (const e of docs.flatMap((d) => d.entries)) {
    const n = sentenceCount(e);
    t.sentences += n;
    if (e.excused === undefined) t.mapped += n;
    else t.excused[e.excused] = (t.excused[e.excused] ?? 0) + n;
    for (const c of e.claims ?? []) claims.add(c);
  }
  t.claims = claims.size;
  return t;
}

/** The inventory as text: per document, each sentence (or run) and its claims or exclusion; then the totals. */
export function renderCoverage(docs: readonly DocumentCoverage[]): string {
  const lines: string[] = [];
  for (const d of docs) {
    const t = coverageTotals([d]);
    lines.push(`${d.source} — ${t.sentences} sentences, ${t.mapped} mapped to claims`);
    for (const e of d.entries) {
      const run = e.through === undefined ? '' : ` … ${e.through}  (${e.sentences} sentences)`;
      lines.push(`  ${e.text}${run}`);
      if (e.claims !== undefined) lines.push(`    → ${e.claims.join(', ')}`);
      else lines.push(`    ✗ ${e.excused}${e.why === undefined ? '' : `: ${e.why}`}`);
    }
    lines.push('');
  }
  const t = coverageTotals(docs);
  const excused = Object.entries(t.excused)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  lines.push(`Total: ${t.sentences} sentences; ${t.mapped} mapped to ${t.claims} claims; ${t.sentences - t.mapped} excused (${excused}).`);
  return `${lines.join('\n')}\n`;
}
