/** Reading a kernel or configuration file that may be absent (an older kernel, a build without the feature). */
import { readFileSync } from 'node:fs';

/** The file's text, or null when it cannot be read. */
export function readOptional(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
