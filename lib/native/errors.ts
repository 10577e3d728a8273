/** Errors of the API, shaped like Node's own. */

/** An Error from a failed syscall: code ('ENOMEM'), errno (negative, as Node's) and syscall. */
export interface SystemCallError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

/** True when `e` is an error thrown for a failed syscall, optionally with this code. */
export function isSystemCallError(e: unknown, code?: string): e is SystemCallError {
  if (!(e instanceof Error)) return false;
  const s = e as Partial<SystemCallError>;
  return typeof s.code === 'string' && typeof s.syscall === 'string' && (code === undefined || s.code === code);
}

/**
 * Codes of the errors the API throws for misuse no syscall reports (each an Error with `code`):
 * - ERR_MAPPING_UNMAPPED: the Mapping has been unmapped.
 * - ERR_MAPPING_PROTECTION: buffers and touch need a read-write mapping.
 * - ERR_MAPPING_PAST_END_OF_FILE: the mapped file was truncated under the range asked for.
 * - ERR_MAPPING_MOVED: remap() or protect() moved or resized the mapping during residentPagesAsync().
 */
export type MappingErrorCode = 'ERR_MAPPING_UNMAPPED' | 'ERR_MAPPING_PROTECTION' | 'ERR_MAPPING_PAST_END_OF_FILE' | 'ERR_MAPPING_MOVED';

/** An Error with one of the codes above, as the addon throws them. */
export function mappingError(code: MappingErrorCode, message: string): Error & { code: MappingErrorCode } {
  return Object.assign(new Error(message), { code });
}

export { nonNegativeInteger, positiveInteger } from './validate.js';
