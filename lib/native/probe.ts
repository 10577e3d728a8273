/**
 * The largest private anonymous read-write mapping the kernel accepts right now, found by
 * binary search with mmap and munmap (nothing is touched).
 */
import { native } from './binding.js';
import { positiveInteger } from './errors.js';
import { pageSize } from './mapping.js';

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

export function probeLargestMapping(options: ProbeOptions = {}): ProbeResult {
  const granularity = options.granularity === undefined ? pageSize : positiveInteger(options.granularity, 'granularity');
  const lo = options.lo === undefined ? granularity : positiveInteger(options.lo, 'lo');
  const hi = options.hi === undefined ? 2 ** 47 : positiveInteger(options.hi, 'hi');
  const r = native.probeLargestMapping(
    native.constants.PROT_READ | native.constants.PROT_WRITE,
    options.noreserve ? native.constants.MAP_NORESERVE : 0,
    lo,
    hi,
    granularity,
  );
  return { largestBytes: r.largest, probes: r.probes, refusedCode: r.refusedCode };
}
