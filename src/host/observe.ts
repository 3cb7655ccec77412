// One scan of /proc for the scoreboard (src/supervisor/scoreboard.ts keeps the
// history): for each pool, which workers hold a connection from its listener,
// whether they are blocked reading it, their I/O counters, RSS and CPU.
//
// A worker serving a request holds a socket accepted from the pool's listener:
// its inode is in /proc/<pid>/fd and, for that listener, in /proc/net/unix
// (same path) or /proc/net/tcp{,6} (same local port). Other sockets (a
// database, an upstream) are not the listener's and do not count (DESIGN.md §5).
//
// A worker that forks its own servers (php-cgi with PHP_FCGI_CHILDREN, uwsgi
// --processes, a flup forking server) is a master: its children are read one by
// one, as php-fpm sees its children, and the master counts as a server only
// while it holds a connection itself.

import { lstatSync } from 'node:fs';
import type { Observer, PoolProbe, PoolReading, ProcessReading, WorkerReading } from '../supervisor/port.js';
import { ProcAccessError, blockedIn, childPids, taskStatus, threads, cpuAndRss, ioCounter, socketFds, socketInode, statFields, tcpRows, unixRowsOf, type SocketRow, type ThreadReading } from './procnet.js';

/** read, readv, recvfrom, recvmsg: blocked on one of these over the web server's connection, a worker waits for the web server (a kept connection between requests, or a slow upload). */
const READS: Record<string, ReadonlySet<number>> = {
  x64: new Set([0, 19, 45, 47]),
  arm64: new Set([63, 65, 207, 212]),
};
/**
 * select, pselect6: the first argument is the highest descriptor waited on,
 * plus one. A thread that waits on one connection (flup's threads wait for a
 * request this way) shows that connection's descriptor + 1.
 */
const SELECTS: Record<string, ReadonlySet<number>> = {
  x64: new Set([23, 270]),
  arm64: new Set([72]),
};
/** poll, ppoll, accept, accept4: a thread waiting for connections or events, whose wake-ups on a timeout are not progress of a request. */
const WAITS: Record<string, ReadonlySet<number>> = {
  x64: new Set([7, 271, 43, 288]),
  arm64: new Set([73, 202, 242]),
};
/** epoll_wait, epoll_pwait(2): an event loop (Node, Python asyncio) waiting for anything; alive, not hung. */
const EVENT_LOOP_WAITS: Record<string, ReadonlySet<number>> = {
  x64: new Set([232, 281, 441]),
  arm64: new Set([22, 441]),
};

/** The connections an idle worker holds: one array for all of them. */
const NONE: readonly number[] = [];

/** How deep and how wide a master's tree is followed (a wrapper script, then php-cgi, then its children). */
const TREE_DEPTH = 3;
const TREE_SIZE = 256;

/**
 * A worker's children (/proc/<pid>/task/<pid>/children, ~8 µs a read, most of
 * it the open) are read every scan while it has some, and in its first
 * FORK_WATCH_SCANS scans (a master forks its servers at start-up); a worker
 * that has none is looked at again in turn, every CHILD_REFRESH_SCANS scans,
 * but never more than about CHILD_READS_MAX of them a scan (beyond 256
 * workers in all, each every ceil(N / 64) scans: every 16th at 1000). At 1000 workers
 * that do not fork, reading them all took half of an idle scan. A worker that
 * starts forking late is seen as a master that many scans after at most
 * (docs/timeouts.md).
 */
export const FORK_WATCH_SCANS = 5;
export const CHILD_REFRESH_SCANS = 4;
export const CHILD_READS_MAX = 64;

/** Every how many scans a worker with no children has them read again, with `workers` workers in all. */
export function childRefreshScans(workers: number): number {
  return Math.max(CHILD_REFRESH_SCANS, Math.ceil(workers / CHILD_READS_MAX));
}

/**
 * RSS and CPU come from /proc/<pid>/stat (~13 µs a read). Every scan reads them
 * for a process seen for the first time, one that holds a connection, and every
 * process of a pool with max_memory; the idle rest in turn, each at least every
 * IDLE_REFRESH_SCANS scans, but never more than IDLE_READS_MAX a scan (beyond
 * 480 idle processes, each every ceil(N / 16) scans; docs/benchmarks.md, scan cost).
 */
