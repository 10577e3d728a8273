/**
 * The only code that writes /proc/sys/vm, and the shell the settings guard's watchdog runs in.
 * Its own module so that a test can put a recorder in its place (a loader hook in a forked
 * fixture, test/fixtures/vm-recorder-hooks.mjs) and see what the guard would have written, and
 * when, without writing it.
 */
import { writeFileSync } from 'node:fs';

export type VmSetting = 'overcommit_memory' | 'overcommit_ratio' | 'overcommit_kbytes';

/** Writes one overcommit setting. */
export function writeVm(name: VmSetting, value: number): void {
  writeFileSync(`/proc/sys/vm/${name}`, `${value}\n`);
}

/** The shell that runs the watchdog script (settings-guard.ts). */
export const watchdogShell = '/bin/sh';
