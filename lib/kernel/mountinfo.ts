/**
 * /proc/<pid>/mountinfo: which filesystem is mounted where, with which options. Both the sysctl
 * check (is /proc/sys read-only, as in containers?) and cgroup discovery need it.
 */
import { readFileSync } from 'node:fs';

export interface MountEntry {
  mountId: number;
  parentId: number;
  /** The directory of the filesystem that is the root of this mount (not '/' for bind mounts). */
  root: string;
  mountPoint: string;
  /** Per-mount options, e.g. ['ro', 'nosuid']. */
  mountOptions: string[];
  fsType: string;
  source: string;
  /** Filesystem-wide options; for cgroup v1 they name the controllers, e.g. ['rw', 'memory']. */
  superOptions: string[];
}

/** Mount paths escape space, tab, newline and backslash as octal (\040 ...). */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    // A variable number of optional fields (shared:N, master:N) ends with a lone '-'.
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 4) throw new Error(`mountinfo: malformed line: ${line}`);
    entries.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      root: unescapeOctal(fields[3]!),
      mountPoint: unescapeOctal(fields[4]!),
      mountOptions: fields[5]!.split(','),
      fsType: fields[sep + 1]!,
      source: unescapeOctal(fields[sep + 2]!),
      superOptions: fields[sep + 3]!.split(','),
    });
  }
  return entries;
}

export function readMountinfo(pid: number | 'self' = 'self'): MountEntry[] {
  return parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

/**
 * The mount that contains `path`: the longest mount point that is a prefix of it; among equal
 * mount points the last one listed, because a later mount on the same directory hides earlier ones.
 */
export function mountContaining(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const inside = path === mp || mp === '/' || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    if (inside && (best === undefined || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}
