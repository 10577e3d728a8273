/**
 * The kernel matrix (`npm run test:kernels`): the same experiments through `vm` on several
 * kernels, each run checked: it completed, no experiment errored, and every finding's verdict
 * is one its own evidence supports.
 */
import { rejudge } from '../experiments/judge.js';
import { ruleSets } from '../experiments/rules.js';
import type { Finding, RunReport } from '../verdict/types.js';

/** One guest of the matrix. */
export interface MatrixEntry {
  /** The kernel's short name (scripts/kernels.sh prints '<name> <path>'), or 'host'. */
  kernel: string;
  /** The kernel's architecture and page size, where they are not x86-64's 4 KiB (vm reads the architecture from the image). */
  arch?: 'arm64' | 'ppc64';
  pageSize?: number;
  cgroup: 'v1' | 'v2';
  swap: string;
  /** Experiment ids; empty: all. */
  experiments: readonly string[];
  /** Extra words for the guest's run (e.g. --mode 0,2). */
  runArgs: readonly string[];
  /** The row's measured wall time, in seconds, for balancing shards; default: estimated (lib/vm/shard.ts). */
  seconds?: number;
}

/** The experiments every kernel runs: the documents' mode-0 rule, the late OOM, the Redis fork and the zero page. */
export const CORE_EXPERIMENTS = ['mode-matrix', 'oom-late-failure', 'redis-fork', 'zero-pages'] as const;

/**
 * The experiments whose claims depend on the page: 004's stride and its page counts, the zero
 * page, the per-page rounding of the commit charge, of mappings and of the mode-2 limit, a
 * fork's copies, RLIMIT_AS. The rows of other architectures and page sizes run these.
 */
export const PAGE_EXPERIMENTS = ['sparse-array', 'zero-pages', 'accounting', 'mode-matrix', 'copy-on-write', 'rlimit-as'] as const;

/**
 * What the other architectures' rows leave out, each with why: under TCG an arm64 or ppc64
 * guest emulates another instruction set, and what does not depend on the page size is the
 * x86-64 rows' to show.
 */
export const ARCH_LEFT_OUT: Readonly<Record<string, string>> = {
  'oom-late-failure':
    'touches memory page by page until the OOM killer acts: a minute per mode under emulation, and counts no pages (the x86-64 rows run it)',
  'redis-fork': "writes a dataset of gigabytes before its fork: minutes under emulation; copy-on-write measures a fork's page copies here",
  'commit-limit': "CommitLimit's formula from its inputs, in kB: no page in it (the x86-64 rows run it)",
  'fork-inheritance': "a child's inherited flags and charge, whole mappings of 1 GiB: no page in it (the x86-64 rows run it)",
  settings: "004's settings program and the counters' formulas: no page in them (the x86-64 rows run it)",
  'redis-server':
    "its FAQ case fills most of the guest's memory: minutes under another instruction set's emulation, and no claim of it counts pages (the x86-64 rows run it)",
  'malloc-failure': "where malloc's blocks lie and where its failure shows: whole blocks of MiB, no page in it (the x86-64 rows run it)",
  'oom-victim': 'holds processes in a memory cgroup until the OOM killer picks one, twice: no page in its claims (the x86-64 rows run it)',
  'exec-stack':
    "the stack an exec'd program is born with, stopped at its first instruction by ptrace: not yet run under another instruction set's emulation (the x86-64 rows run it)",
};

/** The experiments neither run by the architectures' rows nor left out of them with why (ARCH_LEFT_OUT, MATRIX_LEFT_OUT). */
export function archExperimentsUnaccounted(ids: readonly string[]): string[] {
  const run = new Set<string>(PAGE_EXPERIMENTS);
  return ids.filter((id) => !run.has(id) && !(id in ARCH_LEFT_OUT) && !(id in MATRIX_LEFT_OUT));
}

/**
 * What the full rows run: every experiment but those the guests are not sized for yet, each
 * with why (they run on the host, in npm start and the suite).
 */
export const MATRIX_LEFT_OUT: Readonly<Record<string, string>> = {
  // Four write methods × trials of 64 MiB through /proc/<pid>/mem and PTRACE_POKEDATA, a
  // syscall per word under emulation; its mode-2 part (past CommitLimit) runs only in a guest:
  // `vm -- run ptrace-pages --mode 2` took 24-43 s of guest time on 6.1 under TCG.
  'ptrace-pages': 'a syscall per word written, four ways, under emulation (the host runs it)',
};

/** Every experiment id but MATRIX_LEFT_OUT's (ids given explicitly, so a new experiment is a choice). */
export function fullExperiments(ids: readonly string[]): string[] {
  return ids.filter((id) => !(id in MATRIX_LEFT_OUT));
}

/**
 * Sized for TCG on 2 shared cores (about 23 minutes with the tests, 13 of them the tests):
 * every experiment under modes 0, 1 and 2 on 5.1.15 (the rule before 5.2) and 6.1; the core
 * experiments under the three modes on 5.10 and 6.12. Between them cgroup v1 and v2, no swap, zram and a swap file
 * are all covered.
 */
