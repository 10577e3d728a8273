/**
 * getrlimit / setrlimit on this process. Sizes are bytes, null is unlimited.
 *
 * Setting RLIMIT_AS on the Node process itself can break V8, which reserves gigabytes of
 * address space as it runs: apply it in a child (runChild's setrlimit step) instead.
 */
import { native } from './binding.js';
import { nonNegativeInteger } from './errors.js';

export type RlimitResource = 'as' | 'data' | 'stack';

export interface Rlimit {
  /** The soft limit in bytes; null is unlimited. */
  soft: number | null;
  /** The hard limit in bytes; null is unlimited. */
  hard: number | null;
}

const RESOURCE: Record<RlimitResource, number> = {
  as: native.constants.RLIMIT_AS,
  data: native.constants.RLIMIT_DATA,
  stack: native.constants.RLIMIT_STACK,
};

export function rlimitResource(resource: unknown): number {
  if (typeof resource !== 'string' || !Object.hasOwn(RESOURCE, resource)) {
    throw new RangeError(`resource must be 'as', 'data' or 'stack', got ${String(resource)}`);
  }
  return RESOURCE[resource as RlimitResource];
}

function limit(value: number | null | undefined, name: string): number | null | undefined {
  return value === null || value === undefined ? value : nonNegativeInteger(value, name);
}

export function getrlimit(resource: RlimitResource): Rlimit {
  return native.getrlimit(rlimitResource(resource));
}

/** Sets the soft and/or hard limit; a limit left undefined is kept as it is. */
export function setrlimit(resource: RlimitResource, value: Partial<Rlimit>): void {
  if (value === null || typeof value !== 'object') throw new TypeError('value must be an object {soft?, hard?}');
  native.setrlimit(rlimitResource(resource), limit(value.soft, 'soft'), limit(value.hard, 'hard'));
}
