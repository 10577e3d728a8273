/**
 * Whether this machine is a throwaway VM that `overcommit-lab vm` booted for one run. There an
 * experiment may reproduce a document's scenario at full size (fill most of memory, say), which
 * on any other machine would squeeze processes that are not ours.
 */
export const DISPOSABLE_ENV = 'OVERCOMMIT_LAB_DISPOSABLE';

export const disposableMachine: boolean = process.env[DISPOSABLE_ENV] === '1';
