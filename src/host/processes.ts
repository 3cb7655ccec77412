// The Host of the supervisor's port on a real Linux machine: child_process,
// process groups, wall-clock timers. Whatever asks, pid 0 (our own process
// group), 1 (init), a negative pid and fcgid's own are never signalled.

import { spawn, type StdioOptions } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ChildEvents, Host, SpawnSpec, Timer } from '../supervisor/port.js';
import { LineSplitter } from '../supervisor/output.js';
import { connectionsHeld, treeStopped, workerTree } from './observe.js';
import { SETPRIV } from './identity.js';
import { processStart, socketInode } from './procnet.js';

/** A pid fcgid could ever have started: a positive integer above init's (Linux's pid_max at most), not fcgid's own. */
export function signallable(pid: unknown): pid is number {
  return typeof pid === 'number' && Number.isInteger(pid) && pid > 1 && pid <= 4_194_304 && pid !== process.pid;
}

/**
 * The sockets each running worker got from fcgid as its stdout and stderr
 * (Node's stdio pipes are socketpairs): a lossless stop need not look for the
 * pool's connections among them (connectionsHeld).
 */
const stdioInodes = new Map<number, Set<number>>();

/** The inodes of fd 1 and 2 of a process just spawned (see stdioInodes). */
function readStdioInodes(pid: number): Set<number> {
  const out = new Set<number>();
  for (const fd of [1, 2]) {
    const inode = socketInode(fd, pid);
    if (inode !== null) out.add(inode);
  }
  return out;
}

/**
 * What spawn() runs, and as whom. A worker whose user is in other groups than
 * its own goes through setpriv, which sets its uid, gid and those groups (as
 * initgroups(3) in php-fpm and supervisord) and execs the command: Node's
 * spawn() would drop every supplementary group (libuv's setgroups(0)). The
 * pid is the worker's all along. Without setpriv, the worker has its gid alone.
 */
export function launchLine(spec: Pick<SpawnSpec, 'command' | 'cwd' | 'env' | 'uid' | 'gid' | 'groups'>): [string, string[], number | undefined, number | undefined] {
  const { uid, gid } = spec;
  const groups = groupsGiven(spec);
  if (uid !== null && gid !== null && groups !== null && groups.some((g) => g !== gid)) {
    // A program that is not there fails here as spawn() would fail it ("could
    // not start"), not as setpriv exiting 127 after it started.
    const name = spec.command[0]!;
    const cwd = spec.cwd ?? process.cwd();
    if (!(name.includes('/') ? isFile(resolve(cwd, name)) : searchIn(name, spec.env.PATH ?? DEFAULT_PATH, cwd, isFile) !== null)) {
      throw Object.assign(new Error(`spawn ${name} ENOENT`), { code: 'ENOENT', syscall: `spawn ${name}`, path: name });
    }
    return [SETPRIV, [`--reuid=${uid}`, `--regid=${gid}`, `--groups=${groups.join(',')}`, '--', ...spec.command], undefined, undefined];
  }
  return [spec.command[0]!, spec.command.slice(1), uid ?? undefined, gid ?? undefined];
}

/** The groups a worker started as `uid` has (launchLine): all of `groups` where setpriv is there, else `gid` alone; null when it keeps fcgid's user. */
export function groupsGiven(spec: Pick<SpawnSpec, 'uid' | 'gid' | 'groups'>): readonly number[] | null {
  if (spec.uid === null && spec.gid === null) return null;
  if (spec.gid === null) return [];
  return spec.groups && spec.groups.some((g) => g !== spec.gid) && hasSetpriv() ? spec.groups : [spec.gid];
}

/** What execvp falls back to when the environment has no PATH (glibc's _PATH_DEFPATH, which libuv uses). */
export const DEFAULT_PATH = '/usr/bin:/bin';

