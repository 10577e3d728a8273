/**
 * Where this process's memory cgroup is, and whether a child group with a memory limit could be
 * created there. Discovery only: creating and removing groups belongs to another module.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { type MountEntry, parseMountinfo } from './mountinfo.js';

export interface MemoryCgroup {
  available: true;
  version: 1 | 2;
  /** Where the hierarchy holding the memory controller is mounted, e.g. /sys/fs/cgroup/memory. */
  mountPoint: string;
  /** This process's cgroup path in that hierarchy, from /proc/self/cgroup. */
  ownPath: string;
  /** The absolute directory of that cgroup. */
  ownDir: string;
  /** The file that holds a group's memory limit. */
  limitFile: 'memory.limit_in_bytes' | 'memory.max';
  canCreateChild: boolean;
  /** Why a child cannot be created (or what must be done first). */
  reason?: string;
}

export interface NoMemoryCgroup {
  available: false;
  reason: string;
}

/** One line of /proc/<pid>/cgroup: "hierarchy-id:controllers:path"; v2 is "0::path". */
export interface CgroupMembership {
  hierarchyId: number;
  /** Empty for the v2 hierarchy. */
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): CgroupMembership[] {
  const out: CgroupMembership[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) throw new Error(`/proc/self/cgroup: unexpected line: ${JSON.stringify(line)}`);
    out.push({ hierarchyId: Number(m[1]), controllers: m[2] === '' ? [] : m[2]!.split(','), path: m[3]! });
  }
  return out;
}

/** The file-system reads discovery needs, injectable so tests can describe another machine. */
export interface CgroupFs {
  mountinfo(): string;
  procCgroup(): string;
  /** A file's contents, or undefined when it cannot be read. */
  readFile(path: string): string | undefined;
  /** Whether this process may create entries in the directory. */
  writableDir(path: string): boolean;
}

const liveFs: CgroupFs = {
  mountinfo: () => readFileSync('/proc/self/mountinfo', 'utf8'),
  procCgroup: () => readFileSync('/proc/self/cgroup', 'utf8'),
  readFile: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  writableDir: (path) => {
    try {
      accessSync(path, constants.W_OK | constants.X_OK);
      return true;
    } catch {
      return false;
    }
  },
};

/**
 * The directory of cgroup `path` under `mount`. /proc/self/cgroup paths are relative to the
 * hierarchy's root (or the cgroup namespace's), while a mount may expose only a subtree
 * (mountinfo's root field), as in containers.
 */
function cgroupDir(mount: MountEntry, path: string): string {
  const root = mount.root;
  if (root !== '/' && (path === root || path.startsWith(`${root}/`))) {
    return join(mount.mountPoint, path.slice(root.length));
  }
  return join(mount.mountPoint, path);
}

function v1(mount: MountEntry, member: CgroupMembership, fs: CgroupFs): MemoryCgroup | NoMemoryCgroup {
  const ownDir = cgroupDir(mount, member.path);
  if (fs.readFile(join(ownDir, 'memory.limit_in_bytes')) === undefined) {
    return {
      available: false,
      reason: `cgroup v1 memory: ${ownDir}/memory.limit_in_bytes is not readable (the process's group is not visible in this mount)`,
    };
  }
  const base = {
    available: true as const,
    version: 1 as const,
    mountPoint: mount.mountPoint,
    ownPath: member.path,
    ownDir,
    limitFile: 'memory.limit_in_bytes' as const,
  };
  if (mount.mountOptions.includes('ro')) return { ...base, canCreateChild: false, reason: `${mount.mountPoint} is mounted read-only` };
  if (!fs.writableDir(ownDir)) return { ...base, canCreateChild: false, reason: `no write permission on ${ownDir}` };
  return { ...base, canCreateChild: true };
}

function v2(mount: MountEntry, member: CgroupMembership, fs: CgroupFs): MemoryCgroup | NoMemoryCgroup {
  const ownDir = cgroupDir(mount, member.path);
  const controllers = fs.readFile(join(ownDir, 'cgroup.controllers'));
  if (controllers === undefined) return { available: false, reason: `cgroup v2: ${ownDir}/cgroup.controllers is not readable` };
  if (!controllers.split(/\s+/).includes('memory')) {
    return {
      available: false,
      reason: `cgroup v2: the memory controller is not enabled for ${member.path} (cgroup.controllers: ${controllers.trim() || 'empty'})`,
    };
  }
  const base = {
    available: true as const,
    version: 2 as const,
    mountPoint: mount.mountPoint,
    ownPath: member.path,
    ownDir,
    limitFile: 'memory.max' as const,
  };
  if (mount.mountOptions.includes('ro')) return { ...base, canCreateChild: false, reason: `${mount.mountPoint} is mounted read-only` };
  if (!fs.writableDir(ownDir)) return { ...base, canCreateChild: false, reason: `no write permission on ${ownDir}` };
  // A child only gets memory.max if the parent delegates memory in subtree_control, and the
  // "no internal processes" rule forbids enabling it in a non-root group that has processes.
  // (A path of '/' may be a cgroup namespace's root, not the real one: it needs the same.)
  const subtree = fs.readFile(join(ownDir, 'cgroup.subtree_control')) ?? '';
  if (subtree.split(/\s+/).includes('memory')) return { ...base, canCreateChild: true };
  return {
    ...base,
    canCreateChild: false,
    reason:
      posix.normalize(member.path) === '/'
        ? `memory is not in ${ownDir}/cgroup.subtree_control: groups made here would have no memory.max`
        : `memory is not in ${ownDir}/cgroup.subtree_control and cannot be enabled while this process lives in that group (cgroup v2 "no internal processes" rule)`,
  };
}

/**
 * Finds this process's memory cgroup: v1 when a v1 hierarchy has the memory controller (hybrid
 * systems mount both, and the controller lives in only one), else the v2 hierarchy.
 */
export function findMemoryCgroup(machine?: CgroupFs): MemoryCgroup | NoMemoryCgroup {
  if (!machine && process.platform !== 'linux') return { available: false, reason: `not Linux (platform ${process.platform})` };
  const fs = machine ?? liveFs;
  const mounts = parseMountinfo(fs.mountinfo());
  const members = parseProcCgroup(fs.procCgroup());

  const v1Member = members.find((m) => m.hierarchyId !== 0 && m.controllers.includes('memory'));
  if (v1Member) {
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('memory'));
    if (!mount) return { available: false, reason: 'cgroup v1 memory controller is listed in /proc/self/cgroup but not mounted' };
    return v1(mount, v1Member, fs);
  }
  const v2Member = members.find((m) => m.hierarchyId === 0 && m.controllers.length === 0);
  const v2Mount = mounts.find((m) => m.fsType === 'cgroup2');
  if (v2Member && v2Mount) return v2(v2Mount, v2Member, fs);
  return { available: false, reason: 'no memory cgroup controller: neither a v1 memory hierarchy nor a cgroup2 mount was found' };
}
