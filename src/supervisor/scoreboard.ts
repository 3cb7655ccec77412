// Which worker is busy, since when, and whether it makes progress — observed
// from the outside for any FastCGI program (DESIGN.md §5), the way php-fpm's
// scoreboard knows it from the inside. A worker serving a request holds a
// socket accepted from the pool's listener: its inode is in /proc/<pid>/fd and,
// for that listener, in /proc/net/unix (same path) or /proc/net/tcp{,6} (same
// local port). Other sockets (a database, an upstream) are not the listener's
// and do not count. Progress is /proc/<pid>/io growing.
//
// A worker that forks its own servers (php-cgi with PHP_FCGI_CHILDREN, uwsgi
// --processes, a flup forking server) is a master: its children are observed
// one by one, as php-fpm sees its children, and the master counts as a server
// only while it holds a connection itself.

import { ProcAccessError, blockedIn, childPids, ioCounter, residentBytes, socketFds, socketInode, tcpRows, unixRows, type SocketRow } from './procnet.js';

/** read, readv, recvfrom, recvmsg: blocked on one of these over the web server's connection, a worker waits for the web server (a kept connection between requests, or a slow upload). */
const READS: Record<string, ReadonlySet<number>> = {
  x64: new Set([0, 19, 45, 47]),
  arm64: new Set([63, 65, 207, 212]),
};
/** epoll_wait, epoll_pwait(2): an event loop (Node, Python asyncio) waiting for anything; alive, not hung. */
const EVENT_LOOP_WAITS: Record<string, ReadonlySet<number>> = {
  x64: new Set([232, 281, 441]),
  arm64: new Set([22, 441]),
};

export type Activity = 'idle' | 'busy' | 'waiting';

export interface WorkerActivity {
  /** idle: no request; busy: holds one; waiting: holds the web server's connection but is blocked reading it. */
  activity: Activity;
  /** When the current activity was first seen. */
  since: number;
  /** Last scan at which the worker's I/O counters grew (or its activity began). */
  lastProgress: number;
  /** In an event loop's wait: alive even when silent, so never called hung. */
  eventLoop: boolean;
  connections: number;
  /** Resident memory in bytes (/proc/<pid>/statm), for max_memory; null when unreadable. */
  rss: number | null;
  /**
   * A master's serving processes (its children, observed one by one); absent
   * for a worker that serves itself. The master's own entry then sums them up:
   * busy if any is busy, progress when any progresses, the master's own RSS.
   */
  processes?: ProcessActivity[];
}

export interface ProcessActivity extends Omit<WorkerActivity, 'processes'> {
  pid: number;
}

/** How deep and how wide a master's tree is followed (a wrapper script, then php-cgi, then its children). */
const TREE_DEPTH = 3;
const TREE_SIZE = 256;

/** The processes that serve requests: a master's children, or the worker itself. */
export function servers(pid: number, a: WorkerActivity): ProcessActivity[] {
  if (a.processes) return a.processes;
  const { processes: _p, ...own } = a;
  return [{ pid, ...own }];
}

export interface PoolProbe {
  name: string;
  /** The daemon's descriptor of the pool's listening socket. */
  listenerFd: number;
  /** Where the workers have it (socket_fd): a child holding it there is a server its worker forked. */
  workerFd: number;
  pids: readonly number[];
  /** Read each worker's RSS too (max_memory is set). */
  memory: boolean;
}

export interface PoolActivity {
  /** Connections waiting to be accepted: a TCP LISTEN row's rx_queue, or the unaccepted rows of a unix listener. */
  queue: number | null;
  workers: Map<number, WorkerActivity>;
  /** Workers whose /proc this process may not read (another user, no CAP_SYS_PTRACE): their activity is unknown. */
  blind: number;
}

interface Tracked extends WorkerActivity {
  io: number | null;
}

export class Scoreboard {
  private readonly tracked = new Map<number, Tracked>();
  private readonly arch = process.arch;