/** The first `name` in the directories of `searchPath` that `usable` accepts, as execvp looks (an empty entry is the cwd); at most 256 entries. */
export function searchIn(name: string, searchPath: string, cwd: string, usable: (p: string) => boolean): string | null {
  for (const entry of searchPath.split(':').slice(0, 256)) {
    const candidate = resolve(cwd, entry === '' ? '.' : entry, name);
    if (usable(candidate)) return candidate;
  }
  return null;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

let setprivThere: boolean | null = null;
function hasSetpriv(): boolean {
  return (setprivThere ??= existsSync(SETPRIV));
}

/** How long an exit waits for the worker's last output when something else keeps its pipes open. */
const STDIO_GRACE_MS = 200;

export const realHost: Host = {
  now: () => Date.now(),
  random: () => Math.random(),
  setTimer(ms: number, fn: () => void): Timer {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  every(ms: number, fn: () => void): Timer {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
  spawn(spec: SpawnSpec, events: ChildEvents): number | null {
    const stdio: StdioOptions =
      spec.targetFd === 0
        ? [spec.socketFd, 'pipe', 'pipe']
        : ['ignore', 'pipe', 'pipe', ...Array<'ignore'>(spec.targetFd - 3).fill('ignore'), spec.socketFd];
    // Node's spawn has no umask option; the child inherits ours at fork, which
    // happens synchronously inside spawn().
    const previousUmask = spec.umask === null ? null : process.umask(spec.umask);
    let child;
    try {
      const [file, args, uid, gid] = launchLine(spec);
      child = spawn(file, args, {
        stdio,
        cwd: spec.cwd ?? undefined,
        env: spec.env,
        uid,
        gid,
        // Its own process group, so a stop reaches the worker's children too.
        detached: true,
      });
    } catch (err) {
      // Synchronous failures (EACCES on cwd, bad uid): report like an async one.
      process.nextTick(() => events.onExit(null, null, err as Error));
      return null;
    } finally {
      if (previousUmask !== null) process.umask(previousUmask);
    }
    // Read at once: the program has only just been exec'd, and cannot have
    // closed its stdout and accepted a connection onto fd 1 yet.
    const pid = child.pid;
    if (pid !== undefined) stdioInodes.set(pid, readStdioInodes(pid));
    let failed = false;
    child.once('error', (err) => {
      failed = true;
      events.onExit(null, null, err);
    });
    child.once('exit', (code, signal) => {
      if (pid !== undefined) stdioInodes.delete(pid);
      if (failed) return;
      // 'exit' can come before the last output has been read (seen with 300
      // stderr lines), and those last lines are the traceback a fatal slot
      // reports. So report the exit once the pipes close ('close' always follows
      // 'exit'), but not later than a grace period: a grandchild may hold them open.
      let reported = false;
      const report = (): void => {
        if (reported) return;
        reported = true;
        clearTimeout(grace);
        events.onExit(code, signal);
      };
      const grace = setTimeout(report, STDIO_GRACE_MS);
      child.once('close', report);
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream];
      if (!source) continue;
      const splitter = new LineSplitter((line) => events.onLine(stream, line));
      source.setEncoding('utf8');
      source.on('data', (chunk: string) => splitter.push(chunk));
      source.on('end', () => splitter.end());
    }
    return child.pid ?? null;
  },
  killGroup(pid: number, signal: NodeJS.Signals): void {
    if (!signallable(pid)) return;
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone already.
      }
    }
  },
  signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
    if (!signallable(pgid)) return false;
    try {
      process.kill(-pgid, signal);
      return true;
    } catch {
      return false;
    }
  },
  kill(pid: number, signal: NodeJS.Signals): void {
    if (!signallable(pid)) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Gone already.
    }
  },
  processStart,
  signalTree(pid: number, signal: NodeJS.Signals): void {
    if (!signallable(pid)) return;
    const tree = workerTree(pid);
    realHost.killGroup(pid, signal);
    for (const p of tree.slice(1)) realHost.kill(p, signal);
  },
  canInspect(pid: number): boolean {
    try {
      // Not access(): root passes it, yet without CAP_SYS_PTRACE the listing fails.
      readdirSync(`/proc/${pid}/fd`);
      return true;
    } catch {
      return false;
    }
  },
  connectionsHeld: (pid, listenerFd) => connectionsHeld(pid, listenerFd, stdioInodes.get(pid)),
  treeStopped,
};
