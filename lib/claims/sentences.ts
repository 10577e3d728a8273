/**
 * The one sentence splitter the coverage inventory (coverage.ts) is keyed by. Deterministic and
 * pure (text in, sentences out), so that a test can split the documents and find every sentence
 * in the inventory by its exact text:
 *
 * 1. Lines. A numbered listing (every line begins with its own 1-based number, as 001 does) loses
 *    the numbers. Trailing whitespace goes.
 * 2. Units. In a `lines` document (one paragraph per line: 000, 002, 004) every non-blank line is
 *    a unit. In a `wrapped` document (001, 003: paragraphs wrapped over several lines) lines join
 *    into one unit until a blank line, a line that ends with ':', a line that starts an item (a
 *    single tab, `o<tab>`, `z `, `- `, `> `, `|`, `#`, or a mode line `0<tab>-<tab>`), a ruler
 *    (`----`), or one of the document's `standalone` lines (headings and formulas the layout cannot
 *    tell from text). A word broken at a line end (`allo-` / `cations`) is joined again.
 * 3. Sentences. A unit loses its item or quote marker (`- `, `> `, `o `, `z `, `# `), runs of
 *    whitespace become one space, and it is split after `.`, `?` or `!` followed by a space and a
 *    letter, a digit or an opening quote or bracket (not after "e.g.", "i.e.", "p.ex.", "etc."); a table row (`| ... |`) is not split.
 *    A piece with fewer than two words (`Q1.`, `{`, a ruler, `Gotchas`) is not a sentence.
 */

export type DocumentLayout = 'lines' | 'wrapped';

export interface LayoutOptions {
  layout: DocumentLayout;
  /** Wrapped documents: lines (as they read after step 1, trimmed) that are a unit of their own. */
  standalone?: readonly string[];
}

/** The document's lines, without the numbers of a numbered listing (step 1). */
export function documentLines(text: string): string[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const numbered = lines.length > 1 && lines.every((l, i) => l.startsWith(String(i + 1)));
  return lines.map((l, i) => (numbered ? l.slice(String(i + 1).length) : l).trimEnd());
}

const ITEM_START = /^(\t(?!\t)|o\t|z |- |> |\||#|\d\t-\t)/;
const RULER = /^\s*[-=]{3,}\s*$/;

function units(lines: readonly string[], options: LayoutOptions): string[] {
  if (options.layout === 'lines') return lines.filter((l) => l.trim() !== '');
  const standalone = new Set(options.standalone ?? []);
  const out: string[] = [];
  let current: string | null = null;
  const flush = () => {
    if (current !== null) out.push(current);
    current = null;
  };
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed === '') {
      flush();
      continue;
    }
    if (ITEM_START.test(line) || RULER.test(line) || standalone.has(trimmed)) flush();
    if (current === null) current = line;
    else if (/\p{L}-$/u.test(current) && /^\p{Ll}/u.test(trimmed)) current = current.slice(0, -1) + trimmed;
    else current = `${current} ${trimmed}`;
    if (RULER.test(line) || standalone.has(trimmed) || trimmed.endsWith(':')) flush();
  }
  flush();
  return out;
}

const MARKER = /^\s*(?:[-o>z]\s+|#+\s+|>\s*)/;
const ABBREVIATION = /(?:^|\s)(?:e\.g|i\.e|p\.ex|etc|vs)\.$/i;

function sentencesOf(unit: string): string[] {
  const flat = unit.replace(MARKER, '').replace(/\s+/g, ' ').trim();
  if (flat.startsWith('|')) return isSentence(flat) ? [flat] : [];
  const out: string[] = [];
  let start = 0;
  const boundary = /[.?!]+ (?=[\p{L}\p{N}“"'([])/gu;
  for (let m = boundary.exec(flat); m !== null; m = boundary.exec(flat)) {
    const end = m.index + m[0].length - 1;
    const piece = flat.slice(start, end);
    if (ABBREVIATION.test(piece)) continue;
    out.push(piece);
    start = end + 1;
  }
  out.push(flat.slice(start));
  return out.map((s) => s.trim()).filter(isSentence);
}

const isSentence = (s: string) => (s.match(/\p{L}+/gu) ?? []).length >= 2;

/** Every sentence of a document, in order (duplicates kept: a sentence may occur twice). */
export function splitSentences(text: string, options: LayoutOptions): string[] {
  return units(documentLines(text), options).flatMap(sentencesOf);
}