export const IDLE_REFRESH_SCANS = 30;
export const IDLE_READS_MAX = 16;

/** A process's reading, kept from scan to scan and overwritten in place (a scan of idle workers allocates next to nothing). */
interface Kept extends ProcessReading {
  /** The scan that last saw it. */
  scan: number;
  /** Its RSS and CPU have been read at least once. */
  known: boolean;
  /** The reading of the worker it leads, when it is one. */
  worker: WorkerReading | null;
  /** Its I/O counter when last looked at idle; null after it was seen holding a connection. */
  idleIo: number | null;
  /** The scan that first saw it, and whether it had children when last looked (FORK_WATCH_SCANS). */
  firstScan: number;
  forks: boolean;
  /** Its threads' wake-ups (progress that /proc/<pid>/io misses). */
  wakeups: Wakeups;
}

/**
 * The connections accepted from a listener (by its inode) that are still open,
 * how many wait to be accepted, and other sockets listening at its path (a
 * worker that unlinked it and bound its own there).
 */
function listenerConnections(listener: number, unix: readonly SocketRow[], tcpRowsOf: () => readonly SocketRow[]): { conns: Set<number>; queue: number | null; foreign: Set<number> } {
  const conns = new Set<number>();
  const foreign = new Set<number>();
  // Every path a row with the listener's inode names (one, unless some row is forged: see unixRowsOf).
  const paths = new Set(unix.filter((r) => r.inode === listener).map((r) => r.path));
  if (paths.size > 0) {
    // A connection not accepted yet is listed with the listener's path and inode 0.
    let queue = 0;
    for (const r of unix) {
      if (!paths.has(r.path) || r.inode === listener) continue;
      // A forged listening row (its inode on two rows) names no hijacker; a connection is never dropped as forged.
      if (r.listening) {
        if (!r.forged) foreign.add(r.inode);
      } else if (r.inode === 0) queue++;
      else conns.add(r.inode);
    }
    return { conns, queue, foreign };
  }
  // Not a unix socket: /proc/net/tcp{,6} are read only now.
  const tcp = tcpRowsOf();
  const l = tcp.find((r) => r.inode === listener);
  if (!l) return { conns, queue: null, foreign };
  const wildcard = l.host === '0.0.0.0' || l.host === '::';
  for (const r of tcp) if (r.port === l.port && r.state !== '0A' && (wildcard || r.host === l.host)) conns.add(r.inode);
  return { conns, queue: l.rxQueue ?? null, foreign };
}

/** A pool whose socket may be a unix one: any but a TCP address (a socket systemd passed may be either). */
function maybeUnix(pool: PoolProbe): boolean {
  return pool.listener.address.kind !== 'tcp';
}

/** The file at a unix pool's path is not the socket fcgid created there (true when fcgid did not record it: a socket systemd passed). */
function replaced(pool: PoolProbe): boolean {
  const { address, file } = pool.listener;
  if (address.kind !== 'unix' || !file) return true;
  try {
    const st = lstatSync(address.path);
    return st.dev !== file.dev || st.ino !== file.ino;
  } catch {
    return true;
  }
}

function socketFdsOrNone(pid: number): Map<number, number> {
  try {
    return socketFds(pid);
  } catch {
    return new Map();
  }
}

/** A worker and the processes it forked, as deep and as wide as the scan follows them. */
export function workerTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0, depth = [0]; i < tree.length && tree.length < TREE_SIZE; i++) {
    if (depth[i]! >= TREE_DEPTH) continue;
    for (const child of childPids(tree[i]!)) {
      tree.push(child);
      depth.push(depth[i]! + 1);
    }
  }
  return tree.slice(0, TREE_SIZE);
}

/**
 * Connections from the listener the daemon holds as `listenerFd` that the
 * worker `pid` or the processes it forked hold open: a request being served,
 * or a kept connection. Null when /proc cannot tell (another user's process
 * without CAP_SYS_PTRACE, or the listener unknown).
 */
