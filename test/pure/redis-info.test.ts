import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bgsaveLines, infoNumber, overcommitWarnings, parseInfo } from '../../lib/redis/info.js';

/** Lines captured from Debian 12's redis-server 7.0.15 on this project's 6.18 VM. */
const LOG = [
  '21575:C 06 Dec 2026 17:36:29.921 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo',
  '21575:M 06 Dec 2026 17:36:29.922 # Server initialized',
  "21575:M 06 Dec 2026 17:36:29.922 # WARNING Memory overcommit must be enabled! Without it, a background save or replication may fail under low memory condition. Being disabled, it can can also cause failures without low memory condition, see https://github.com/jemalloc/jemalloc/issues/1328. To fix this issue add 'vm.overcommit_memory = 1' to /etc/sysctl.conf and then reboot or run the command 'sysctl vm.overcommit_memory=1' for this to take effect.",
  '21575:M 06 Dec 2026 17:36:29.923 * The server is now ready to accept connections at /tmp/x/s',
  '30465:M 06 Dec 2026 18:17:30.019 * Background saving started by pid 30471',
  '30471:C 06 Dec 2026 18:17:30.147 * DB saved on disk',
  '30471:C 06 Dec 2026 18:17:30.150 * Fork CoW for RDB: current 0 MB, peak 0 MB, average 0 MB',
  '30465:M 06 Dec 2026 18:17:30.157 * Background saving terminated with success',
  "30544:M 06 Dec 2026 18:17:50.567 # Can't save in background: fork: Cannot allocate memory",
].join('\n');

describe('redis-server output parsing (captured samples)', () => {
  it('finds the overcommit warning in both wordings, and nothing in a log without it', () => {
    expect(overcommitWarnings(LOG)).toHaveLength(1);
    expect(
      overcommitWarnings('123:M 01 Jan 2020 00:00:00.000 # WARNING overcommit_memory is set to 0! Background save may fail'),
    ).toHaveLength(1);
    expect(
      overcommitWarnings(
        LOG.split('\n')
          .filter((l) => !l.includes('WARNING'))
          .join('\n'),
      ),
    ).toEqual([]);
  });

  it("keeps the background save's lines, fork failure included, and not the warning", () => {
    const lines = bgsaveLines(LOG);
    expect(lines).toHaveLength(5);
    expect(lines.at(-1)).toContain('Cannot allocate memory');
    expect(lines.some((l) => l.includes('WARNING'))).toBe(false);
  });

  it('parses INFO, and refuses text that is not INFO', () => {
    const info = parseInfo('# Persistence\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\nrdb_last_cow_size:17498112\r\n');
    expect(info).toEqual({ rdb_bgsave_in_progress: '0', rdb_last_bgsave_status: 'ok', rdb_last_cow_size: '17498112' });
    expect(infoNumber(info!, 'rdb_last_cow_size')).toBe(17498112);
    expect(infoNumber(info!, 'rdb_last_bgsave_status')).toBeNull();
    expect(infoNumber(info!, 'absent')).toBeNull();
    expect(parseInfo('garbage, not RESP')).toBeNull();
    expect(parseInfo('')).toBeNull();
  });

  it('the captured run of all modes carries the lines these functions pick out', () => {
    const run = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures/redis-server/run-all-6.18.json'), 'utf8')) as {
      runs: { mode: number; evidence: { bgsaveLog: string[] } }[];
    };
    for (const r of run.runs) expect(bgsaveLines(r.evidence.bgsaveLog.join('\n'))).toEqual(r.evidence.bgsaveLog);
  });
});
