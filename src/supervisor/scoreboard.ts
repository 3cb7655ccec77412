// Which worker is busy, since when, and whether it makes progress — observed
// from the outside for any FastCGI program (DESIGN.md §5), the way php-fpm's
// scoreboard knows it from the inside. A worker serving a request holds a
// socket accepted from the pool's listener: its inode is in /proc/<pid>/fd and,
// for that listener, in /proc/net/unix (same path) or /proc/net/tcp{,6} (same
// local port). Other sockets (a database, an upstream) are not the listener's
// and do not count. Progress is /proc/<pid>/io growing.

import type { Address } from '../fastcgi/address.js';
import { blockedIn, ioCounter, residentBytes, socketFds, socketInode, tcpRows, unixRows, type SocketRow } from './procnet.js';

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
}

export interface PoolProbe {
  name: string;
  /** The daemon's descriptor of the pool's listening socket. */
  listenerFd: number;
  pids: readonly number[];
}

export interface PoolActivity {
  /** Connections waiting in the accept queue (TCP only: /proc shows it for LISTEN rows; null for unix sockets). */
  queue: number | null;
  workers: Map<number, WorkerActivity>;
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
        for (const r of unix) if (r.path === path && r.inode !== listener) conns.add(r.inode);
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
      for (const pid of pool.pids) {
        seen.add(pid);
        workers.set(pid, this.observe(pid, conns, now));
      }
      out.set(pool.name, { queue, workers });
    }
    for (const pid of this.tracked.keys()) if (!seen.has(pid)) this.tracked.delete(pid);
    return out;
  }

  private observe(pid: number, conns: ReadonlySet<number>, now: number): WorkerActivity {
    const held: number[] = [];
    for (const [fd, inode] of socketFds(pid)) if (conns.has(inode)) held.push(fd);
    let activity: Activity = 'idle';
    let eventLoop = false;
    if (held.length > 0) {
      const sys = blockedIn(pid);
      activity = sys && READS[this.arch]?.has(sys.nr) && held.includes(sys.arg0) ? 'waiting' : 'busy';
      eventLoop = sys !== null && (EVENT_LOOP_WAITS[this.arch]?.has(sys.nr) ?? false);
    }
    const io = ioCounter(pid);
    const prev = this.tracked.get(pid);
    const next: Tracked = {
      activity,
      since: prev && prev.activity === activity ? prev.since : now,
      lastProgress: !prev || prev.activity !== activity || (io !== null && io !== prev.io) ? now : prev.lastProgress,
      eventLoop,
      connections: held.length,
      rss: residentBytes(pid),
      io,
    };
    this.tracked.set(pid, next);
    const { io: _io, ...view } = next;
    return view;
  }
}
