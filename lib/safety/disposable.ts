/**
 * Whether this machine is a throwaway VM that `overcommit-lab vm` booted for one run. There an
 * experiment may reproduce a document's scenario at full size (fill most of memory, say), which
 * on any other machine would squeeze processes that are not ours. The mark is on the kernel's
 * command line, which only the VM's boot sets: no environment of a process on the host can
 * fake it by accident.
 */
import { readFileSync } from 'node:fs';

/** The kernel command-line word `overcommit-lab vm` boots its guests with. */
export const DISPOSABLE_CMDLINE_WORD = 'overcommit_lab.disposable=1';

function bootedDisposable(): boolean {
  try {
    return readFileSync('/proc/cmdline', 'utf8').trim().split(/\s+/).includes(DISPOSABLE_CMDLINE_WORD);
  } catch {
    return false;
  }
}

export const disposableMachine: boolean = bootedDisposable();
