/** The kernel log: /dev/kmsg read without blocking, else `dmesg`. */
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, readSync } from 'node:fs';

export interface KernelLogLines {
  /** Every message line, oldest first; null when neither source could be read. */
  lines: string[] | null;
  source: '/dev/kmsg' | 'dmesg' | null;
  reason: string | null;
}

/** Reads every record of /dev/kmsg without blocking (each read returns one record). */
function readKmsg(): string[] {
  const fd = openSync('/dev/kmsg', fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  const buf = Buffer.alloc(16384);
  const out: string[] = [];
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break;
        if (code === 'EPIPE') continue; // the record was overwritten while we read: skip it
        throw e;
      }
      if (n === 0) break;
      // "prio,seq,usec,flags;message\n" followed by continuation lines.
      const record = buf.toString('utf8', 0, n);
      out.push(record.slice(record.indexOf(';') + 1).split('\n')[0]!);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

export function readKernelLog(): KernelLogLines {
  let kmsgError: string;
  try {
    return { lines: readKmsg(), source: '/dev/kmsg', reason: null };
  } catch (e) {
    kmsgError = (e as Error).message;
  }
  try {
    const text = execFileSync('dmesg', [], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
    return { lines: text.split('\n'), source: 'dmesg', reason: null };
  } catch (e) {
    return { lines: null, source: null, reason: `/dev/kmsg: ${kmsgError}; dmesg: ${(e as Error).message}` };
  }
}
