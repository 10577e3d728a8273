import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ruleSets as experiments } from '../../lib/experiments/rules.js';

// The source documents live beside the repository (../shared/seeds) in development and CI.
const seeds = join(import.meta.dirname, '..', '..', '..', 'shared', 'seeds');
const haveSeeds = existsSync(seeds);

describe('experiments and their claims', () => {
  it('have stable, unique ids', () => {
    const ids = experiments.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([
      'settings',
      'sparse-array',
      'zero-pages',
      'rlimit-as',
      'fork-inheritance',
      'copy-on-write',
      'mode-matrix',
      'commit-limit',
      'accounting',
      'redis-fork',
      'redis-server',
      'oom-late-failure',
      'ptrace-pages',
      'malloc-failure',
      'exec-stack',
      'oom-victim',
    ]);
    for (const e of experiments) {
      const claims = e.claims.map((c) => c.id);
      expect(new Set(claims).size, e.id).toBe(claims.length);
      for (const id of claims) expect(id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    }
  });

  it.skipIf(!haveSeeds)(
    `name a source document that exists${haveSeeds ? '' : ' (skipped: ../shared/seeds is not beside the repository)'}`,
    () => {
      const documents = new Set(readdirSync(seeds));
      for (const e of experiments) {
        for (const c of e.claims) expect(documents.has(c.source), `${e.id}/${c.id}: ${c.source}`).toBe(true);
      }
    },
  );

  it('cover all five documents', () => {
    const sources = new Set(experiments.flatMap((e) => e.claims.map((c) => c.source.slice(0, 3))));
    expect([...sources].sort()).toEqual(['000', '001', '002', '003', '004']);
  });
});
