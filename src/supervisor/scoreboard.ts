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
}

export class Scoreboard {
  private readonly tracked = new Map<number, Tracked>();

  /** One scan: the readings of every pool, turned into activity with history. */
  update(now: number, readings: ReadonlyMap<string, PoolReading>): Map<string, PoolActivity> {
    const out = new Map<string, PoolActivity>();
    const seen = new Set<number>();
    for (const [name, pool] of readings) {
      const workers = new Map<number, WorkerActivity>();
      for (const [pid, w] of pool.workers) {
        const own = this.track(w.own, now, seen);
        if (w.servers === null) {
          workers.set(pid, own);
          continue;
        }
        // The master itself is among them while it holds a connection: read once, not twice.
        const processes = w.servers.map((r) => ({ pid: r.pid, ...(r.pid === pid ? own : this.track(r, now, seen)) }));
        workers.set(pid, processes.length === 0 ? own : summarize(own, processes));
      }
      out.set(name, { queue: pool.queue, workers, blind: pool.blind });
    }
    for (const pid of this.tracked.keys()) if (!seen.has(pid)) this.tracked.delete(pid);
    return out;
  }

  private track(r: ProcessReading, now: number, seen: Set<number>): Omit<ProcessActivity, 'pid'> {
    seen.add(r.pid);
    const activity: Activity = r.connections === 0 ? 'idle' : r.reading ? 'waiting' : 'busy';
    const prev = this.tracked.get(r.pid);
    const same = prev !== undefined && prev.activity === activity;
    let cpuPercent = prev?.cpuPercent ?? null;
    let cpu = prev?.cpu ?? null;
    if (r.cpuMs !== null) {
      if (cpu !== null && now > cpu.at) cpuPercent = Math.round(((r.cpuMs - cpu.ms) / (now - cpu.at)) * 1000) / 10;
      cpu = { ms: r.cpuMs, at: now };
    }
    const next: Tracked = {
      activity,
      since: same ? prev.since : now,
      // Progress matters only while a request is held; an idle worker's counters are not read.
      lastProgress: !same || (r.io !== null && r.io !== prev.io) ? now : prev.lastProgress,
      eventLoop: activity !== 'idle' && r.eventLoop,
      connections: r.connections,
      rss: r.rss ?? prev?.rss ?? null,
      cpuPercent,
      io: r.io,
      cpu,
    };
    this.tracked.set(r.pid, next);
    const { io: _io, cpu: _cpu, ...view } = next;
    return view;
  }
}

/** A master's entry: the busiest activity among its servers, the latest progress, its own RSS and CPU. */
function summarize(own: Omit<ProcessActivity, 'pid'>, processes: ProcessActivity[]): WorkerActivity {
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