export const MATRIX: readonly MatrixEntry[] = [
  { kernel: '5.1', cgroup: 'v1', swap: 'none', experiments: [], runArgs: ['--mode', 'all'] },
  { kernel: '5.10', cgroup: 'v2', swap: 'file:1G', experiments: CORE_EXPERIMENTS, runArgs: ['--mode', 'all'] },
  { kernel: '6.1', cgroup: 'v2', swap: 'zram:1G', experiments: [], runArgs: ['--mode', 'all'] },
  { kernel: '6.12', cgroup: 'v2', swap: 'none', experiments: CORE_EXPERIMENTS, runArgs: ['--mode', 'all'] },
  // Debian 13 on arm64 (4 and 16 KiB pages) and ppc64el (64 KiB), under TCG (an instruction set
  // emulated: slower than the x86 rows' estimate): measured here by npm run test:kernels (4.5
  // minutes together); 217, 207 and 93 s while other guests shared the 2 cores.
  {
    kernel: '6.12-arm64',
    arch: 'arm64',
    pageSize: 4096,
    cgroup: 'v2',
    swap: 'none',
    experiments: PAGE_EXPERIMENTS,
    runArgs: ['--mode', 'all'],
    seconds: 144,
  },
  {
    kernel: '6.12-arm64-16k',
    arch: 'arm64',
    pageSize: 16384,
    cgroup: 'v2',
    swap: 'none',
    experiments: PAGE_EXPERIMENTS,
    runArgs: ['--mode', 'all'],
    seconds: 80,
  },
  {
    kernel: '6.12-ppc64el-64k',
    arch: 'ppc64',
    pageSize: 65536,
    cgroup: 'v2',
    swap: 'none',
    experiments: PAGE_EXPERIMENTS,
    runArgs: ['--mode', 'all'],
    seconds: 46,
  },
];

/**
 * The test files the 6.1 guest (cgroup v2, zram) leaves out, each with why; the rest of the
 * suite runs there, so that the memory-cgroup code, the OOM experiment, the Redis fork and the
 * mode switches are all exercised on a real cgroup v2 kernel with swap and THP 'always'.
 */
export const GUEST_EXCLUDED_TESTS: Readonly<Record<string, string>> = {
  // It boots qemu itself: a TCG guest inside a TCG guest, and the 5.1.15 image is not shared.
  'test/kernel/vm-boot.test.ts': 'it boots qemu itself (emulation inside emulation)',
  'test/kernel/redis-faq-vm.test.ts': 'it boots qemu itself (emulation inside emulation)',
  'test/kernel/vm-arch-boot.test.ts': 'it boots an arm64 guest itself (emulation inside emulation)',
  // qemu-user running an arm64 Node, after a cross build: minutes on the host, far more under TCG.
  'test/kernel/arm64-smoke.test.ts': 'it runs an arm64 Node under qemu-user (emulation inside emulation)',
  // Chromium (.ci/run installs it on the host) draws the report alike on any kernel; the guest
  // gets none of the host's /etc it reads, and under TCG it would cost minutes for nothing.
  'test/kernel/report-html-browser.test.ts': 'headless Chromium draws the HTML report alike on every kernel (it runs on the host)',
  // The real redis-server filling gigabytes key by key, in each mode: minutes under TCG.
  'test/kernel/exp-redis-server.test.ts': 'the real redis-server fills gigabytes key by key (it runs on the host)',
  // A tracer writing 64 MiB a word at a time, four ways: a syscall per word under emulation.
  'test/kernel/exp-ptrace-pages.test.ts': 'a tracer writes 64 MiB a word at a time (it runs on the host)',
  // Dozens of random call sequences, each in a fresh Node process: Node's start-up alone is
  // seconds under TCG. The same kernel-independent guarantees are checked on the host.
  'test/kernel/property-api.test.ts': 'dozens of fresh Node processes, seconds each under TCG (it runs on the host)',
  // Workers terminated mid-call in a loop and tens of thousands of mappings: past the test's
  // two minutes under TCG; what it checks is the addon's, alike on every kernel.
  'test/kernel/hardening-classes.test.ts':
    "loops of worker teardowns and mappings outlast its bounds under TCG (the addon's, run on the host)",
};

/** vitest's arguments for the guest's run: the whole suite minus GUEST_EXCLUDED_TESTS. */
export function guestVitestArgs(): string[] {
  return Object.keys(GUEST_EXCLUDED_TESTS).flatMap((f) => ['--exclude', f]);
}

/** Whether `finding` is well formed: a verdict, an observation, and a reason when undecided. */
function checkFinding(experimentId: string, mode: number, f: Finding): string | undefined {
  const where = `${experimentId} (mode ${mode}) ${f.claim}`;
  if (f.holds !== true && f.holds !== false && f.holds !== null) return `${where}: the verdict is not true, false or null`;
  if (typeof f.observed !== 'string' || f.observed === '') return `${where}: no observation`;
  if (f.holds === null && (f.reason === undefined || f.reason === '')) return `${where}: undecided without a reason`;
  return undefined;
}

/** Every problem of one matrix run: a missing experiment, an error, a verdict its evidence contradicts. */
export function checkRun(report: RunReport, expected: readonly string[]): string[] {
  const problems: string[] = [];
  for (const id of expected) {
    if (!report.runs.some((r) => r.experiment === id)) problems.push(`${id}: did not run`);
  }
  for (const run of report.runs) {
    if (run.status === 'error') problems.push(`${run.experiment} (mode ${run.mode}): error: ${run.reason ?? 'no reason given'}`);
    for (const f of run.findings) {
      const p = checkFinding(run.experiment, run.mode, f);
      if (p !== undefined) problems.push(p);
    }
  }
  // Every verdict is judged again from the run's recorded evidence: it must agree.
  for (const c of rejudge(report, ruleSets)) {
    problems.push(`${c.experiment} (mode ${c.mode}) ${c.claim}: the run said ${String(c.recorded)}, its evidence says ${String(c.judged)}`);
  }
  return problems;
}
