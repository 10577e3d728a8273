/**
 * The load process of load.ts: maps private writable anonymous memory of a random size (charged
 * to Committed_AS, never touched), holds it a random while, unmaps it, pauses, and again.
 *
 * startLoad() forks it with an IPC channel; it stops on a 'stop' message, reporting what it did,
 * and exits as soon as the channel closes (its parent died). It also runs on its own, e.g. to load
 * a machine by hand: `node dist/measure/load-process.js ['{"minBytes":…,"maxBytes":…}']`; then it
 * runs until a signal or until its parent exits.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isSystemCallError } from '../native/errors.js';
import { type Mapping, mmap, pageSize } from '../native/mapping.js';
import type { LoadMessage, LoadStats } from './load.js';
import { resolveLoadOptions } from './load.js';

const options = resolveLoadOptions(JSON.parse(process.argv[2] ?? '{}'));
const parent = process.ppid;
const stats: LoadStats = { cycles: 0, refused: 0, mappedBytes: 0, largestBytes: 0 };
const stopping = new AbortController();

const minPages = Math.max(1, Math.ceil(options.minBytes / pageSize));
const maxPages = Math.max(minPages, Math.floor(options.maxBytes / pageSize));
const randomBytes = () => (minPages + Math.floor(Math.random() * (maxPages - minPages + 1))) * pageSize;

/** Waits up to `ms`, less if the loop is stopping. */
async function pause(ms: number): Promise<void> {
  await sleep(Math.random() * ms, undefined, { signal: stopping.signal }).catch(() => undefined);
}

if (process.send !== undefined) {
  process.on('message', (m: LoadMessage) => {
    if (m.type === 'stop') stopping.abort();
  });
  // The parent is gone: nobody will ask this process to stop.
  process.on('disconnect', () => process.exit(0));
}

// Standalone, it is reparented when the process that started it exits.
while (!stopping.signal.aborted && process.ppid === parent) {
  const bytes = randomBytes();
  let mapping: Mapping | undefined;
  try {
    mapping = mmap(bytes);
    stats.mappedBytes += bytes;
    stats.largestBytes = Math.max(stats.largestBytes, bytes);
  } catch (e) {
    if (!isSystemCallError(e, 'ENOMEM')) throw e;
    stats.refused++;
  }
  if (stats.cycles === 0) process.send?.({ type: 'ready' } satisfies LoadMessage);
  await pause(options.holdMs);
  mapping?.unmap();
  stats.cycles++;
  await pause(options.pauseMs);
}

if (process.send !== undefined && process.connected) {
  process.send({ type: 'stopped', stats } satisfies LoadMessage, () => process.exit(0));
}