export function connectionsHeld(pid: number, listenerFd: number, stdio: ReadonlySet<number> = new Set()): number | null {
  const listener = socketInode(listenerFd);
  if (listener === null) return null;
  // The tree's sockets first, but for the listener and the stdout and stderr
  // fcgid gave the worker (`stdio`): most workers stopped are idle and hold no
  // other, and then /proc/net/unix need not be read at all. It lists every unix
  // socket, two per worker for its output, so a stop of 1000 workers reading it
  // once each took seconds.
  const sockets = new Set<number>();
  try {
    for (const p of workerTree(pid)) for (const inode of socketFds(p).values()) if (inode !== listener && !stdio.has(inode)) sockets.add(inode);
  } catch (err) {
    if (err instanceof ProcAccessError) return null;
    throw err;
  }
  if (sockets.size === 0) return 0;
  const { conns } = listenerConnections(listener, unixRowsOf([listener]), tcpRows);
  let held = 0;
  for (const inode of sockets) if (conns.has(inode)) held++;
  return held;
}

/**
 * A process's voluntary wake-ups, summed as they happen. /proc gives each
 * thread's count over its life; summing those of the threads that count now
 * (not waiting for connections) would move whenever a thread entered or left
 * that set, or exited, and read as progress. So each thread's count is
 * remembered and only its growth since the last look is added.
 */
export class Wakeups {
  total = 0;
  private last = new Map<number, number>();

  /** Adds the growth of each thread `counts` admits (all of it for a thread not seen before); every thread listed is remembered, the others forgotten. */
  add<T extends Pick<ThreadReading, 'tid' | 'wakeups'>>(threads: readonly T[], counts: (t: T) => boolean): number {
    const next = new Map<number, number>();
    for (const t of threads) {
      const before = this.last.get(t.tid);
      // A count below the last one is another thread that got the same id.
      if (counts(t)) this.total += before === undefined || t.wakeups < before ? t.wakeups : t.wakeups - before;
      next.set(t.tid, t.wakeups);
    }
    this.last = next;
    return this.total;
  }
}

/** True once the worker `pid` and every process it forked are stopped (SIGSTOP took effect), or gone. */
export function treeStopped(pid: number): boolean {
  // T: stopped by a signal; t: stopped by a tracer; Z, X: dead.
  return workerTree(pid).every((p) => {
    const state = statFields(p)?.[0];
    return state === undefined || state === 'T' || state === 't' || state === 'Z' || state === 'X';
  });
}

export class ProcObserver implements Observer {
  private readonly arch = process.arch;
  private cursor = 0;
  private scans = 0;
  private readonly kept = new Map<number, Kept>();
  /** Each pool's readings by worker, as last handed out. */
  private readonly workers = new Map<string, Map<number, WorkerReading>>();

  forget(pid: number): void {
    this.kept.delete(pid);
  }

