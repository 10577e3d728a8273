/**
 * A throwaway redis-server for one measurement: found on PATH (or named by --redis-server /
 * OVERCOMMIT_LAB_REDIS_SERVER), listening only on a Unix socket in a private temporary
 * directory (mode 0700, no TCP port), saving only into that directory, run as its own user
 * where we are root (Debian's `redis`, else nobody), inside a memory cgroup where one can be
 * made. It is stopped and its directory removed on every path: stop(), an error while starting,
 * SIGINT/SIGTERM/SIGHUP and exit (process-end.ts). A SIGKILLed tool leaves it running: the
 * directory holds a marker with the owner's pid, and sweepStaleRedis() (run before every start)
 * kills the server of a dead owner and removes its directory, as the cgroup sweep does for groups.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  chownSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import { createMemoryCgroup, memoryCgroupAvailability, type TempMemoryCgroup } from '../safety/memory-cgroup.js';
import { onProcessEnd } from '../safety/process-end.js';
import { sleepSync } from '../safety/sleep-sync.js';

export const REDIS_SERVER_ENV = 'OVERCOMMIT_LAB_REDIS_SERVER';
const DIR_PREFIX = 'overcommit-lab-redis-';
const DIR_NAME = /^overcommit-lab-redis-(\d+)-/;
const MARKER = 'owner.json';

let named: string | undefined;

/** The redis-server the CLI's --redis-server names (before the environment variable and PATH). */
export function setRedisServerPath(path: string | undefined): void {
  named = path;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The redis-server to run, or the one sentence saying why there is none. */
export function findRedisServer(): { path: string } | { missing: string } {
  const given = named ?? process.env[REDIS_SERVER_ENV];
  if (given !== undefined && given !== '') {
    return executable(given)
      ? { path: given }
      : { missing: `${given} (named by --redis-server or ${REDIS_SERVER_ENV}) is not an executable file` };
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, 'redis-server'))) return { path: join(dir, 'redis-server') };
  }
  return {
    missing: 'no redis-server on PATH: install it (Debian/Ubuntu: apt-get install redis-server) or name one with --redis-server PATH',
  };
}

/** Who the server runs as: Debian's `redis` user, else nobody; ourselves when we are not root. */
export interface RunAs {
  uid: number;
  gid: number;
  /** e.g. 'redis (uid 103)', or 'root: no redis or nobody user'. */
  label: string;
}

function chooseUser(): RunAs {
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (self.uid !== 0) return { ...self, label: `uid ${self.uid} (not root: the tool's own user)` };
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // no passwd: fall back below
  }
  for (const name of ['redis', 'nobody']) {
    const f = passwd
      .split('\n')
      .find((l) => l.startsWith(`${name}:`))
      ?.split(':');
    if (f !== undefined && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]), label: `${name} (uid ${f[2]})` };
  }
  return { uid: 0, gid: 0, label: 'root (no redis or nobody user on this machine)' };
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** `pid` and its descendants (Redis's save child), children first. */
function tree(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone, or no children file
  }
  return [...kids.flatMap(tree), pid];
}

