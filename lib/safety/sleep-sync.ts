/** Blocks the thread for `ms`: for waits that must also work in 'exit' and signal handlers. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
