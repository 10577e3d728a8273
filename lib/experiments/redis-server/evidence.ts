/** What one run of the real redis-server recorded (JSON evidence; the keys are a public contract). */
import type { FreeEstimateInputs } from '../../kernel/admission.js';
import type { Measured, OvercommitMode } from '../model.js';

export interface RedisServerEvidence extends Measured {
  mode: OvercommitMode;
  /** 'shared': a dataset small next to free RAM; 'disposable': the FAQ's own, larger than what stays free (a throwaway VM). */
  scenario: 'shared' | 'disposable';
  redisServer: string;
  /** INFO server's redis_version. */
  redisVersion: string;
  /** Who the server ran as, and its memory cgroup (null: none, with cgroupNote saying why). */
  runAs: string;
  cgroupLimitBytes: number | null;
  cgroupNote: string | null;
  pageSize: number;
  /** The dataset: `keys` string values of `valueBytes` each, SET from the client (pages really written). */
  keys: number;
  valueBytes: number;
  datasetBytes: number;
  /** INFO memory's used_memory and used_memory_rss after filling. */
  usedMemoryBytes: number | null;
  rssBytes: number | null;
  /** MemAvailable just before BGSAVE. */
  memAvailableBytes: number;
  /**
   * Just before BGSAVE, every mode (absent from runs before the FAQ's scenario was built): MemFree,
   * MemTotal, SwapTotal, and the inputs of mode 0's free-memory estimate (the rule before 5.2).
   */
  memFreeBytes?: number | null;
  memTotalBytes?: number | null;
  swapTotalBytes?: number | null;
  freeEstimate?: FreeEstimateInputs | null;
  /**
   * The free-memory estimate's inputs read FREE_READINGS times in the moments before BGSAVE, the
   * last one `freeEstimate`: how far the estimate moved by itself is the rule's tolerance (absent
   * from older runs, which have the one reading).
   */
  freeEstimateReadings?: FreeEstimateInputs[];
  /** The server's largest accounted ('ac') mapping: the largest single request its fork puts to mode 0's check. */
  largestAccountedBytes?: number | null;
  /** The server's mappings marked 'nr' (MAP_NORESERVE in modes 0 and 1: never charged, so a fork's check skips them). */
  noReserveBytes?: number | null;
  /** INFO memory's mem_allocator, e.g. 'jemalloc-5.3.0' or 'libc'. */
  memAllocator?: string | null;
  /**
   * MALLOC_CONF given to the server; null: none. The FAQ's scenario gives jemalloc 'dss:primary'
   * (its heap from sbrk, charged like libc's), since jemalloc 5 maps with MAP_NORESERVE in modes
   * 0 and 1, which no fork's check ever sees.
   */
  mallocConf?: string | null;
  /** How the dataset was written: 'set' (the values sent), 'setrange' (the server zero-fills each value: one small command per value). */
  fill?: 'set' | 'setrange';
  /** Milliseconds spent filling, and from BGSAVE to the end of the last save. */
  fillMs?: number;
  saveMs?: number;
  /** The start-up warning "Memory overcommit must be enabled!" (or the older wording) in the log. */
  overcommitWarning: boolean;
  warningLines: string[];
  /** BGSAVE: the command's reply and INFO persistence's rdb_last_bgsave_status after it. */
  bgsave: 'ok' | 'err';
  bgsaveReply: string;
  /** The log's lines about the background saves and their fork. */
  bgsaveLog: string[];
  /** rdb_last_cow_size of the save during which `overwrittenBytes` were rewritten (null: not measured). */
  cowBytes: number | null;
  /** rdb_last_cow_size of a save with nothing written meanwhile: the child's own dirty pages. */
  cowBaselineBytes: number | null;
  overwrittenKeys: number;
  overwrittenBytes: number;
  /** rdb-key-save-delay (µs per key) that kept the save running while the test wrote; null: not settable. */
  saveDelayUs: number | null;
  /** rdb_bgsave_in_progress once the writes were done: the child was still there to share the pages. */
  savingAfterWrites: boolean | null;
  /** CommitLimit and Committed_AS just before BGSAVE (mode 2: inside the guard's narrowed window; modes 0 and 1 since the FAQ's scenario), the server's accounted ('ac') bytes. */
  commitLimitBytes: number | null;
  committedAsBytes: number | null;
  committedAsAfterBytes: number | null;
  serverAccountedBytes: number | null;
}
