/**
 * getrlimit / setrlimit on this process. Sizes are bytes, null is unlimited. A limit above
 * 2^53 - 1 (Number.MAX_SAFE_INTEGER) is a bigint, since a number would round it.
 *
 * Setting RLIMIT_AS on the Node process itself can break V8, which reserves gigabytes of
 * address space as it runs: apply it in a child (runChild's setrlimit step) instead.
 */
import { native } from './binding.js';
import { argRangeError, argTypeError, nonNegativeInteger } from './validate.js';

export type RlimitResource = 'as' | 'data' | 'stack';

/** A limit in bytes: a number up to 2^53 - 1, a bigint above (up to 2^64 - 2); null is unlimited. */
export type RlimitValue = number | bigint | null;

export interface Rlimit {
  /** The soft limit in bytes; null is unlimited; a bigint above 2^53 - 1. */
  soft: RlimitValue;
  /** The hard limit in bytes; null is unlimited; a bigint above 2^53 - 1. */
  hard: RlimitValue;
}

const RESOURCE: Record<RlimitResource, number> = {
  as: native.constants.RLIMIT_AS,
  data: native.constants.RLIMIT_DATA,
  stack: native.constants.RLIMIT_STACK,
};

export function rlimitResource(resource: unknown): number {
  if (typeof resource !== 'string' || !Object.hasOwn(RESOURCE, resource)) {
    throw argRangeError(`resource must be 'as', 'data' or 'stack', got ${String(resource)}`);
  }
  return RESOURCE[resource as RlimitResource];
}

function limit(value: RlimitValue | undefined, name: string): RlimitValue | undefined {
  if (value === null || value === undefined) return value;
  if (typeof value === 'bigint') {
    if (value < 0n || value >= 2n ** 64n - 1n) throw argRangeError(`${name} must be from 0 to 2^64 - 2 (null is unlimited), got ${value}`);
    return value;
  }
  return nonNegativeInteger(value, name);
}

export function getrlimit(resource: RlimitResource): Rlimit {
  return native.getrlimit(rlimitResource(resource));
}

/**
 * Sets the soft and/or hard limit; a limit left undefined is kept as it is. A number must be a
 * safe integer (RangeError otherwise: give a bigint above 2^53 - 1).
 */
export function setrlimit(resource: RlimitResource, value: Partial<Rlimit>): void {
  if (value === null || typeof value !== 'object') throw argTypeError('value must be an object {soft?, hard?}');
  native.setrlimit(rlimitResource(resource), limit(value.soft, 'soft'), limit(value.hard, 'hard'));
}