  scan(now: number, pools: readonly PoolProbe[]): Map<string, PoolActivity> {
    let unix: SocketRow[] | null = null;
    let tcp: SocketRow[] | null = null;
    const out = new Map<string, PoolActivity>();
    const seen = new Set<number>();
    for (const pool of pools) {
      const listener = socketInode(pool.listenerFd);
      if (listener === null) continue;
      const conns = new Set<number>();
      let queue: number | null = null;
      unix ??= unixRows();
      const path = unix.find((r) => r.inode === listener)?.path;
      if (path !== undefined) {
        // A connection not accepted yet is listed with the listener's path and inode 0.
        queue = 0;
        for (const r of unix) {
          if (r.path !== path || r.inode === listener) continue;
          if (r.inode === 0) queue++;
          else conns.add(r.inode);
        }
      } else {
        tcp ??= tcpRows();
        const l = tcp.find((r) => r.inode === listener);
        if (l) {
          queue = l.rxQueue ?? null;
          const wildcard = l.host === '0.0.0.0' || l.host === '::';
          for (const r of tcp) if (r.port === l.port && r.state !== '0A' && (wildcard || r.host === l.host)) conns.add(r.inode);
        }
      }
      const workers = new Map<number, WorkerActivity>();
      // Walking /proc/<pid>/fd is most of a scan's cost: once every connection of
      // the listener has been found in some worker, the rest are idle.
      const left = { count: conns.size };
      let blind = 0;
      for (const pid of pool.pids) {
        try {
          workers.set(pid, this.observeTree(pid, { listener, fd: pool.workerFd }, conns, left, now, pool.memory, seen));
        } catch (err) {
          if (!(err instanceof ProcAccessError)) throw err;
          blind++;
        }
      }
      out.set(pool.name, { queue, workers, blind });
    }
    for (const pid of this.tracked.keys()) if (!seen.has(pid)) this.tracked.delete(pid);
    return out;
  }

  /** A worker, or a master and the servers it forked (see the top of this file). */
  private observeTree(
    pid: number,
    socket: { listener: number; fd: number },
    conns: ReadonlySet<number>,
    left: { count: number },
    now: number,
    memory: boolean,
    seen: Set<number>,
  ): WorkerActivity {
    seen.add(pid);
    const own = this.observe(pid, conns, left, now, memory);
    const processes: ProcessActivity[] = [];
    const walk = (children: number[], depth: number): void => {
      for (const child of children) {
        if (processes.length >= TREE_SIZE) return;
        // Only a child that holds the listening socket where its worker got it
        // serves; a CGI script fcgiwrap runs, or a program a PHP script runs,
        // is part of its parent's request, not a server of its own.
        if (socketInode(socket.fd, child) !== socket.listener) continue;
        seen.add(child);
        const grand = depth < TREE_DEPTH ? childPids(child) : [];
        const a = this.observe(child, conns, left, now, memory);
        // A child that forks in turn (a wrapper script's php-cgi) is a master too.
        if (grand.length === 0 || a.activity !== 'idle') processes.push({ pid: child, ...a });
        if (grand.length > 0) walk(grand, depth + 1);
      }
    };
    walk(childPids(pid), 1);
    if (processes.length === 0) return own;
    if (own.activity !== 'idle') processes.unshift({ pid, ...own });
    return summarize(own, processes);
  }

  private observe(pid: number, conns: ReadonlySet<number>, left: { count: number }, now: number, memory: boolean): WorkerActivity {
    const held: number[] = [];
    if (left.count > 0) {
      for (const [fd, inode] of socketFds(pid)) if (conns.has(inode)) held.push(fd);
      left.count -= held.length;
    }
    let activity: Activity = 'idle';
    let eventLoop = false;
    if (held.length > 0) {
      const sys = blockedIn(pid);
      activity = sys && READS[this.arch]?.has(sys.nr) && held.includes(sys.arg0) ? 'waiting' : 'busy';
      eventLoop = sys !== null && (EVENT_LOOP_WAITS[this.arch]?.has(sys.nr) ?? false);
    }
    const prev = this.tracked.get(pid);
    // Progress matters only while a request is held; an idle worker's counters are not read.
    const io = activity === 'idle' ? null : ioCounter(pid);
    const next: Tracked = {
      activity,
      since: prev && prev.activity === activity ? prev.since : now,
      lastProgress: !prev || prev.activity !== activity || (io !== null && io !== prev.io) ? now : prev.lastProgress,
      eventLoop,
      connections: held.length,
      rss: memory ? residentBytes(pid) : null,
      io,
    };
    this.tracked.set(pid, next);
    const { io: _io, ...view } = next;
    return view;
  }
}

/** A master's entry: the busiest activity among its servers, the latest progress, its own RSS. */
function summarize(own: WorkerActivity, processes: ProcessActivity[]): WorkerActivity {
  const rank: Record<Activity, number> = { idle: 0, waiting: 1, busy: 2 };
  const activity = processes.reduce<Activity>((best, p) => (rank[p.activity] > rank[best] ? p.activity : best), 'idle');
  const same = processes.filter((p) => p.activity === activity);
  return {
    activity,
    // Busy since the longest-busy server; idle only since the last one became idle (spare_idle_timeout).
    since: activity === 'idle' ? Math.max(...same.map((p) => p.since)) : Math.min(...same.map((p) => p.since)),
    lastProgress: Math.max(...same.map((p) => p.lastProgress)),
    eventLoop: same.some((p) => p.eventLoop),
    connections: processes.reduce((n, p) => n + p.connections, 0),
    rss: own.rss,
    processes,
  };
}
