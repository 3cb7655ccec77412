// The status document: one JSON schema for `fcgictl status --json`, the table
// fcgictl prints, and the control API (documented in docs/control-api.md).
// RSS and CPU come from /proc/<pid>/stat; CPU% is over the time since the
// previous status call (or the worker's lifetime on the first).

import { formatAddress } from '../fastcgi/address.js';
import type { Daemon } from './daemon.js';
import { statFields } from './procnet.js';
import type { PoolActivity } from './scoreboard.js';
import type { Slot } from './slot.js';

export const STATUS_SCHEMA_VERSION = 1;

export interface SlotStatus {
  slot: number;
  /** "worker", or "replacement" for the new worker of a rolling restart. */
  role: 'worker' | 'replacement';
  pid: number | null;
  state: string;
  since: string;
  uptime_ms: number | null;
  restarts: number;
  failures: number;
  last_exit: { pid: number | null; code: number | null; signal: string | null; reason: string; uptime_ms: number; at: string } | null;
  rss_bytes: number | null;
  cpu_percent: number | null;
  /** From the scoreboard: idle, busy (holds a request) or waiting (holds the web server's connection, blocked reading it); null when not running. */
  activity: 'idle' | 'busy' | 'waiting' | null;
  /** How long the worker has been in that activity, and since its last I/O progress. */
  activity_ms: number | null;
  progress_ms: number | null;
  /** The last stderr lines, for a fatal slot. */
  stderr_tail?: string[];
  /** A worker that forks its servers (php-cgi with PHP_FCGI_CHILDREN): those processes, one by one. Its own `activity` sums them up. */
  processes?: ProcessStatus[];
}

export interface ProcessStatus {
  pid: number;
  activity: 'idle' | 'busy' | 'waiting';
  activity_ms: number;
  progress_ms: number;
  rss_bytes: number | null;
  cpu_percent: number | null;
}

export interface PoolStatus {
  name: string;
  listen: string;
  state: string;
  /** busy and idle count serving processes: a php-cgi master with 4 children counts 4. */
  workers: { wanted: number; running: number; busy: number; idle: number };
  /** Connections waiting to be accepted (TCP listeners; null where /proc does not show it). */
  queue: number | null;
  restarts: number;
  hung_kills: number;
  slots: SlotStatus[];
}

export interface DaemonStatus {
  schema: number;
  version: string;
  pid: number;
  config: string;
  state: string;
  started_at: string;
  uptime_ms: number;
  pools: PoolStatus[];
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const PAGE_SIZE = 4096;

interface Sample {
  ticks: number;
  at: number;
}

/** Reads /proc for RSS and CPU; remembers the previous sample per pid for CPU%. */
export class ProcSampler {
  private previous = new Map<number, Sample>();

  sample(pid: number, startedAt: number, now: number): { rss: number | null; cpu: number | null } {
    const f = statFields(pid);
    if (!f) return { rss: null, cpu: null };
    // Fields 14, 15 (utime, stime) and 24 (rss) of proc(5), here from index 0 = field 3.
    const ticks = Number(f[11]) + Number(f[12]);
    const rss = Number(f[21]) * PAGE_SIZE;
    const prev = this.previous.get(pid);
    const since = prev ?? { ticks: 0, at: startedAt };
    this.previous.set(pid, { ticks, at: now });
    const wall = (now - since.at) / 1000;
    const cpu = wall > 0 ? Math.round((((ticks - since.ticks) / TICKS_PER_SECOND / wall) * 100) * 10) / 10 : null;
    return { rss, cpu };
  }

  /** Forget pids that are gone, so the map does not grow with every respawn. */
  prune(live: Set<number>): void {
    for (const pid of this.previous.keys()) if (!live.has(pid)) this.previous.delete(pid);
  }
}

export function buildStatus(daemon: Daemon, version: string, sampler: ProcSampler, now: number, only?: string): DaemonStatus {
  const iso = (t: number): string => new Date(t).toISOString();
  const live = new Set<number>();
  const slotStatus = (slot: Slot, role: SlotStatus['role'], seen: PoolActivity | undefined): SlotStatus => {
    const a = slot.pid === null ? undefined : seen?.workers.get(slot.pid);
    const s = slot.pid === null ? { rss: null, cpu: null } : sampler.sample(slot.pid, slot.startedAt, now);
    if (slot.pid !== null) live.add(slot.pid);
    const out: SlotStatus = {
      slot: slot.index,
      role,
      pid: slot.pid,
      state: slot.state,
      since: iso(slot.since),
      uptime_ms: slot.pid === null ? null : now - slot.startedAt,
      restarts: slot.restarts,
      failures: slot.failures,
      last_exit: slot.lastExit && {
        pid: slot.lastExit.pid,
        code: slot.lastExit.code,
        signal: slot.lastExit.signal,
        reason: slot.lastExit.reason,
        uptime_ms: slot.lastExit.uptimeMs,
        at: iso(slot.lastExit.at),
      },
      rss_bytes: s.rss,
      cpu_percent: s.cpu,
      activity: a?.activity ?? null,
      activity_ms: a ? now - a.since : null,
      progress_ms: a ? now - a.lastProgress : null,
    };
    if (slot.state === 'fatal') out.stderr_tail = slot.tail.toArray();
    if (a?.processes) {
      out.processes = a.processes.map((p) => {
        live.add(p.pid);
        const ps = sampler.sample(p.pid, p.since, now);
        return { pid: p.pid, activity: p.activity, activity_ms: now - p.since, progress_ms: now - p.lastProgress, rss_bytes: ps.rss, cpu_percent: ps.cpu };
      });
    }
    return out;
  };
  const pools: PoolStatus[] = [];
  for (const pool of daemon.pools.values()) {
    if (only !== undefined && pool.name !== only) continue;
    const seen = daemon.activity.get(pool.name);
    const slots = pool.slots.map((s) => slotStatus(s, 'worker', seen));
    for (const r of pool.replacements.values()) slots.push(slotStatus(r, 'replacement', seen));
    pools.push({
      name: pool.name,
      // For a socket systemd passed, where it really is (systemd:NAME tells nobody where to point nginx).
      listen: formatAddress(daemon.addressOf(pool.name)),
      state: pool.state,
      workers: {
        wanted: pool.wanted,
        // Replacements count: during a handover both old and new serve, as in fcgid_workers.
        running: pool.allSlots().filter((s) => s.state === 'running').length,
        busy: count(slots, (a) => a === 'busy'),
        idle: count(slots, (a) => a === 'idle' || a === 'waiting'),
      },
      queue: seen?.queue ?? null,
      // The daemon's own count, which a rolling restart or a scale-down does not reset (as fcgid_restarts_total).
      restarts: daemon.restarts.get(pool.name) ?? 0,
      hung_kills: daemon.hungKills.get(pool.name) ?? 0,
      slots,
    });
  }
  if (only === undefined) sampler.prune(live);
  return {
    schema: STATUS_SCHEMA_VERSION,
    version,
    pid: process.pid,
    config: daemon.config.file,
    state: daemon.state,
    started_at: iso(daemon.startedAt),
    uptime_ms: now - daemon.startedAt,
    pools,
  };
}

/** Serving processes whose activity matches: a forking worker's children, else the worker itself. */
function count(slots: SlotStatus[], match: (a: SlotStatus['activity']) => boolean): number {
  return slots.reduce((n, s) => n + (s.processes ? s.processes.filter((p) => match(p.activity)).length : match(s.activity) ? 1 : 0), 0);
}
