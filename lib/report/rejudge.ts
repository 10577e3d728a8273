/** `rejudge`'s terminal text: what the current rules say of a saved run, and what changed. */
import type { Rejudged, VerdictChange } from '../experiments/judge.js';
import { toolName, toolVersion } from '../tool.js';
import { verdictWord } from '../verdict/combine.js';

const word = (v: VerdictChange['recorded']): string => (v === 'absent' ? 'absent' : verdictWord(v));

export function renderRejudged(file: string, r: Rejudged): string {
  const runs = r.report.runs.length - r.unchecked.length;
  const lines = [
    `${file} judged again by the rules of ${toolName} ${toolVersion} (the run was made by ${r.report.tool.name} ${r.report.tool.version}): ${r.checked} findings in ${runs} runs.`,
  ];
  if (r.changed.length === 0) lines.push('No verdict changed.');
  else {
    lines.push(`${r.changed.length} verdict${r.changed.length === 1 ? '' : 's'} changed:`);
    for (const c of r.changed) {
      lines.push(
        `  ${c.experiment} (mode ${c.mode}) ${c.claim}: ${word(c.recorded)} -> ${word(c.judged)}${c.reason === undefined ? '' : ` (${c.reason})`}`,
      );
    }
  }
  if (r.unchecked.length > 0) {
    lines.push('Not judged again:');
    for (const u of r.unchecked) lines.push(`  ${u.experiment} (mode ${u.mode}): ${u.why}`);
  }
  return `${lines.join('\n')}\n`;
}
