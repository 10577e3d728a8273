import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { coverage, type DocumentCoverage } from '../../lib/claims/coverage.js';
import { type CoverageTotals, checkClaims, checkDocument, coverageTotals } from '../../lib/claims/inventory.js';
import { documentLines, splitSentences } from '../../lib/claims/sentences.js';
import { experiments } from '../../lib/experiments/index.js';

// The documents live beside the repository (../shared/seeds) in development and CI; a git
// worktree may sit deeper, so the nearest shared/seeds above the repository is the one.
function findSeeds(): string | undefined {
  for (let dir = dirname(import.meta.dirname); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'shared', 'seeds'))) return join(dir, 'shared', 'seeds');
  }
  return undefined;
}
const seeds = findSeeds() ?? '';
const haveSeeds = seeds !== '';
const claimSources = experiments.flatMap((e) => e.claims.map((c) => ({ ref: `${e.id}/${c.id}`, source: c.source })));

describe('the sentence splitter', () => {
  it('drops the numbers of a numbered listing, and only there', () => {
    expect(documentLines('1first\n2second\n3third\n')).toEqual(['first', 'second', 'third']);
    expect(documentLines('1first\nsecond\n')).toEqual(['1first', 'second']);
  });

  it('splits lines documents per line, then at sentence ends (not after abbreviations)', () => {
    const text = '# Title here\nOne thing is so. two things, p.ex. this one. Q1. What now?\n\n- an item line\n{\n| a | table. Row |\n';
    expect(splitSentences(text, { layout: 'lines' })).toEqual([
      'Title here',
      'One thing is so.',
      'two things, p.ex. this one.',
      'What now?',
      'an item line',
      '| a | table. Row |',
    ]);
  });

  it('joins wrapped lines into units, breaking at items, rulers, colons and standalone lines', () => {
    const text = [
      'Heading line',
      'The mapping is allo-',
      'cated here. It',
      'ends here:',
      'z an item that',
      'wraps',
      'o\tanother item',
      'Gotchas',
      '-------',
      '\tA row - cost',
      '\t\tcontinued row',
    ].join('\n');
    expect(splitSentences(text, { layout: 'wrapped', standalone: ['Heading line'] })).toEqual([
      'Heading line',
      'The mapping is allocated here.',
      'It ends here:',
      'an item that wraps',
      'another item Gotchas',
      'A row - cost continued row',
    ]);
  });
});

const doc = (entries: DocumentCoverage['entries']): DocumentCoverage => ({ source: 'x.txt', layout: { layout: 'lines' }, entries });
const TEXT = 'First sentence here.\nSecond sentence here.\nint main(void)\nreturn it now;\nLast sentence here.\n';

describe('the inventory checks', () => {
  it('accept a document whose every sentence is mapped or excused, runs included', () => {
    const d = doc([
      { text: 'First sentence here.', claims: ['e/a'] },
      { text: 'Second sentence here.', excused: 'opinion' },
      { text: 'int main(void)', through: 'return it now;', sentences: 2, excused: 'code' },
      { text: 'Last sentence here.', claims: ['e/a'] },
    ]);
    expect(checkDocument(d, TEXT)).toEqual([]);
    expect(checkClaims([d], [{ ref: 'e/a', source: 'x.txt' }])).toEqual([]);
  });

  it('name a sentence left out, an entry not in the document and a wrong run', () => {
    const d = doc([
      { text: 'First sentence here.', claims: ['e/a'] },
      { text: 'A sentence of no document.', claims: ['e/a'] },
      { text: 'int main(void)', through: 'return it now;', sentences: 3, excused: 'code' },
    ]);
    const problems = checkDocument(d, TEXT);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/"A sentence of no document\." is not a sentence of the document/);
    expect(problems[1]).toMatch(/"Second sentence here\." is neither mapped nor excused/);
    expect(problems[2]).toMatch(/has 2 sentences, not 3/);
    expect(problems[3]).toMatch(/"Last sentence here\." is neither mapped nor excused/);
  });

  it('name a claim that does not exist, a claim with no sentence in its document, and an entry with neither or both', () => {
    const d = doc([
      { text: 'First sentence here.', claims: ['e/gone'] },
      { text: 'Second sentence here.' },
      { text: 'Last sentence here.', claims: ['e/a'], excused: 'opinion' },
    ]);
    const problems = checkClaims(
      [d],
      [
        { ref: 'e/a', source: 'x.txt' },
        { ref: 'e/b', source: 'x.txt' },
      ],
    );
    expect(problems).toEqual([
      expect.stringMatching(/maps to e\/gone, which is no claim/),
      expect.stringMatching(/"Second sentence here\." must have claims or an exclusion, not neither/),
      expect.stringMatching(/"Last sentence here\." must have claims or an exclusion, not both/),
      'e/b cites x.txt but no sentence of it maps to the claim',
    ]);
  });
});

describe('the coverage inventory', () => {
  it('has the five documents, once each', () => {
    expect(coverage.map((d) => d.source.slice(0, 3))).toEqual(['000', '001', '002', '003', '004']);
  });

  it('maps to claims that exist, and every claim has a sentence in the document it cites', () => {
    expect(checkClaims(coverage, claimSources)).toEqual([]);
  });

  it.skipIf(!haveSeeds)(
    `accounts for every sentence of every document${haveSeeds ? '' : ' (skipped: ../shared/seeds is not beside the repository)'}`,
    () => {
      for (const d of coverage) expect(checkDocument(d, readFileSync(join(seeds, d.source), 'utf8'))).toEqual([]);
    },
  );

  it('list --coverage prints it, and --json gives the entries and the totals', () => {
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js'), 'list', '--coverage', ...args], {
        encoding: 'utf8',
      });
    const totals = coverageTotals(coverage);
    const text = cli();
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(`Total: ${totals.sentences} sentences; ${totals.mapped} mapped to ${totals.claims} claims`);
    for (const d of coverage) expect(text.stdout).toContain(d.source);
    const json = JSON.parse(cli('--json').stdout) as { documents: DocumentCoverage[]; totals: CoverageTotals };
    expect(json.totals).toEqual(totals);
    expect(json.documents.map((d) => d.entries.length)).toEqual(coverage.map((d) => d.entries.length));
  });
});
