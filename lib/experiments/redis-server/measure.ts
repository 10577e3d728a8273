/**
 * The measurement: the real redis-server (lib/redis/server.ts) started under the mode in force,
 * a dataset SET from the client (its pages really written), then BGSAVE: Redis's own start-up
 * warning, the save's result and log, and `rdb_last_cow_size`. Modes 0 and 1: a save with nothing
 * written meanwhile (the child's own dirty pages), then one slowed by rdb-key-save-delay during
 * which the test rewrites a known part of the dataset in place (SETRANGE). Mode 2: a dataset
 * larger than the guard's headroom, and the BGSAVE inside a nested guard window whose CommitLimit
 * leaves others that headroom: the copy does not fit. On a throwaway VM, modes 0 and 1 play the
 * FAQ's own case instead: a dataset larger than what stays free once written, and one BGSAVE.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { freeEstimateInputs } from '../../kernel/admission.js';
import { type Meminfo, readMeminfo } from '../../kernel/meminfo.js';
import { accountedBytesIn, readVmas, type Vma } from '../../kernel/smaps.js';
import { readOvercommitSettings } from '../../kernel/sysctl.js';
import { readZoneinfo, totalReservePages } from '../../kernel/zoneinfo.js';
import { pageSize } from '../../native/mapping.js';
import { bgsaveLines, infoNumber, overcommitWarnings, parseInfo } from '../../redis/info.js';
import { findRedisServer, type RedisServer, startRedisServer } from '../../redis/server.js';
import { disposableMachine } from '../../safety/disposable.js';
import { defaultMarginBytes, guardAvailability, withOvercommitSettings } from '../../safety/settings-guard.js';
import { gib, KiB, MiB, mib } from '../../units.js';
import type { ExperimentContext } from '../model.js';
import type { RedisServerEvidence } from './evidence.js';

/**
 * Values of a 2 KiB allocation (sds header and NUL included): under a page, so Redis 7's save
 * child does not madvise them away once saved (that would drop copied pages from its count),
 * and two to a page in jemalloc's slabs, so rewriting consecutive keys rewrites whole pages.
 */
const SMALL_VALUE_BYTES = 2 * KiB - 6;
/** Mode 2 only fills (the fork is refused): values of one 256 KiB extent, fewer commands. */
const LARGE_VALUE_BYTES = 256 * KiB - 64;
/** The dataset on a shared machine: a dataset, at no cost to the others. */
const SHARED_DATASET_BYTES = 128 * MiB;
/** On a throwaway VM: the FAQ's case, more than stays free once written (as redis-fork). */
const DISPOSABLE_DATASET_SHARE = 0.6;
/**
 * The FAQ's values: 8 MiB allocations (header and NUL included), each zero-filled by the server
 * from one SETRANGE at its last byte: a few hundred small commands write gigabytes, in seconds
 * under emulation, on any Redis since 2.2 (DEBUG POPULATE is off by default since Redis 7).
 */
const FAQ_VALUE_BYTES = 8 * MiB - 64;
/**
 * jemalloc 5 maps its heap MAP_NORESERVE when overcommit_memory is 0 or 1: never charged, so no
 * fork's check sees it. From sbrk ('dss'), the heap is charged as libc's and older jemallocs'
 * are, the memory the FAQ's fork has to find. Both names: a Redis with its own jemalloc reads JE_.
 */
const FAQ_MALLOC_CONF = 'dss:primary';
/** The share of the keys rewritten during the slowed save. */
const OVERWRITE_SHARE = 1 / 8;
/** Mode 2: the dataset is this many times the guard's headroom, so its copy cannot fit in it. */
const MODE2_OVER_MARGIN = 1.25;
/** Room in the server's cgroup over the dataset: per-key overhead, client buffers, copied pages. */
const cgroupLimit = (dataset: number): number => Math.ceil(dataset * 1.5) + 256 * MiB;
const FILL_BATCH_BYTES = 8 * MiB;
/** Readings of the free-memory estimate before BGSAVE, this far apart: their spread is mode 0's tolerance. */
const FREE_READINGS = 5;
const FREE_READING_GAP_MS = 20;
const SAVE_TIMEOUT_MS = 300_000;

