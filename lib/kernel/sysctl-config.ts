/**
 * The sysctl configuration files applied at boot (systemd-sysctl, procps `sysctl --system`) and
 * the kernel command line's sysctl.* parameters: which of them set a given key. A value in force
 * that nothing on the machine sets is the kernel's own default (unless written at run time).
 */
import { readdirSync, realpathSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readOptional } from './read.js';

/** sysctl.d directories, highest priority first: a file name in an earlier one masks the same name in later ones. */
export const SYSCTL_D_DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d'] as const;
export const SYSCTL_CONF = '/etc/sysctl.conf';
export const KERNEL_CMDLINE = '/proc/cmdline';

/** One place that sets a key. */
export interface SysctlSetting {
  /** The file, or /proc/cmdline for a sysctl.<key>=<value> boot parameter. */
  file: string;
  /** 1-based line; 0 for the command line. */
  line: number;
  key: string;
  value: string;
}

/** 'vm/overcommit_ratio' and 'vm.overcommit_ratio' are the same key. */
export function normalizeSysctlKey(key: string): string {
  return key.trim().replace(/^-/, '').replaceAll('/', '.');
}

/** The settings of one sysctl.conf-format text ('key = value'; '#' and ';' start comments; '-key' ignores failures). */
export function parseSysctlConf(text: string, file: string): SysctlSetting[] {
  const out: SysctlSetting[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) return;
    out.push({ file, line: i + 1, key: normalizeSysctlKey(line.slice(0, eq)), value: line.slice(eq + 1).trim() });
  });
  return out;
}

/** sysctl.<key>=<value> parameters of a kernel command line. */
export function parseCmdlineSysctls(cmdline: string): SysctlSetting[] {
  return cmdline
    .trim()
    .split(/\s+/)
    .filter((p) => p.startsWith('sysctl.') && p.includes('='))
    .map((p) => {
      const eq = p.indexOf('=');
      return { file: KERNEL_CMDLINE, line: 0, key: normalizeSysctlKey(p.slice('sysctl.'.length, eq)), value: p.slice(eq + 1) };
    });
}

export interface SysctlSources {
  /** Every configuration file and command line read. */
  read: string[];
  settings: SysctlSetting[];
}

/** Every setting of the machine's sysctl configuration (masked files excluded) and boot command line. */
export function readSysctlSources(): SysctlSources {
  const files: string[] = [];
  const seen = new Set<string>();
  for (const dir of SYSCTL_D_DIRS) {
    let names: string[];
    try {
      names = readdirSync(dir)
        .filter((n) => n.endsWith('.conf'))
        .sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if (seen.has(name)) continue;
      seen.add(name);
      files.push(join(dir, name));
    }
  }
  // systemd-sysctl applies the files in the order of their names, whatever their directory.
  files.sort((a, b) => basename(a).localeCompare(basename(b)));
  files.push(SYSCTL_CONF);
  const read: string[] = [];
  const settings: SysctlSetting[] = [];
  const real = new Set<string>();
  for (const file of files) {
    // /etc/sysctl.d/99-sysctl.conf is commonly a link to /etc/sysctl.conf: read each file once.
    let target: string;
    try {
      target = realpathSync(file);
    } catch {
      continue;
    }
    if (real.has(target)) continue;
    real.add(target);
    const text = readOptional(file);
    if (text === null) continue;
    read.push(file);
    settings.push(...parseSysctlConf(text, file));
  }
  const cmdline = readOptional(KERNEL_CMDLINE);
  if (cmdline !== null) {
    read.push(KERNEL_CMDLINE);
    settings.push(...parseCmdlineSysctls(cmdline));
  }
  return { read, settings };
}
