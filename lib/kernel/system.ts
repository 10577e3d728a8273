/** The machine facts every report starts with (SystemInfo in experiment.ts). */
import { cpus, machine, release } from 'node:os';
import type { SystemInfo } from '../verdict/types.js';
import { readMeminfo } from './meminfo.js';
import { hasCapSysAdmin } from './status.js';
import { readThpSize } from './thp.js';

/** `pageSize` comes from the caller (the addon's sysconf), since Node cannot query it. */
export function systemInfo(pageSize: number): SystemInfo {
  const m = readMeminfo();
  return {
    kernel: release(),
    arch: process.arch,
    machine: machine(),
    pageSize,
    thpSize: readThpSize(),
    cpus: cpus().length,
    memTotalBytes: m.memTotal,
    swapTotalBytes: m.swapTotal,
    root: hasCapSysAdmin(),
  };
}