  observe(pools: readonly PoolProbe[]): Map<string, PoolReading> {
    let unix: SocketRow[] | null = null;
    let tcp: SocketRow[] | null = null;
    const out = new Map<string, PoolReading>();
    const now: ProcessReading[] = [];
    const idle: ProcessReading[] = [];
    const scan = ++this.scans;
    const listeners = new Map(pools.map((p) => [p, p.listener.fd === null ? null : socketInode(p.listener.fd)]));
    const childPeriod = childRefreshScans(pools.reduce((n, p) => n + p.pids.length, 0));
    for (const pool of pools) {
      const listener = listeners.get(pool)!;
      if (listener === null) continue;
      // /proc/net/unix lists every unix socket of the host (4000 rows at 1000
      // workers): read once a scan, and not for a pool on a TCP port.
      const rows = maybeUnix(pool) ? (unix ??= unixRowsOf(pools.filter(maybeUnix).map((p) => listeners.get(p)).filter((l) => l != null))) : [];
      const { conns, queue, foreign } = listenerConnections(listener, rows, () => (tcp ??= tcpRows()));
      // Kept from scan to scan and updated in place: a Map of 1000 workers built anew each scan was most of an idle scan's garbage.
      let workers = this.workers.get(pool.name);
      if (!workers) this.workers.set(pool.name, (workers = new Map()));
      // Walking /proc/<pid>/fd is most of a scan's cost: once every connection of
      // the listener has been found in some worker, the rest are idle.
      const left = { count: conns.size };
      let blind = 0;
      const sort = (r: ProcessReading): number => (pool.memory || r.connections > 0 || !(r as Kept).known ? now : idle).push(r);
      const socket = { listener, fd: pool.workerFd, childPeriod };
      for (const pid of pool.pids) {
        try {
          const w = this.readTree(pid, socket, conns, left, scan);
          workers.set(pid, w);
          sort(w.own);
          if (w.servers) for (const r of w.servers) if (r !== w.own) sort(r);
        } catch (err) {
          if (!(err instanceof ProcAccessError)) throw err;
          blind++;
        }
      }
      // Rare: only when something else listens at the pool's path, and the
      // file there is no longer the socket fcgid made (rows of /proc/net/unix
      // can be forged by anyone; the file at the path cannot).
      const hijackers = foreign.size === 0 || !replaced(pool) ? [] : pool.pids.filter((pid) => workerTree(pid).some((p) => [...socketFdsOrNone(p).values()].some((i) => foreign.has(i))));
      workers.forEach((w, pid) => {
        if ((w.own as Kept).scan !== scan) workers.delete(pid);
      });
      out.set(pool.name, { queue, workers, blind, hijackers });
    }
    this.readResources(now, idle);
    this.kept.forEach((k, pid) => {
      if (k.scan !== scan) this.kept.delete(pid);
    });
    this.workers.forEach((_, name) => {
      if (!out.has(name)) this.workers.delete(name);
    });
    return out;
  }

  /** RSS and CPU for the processes that need them now, and for a window of the idle rest, moving on at every scan. */
  private readResources(now: ProcessReading[], idle: ProcessReading[]): void {
    const read = (r: ProcessReading): void => {
      const stat = cpuAndRss(r.pid);
      if (!stat) return;
      r.rss = stat.rss;
      r.cpuMs = stat.cpuMs;
      (r as Kept).known = true;
    };
    for (const r of now) read(r);
    const n = Math.min(idle.length, IDLE_READS_MAX, Math.ceil(idle.length / IDLE_REFRESH_SCANS));
    const start = idle.length === 0 ? 0 : this.cursor % idle.length;
    for (let k = 0; k < n; k++) {
      const r = idle[(start + k) % idle.length]! as Kept;
      read(r);
      // Requests shorter than a scan leave no connection to see, but move the I/O
      // counter, or (send() and recv() do not count there: flup) wake a thread
      // other than the main one, whose own wake-ups on a timeout are not requests.
      const io = ioCounter(r.pid);
      const counter = io === null ? null : io + this.idleWakeups(r as Kept);
      r.served = r.idleIo !== null && counter !== null && counter !== r.idleIo;
      r.idleIo = counter;
    }
    this.cursor = start + n;
  }

  /** The wake-ups of an idle process's threads other than its main one, whose own wake-ups on a timeout are not requests. */
  private idleWakeups(k: Kept): number {
    if ((taskStatus(k.pid)?.threads ?? 1) <= 1) return k.wakeups.total;
    return k.wakeups.add(threads(k.pid), (t) => t.tid !== k.pid);
  }

