/**
 * The largest private anonymous read-write mapping the kernel accepts right now, found by
 * binary search with mmap and munmap (nothing is touched).
 */
import { native } from './binding.js';
import { pageSize } from './mapping.js';
import { argRangeError, optionalBoolean, optionsObject, positiveInteger } from './validate.js';

export interface ProbeOptions {
  /** Map with MAP_NORESERVE. */
  noreserve?: boolean;
  /** Search bounds in bytes (default: one page to 128 TiB). */
  lo?: number;
  hi?: number;
  /** Resolution in bytes, a multiple of the page size (default: one page). */
  granularity?: number;
}

export interface ProbeResult {
  /** The largest size accepted; 0 if even `lo` was refused. */
  largestBytes: number;
  /** mmap calls made. */
  probes: number;
  /** What the refusals said ('ENOMEM'), or null if nothing was refused. */
  refusedCode: string | null;
}

/**
 * Searches the multiples of `granularity` from `lo` (rounded down, at least one granularity)
 * to `hi` (rounded down). A RangeError when there is nothing to search: lo > hi, or no such
 * multiple (e.g. hi below the granularity), rather than a 0 that would read as refused.
 */
export function probeLargestMapping(probeOptions?: ProbeOptions): ProbeResult {
  const options = optionsObject(probeOptions);
  const granularity = options.granularity === undefined ? pageSize : positiveInteger(options.granularity, 'granularity');
  const lo = options.lo === undefined ? granularity : positiveInteger(options.lo, 'lo');
  const hi = options.hi === undefined ? 2 ** 47 : positiveInteger(options.hi, 'hi');
  if (granularity % pageSize !== 0)
    throw argRangeError(`granularity must be a multiple of the page size (${pageSize}), got ${granularity}`);
  if (lo > hi) throw argRangeError(`lo (${lo}) must not exceed hi (${hi})`);
  if (Math.max(Math.floor(lo / granularity), 1) > Math.floor(hi / granularity)) {
    throw argRangeError(`nothing to probe: no multiple of granularity (${granularity}) between lo (${lo}) and hi (${hi})`);
  }
  const r = native.probeLargestMapping(
    native.constants.PROT_READ | native.constants.PROT_WRITE,
    optionalBoolean(options.noreserve, 'noreserve') ? native.constants.MAP_NORESERVE : 0,
    lo,
    hi,
    granularity,
  );
  return { largestBytes: r.largest, probes: r.probes, refusedCode: r.refusedCode };
}