interface Plan {
  valueBytes: number;
  keys: number;
  fill: 'set' | 'setrange';
}

/** Modes 0 and 1 on a throwaway VM: the FAQ's own case. */
const faqScenario = (mode: number): boolean => disposableMachine && mode !== 2;

function plan(mode: number, m: Meminfo): Plan | { problem: string } {
  if (mode === 2) {
    const margin = defaultMarginBytes(m.memTotal);
    const dataset = Math.ceil(margin * MODE2_OVER_MARGIN);
    if (m.commitLimit - m.committedAs < dataset * 1.1 + margin)
      return {
        problem: `mode 2 leaves ${gib(m.commitLimit - m.committedAs)} under CommitLimit: too little for a ${gib(dataset)} dataset and the guard's ${gib(margin)} headroom`,
      };
    if (m.memAvailable < 2 * dataset)
      return { problem: `MemAvailable ${gib(m.memAvailable)} is too little to write a ${gib(dataset)} dataset safely` };
    return { valueBytes: LARGE_VALUE_BYTES, keys: Math.ceil(dataset / (256 * KiB)), fill: 'set' };
  }
  if (faqScenario(mode))
    return { valueBytes: FAQ_VALUE_BYTES, keys: Math.floor((m.memAvailable * DISPOSABLE_DATASET_SHARE) / (8 * MiB)), fill: 'setrange' };
  return { valueBytes: SMALL_VALUE_BYTES, keys: Math.floor(SHARED_DATASET_BYTES / (2 * KiB)), fill: 'set' };
}

/** The evidence before anything is measured (a problem leaves it so). */
function blank(mode: RedisServerEvidence['mode'], redisServer: string): RedisServerEvidence {
  return {
    mode,
    scenario: disposableMachine ? 'disposable' : 'shared',
    redisServer,
    redisVersion: '',
    runAs: '',
    cgroupLimitBytes: null,
    cgroupNote: null,
    pageSize,
    keys: 0,
    valueBytes: 0,
    datasetBytes: 0,
    usedMemoryBytes: null,
    rssBytes: null,
    memAvailableBytes: 0,
    memFreeBytes: null,
    memTotalBytes: null,
    swapTotalBytes: null,
    freeEstimate: null,
    largestAccountedBytes: null,
    noReserveBytes: null,
    memAllocator: null,
    mallocConf: null,
    overcommitWarning: false,
    warningLines: [],
    bgsave: 'err',
    bgsaveReply: '',
    bgsaveLog: [],
    cowBytes: null,
    cowBaselineBytes: null,
    overwrittenKeys: 0,
    overwrittenBytes: 0,
    saveDelayUs: null,
    savingAfterWrites: null,
    commitLimitBytes: null,
    committedAsBytes: null,
    committedAsAfterBytes: null,
    serverAccountedBytes: null,
  };
}

async function info(client: Redis, section: string): Promise<Record<string, string>> {
  const text = await client.info(section);
  const parsed = typeof text === 'string' ? parseInfo(text) : null;
  if (parsed === null) throw new Error(`redis-server answered INFO ${section} with ${JSON.stringify(text).slice(0, 120)}`);
  return parsed;
}

async function fill(client: Redis, p: Plan): Promise<void> {
  // Compressible values (a byte repeated, or zeros): the pages are written, the dump file stays small.
  const values = Array.from({ length: 16 }, (_, i) => Buffer.alloc(p.fill === 'set' ? p.valueBytes : 0, 0x41 + i));
  const batch = p.fill === 'set' ? Math.max(1, Math.floor(FILL_BATCH_BYTES / p.valueBytes)) : 16;
  for (let first = 0; first < p.keys; first += batch) {
    const pipe = client.pipeline();
    for (let i = first; i < Math.min(p.keys, first + batch); i++) {
      if (p.fill === 'set') pipe.set(`k:${i}`, values[i % values.length]!);
      else pipe.setrange(`k:${i}`, p.valueBytes - 1, 'x');
    }
    for (const [err] of (await pipe.exec()) ?? []) if (err) throw new Error(`filling the dataset: ${err.message}`);
  }
}