  /** A worker, or a master and the servers it forked (see the top of this file). */
  private readTree(pid: number, socket: { listener: number; fd: number; childPeriod: number }, conns: ReadonlySet<number>, left: { count: number }, scan: number): WorkerReading {
    const own = this.read(pid, conns, left, scan);
    const look = own.forks || scan - own.firstScan < FORK_WATCH_SCANS || (scan + pid) % socket.childPeriod === 0;
    // Not looked at: as it was last time, none. Most workers, every scan: nothing allocated for them.
    if (!look) {
      own.worker ??= { own, servers: null };
      own.worker.servers = null;
      return own.worker;
    }
    const servers: ProcessReading[] = [];
    const walk = (children: number[], depth: number): void => {
      for (const child of children) {
        if (servers.length >= TREE_SIZE) return;
        // Only a child that holds the listening socket where its worker got it
        // serves; a CGI script fcgiwrap runs, or a program a PHP script runs,
        // is part of its parent's request, not a server of its own.
        if (socketInode(socket.fd, child) !== socket.listener) continue;
        const grand = depth < TREE_DEPTH ? childPids(child) : [];
        const r = this.read(child, conns, left, scan);
        // A child that forks in turn (a wrapper script's php-cgi) is a master too.
        if (grand.length === 0 || r.connections > 0) servers.push(r);
        if (grand.length > 0) walk(grand, depth + 1);
      }
    };
    const children = childPids(pid);
    own.forks = children.length > 0;
    walk(children, 1);
    own.worker ??= { own, servers: null };
    if (servers.length > 0 && own.connections > 0) servers.unshift(own);
    own.worker.servers = servers.length === 0 ? null : servers;
    return own.worker;
  }

  private read(pid: number, conns: ReadonlySet<number>, left: { count: number }, scan: number): Kept {
    let held: readonly number[] = NONE;
    if (left.count > 0) {
      const found: number[] = [];
      for (const [fd, inode] of socketFds(pid)) if (conns.has(inode)) found.push(fd);
      left.count -= found.length;
      held = found;
    }
    let k = this.kept.get(pid);
    if (!k) this.kept.set(pid, (k = { pid, connections: 0, reading: false, eventLoop: false, io: null, rss: null, cpuMs: null, scan, known: false, worker: null, idleIo: null, firstScan: scan, forks: false, wakeups: new Wakeups() }));
    let reading = false;
    let eventLoop = false;
    if (held.length > 0) {
      const reads = READS[this.arch];
      const sys = blockedIn(pid);
      reading = sys !== null && (reads?.has(sys.nr) ?? false) && held.includes(sys.arg0);
      eventLoop = sys !== null && (EVENT_LOOP_WAITS[this.arch]?.has(sys.nr) ?? false);
      // Waiting (its one connection read by its main thread) and event loops are never hung: no progress needed.
      if (!eventLoop && !reading) {
        const selects = SELECTS[this.arch];
        const waits = WAITS[this.arch];
        const read = new Set<number>();
        // One thread (php-cgi, uWSGI, fcgiwrap): its status and the syscall read above; the task list only for threaded ones.
        const status = taskStatus(pid);
        const each = status === null ? [] : status.threads <= 1 ? [{ tid: pid, sys, wakeups: status.wakeups }] : threads(pid);
        for (const t of each) {
          // A threaded server (flup, uWSGI with threads) reads its connections in
          // threads other than the main one: waiting when each held connection is
          // read by some thread (a kept connection, a client that sent nothing yet).
          if (t.sys && reads?.has(t.sys.nr)) read.add(t.sys.arg0);
          else if (t.sys && selects?.has(t.sys.nr)) read.add(t.sys.arg0 - 1);
        }
        // Progress that /proc/<pid>/io misses (send() and recv() do not count
        // there, flup streams with send()): a thread that went to sleep or
        // blocked of its own accord since the last scan did something. Threads
        // waiting for connections (a main loop's select with a timeout) do not count.
        k.wakeups.add<ThreadReading>(each, (t) => !(t.sys && (selects?.has(t.sys.nr) || waits?.has(t.sys.nr))));
        reading ||= held.every((fd) => read.has(fd));
      }
    }
    k.scan = scan;
    k.connections = held.length;
    k.reading = reading;
    k.eventLoop = eventLoop;
    // Progress matters only while a request is held; an idle worker's counters are not read.
    const io = held.length > 0 ? ioCounter(pid) : null;
    k.io = io === null ? null : io + k.wakeups.total;
    k.served = false;
    if (held.length > 0) k.idleIo = null;
    // Read again this scan, or not at all (readResources).
    k.rss = null;
    k.cpuMs = null;
    return k;
  }
}
