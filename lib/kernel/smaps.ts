/**
 * /proc/<pid>/smaps: every mapping (VMA) with its sizes and VmFlags. The flags show what the
 * kernel decided for a mapping, e.g. 'ac' (accountable: charged to Committed_AS) and 'nr'
 * (MAP_NORESERVE honoured), which is what the accounting claims are about.
 */
import { readFileSync } from 'node:fs';

export interface Vma {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  /** e.g. 'rw-p'. */
  perms: string;
  offset: bigint;
  /** major:minor in hex, e.g. 'fe:00'. */
  dev: string;
  inode: number;
  /** File path, '[stack]', '[heap]', ..., or '' for an anonymous mapping. */
  pathname: string;
  /** Size, Rss, Pss, Anonymous, ... in bytes; unit-less fields (THPeligible) as plain numbers. */
  sizes: Record<string, number>;
  vmFlags: string[];
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$/;

export function parseSmaps(text: string): Vma[] {
  const vmas: Vma[] = [];
  let cur: Vma | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const h = HEADER.exec(line);
    if (h) {
      cur = {
        start: BigInt(`0x${h[1]}`),
        end: BigInt(`0x${h[2]}`),
        perms: h[3]!,
        offset: BigInt(`0x${h[4]}`),
        dev: h[5]!,
        inode: Number(h[6]),
        pathname: h[7]!,
        sizes: {},
        vmFlags: [],
      };
      vmas.push(cur);
      continue;
    }
    if (!cur) throw new Error(`smaps: field before the first mapping: ${JSON.stringify(line)}`);
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`smaps: unexpected line: ${JSON.stringify(line)}`);
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (key === 'VmFlags') {
      cur.vmFlags = value === '' ? [] : value.split(/\s+/);
      continue;
    }
    const m = /^(\d+)(?: (kB))?$/.exec(value);
    if (m) cur.sizes[key] = Number(m[1]) * (m[2] ? 1024 : 1);
    // A textual field a newer kernel may add carries no size: skip it rather than fail.
  }
  return vmas;
}

export function findVma(vmas: readonly Vma[], address: bigint): Vma | undefined {
  return vmas.find((v) => v.start <= address && address < v.end);
}

/** The smaps file of `pid` (for a forked child reading its own: 'self'). */
export function smapsPath(pid: number | 'self' = 'self'): string {
  return `/proc/${pid}/smaps`;
}

export function readVmas(pid: number | 'self' = 'self'): Vma[] {
  return parseSmaps(readFileSync(smapsPath(pid), 'utf8'));
}

/**
 * The bytes of [start, end) in VMAs marked 'ac' (VM_ACCOUNT: the kernel charged them to
 * Committed_AS), whatever the VMAs around them were merged with; null when there is no VMA or
 * the kernel shows no VmFlags at all (then the flags say nothing).
 */
export function accountedBytesIn(vmas: readonly Vma[], start: bigint, end: bigint): number | null {
  if (vmas.every((v) => v.vmFlags.length === 0)) return null;
  let bytes = 0n;
  for (const v of vmas) {
    if (!v.vmFlags.includes('ac')) continue;
    const lo = v.start > start ? v.start : start;
    const hi = v.end < end ? v.end : end;
    if (hi > lo) bytes += hi - lo;
  }
  return Number(bytes);
}

/** A VMA of `after` and how much it gained over the VMAs of `before` it overlaps (all of it if none). */
export interface VmaGrowth {
  vma: Vma;
  growthBytes: number;
  /** No VMA of `before` overlapped it: it is new, not grown. */
  created: boolean;
}

/** The VMA that grew the most between two readings of smaps (e.g. a stack), or undefined if none grew. */
export function largestGrowth(before: readonly Vma[], after: readonly Vma[]): VmaGrowth | undefined {
  let best: VmaGrowth | undefined;
  for (const vma of after) {
    const old = before.filter((b) => b.start < vma.end && vma.start < b.end);
    const growthBytes = Number(vma.end - vma.start) - old.reduce((sum, b) => sum + Number(b.end - b.start), 0);
    if (growthBytes > 0 && (best === undefined || growthBytes > best.growthBytes)) best = { vma, growthBytes, created: old.length === 0 };
  }
  return best;
}

/**
 * The mappings from /proc/<pid>/maps: the same header lines without the per-mapping fields (no
 * sizes, no VmFlags), and far cheaper to read than smaps when only the ranges matter.
 */
export function readMaps(pid: number | 'self' = 'self'): Vma[] {
  return parseSmaps(readFileSync(`/proc/${pid}/maps`, 'utf8'));
}

/** The VmFlags of this process's mapping that contains `address`. */
export function readVmFlags(address: bigint): string[] {
  const vma = findVma(readVmas(), address);
  if (!vma) throw new Error(`no mapping of this process contains address 0x${address.toString(16)}`);
  return vma.vmFlags;
}
