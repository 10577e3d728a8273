import { describe, expect, it } from 'vitest';
import type { Finding } from '../../lib/experiments/model.js';
import { evidenceSummary, formatBytes, formatCount, keyNumber, variantLabel } from '../../lib/report/format.js';
import { shouldUseColor } from '../../lib/report/terminal.js';

const finding = (evidence: Finding['evidence']): Finding => ({ claim: 'c', text: 't', source: 's', holds: true, observed: 'o', evidence });

describe('format', () => {
  it('formats bytes in binary units, keeping the sign', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(1024 ** 3)).toBe('1 GiB');
    expect(formatBytes(-3 * 1024 ** 2)).toBe('-3 MiB');
    expect(formatBytes(128 * 1024 ** 4)).toBe('128 TiB');
  });

  it('groups digits of counts', () => {
    expect(formatCount(262144)).toBe('262,144');
  });

  it('picks the primary evidence as the key number, else the first number', () => {
    expect(keyNumber(finding({ mappedBytes: 1, residentPages: 5 }))).toEqual({ key: 'residentPages', value: 5 });
    expect(keyNumber(finding({ errno: 'ENOMEM', sizeBytes: 7 }))).toEqual({ key: 'sizeBytes', value: 7 });
    expect(keyNumber(finding({ errno: 'ENOMEM' }))).toBeUndefined();
  });

  it('labels variants and summarises evidence on one line, key number first', () => {
    const f = finding({ kind: 'anon-shared-rw', noreserve: true, sizeBytes: 1024 ** 2, chargedBytes: 0, flags: ['a'] });
    expect(variantLabel(f)).toBe('kind=anon-shared-rw, noreserve=true');
    expect(evidenceSummary(f)).toBe('chargedBytes=0 B · sizeBytes=1 MiB');
    expect(evidenceSummary(finding({ note: 'x'.repeat(300) }), 50)).toHaveLength(50);
  });
});

describe('shouldUseColor', () => {
  const tty = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as unknown as NodeJS.WriteStream;
  it('colours a TTY only', () => {
    expect(shouldUseColor(tty, {})).toBe(true);
    expect(shouldUseColor(pipe, {})).toBe(false);
  });
  it('never colours with NO_COLOR, even with FORCE_COLOR', () => {
    expect(shouldUseColor(tty, { NO_COLOR: '1' })).toBe(false);
    expect(shouldUseColor(tty, { NO_COLOR: '1', FORCE_COLOR: '1' })).toBe(false);
  });
  it('honours FORCE_COLOR', () => {
    expect(shouldUseColor(pipe, { FORCE_COLOR: '1' })).toBe(true);
    expect(shouldUseColor(tty, { FORCE_COLOR: '0' })).toBe(false);
  });
});
