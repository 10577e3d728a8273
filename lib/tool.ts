/**
 * The tool's name and version, and the error a bad request raises: what the CLI needs before it
 * knows the command, so that --help, --version and usage errors load no experiment and no addon.
 */
import { readFileSync } from 'node:fs';

/** A request the tool cannot understand (unknown command or experiment id); the CLI exits 2 on it. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const toolName = 'overcommit-lab';
// This file is lib/tool.ts, compiled to dist/tool.js: package.json is one level up.
export const toolVersion: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
