/**
 * The one argument-checking layer of the public API: every public function checks all of its
 * arguments with these before any syscall, lock, fork, watchdog or write. A wrong type is a
 * TypeError with code ERR_INVALID_ARG_TYPE, a wrong value a RangeError with code
 * ERR_OUT_OF_RANGE: the codes the addon's own checks give (native/errors.cc), so a caller of the
 * raw binding sees the same errors.
 */

export type ArgumentErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_OUT_OF_RANGE';

export function argTypeError(message: string): TypeError & { code: 'ERR_INVALID_ARG_TYPE' } {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' as const });
}

export function argRangeError(message: string): RangeError & { code: 'ERR_OUT_OF_RANGE' } {
  return Object.assign(new RangeError(message), { code: 'ERR_OUT_OF_RANGE' as const });
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : typeof value === 'bigint' ? `${value}n` : String(value);
}

function number(value: unknown, name: string): number {
  if (typeof value !== 'number') throw argTypeError(`${name} must be a number, got ${typeof value}`);
  return value;
}

/** A positive safe integer. */
export function positiveInteger(value: unknown, name: string): number {
  const n = number(value, name);
  if (!Number.isSafeInteger(n) || n <= 0) throw argRangeError(`${name} must be a positive safe integer, got ${n}`);
  return n;
}

/** A safe integer >= 0. */
export function nonNegativeInteger(value: unknown, name: string): number {
  const n = number(value, name);
  if (!Number.isSafeInteger(n) || n < 0) throw argRangeError(`${name} must be a safe integer >= 0, got ${n}`);
  return n;
}

/** An options object: undefined reads as {}, anything but a plain object (an array, null) is refused. */
export function optionsObject<T extends object>(value: T | undefined, name = 'options'): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw argTypeError(`${name} must be an object, got ${Array.isArray(value) ? 'an array' : describe(value)}`);
  }
  return value;
}

/** A function. */
export function requiredFunction<F extends (...args: never[]) => unknown>(value: F, name: string): F {
  if (typeof value !== 'function') throw argTypeError(`${name} must be a function, got ${describe(value)}`);
  return value;
}

/** A function or undefined. */
export function optionalFunction<F extends (...args: never[]) => unknown>(value: F | undefined, name: string): F | undefined {
  return value === undefined ? undefined : requiredFunction(value, name);
}

/** One of `allowed`. */
export function oneOf<T extends string | number>(value: unknown, allowed: readonly T[], name: string): T {
  if (!allowed.includes(value as T)) {
    throw argRangeError(`${name} must be ${allowed.map(describe).join(', ')}; got ${describe(value)}`);
  }
  return value as T;
}

/** A boolean or undefined. */
export function optionalBoolean(value: unknown, name: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw argTypeError(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}
