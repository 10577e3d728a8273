/**
 * Cleanups that must run however this process ends: at exit, and on SIGINT, SIGTERM and SIGHUP,
 * which would otherwise end it without an 'exit' event. They run synchronously, once each;
 * after a signal the process exits with 128 + the signal's number. (SIGKILL runs nothing: the
 * settings guard's watchdog and the cgroup sweep cover that.)
 */
import { constants as osConstants } from 'node:os';

/** In the order they run. */
const cleanups: (() => void)[] = [];
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function runCleanups(): void {
  for (const cleanup of cleanups.splice(0)) {
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

/**
 * Registers `cleanup` to run if the process ends; the returned function unregisters it. 'first'
 * puts it before the others: restoring the machine's settings must not wait behind slower work.
 */
export function onProcessEnd(cleanup: () => void, order: 'first' | 'last' = 'last'): () => void {
  if (cleanups.length === 0) install();
  if (order === 'first') cleanups.unshift(cleanup);
  else cleanups.push(cleanup);
  return () => {
    const i = cleanups.indexOf(cleanup);
    if (i >= 0) cleanups.splice(i, 1);
    if (cleanups.length === 0) uninstall();
  };
}
