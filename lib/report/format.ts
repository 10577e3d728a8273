/**
 * Formatting shared by every report format: bytes, counts, verdict glyphs, and which evidence
 * value is a finding's "key number". One place, so the terminal, Markdown, HTML and comparison
 * always say the same thing about the same finding.
 */

import { formatBytes } from '../units.js';
import { verdictWord } from '../verdict/combine.js';
import { modeName as kernelModeName } from '../verdict/modes.js';
import { assumedThpSize } from '../verdict/page-size.js';
import type { EvidenceValue, ExperimentRun, Finding, OvercommitMode, RunStatus, SystemInfo } from '../verdict/types.js';

export { formatBytes };

/** What a run's machine was, as the comparison and the claims × kernels table show it (older runs recorded less). */
export interface MachineColumns {
  /** uname's machine ('aarch64'); for runs saved before it was recorded, 'x86_64 (assumed)' on 4 KiB pages (they ran on x86-64). */
  arch: string;
  pageSize: string;
  /** '2 MiB', 'none' without THP; for runs that did not record it '2 MiB (assumed)' on 4 KiB pages, else 'not recorded'. */
  thpSize: string;
}

function assumedThp(pageSize: number): string {
  const size = assumedThpSize(pageSize);
  return size === null ? 'not recorded' : `${formatBytes(size)} (assumed)`;
}

export function machineColumns(s: SystemInfo): MachineColumns {
  return {
    arch: s.machine ?? s.arch ?? (s.pageSize === 4096 ? 'x86_64 (assumed)' : 'not recorded'),
    pageSize: formatBytes(s.pageSize),
    thpSize: s.thpSize === undefined ? assumedThp(s.pageSize) : s.thpSize === null ? 'none' : formatBytes(s.thpSize),
  };
}

export const MACHINE_HEADS = ['Architecture', 'Page size', 'THP size'] as const;

/** Counts with digit grouping (262144 -> '262,144'); fractions keep three significant digits. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return Number(n.toPrecision(3)).toLocaleString('en-US', { maximumFractionDigits: 3 });
}

/** Evidence keys say their unit by suffix (the experiments' convention): fooBytes, fooMs. */
export function formatEvidenceValue(key: string, value: EvidenceValue): string {
  if (typeof value === 'number') {
    if (/Bytes$/.test(key)) return formatBytes(value);
    if (/Ms$/.test(key)) return `${formatCount(value)} ms`;
    return formatCount(value);
  }
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

export type Verdict = 'holds' | 'fails' | 'undecided' | 'skipped' | 'error';

export const verdictOf: (holds: boolean | null) => Verdict = verdictWord;

/** Verdict for a run without findings: its status says why. */
export function verdictOfRun(status: RunStatus): Verdict {
  return status === 'error' ? 'error' : 'skipped';
}

const GLYPHS: Record<Verdict, string> = { holds: '✓', fails: '✗', undecided: '?', skipped: 'skipped', error: 'error' };

export function verdictGlyph(v: Verdict): string {
  return GLYPHS[v];
}

export function modeName(mode: OvercommitMode): string {
  return `${mode} (${kernelModeName(mode)})`;
}

/**
 * The evidence that best stands for a finding, in this order of preference; otherwise the first
 * numeric value. Compare uses it to decide whether "the number" changed between two runs.
 */
const PRIMARY_KEYS = [
  'largestBytes',
  'chargedBytes',
  'residentPages',
  'pagesTouchedBeforeKill',
  'forkChargeBytes',
  'limitBytes',
  'commitLimitBytes',
] as const;

/** Numbers that say where a finding was made, not what was measured. */
const NOT_MEASUREMENTS = new Set(['mode', 'pageSize', 'thpSizeBytes', 'pid', 'uid', 'ratio', 'kbytes']);

export interface KeyNumber {
  key: string;
  value: number;
}

export function keyNumber(f: Finding): KeyNumber | undefined {
  for (const key of PRIMARY_KEYS) {
    const value = f.evidence[key];
    if (typeof value === 'number') return { key, value };
  }
  for (const [key, value] of Object.entries(f.evidence)) {
    if (typeof value === 'number' && !NOT_MEASUREMENTS.has(key)) return { key, value };
  }
  return undefined;
}

export function formatKeyNumber(k: KeyNumber | undefined): string {
  return k === undefined ? '' : formatEvidenceValue(k.key, k.value);
}

/**
 * Evidence keys that tell apart the findings one claim yields several times in one run (one per
 * mapping kind, per MAP_NORESERVE flag...). They identify a finding; they are not measurements.
 */
const VARIANT_KEYS = ['kind', 'noreserve', 'variant', 'path', 'step', 'uid', 'privileged', 'ratio', 'kbytes'] as const;

/** 'kind=anon-shared-rw, noreserve=true', or '' for a claim measured once. */
export function variantLabel(f: Finding): string {
  return VARIANT_KEYS.filter((k) => k in f.evidence && isScalar(f.evidence[k]))
    .map((k) => `${k}=${String(f.evidence[k])}`)
    .join(', ');
}

function isScalar(v: EvidenceValue | undefined): boolean {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

/** The claim as a row label: 'claim-id' or 'claim-id [kind=..., noreserve=...]'. */
export function claimLabel(f: Finding): string {
  const variant = variantLabel(f);
  return variant === '' ? f.claim : `${f.claim} [${variant}]`;
}

/**
 * Scalar evidence as 'key=value' pairs, key number first: the one-line summary. Arrays and
 * objects are left out (they are in the full evidence of Markdown and HTML).
 */
export function evidenceSummary(f: Finding, maxLength = 110): string {
  const key = keyNumber(f)?.key;
  const entries = Object.entries(f.evidence).filter(([k, v]) => v !== null && isScalar(v) && !VARIANT_KEYS.includes(k as never));
  entries.sort(([a], [b]) => Number(b === key) - Number(a === key));
  return truncate(entries.map(([k, v]) => `${k}=${formatEvidenceValue(k, v)}`).join(' · '), maxLength);
}

export function truncate(text: string, maxLength: number): string {
  return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** The modes a report's runs were made under, ascending. */
export function modesOf(runs: readonly ExperimentRun[]): OvercommitMode[] {
  return [...new Set(runs.map((r) => r.mode))].sort();
}
