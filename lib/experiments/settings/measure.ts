import { commitLimitFormula } from '../../kernel/admission.js';
import { type Meminfo, readMeminfo } from '../../kernel/meminfo.js';
import { modeDescription, modeName, type OvercommitSettings, parseOvercommitMode, readOvercommitSettings } from '../../kernel/sysctl.js';
import { readSysctlSources } from '../../kernel/sysctl-config.js';
import { measureCommittedChange } from '../../measure/committed.js';
import { isSystemCallError } from '../../native/errors.js';
import { type Mapping, mmap, pageSize } from '../../native/mapping.js';
import { parseSettingsOutput, programPath, runProgram } from '../../native/programs.js';
import { bytesToPages, GiB, mib } from '../../units.js';
import { median } from '../../verdict/stats.js';
import type { OvercommitMode } from '../model.js';
import type { CommittedProbe, SettingsEvidence, SettingsFiles, SettingsProgramRun, SettingsReading } from './evidence.js';

/** The documents' formula, literally: no hugetlb subtraction, no overcommit_kbytes. */
function documentedCommitLimit(m: Meminfo, ratio: number): number {
  return (Math.floor((bytesToPages(m.memTotal, pageSize) * ratio) / 100) + bytesToPages(m.swapTotal, pageSize)) * pageSize;
}

export function readSettings(): SettingsReading {
  const s: OvercommitSettings = readOvercommitSettings();
  const m = readMeminfo();
  const kernel = commitLimitFormula(m, s, pageSize);
  return {
    mode: s.mode,
    modeName: modeName(s.mode),
    modeDescription: modeDescription(s.mode),
    ratio: s.ratio,
    kbytes: s.kbytes,
    commitLimitBytes: m.commitLimit,
    committedAsBytes: m.committedAs,
    memTotalBytes: m.memTotal,
    swapTotalBytes: m.swapTotal,
    hugetlbBytes: m.hugetlb,
    kernelFormulaBytes: kernel.bytes,
    kernelFormula: kernel.formula,
    documentedFormulaBytes: documentedCommitLimit(m, s.ratio),
  };
}

/** The private writable mapping whose charge shows Committed_AS is "the amount committed": untouched, it costs no memory. */
const PROBE_BYTES = GiB;

/** In mode 2 the probe is charged against CommitLimit: made only with this many times its size to spare. */
const MODE2_HEADROOM = 4;

const PROBE_TRIALS = 5;

function readSettingsFiles(): SettingsFiles {
  const s = readOvercommitSettings();
  return { mode: s.mode, ratio: s.ratio };
}

async function runSettingsProgram(): Promise<SettingsProgramRun> {
  const before = readSettingsFiles();
  const none = { lines: [], stderr: '', exitCode: null, signal: null, printedMode: null, printedRatio: null, printedModeText: null };
  try {
    programPath('settings');
  } catch (e) {
    return { unavailable: (e as Error).message, ...none, before, after: before };
  }
  const r = await runProgram('settings');
  const after = readSettingsFiles();
  let printed: { printedMode: number | null; printedRatio: number | null; printedModeText: string | null } = none;
  try {
    const p = parseSettingsOutput(r.stdout);
    printed = { printedMode: p.mode, printedRatio: p.ratio, printedModeText: p.modeText };
  } catch {
    // It printed something else: the rule says so with its lines.
  }
  return {
    unavailable: null,
    ...none,
    lines: r.stdout,
    stderr: r.stderr,
    exitCode: r.exitCode,
    signal: r.signal,
    ...printed,
    before,
    after,
  };
}

function measureProbe(mode: OvercommitMode): CommittedProbe {
  const base = {
    mappedBytes: PROBE_BYTES,
    mmapCode: null,
    skipped: null,
    vmFlags: [],
    change: null,
    committedDeltaBytes: null,
    toleranceBytes: null,
    committedBeforeBytes: null,
    committedAfterBytes: null,
  };
  if (mode === 2) {
    const m = readMeminfo();
    const spare = m.commitLimit - m.committedAs;
    if (spare < MODE2_HEADROOM * PROBE_BYTES) {
      return {
        ...base,
        skipped: `in mode 2 only ${mib(spare)} of CommitLimit is uncommitted; charging ${mib(PROBE_BYTES)} could refuse another process its memory`,
      };
    }
  }
  let vmFlags: string[] = [];
  const trials: { before: number; after: number }[] = [];
  try {
    const change = measureCommittedChange(
      () => {
        const m = mmap(PROBE_BYTES);
        if (vmFlags.length === 0) vmFlags = m.vmFlags();
        return m;
      },
      (m: Mapping) => m.unmap(),
      { trials: PROBE_TRIALS, onTrial: (before, after) => trials.push({ before, after }) },
    );
    const mid = median(change.actionDeltasBytes);
    const judged = trials.reduce((a, t) => (Math.abs(t.after - t.before - mid) < Math.abs(a.after - a.before - mid) ? t : a));
    return {
      ...base,
      vmFlags,
      change,
      committedDeltaBytes: change.changeBytes,
      toleranceBytes: change.toleranceBytes,
      committedBeforeBytes: judged.before,
      committedAfterBytes: judged.after,
    };
  } catch (e) {
    // Mode 2 near its limit may refuse even this: then nothing was charged, nothing to judge.
    if (!isSystemCallError(e)) throw e;
    return { ...base, mmapCode: e.code };
  }
}

export async function measureSettings(runnerMode: OvercommitMode): Promise<SettingsEvidence> {
  const program = await runSettingsProgram();
  const reading = readSettings();
  const committedProbe = measureProbe(parseOvercommitMode(reading.mode));
  const sources = readSysctlSources();
  return {
    runnerMode,
    reading,
    program,
    committedProbe,
    ratioSetBy: sources.settings.filter((s) => s.key === 'vm.overcommit_ratio'),
    ratioSourcesRead: sources.read,
  };
}
