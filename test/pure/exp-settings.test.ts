import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding } from '../../lib/experiments/model.js';
import type { SettingsEvidence } from '../../lib/experiments/settings/evidence.js';
import { settingsClaims, settingsRules } from '../../lib/experiments/settings/rules.js';
import { normalizeSysctlKey, parseCmdlineSysctls, parseSysctlConf } from '../../lib/kernel/sysctl-config.js';

/** The page size of the machine the evidence was captured on (x86_64). */
const pageSize = 4096;

import { MiB } from '../../lib/units.js';
import { changeFromDeltas } from '../../lib/verdict/tolerance.js';

/** Measured on this host (6.18, mode 0, ratio 50 from no configuration file). */
const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/settings.json'), 'utf8'),
) as SettingsEvidence;

const judge = (e: SettingsEvidence): Map<string, Finding> =>
  new Map(judgeEvidence(settingsRules, e, e.runnerMode).map((f) => [f.claim, f]));
const verdict = (e: SettingsEvidence, id: string) => judge(e).get(id)!;

describe('settings rules', () => {
  it('judges the captured run', () => {
    const f = judge(captured);
    expect([...f.keys()]).toEqual(Object.values(settingsClaims).map((c) => c.id));
    for (const id of f.keys()) expect(f.get(id)!.holds, id).toBe(true);
    expect(f.get('settings-program-reads-mode')!.observed).toContain("'overcommit_memory = 0'");
    expect(f.get('default-ratio-50')!.observed).toContain('nothing sets it in /usr/lib/sysctl.d/50-pid-max.conf');
  });

  it('the program: what it printed against the files read around it', () => {
    const p = captured.program;
    expect(verdict({ ...captured, program: { ...p, printedMode: 1 } }, 'settings-program-reads-mode').holds).toBe(false);
    expect(verdict({ ...captured, program: { ...p, printedModeText: 'Unknown' } }, 'settings-program-reads-mode').holds).toBe(false);
    const changed = verdict({ ...captured, program: { ...p, after: { mode: 2, ratio: 50 } } }, 'settings-program-reads-mode');
    expect(changed.holds).toBeNull();
    expect(changed.reason).toBe('the settings changed while the program ran (mode 0 -> 2, ratio 50 -> 50)');
    const unbuilt = verdict({ ...captured, program: { ...p, unavailable: 'not built' } }, 'settings-program-reads-mode');
    expect(unbuilt.holds).toBeNull();
    expect(unbuilt.reason).toBe('not built');
    // The runner's mode is context, not the program's business: the program reads the file.
    expect(verdict({ ...captured, runnerMode: 2 }, 'settings-program-reads-mode').holds).toBe(true);
  });

  it('Committed_AS counts the mapping by its flags, within the noise', () => {
    const probe = captured.committedProbe;
    const withChange = (deltas: number[], controls: number[], vmFlags = probe.vmFlags) =>
      verdict(
        { ...captured, committedProbe: { ...probe, vmFlags, change: changeFromDeltas(deltas, controls) } },
        'commit-counters-in-meminfo',
      );
    const size = probe.mappedBytes;
    expect(withChange([size, size, size], [0, 0, 0]).holds).toBe(true);
    expect(withChange([0, 0, 0], [0, 0, 0]).holds).toBe(false);
    // Not 'ac': nothing committed, and the counter did not move: it counts what is committed.
    expect(withChange([0, 0, 0], [0, 0, 0], ['rd', 'wr']).holds).toBe(true);
    const noisy = withChange([size, size + 200 * MiB, size - 200 * MiB], [0, 150 * MiB, -150 * MiB]);
    expect(noisy.holds).toBeNull();
    expect(noisy.reason).toMatch(/too much to tell/);
    const limitOff = { ...captured, reading: { ...captured.reading, commitLimitBytes: captured.reading.kernelFormulaBytes + pageSize } };
    expect(verdict(limitOff, 'commit-counters-in-meminfo').holds).toBe(false);
    const refused = verdict({ ...captured, committedProbe: { ...probe, change: null, mmapCode: 'ENOMEM' } }, 'commit-counters-in-meminfo');
    expect(refused.holds).toBeNull();
    expect(refused.reason).toContain('(ENOMEM)');
  });

  it('the ratio formula is not judged while overcommit_kbytes is in force', () => {
    const r = { ...captured.reading, kbytes: 4_000_000 };
    for (const id of ['commit-limit-swap-plus-ratio-of-ram', 'strict-total-swap-plus-ram-ratio']) {
      const f = verdict({ ...captured, reading: r }, id);
      expect(f.holds).toBeNull();
      expect(f.reason).toBe(
        'overcommit_kbytes is 4000000 here, so the kernel computes CommitLimit from kbytes + swap and the ratio formula does not apply',
      );
    }
  });

  it('default-ratio-50: 50 in force when nothing sets it; undecided, naming the file, when something does', () => {
    expect(verdict({ ...captured, reading: { ...captured.reading, ratio: 50 } }, 'default-ratio-50').holds).toBe(true);
    // Another value that no file sets may be a run-time write as well as a default: undecided, never refuted.
    const other = verdict({ ...captured, reading: { ...captured.reading, ratio: 60 } }, 'default-ratio-50');
    expect(other.holds).toBeNull();
    expect(other.reason).toMatch(/overcommit_ratio is 60 and no configuration sets it/);
    expect(other.observed).not.toContain("kernel's default");
    const set = verdict(
      { ...captured, ratioSetBy: [{ file: '/etc/sysctl.d/90-commit.conf', line: 3, key: 'vm.overcommit_ratio', value: '50' }] },
      'default-ratio-50',
    );
    expect(set.holds).toBeNull();
    expect(set.reason).toBe("the ratio in force (50) is set by /etc/sysctl.d/90-commit.conf:3 (50), not the kernel's default");
    const kbytes = verdict({ ...captured, reading: { ...captured.reading, ratio: 0, kbytes: 4_000_000 } }, 'default-ratio-50');
    expect(kbytes.holds).toBeNull();
    expect(kbytes.reason).toMatch(/overcommit_kbytes is 4000000/);
  });
});

describe('sysctl configuration parsing', () => {
  it('reads key = value lines, comments and the ignore-failure dash; keys with / or .', () => {
    const text = '# comment\n; other\nvm.overcommit_ratio = 70\n-vm/overcommit_memory=1\n\nkernel.pid_max = 4194304\nnot a setting\n';
    expect(parseSysctlConf(text, '/etc/sysctl.conf')).toEqual([
      { file: '/etc/sysctl.conf', line: 3, key: 'vm.overcommit_ratio', value: '70' },
      { file: '/etc/sysctl.conf', line: 4, key: 'vm.overcommit_memory', value: '1' },
      { file: '/etc/sysctl.conf', line: 6, key: 'kernel.pid_max', value: '4194304' },
    ]);
    expect(normalizeSysctlKey(' vm/overcommit_ratio ')).toBe('vm.overcommit_ratio');
    expect(parseCmdlineSysctls('BOOT_IMAGE=/vmlinuz ro sysctl.vm.overcommit_ratio=80 quiet\n')).toEqual([
      { file: '/proc/cmdline', line: 0, key: 'vm.overcommit_ratio', value: '80' },
    ]);
  });
});
