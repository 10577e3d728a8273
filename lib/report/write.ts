/** Writes a report or comparison to a file, the format chosen by the file's extension. */
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { RunReport } from '../verdict/types.js';
import { type Comparison, renderComparisonHtml, renderComparisonMarkdown } from './compare.js';
import { renderHtml } from './html.js';
import { type KernelsMatrix, renderKernelsHtml, renderKernelsReportMarkdown } from './kernels.js';
import { renderMarkdown } from './markdown.js';

export type ReportFormat = 'markdown' | 'html';

/** 'markdown' for .md, 'html' for .html/.htm; a clear error for anything else. */
export function reportFormat(file: string): ReportFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.md' || ext === '.markdown') return 'markdown';
  if (ext === '.html' || ext === '.htm') return 'html';
  throw new Error(`cannot tell the report format of '${file}': use a file name ending in .md or .html`);
}

export async function writeReport(file: string, report: RunReport): Promise<void> {
  // Decide the format before rendering, so a bad name fails fast.
  const format = reportFormat(file);
  await writeFile(file, format === 'html' ? await renderHtml(report) : renderMarkdown(report), 'utf8');
}

export async function writeComparisonReport(file: string, comparison: Comparison): Promise<void> {
  const format = reportFormat(file);
  await writeFile(file, format === 'html' ? renderComparisonHtml(comparison) : renderComparisonMarkdown(comparison), 'utf8');
}

export async function writeKernelsReport(file: string, matrix: KernelsMatrix): Promise<void> {
  const format = reportFormat(file);
  await writeFile(file, format === 'html' ? renderKernelsHtml(matrix) : renderKernelsReportMarkdown(matrix), 'utf8');
}
