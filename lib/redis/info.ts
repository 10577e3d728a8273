/**
 * What redis-server says about itself, parsed: the text of INFO and the lines of its log file.
 * Pure (no process, no file): the measurement reads, these functions only parse.
 */

/** INFO's "key:value" lines (sections and comments skipped); null when the text is not INFO at all. */
export function parseInfo(text: string): Record<string, string> | null {
  const out: Record<string, string> = {};
  let fields = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    out[line.slice(0, colon)] = line.slice(colon + 1);
    fields++;
  }
  return fields === 0 ? null : out;
}

/** A numeric INFO field; null when absent or not a number (an older Redis, say). */
export function infoNumber(info: Record<string, string>, key: string): number | null {
  const v = info[key];
  return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : null;
}

/**
 * The start-up warning about overcommit_memory. Redis 6.2 and later: "WARNING Memory overcommit
 * must be enabled! ..."; before: "WARNING overcommit_memory is set to 0! ...".
 */
const OVERCOMMIT_WARNING = /WARNING (Memory overcommit must be enabled|overcommit_memory is set to 0)/;

/** The log's lines that warn about overcommit_memory. */
export function overcommitWarnings(log: string): string[] {
  return log.split('\n').filter((l) => OVERCOMMIT_WARNING.test(l));
}

/** Lines of a background save: started, forked child's result, fork failure, copy-on-write report. */
const BGSAVE_LINE = /Background saving|Can't save in background|DB saved on disk|Fork CoW|fork/i;

/** The log's lines about background saves and their fork (without the start-up warning). */
export function bgsaveLines(log: string): string[] {
  return log.split('\n').filter((l) => BGSAVE_LINE.test(l) && !OVERCOMMIT_WARNING.test(l));
}