function killTree(pid: number): void {
  for (const p of tree(pid)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Waits (synchronously, up to 2 s) for `pid` to be gone or a zombie. */
function awaitGone(pid: number): void {
  for (let i = 0; i < 100; i++) {
    let state = '';
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] ?? '';
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    sleepSync(20);
  }
}

/**
 * Kills the servers of dead owners (only a process whose command line names that directory's
 * socket: a recycled pid is left alone) and removes their directories. Returns the directories.
 */
export function sweepStaleRedis(): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = DIR_NAME.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const dir = join(tmpdir(), name);
    try {
      const { server } = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as { server?: number };
      if (typeof server === 'number' && readFileSync(`/proc/${server}/cmdline`, 'utf8').includes(dir)) {
        killTree(server);
        awaitGone(server);
      }
    } catch {
      // no marker, or no such server any more
    }
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

export interface RedisServer {
  path: string;
  pid: number;
  dir: string;
  socket: string;
  runAs: RunAs;
  /** The server's memory cgroup; null with `cgroupNote` saying why there is none. */
  cgroup: TempMemoryCgroup | null;
  cgroupNote: string | null;
  client: Redis;
  /** The server's log file so far. */
  log(): string;
  /** Kills the server (and a save child), removes its cgroup and directory; idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  path: string;
  /** The memory cgroup's limit. */
  memoryLimitBytes: number;
  /** How long the server may take to listen; default 10 s. */
  startTimeoutMs?: number;
  /** Per-command timeout of the client; default 120 s. */
  commandTimeoutMs?: number;
  /** Variables added to the server's environment (e.g. its allocator's MALLOC_CONF). */
  env?: Readonly<Record<string, string>>;
}

/** Command-line settings every Redis since 2.6 accepts: unknown ones would stop an older one. */
function serverArgs(dir: string, socket: string): string[] {
  return [
    '--port', '0',
    '--unixsocket', socket,
    '--unixsocketperm', '700',
    '--dir', dir,
    '--dbfilename', 'dump.rdb',
    '--appendonly', 'no',
    '--save', '',
    '--logfile', join(dir, 'redis.log'),
    '--daemonize', 'no',
    '--stop-writes-on-bgsave-error', 'no',
  ]; // biome-ignore format: pairs
}

/** Starts the server and connects to it; throws (having cleaned up) when it does not come up and answer. */
export async function startRedisServer(opts: StartOptions): Promise<RedisServer> {
  sweepStaleRedis();
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const socket = join(dir, 'redis.sock');
  const logPath = join(dir, 'redis.log');
  const runAs = chooseUser();
  let child: ChildProcess | null = null;
  let cgroup: TempMemoryCgroup | null = null;
  let client: Redis | null = null;
  let output = '';
  const killNow = (): void => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      killTree(child.pid);
      awaitGone(child.pid);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const forget = onProcessEnd(killNow);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    client?.disconnect();
    const exited =
      child === null || child.exitCode !== null || child.signalCode !== null ? null : new Promise((r) => child!.once('exit', r));
    killNow();
    await exited;
    try {
      cgroup?.remove();
    } finally {
      forget();
    }
  };
  try {
    writeFileSync(join(dir, MARKER), JSON.stringify({ owner: process.pid }));
    if (runAs.uid !== (process.getuid?.() ?? 0)) chownSync(dir, runAs.uid, runAs.gid);
    child = spawn(opts.path, serverArgs(dir, socket), {
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: runAs.uid,
      gid: runAs.gid,
      cwd: dir,
      env: { ...process.env, ...opts.env },
    });
    const started = child;
    const collect = (d: Buffer): void => {
      if (output.length < 16_384) output += d.toString();
    };
    started.stdout?.on('data', collect);
    started.stderr?.on('data', collect);
    const spawnError = new Promise<Error>((resolve) => started.once('error', resolve));
    if (started.pid === undefined) throw new Error(`could not start ${opts.path}: ${(await spawnError).message}`);
    writeFileSync(join(dir, MARKER), JSON.stringify({ owner: process.pid, server: started.pid }));
    const cg = memoryCgroupAvailability();
    let cgroupNote: string | null = cg.available ? null : (cg.reason ?? 'no memory cgroup');
    if (cg.available) {
      cgroup = createMemoryCgroup(opts.memoryLimitBytes);
      try {
        writeFileSync(cgroup.procsFile, String(started.pid));
      } catch (e) {
        cgroupNote = `could not move the server into ${cgroup.path}: ${(e as Error).message}`;
      }
    }
    const tail = (): string => {
      const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
      const text = `${output}${log}`.trim().split('\n').slice(-3).join(' | ');
      return text === '' ? 'it printed nothing' : `it said: ${text.slice(0, 400)}`;
    };
    const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
    while (!existsSync(socket)) {
      if (started.exitCode !== null || started.signalCode !== null)
        throw new Error(`redis-server exited (${started.exitCode ?? started.signalCode}) before listening; ${tail()}`);
      if (Date.now() > deadline)
        throw new Error(`redis-server did not listen on its socket within ${opts.startTimeoutMs ?? 10_000} ms; ${tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    client = new Redis({
      path: socket,
      lazyConnect: true,
      connectTimeout: 5000,
      commandTimeout: opts.commandTimeoutMs ?? 120_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      enableReadyCheck: false,
    });
    client.on('error', () => {}); // each command's promise carries its error
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`redis-server answered PING with ${JSON.stringify(pong).slice(0, 80)}`);
    const connected = client;
    return {
      path: opts.path,
      pid: started.pid,
      dir,
      socket,
      runAs,
      cgroup,
      cgroupNote,
      client: connected,
      log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
