/**
 * Cleanups that must run however this process ends: at exit, and on SIGINT, SIGTERM and SIGHUP,
 * which would otherwise end it without an 'exit' event. They run synchronously, in the order
 * registered; after a signal the process exits with 128 + the signal's number. (SIGKILL runs
 * nothing: the settings guard's watchdog and the cgroup sweep cover that.)
 */
import { constants as osConstants } from 'node:os';

const cleanups = new Set<() => void>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function runCleanups(): void {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch (e) {
      process.stderr.write(`overcommit-lab: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runCleanups();
  process.exit(128 + (osConstants.signals[signal] ?? 0));
}

function install(): void {
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', runCleanups);
}

function uninstall(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('exit', runCleanups);
}

/** Registers `cleanup` to run if the process ends; the returned function unregisters it. */
export function onProcessEnd(cleanup: () => void): () => void {
  if (cleanups.size === 0) install();
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) uninstall();
  };
}
