/** Byte units, and the one way findings write sizes in their text. */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** 1536 -> '1.5 KiB'; keeps the sign, since deltas (Committed_AS, RSS) can be negative. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  // Trim trailing zeros so that exact sizes read as '1 GiB', not '1.00 GiB'.
  return `${sign}${Number(value.toFixed(digits))} ${UNITS[unit]}`;
}

/** '12.5 MiB': one decimal, enough to tell a page-sized difference from none at MiB scale. */
export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** '132 KiB': whole KiB, for sizes of a few pages (a new program's stack). */
export function kib(bytes: number): string {
  return `${Math.round(bytes / KiB)} KiB`;
}

/** '1.25 GiB': two decimals, about 10 MiB, for sizes measured against RAM. */
export function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(2)} GiB`;
}

/**
 * Node's own allocations (V8, libuv) between two samplings of Committed_AS move it by up to
 * ~1 MiB, which the samplings' spreads cannot see: every Committed_AS tolerance adds this.
 */
export const OWN_JITTER_BYTES = MiB;

/** Whole pages in `bytes` (rounded down), as the kernel counts them. */
export function bytesToPages(bytes: number, pageSize: number): number {
  return Math.floor(bytes / pageSize);
}

/** Bytes in a size written as a number with an optional K, M, G or T suffix (powers of 1024), e.g. '4G'. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (m === null) throw new Error(`'${text}' is not a size (e.g. 512M, 4G)`);
  const unit = { '': 1, K: KiB, M: MiB, G: GiB, T: GiB * 1024 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.round(Number(m[1]) * unit);
}
