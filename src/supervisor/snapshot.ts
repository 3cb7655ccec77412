// One view of the daemon for everything that reads it: the control API's status
// and metrics, systemd's STATUS= line and the scan policies. Slot states are
// current; what /proc shows (activity, RSS, CPU, queue) comes from the last
// scan, the only place fcgid reads it, so no two readers ever disagree.

import type { Address } from '../fastcgi/address.js';
import type { PoolConfig } from '../config/types.js';
import type { Pool, PoolState } from './pool.js';
import type { LogDrops } from './port.js';
import type { PoolActivity, WorkerActivity } from './scoreboard.js';
import type { LastExit, Slot, SlotState } from './slot.js';

export type DaemonState = 'starting' | 'running' | 'reloading' | 'stopping' | 'stopped';

export interface SlotView {
  index: number;
  /** "replacement": the new worker of a rolling restart or recycle, beside the old one of the same slot. */
  role: 'worker' | 'replacement';
  label: string;
  pid: number | null;
  state: SlotState;
  since: number;
  startedAt: number;
  restarts: number;
  failures: number;
  lastExit: LastExit | null;
  /** The last stderr lines, for a fatal slot. */
  stderrTail: string[] | null;
  /** A fatal slot: when fcgid tries it again (fatal_retry). */
  retryAt: number | null;
  /** What the last scan saw of its process; null when it has none, or no scan has seen it yet. */
  seen: WorkerActivity | null;
}

export interface PoolCounters {
  /** Workers started again after an exit (never reset by a rolling restart or a scale-down). */
  restarts: number;
  hungKills: number;
  recycles: number;
  /** Worker exits by reason (crashed, exited, hung, ...). */
  exits: Record<string, number>;
}

export interface PoolView {
  name: string;
  config: PoolConfig;
  /** Where it really listens (for a socket systemd passed, the address /proc shows). */
  listen: Address;
  state: PoolState;
  wanted: number;
  /** Slots in state running, replacements included (during a handover both serve). */
  running: number;
  /** Serving processes holding a request, and not: a forking worker's children each count. */
  busy: number;
  idle: number;
  /** Connections waiting to be accepted; null before the first scan or where /proc does not show it. */
  queue: number | null;
  /** A rolling restart is turning the pool over. */
  rolling: boolean;
  counters: PoolCounters;
  slots: SlotView[];
}

export interface Snapshot {
  at: number;
  state: DaemonState;
  startedAt: number;
  config: string;
  /** When the observations were made; null before the first scan. */
  scannedAt: number | null;
  pools: PoolView[];
  /** What the daemon's log had to leave out; null where the log is not a LogSink (tests). */
  log: LogDrops | null;
}

export function emptyCounters(): PoolCounters {
  return { restarts: 0, hungKills: 0, recycles: 0, exits: {} };
}

/** A pool view's serving processes by activity (a forking worker's children each count). */
export function countServers(slots: readonly SlotView[], match: (a: WorkerActivity['activity']) => boolean): number {
  let n = 0;
  for (const s of slots) {
    if (s.pid === null || !s.seen) continue;
    if (!s.seen.processes) n += match(s.seen.activity) ? 1 : 0;
    else for (const p of s.seen.processes) if (match(p.activity)) n++;
  }
  return n;
}

/** Seen at the last scan, for a process that is still the slot's. */
function seenOf(activity: PoolActivity | undefined, pid: number | null): WorkerActivity | null {
  return pid === null ? null : (activity?.workers.get(pid) ?? null);
}

/** One line for systemd's STATUS= and logs: "app 4/4 running, php 7/8 degraded". */
export function summaryLine(s: Snapshot): string {
  const pools = s.pools.map((p) => `${p.name} ${p.slots.filter((v) => v.role === 'worker' && v.state === 'running').length}/${p.wanted} ${p.state}`);
  return pools.length ? pools.join(', ') : 'no pools';
}

/** True once no pool is still starting its workers (they run, or have failed visibly). */
export function settled(s: Snapshot): boolean {
  return s.pools.every((p) => p.state !== 'starting');
}

/** What a snapshot is drawn from: the pools as they are, and what the last scan saw. */
export interface SnapshotSource {
  now: number;
  state: DaemonState;
  startedAt: number;
  config: string;
  scannedAt: number | null;
  pools: Iterable<Pool>;
  addressOf(pool: string): Address;
  activity(pool: string): PoolActivity | undefined;
  counters(pool: string): PoolCounters;
  logDrops: LogDrops | null;
}

export function buildSnapshot(src: SnapshotSource): Snapshot {
  const pools: PoolView[] = [];
  for (const pool of src.pools) {
    const seen = src.activity(pool.name);
    const view = (slot: Slot, role: SlotView['role']): SlotView => ({
      index: slot.index,
      role,
      label: slot.label,
      pid: slot.pid,
      state: slot.state,
      since: slot.since,
      startedAt: slot.startedAt,
      restarts: slot.restarts,
      failures: slot.failures,
      lastExit: slot.lastExit,
      stderrTail: slot.state === 'fatal' ? slot.tail.toArray() : null,
      retryAt: slot.state === 'fatal' ? slot.retryAt : null,
      seen: slot.state === 'running' || slot.state === 'starting' ? seenOf(seen, slot.pid) : null,
    });
    const slots = [...pool.slots.map((s) => view(s, 'worker')), ...[...pool.replacements.values()].map((s) => view(s, 'replacement'))];
    const counters = src.counters(pool.name);
    pools.push({
      name: pool.name,
      config: pool.config,
      listen: src.addressOf(pool.name),
      state: pool.state,
      wanted: pool.wanted,
      running: slots.filter((s) => s.state === 'running').length,
      busy: countServers(slots, (a) => a === 'busy'),
      idle: countServers(slots, (a) => a === 'idle' || a === 'waiting'),
      queue: seen?.queue ?? null,
      rolling: pool.rollout !== null,
      counters: { ...counters, exits: { ...counters.exits } },
      slots,
    });
  }
  return { at: src.now, state: src.state, startedAt: src.startedAt, config: src.config, scannedAt: src.scannedAt, pools, log: src.logDrops };
}
