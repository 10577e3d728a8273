/** systemInfo's machine facts against the kernel's own files: architecture, page size, THP size. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { systemInfo } from '../../lib/kernel/system.js';
import { readThpSettings } from '../../lib/kernel/thp.js';
import { pageSize } from '../../lib/native/mapping.js';

const THP = '/sys/kernel/mm/transparent_hugepage';

describe('systemInfo records the architecture and the THP size', () => {
  const s = systemInfo(pageSize);

  it("the architecture is Node's and uname's", () => {
    expect(s.arch).toBe(process.arch);
    expect(s.machine).toBe(execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim());
  });

  it('the THP size is hpage_pmd_size, a power of two and a whole number of pages, or null without THP', () => {
    const file = `${THP}/hpage_pmd_size`;
    if (!existsSync(file)) {
      expect(s.thpSize).toBeNull();
      return;
    }
    expect(s.thpSize).toBe(Number(readFileSync(file, 'utf8').trim()));
    const size = s.thpSize!;
    expect(size % pageSize).toBe(0);
    expect(size & (size - 1)).toBe(0);
    expect(readThpSettings().sizeBytes).toBe(size);
  });
});