/** BGSAVE's reply (the error's message when it is refused). */
async function bgsave(client: Redis): Promise<string> {
  try {
    return String(await client.bgsave());
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

/** Waits for the save in progress to end; INFO persistence then. */
async function saved(client: Redis): Promise<Record<string, string>> {
  const deadline = Date.now() + SAVE_TIMEOUT_MS;
  for (;;) {
    const p = await info(client, 'persistence');
    if (infoNumber(p, 'rdb_bgsave_in_progress') !== 1) return p;
    if (Date.now() > deadline) throw new Error(`the background save did not end within ${SAVE_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const status = (p: Record<string, string>): 'ok' | 'err' => (p.rdb_last_bgsave_status === 'ok' ? 'ok' : 'err');

const vmaBytes = (v: Vma): number => Number(v.end - v.start);

/** What the fork's check reads, just before BGSAVE: free memory by both mode-0 rules, the commit counters, the server's mappings. */
async function readBeforeSave(server: RedisServer, e: RedisServerEvidence): Promise<void> {
  // The fork's check runs in the server: CAP_SYS_ADMIN is the server's (root's), not the tool's.
  const estimate = (m: Meminfo) =>
    freeEstimateInputs(m, totalReservePages(readZoneinfo()), readOvercommitSettings().adminReserveKbytes, server.runAs.uid === 0);
  const readings = [];
  for (let i = 1; i < FREE_READINGS; i++) {
    readings.push(estimate(readMeminfo()));
    await sleep(FREE_READING_GAP_MS);
  }
  const m = readMeminfo();
  const last = estimate(m);
  readings.push(last);
  const vmas = readVmas(server.pid);
  const flagged = vmas.some((v) => v.vmFlags.length > 0);
  Object.assign(e, {
    memAvailableBytes: m.memAvailable,
    memFreeBytes: m.memFree,
    memTotalBytes: m.memTotal,
    swapTotalBytes: m.swapTotal,
    freeEstimate: last,
    freeEstimateReadings: readings,
    commitLimitBytes: m.commitLimit,
    committedAsBytes: m.committedAs,
    serverAccountedBytes: accountedBytesIn(vmas, 0n, 2n ** 64n - 1n),
    largestAccountedBytes: flagged ? Math.max(0, ...vmas.filter((v) => v.vmFlags.includes('ac')).map(vmaBytes)) : null,
    noReserveBytes: flagged ? vmas.filter((v) => v.vmFlags.includes('nr')).reduce((sum, v) => sum + vmaBytes(v), 0) : null,
  });
}

/** The FAQ's case: one BGSAVE of a dataset larger than what stays free. */
async function faqSave(server: RedisServer, e: RedisServerEvidence): Promise<void> {
  e.bgsaveReply = await bgsave(server.client);
  e.bgsave = status(await saved(server.client));
}

/** Modes 0 and 1: a save with nothing written, then one during which a known share is rewritten. */
async function saves(server: RedisServer, e: RedisServerEvidence): Promise<void> {
  const { client } = server;
  e.bgsaveReply = await bgsave(client);
  const first = await saved(client);
  e.bgsave = status(first);
  if (e.bgsave !== 'ok') return;
  e.cowBaselineBytes = infoNumber(first, 'rdb_last_cow_size');
  // Long enough a save (µs per key) to outlast the writes; checked below, not assumed.
  const delay = Math.max(1, Math.round(2_000_000 / e.keys));
  try {
    await client.config('SET', 'rdb-key-save-delay', String(delay));
    e.saveDelayUs = delay;
  } catch {
    e.saveDelayUs = null; // a Redis before 6: the save may end before the writes
  }
  e.overwrittenKeys = Math.floor(e.keys * OVERWRITE_SHARE);
  e.overwrittenBytes = e.overwrittenKeys * 2 * KiB;
  const reply = await bgsave(client);
  const rewrite = Buffer.alloc(e.valueBytes, 0x7a);
  const pipe = client.pipeline();
  // The first keys SET are consecutive in jemalloc's slabs: their pages hold nothing else.
  for (let i = 0; i < e.overwrittenKeys; i++) pipe.setrange(`k:${i}`, 0, rewrite);
  for (const [err] of (await pipe.exec()) ?? []) if (err) throw new Error(`rewriting keys during the save: ${err.message}`);
  e.savingAfterWrites = infoNumber(await info(client, 'persistence'), 'rdb_bgsave_in_progress') === 1;
  const second = await saved(client);
  if (e.saveDelayUs !== null) await client.config('SET', 'rdb-key-save-delay', '0');
  e.cowBytes = reply.startsWith('error') || status(second) !== 'ok' ? null : infoNumber(second, 'rdb_last_cow_size');
}

/** Mode 2: BGSAVE inside a window whose CommitLimit leaves the guard's headroom and no more. */
async function saveChecked(server: RedisServer, e: RedisServerEvidence): Promise<void> {
  // kbytes 1 asks for a limit below Committed_AS: the guard raises it to Committed_AS + its headroom.
  await withOvercommitSettings({ mode: 2, kbytes: 1 }, async () => {
    const before = readMeminfo();
    e.commitLimitBytes = before.commitLimit;
    e.committedAsBytes = before.committedAs;
    e.serverAccountedBytes = accountedBytesIn(readVmas(server.pid), 0n, 2n ** 64n - 1n);
    e.bgsaveReply = await bgsave(server.client);
    e.committedAsAfterBytes = readMeminfo().committedAs;
    e.bgsave = status(await saved(server.client));
  });
}

export async function measure(ctx: ExperimentContext): Promise<RedisServerEvidence> {
  const found = findRedisServer();
  if ('missing' in found) return { ...blank(ctx.mode, ''), problem: found.missing };
  const e = blank(ctx.mode, found.path);
  const p = plan(ctx.mode, readMeminfo());
  if ('problem' in p) return { ...e, problem: p.problem };
  if (p.keys < 1) return { ...e, problem: 'MemAvailable leaves no dataset to write' };
  if (ctx.mode === 2 && !guardAvailability().available)
    return { ...e, problem: `mode 2 needs a narrowed CommitLimit: ${guardAvailability().reason}` };
  Object.assign(e, {
    keys: p.keys,
    valueBytes: p.valueBytes,
    datasetBytes: p.keys * p.valueBytes,
    cgroupLimitBytes: cgroupLimit(p.keys * p.valueBytes),
    fill: p.fill,
    mallocConf: faqScenario(ctx.mode) ? FAQ_MALLOC_CONF : null,
  });
  let server: RedisServer | null = null;
  try {
    ctx.progress(`redis-server: starting ${found.path}`);
    const env = e.mallocConf ? { MALLOC_CONF: e.mallocConf, JE_MALLOC_CONF: e.mallocConf } : undefined;
    server = await startRedisServer({ path: found.path, memoryLimitBytes: e.cgroupLimitBytes!, env });
    e.runAs = server.runAs.label;
    e.cgroupNote = server.cgroupNote;
    if (server.cgroup === null) e.cgroupLimitBytes = null;
    const version = (await info(server.client, 'server')).redis_version;
    if (version === undefined) throw new Error('redis-server: INFO server has no redis_version');
    e.redisVersion = version;
    e.warningLines = overcommitWarnings(server.log());
    e.overcommitWarning = e.warningLines.length > 0;
    ctx.progress(`redis-server ${version}: writing ${mib(e.datasetBytes)} (${p.keys} keys)`);
    const filling = Date.now();
    await fill(server.client, p);
    e.fillMs = Date.now() - filling;
    const mem = await info(server.client, 'memory');
    e.usedMemoryBytes = infoNumber(mem, 'used_memory');
    e.rssBytes = infoNumber(mem, 'used_memory_rss');
    e.memAllocator = mem.mem_allocator ?? null;
    await readBeforeSave(server, e);
    const mark = server.log().length;
    ctx.progress(`redis-server: written in ${(e.fillMs / 1000).toFixed(1)} s; BGSAVE`);
    const saving = Date.now();
    if (ctx.mode === 2) await saveChecked(server, e);
    else if (faqScenario(ctx.mode)) await faqSave(server, e);
    else await saves(server, e);
    e.saveMs = Date.now() - saving;
    e.bgsaveLog = bgsaveLines(server.log().slice(mark));
    return e;
  } catch (err) {
    const log = server === null ? [] : bgsaveLines(server.log());
    return { ...e, bgsaveLog: log, problem: `redis-server: ${(err as Error).message}` };
  } finally {
    await server?.stop();
  }
}
