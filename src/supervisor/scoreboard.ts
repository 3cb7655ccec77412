// The scoreboard's model: what each worker is doing, since when, and whether it
// makes progress, worked out from one scan's readings of /proc (src/host/observe.ts)
// and what earlier scans saw. php-fpm keeps the same facts in its scoreboard
// from inside its children; fcgid reads them from outside, for any program
// (DESIGN.md §5). Status, metrics and the scan policies all read what this
// produces, so they never disagree.

import type { PoolReading, ProcessReading } from './port.js';

export type Activity = 'idle' | 'busy' | 'waiting';

export interface ProcessActivity {
  pid: number;
  /** idle: no request; busy: holds one; waiting: holds the web server's connection but is blocked reading it. */
  activity: Activity;
  /** When the current activity was first seen. */
  since: number;
  /** Last scan at which the I/O counters grew (or the activity began). */
  lastProgress: number;
  /** In an event loop's wait: alive even when silent, so never called hung. */
  eventLoop: boolean;
  connections: number;
  /** Resident bytes at the latest scan that read them; null before the first. */
  rss: number | null;
  /** CPU use between the last two readings, in percent of one core; null before the second. */
  cpuPercent: number | null;
}

export interface WorkerActivity extends Omit<ProcessActivity, 'pid'> {
  /**
   * A master's serving processes (its children, observed one by one); absent
   * for a worker that serves itself. The master's own entry then sums them up:
   * busy if any is busy, progress when any progresses, the master's own RSS and CPU.
   */
  processes?: ProcessActivity[];
}

export interface PoolActivity {
  /** Connections waiting to be accepted; null where /proc does not show it. */
  queue: number | null;
  workers: Map<number, WorkerActivity>;
  /** Workers whose /proc fcgid may not read: their activity is unknown. */
  blind: number;
  /** Workers listening at the pool's path on a socket of their own (PoolReading.hijackers). */
  hijackers: number[];
}

/** The processes that serve requests: a master's children, or the worker itself. */
export function servers(pid: number, a: WorkerActivity): ProcessActivity[] {
  if (a.processes) return a.processes;
  const { processes: _p, ...own } = a;
  return [{ pid, ...own }];
}

interface Tracked extends Omit<ProcessActivity, 'pid'> {
  io: number | null;
  cpu: { ms: number; at: number } | null;
  /** The scan that last saw it. */
  scan: number;
}

export class Scoreboard {
  /**
   * What each process was seen doing, updated in place at every scan (a scan of
   * a thousand idle workers allocates next to nothing); `io` and `cpu` are this
   * model's own bookkeeping, carried along in the objects it hands out.
   */
  private readonly tracked = new Map<number, Tracked>();
  /** Each pool's activity by worker, as last handed out. */
  private readonly workers = new Map<string, Map<number, WorkerActivity>>();
  private scans = 0;

  /** A worker exited: its history goes with it (a new process may get the pid). */
  forget(pid: number): void {
    this.tracked.delete(pid);
  }

  /** One scan: the readings of every pool, turned into activity with history. */
  update(now: number, readings: ReadonlyMap<string, PoolReading>): Map<string, PoolActivity> {
    const out = new Map<string, PoolActivity>();
    const scan = ++this.scans;
    // forEach rather than for…of over entries: no [key, value] array per worker.
    readings.forEach((pool, name) => {
      // Kept from scan to scan and updated in place, as the tracked processes are.
      let workers = this.workers.get(name);
      if (!workers) this.workers.set(name, (workers = new Map()));
      workers.forEach((_, pid) => {
        if (!pool.workers.has(pid)) workers.delete(pid);
      });
      pool.workers.forEach((w, pid) => {
        const own = this.track(w.own, now, scan);
        if (w.servers === null) {
          workers.set(pid, own);
          return;
        }
        // The master itself is among them while it holds a connection: read once, not twice.
        const processes = w.servers.map((r): ProcessActivity => (r.pid === pid ? { pid, ...own } : { pid: r.pid, ...this.track(r, now, scan) }));
        workers.set(pid, processes.length === 0 ? own : summarize(own, processes));
      });
      out.set(name, { queue: pool.queue, workers, blind: pool.blind, hijackers: pool.hijackers });
    });
    this.tracked.forEach((t, pid) => {
      if (t.scan !== scan) this.tracked.delete(pid);
    });
    this.workers.forEach((_, name) => {
      if (!readings.has(name)) this.workers.delete(name);
    });
    return out;
  }

  private track(r: ProcessReading, now: number, scan: number): Tracked {
    const activity: Activity = r.connections === 0 ? 'idle' : r.reading ? 'waiting' : 'busy';
    let t = this.tracked.get(r.pid);
    if (!t) {
      t = { activity, since: now, lastProgress: now, eventLoop: false, connections: 0, rss: null, cpuPercent: null, io: null, cpu: null, scan };
      this.tracked.set(r.pid, t);
    } else if (t.activity !== activity) {
      t.activity = activity;
      t.since = now;
      t.lastProgress = now;
    } else if (activity === 'idle' && r.served) {
      // It served requests too short for the scan to see since it was last looked at: idle from now.
      t.since = now;
      t.lastProgress = now;
    } else if (r.io !== null && r.io !== t.io) {
      // Progress matters only while a request is held; an idle worker's counters are not read.
      t.lastProgress = now;
    }
    t.scan = scan;
    t.io = r.io;
    t.eventLoop = activity !== 'idle' && r.eventLoop;
    t.connections = r.connections;
    if (r.rss !== null) t.rss = r.rss;
    if (r.cpuMs !== null) {
      if (t.cpu !== null && now > t.cpu.at) t.cpuPercent = Math.round(((r.cpuMs - t.cpu.ms) / (now - t.cpu.at)) * 1000) / 10;
      t.cpu = { ms: r.cpuMs, at: now };
    }
    return t;
  }
}

/** A master's entry: the busiest activity among its servers, the latest progress, its own RSS and CPU. */
function summarize(own: Tracked, processes: ProcessActivity[]): WorkerActivity {
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
    cpuPercent: own.cpuPercent,
    processes,
  };
}
