/** Progress on stderr, on one rewritten line, only when it is a terminal. */

export function progressReporter(quiet: boolean): ((message: string) => void) | undefined {
  if (quiet || !process.stderr.isTTY) return undefined;
  return (message) => process.stderr.write(`\r\x1b[2K… ${message}`.slice(0, (process.stderr.columns || 80) + 6));
}

export function clearProgress(quiet: boolean): void {
  if (!quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
}
