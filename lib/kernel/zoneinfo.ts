/**
 * /proc/zoneinfo: per zone, the high watermark, the lowmem reserves ("protection") and the
 * managed pages. From them comes totalreserve_pages, which the mode-0 heuristic of kernels before
 * 5.2 holds back from its free-memory estimate (mm/page_alloc.c calculate_totalreserve_pages).
 */
import { readFileSync } from 'node:fs';

export interface Zone {
  node: number;
  name: string;
  /** Watermark and sizes, in pages. */
  high: number;
  managed: number;
  /** lowmem_reserve[] of the zone, in pages (the "protection" line). */
  protection: number[];
}

export function parseZoneinfo(text: string): Zone[] {
  const zones: Zone[] = [];
  let current: Zone | null = null;
  for (const line of text.split('\n')) {
    const head = /^Node (\d+), zone\s+(\S+)/.exec(line);
    if (head) {
      current = { node: Number(head[1]), name: head[2]!, high: 0, managed: 0, protection: [] };
      zones.push(current);
      continue;
    }
    if (current === null) continue;
    // The zone's own fields sit at one indentation with no colon; the per-cpu pagesets' "high:" have one.
    const field = /^\s+(high|managed)\s+(\d+)\s*$/.exec(line);
    if (field) {
      current[field[1] as 'high' | 'managed'] = Number(field[2]);
      continue;
    }
    const prot = /^\s+protection: \(([\d, ]*)\)\s*$/.exec(line);
    if (prot) current.protection = prot[1]!.split(',').map((s) => Number(s.trim()));
  }
  if (zones.length === 0) throw new Error('/proc/zoneinfo: no zone found');
  return zones;
}

export function readZoneinfo(): Zone[] {
  return parseZoneinfo(readFileSync('/proc/zoneinfo', 'utf8'));
}

/**
 * totalreserve_pages: per zone, its largest lowmem reserve plus its high watermark, at most the
 * zone's managed pages, summed over all zones.
 */
export function totalReservePages(zones: readonly Zone[]): number {
  let total = 0;
  for (const z of zones) total += Math.min(Math.max(0, ...z.protection) + z.high, z.managed);
  return total;
}
