/**
 * A request that mode 2 must refuse, run in mode 2: as is when the run is in mode 2, else inside
 * a settings-guard window that switches to it (the guard keeps its headroom for the rest of the
 * machine, which is why the request, not the limit, is what cannot fit). The request is sized
 * from the commit room read just before it, CommitLimit − Committed_AS + 1 GiB: the kernel
 * refuses it at the call without charging it to anyone.
 */
import { readMeminfo } from '../kernel/meminfo.js';
import { type GuardWindow, guardAvailability, withOvercommitSettings } from '../safety/settings-guard.js';
import { GiB } from '../units.js';
import type { OvercommitMode } from '../verdict/types.js';

/** The commit numbers a mode-2 request was sized from. */
export interface Mode2Room {
  /** CommitLimit and Committed_AS read just before the request. */
  commitLimitBytes: number;
  committedAsBytes: number;
  /** overcommit_kbytes the settings guard set to keep headroom for the machine, or null. */
  guardRaisedKbytes: number | null;
  /** The room left + 1 GiB: a request that cannot fit. */
  overRoomBytes: number;
}

export type InMode2<T> = { ran: true; room: Mode2Room; value: T } | { ran: false; reason: string };

/** Runs `fn` in mode 2 with the room read there; not run (with why) when mode 2 cannot be had. */
export async function inMode2<T>(mode: OvercommitMode, fn: (room: Mode2Room) => Promise<T>): Promise<InMode2<T>> {
  const attempt = async (window: GuardWindow | null): Promise<InMode2<T>> => {
    const m = readMeminfo();
    const room: Mode2Room = {
      commitLimitBytes: m.commitLimit,
      committedAsBytes: m.committedAs,
      guardRaisedKbytes: window?.headroom?.kbytes ?? null,
      overRoomBytes: Math.max(m.commitLimit - m.committedAs, 0) + GiB,
    };
    return { ran: true, room, value: await fn(room) };
  };
  if (mode === 2) return attempt(null);
  const avail = guardAvailability();
  if (!avail.available)
    return { ran: false, reason: `mode 2 is not in force and the settings guard cannot switch to it: ${avail.reason ?? 'unknown'}` };
  return withOvercommitSettings({ mode: 2 }, attempt);
}
