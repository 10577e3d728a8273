/**
 * A load generator: a separate process that maps and unmaps accounted memory (private writable
 * anonymous mappings) of random sizes in a loop, so Committed_AS churns the way it does on any
 * busy machine. It never touches what it maps, so it charges the commit without using memory.
 * Tests and the benchmark run the tool under it to see the noise its verdicts must survive.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nonNegativeInteger, positiveInteger } from '../native/errors.js';
import { onProcessEnd } from '../safety/process-end.js';
import { LOAD_DEFAULTS } from './load-model.js';

export interface LoadOptions {
  /** Smallest mapping, in bytes; default 64 MiB. */
  minBytes?: number;
  /** Largest mapping, in bytes; default 256 MiB. */
  maxBytes?: number;
  /** Each mapping is held for a random time up to this, in ms; default 50. */
  holdMs?: number;
  /** After each unmap the process waits a random time up to this, in ms; default 50. */
  pauseMs?: number;
}

export type ResolvedLoadOptions = Required<LoadOptions>;

/** What the load process did, reported when it stops. */
export interface LoadStats {
  /** Mappings made and unmapped. */
  cycles: number;
  /** Mappings the kernel refused (ENOMEM, e.g. under mode 2 near CommitLimit); the loop goes on. */
  refused: number;
  /** The sum of the sizes mapped. */
  mappedBytes: number;
  /** The largest single mapping. */
  largestBytes: number;
}

export interface Load {
  /** The load process's pid (ours to signal until stop() has reaped it). */
  readonly pid: number;
  readonly options: ResolvedLoadOptions;
  /** Stops the process, waits for it to exit (reaping it) and resolves with what it did. Idempotent. */
  stop(): Promise<LoadStats>;
}

/** The messages between startLoad() and the load process. */
export type LoadMessage = { type: 'ready' } | { type: 'stop' } | { type: 'stopped'; stats: LoadStats };

/** Defaults filled in and checked: sizes positive integers with min <= max, times >= 0. */
export function resolveLoadOptions(options: LoadOptions = {}): ResolvedLoadOptions {
  const resolved = {
    minBytes: positiveInteger(options.minBytes ?? LOAD_DEFAULTS.minBytes, 'minBytes'),
    maxBytes: positiveInteger(options.maxBytes ?? LOAD_DEFAULTS.maxBytes, 'maxBytes'),
    holdMs: nonNegativeInteger(options.holdMs ?? LOAD_DEFAULTS.holdMs, 'holdMs'),
    pauseMs: nonNegativeInteger(options.pauseMs ?? LOAD_DEFAULTS.pauseMs, 'pauseMs'),
  };
  if (resolved.minBytes > resolved.maxBytes)
    throw new RangeError(`minBytes (${resolved.minBytes}) is larger than maxBytes (${resolved.maxBytes})`);
  return resolved;
}

/** The load process's script: next to this module once compiled; from the TypeScript sources (tests), the compiled one. */
function loadScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'load-process.js');
  if (existsSync(beside)) return beside;
  const compiled = join(here, '..', '..', 'dist', 'measure', 'load-process.js');
  if (existsSync(compiled)) return compiled;
  throw new Error(`the load process's script is missing (looked for ${beside} and ${compiled}): compile the package first`);
}

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal === null ? `exit code ${code}` : `signal ${signal}`;
}

/**
 * Starts the load process and resolves once it has made its first mapping. It ends when stop()
 * is called, and also on its own when this process ends (the IPC channel closes), so a crashed
 * test or benchmark leaves nothing behind. It does not keep this process alive.
 */
export async function startLoad(options: LoadOptions = {}): Promise<Load> {
  const resolved = resolveLoadOptions(options);
  const child: ChildProcess = fork(loadScript(), [JSON.stringify(resolved)], {
    // Not this process's flags (--input-type, a test runner's loaders): the script is plain JS.
    execArgv: [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'json',
  });
  // Until it is reaped the pid cannot be reused, so killing it by pid at our end is safe.
  const forget = onProcessEnd(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      forget();
      resolve({ code, signal });
    });
  });
  // Messages arrive before the channel closes, so 'disconnect' means no report will come.
  const stopped = new Promise<LoadStats | undefined>((resolve) => {
    child.on('message', (m: LoadMessage) => {
      if (m.type === 'stopped') resolve(m.stats);
    });
    child.once('disconnect', () => resolve(undefined));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.on('message', (m: LoadMessage) => {
        if (m.type === 'ready') resolve();
      });
      void exited.then(({ code, signal }) => reject(new Error(`the load process ended before it started (${exitText(code, signal)})`)));
    });
  } catch (e) {
    // Without a pid it never started, and there is nothing to reap.
    if (child.pid !== undefined) {
      child.kill('SIGKILL');
      await exited;
    }
    throw e;
  }
  child.unref();
  child.channel?.unref();

  let stopping: Promise<LoadStats> | undefined;
  const stop = async (): Promise<LoadStats> => {
    child.ref();
    child.channel?.ref();
    if (child.connected) child.send({ type: 'stop' } satisfies LoadMessage);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const [{ code, signal }, stats] = await Promise.all([exited, stopped]);
    clearTimeout(timer);
    if (stats === undefined || code !== 0) throw new Error(`the load process did not stop cleanly (${exitText(code, signal)})`);
    return stats;
  };
  return {
    pid: child.pid!,
    options: resolved,
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}
