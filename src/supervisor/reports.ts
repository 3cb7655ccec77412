// What the slots of a pool report, and where it goes: the daemon's log, the
// in-memory logbook behind `fcgictl logs`, the worker registry on disk, the
// counters behind status and metrics, and the loop (a state change or an exit
// means the pool reconciles; an exit or timer comes back as an event).

import type { Log } from './log.js';
import type { Logbook } from './logbook.js';
import type { Host, WorkerOutput, WorkerRecords } from './port.js';
import type { PoolConfig } from '../config/types.js';
import type { Slot, SlotEvent, SlotObserver } from './slot.js';
import { emptyCounters, type PoolCounters } from './snapshot.js';

export interface ReportSinks {
  log: Log;
  logbook: Logbook;
  records: WorkerRecords;
  host: Host;
  counters: Counters;
  /** The pool's config now (a reload may have changed it), or undefined once it is gone. */
  config(pool: string): PoolConfig | undefined;
  /** The pool changed: it reconciles when the loop's step ends. */
  touched(pool: string): void;
  /** An exit or a timer of a slot: back into the loop as an event. */
  deliver(pool: string, slot: Slot, event: SlotEvent): void;
  /** A worker's process is gone: what was observed of its pid is dropped. */
  gone(pid: number): void;
  /** Where workers' lines go; absent: `log` at info. */
  output?: WorkerOutput;
}

/** Counters by pool, kept by the daemon itself: a rolling restart or a scale-down drops slots, and a Prometheus counter must never go down. */
export class Counters {
  private readonly byPool = new Map<string, PoolCounters>();
  /** The restarts each slot had when last counted. */
  private readonly restartsSeen = new WeakMap<Slot, number>();

  of(pool: string): PoolCounters {
    let c = this.byPool.get(pool);
    if (!c) this.byPool.set(pool, (c = emptyCounters()));
    return c;
  }

  forget(pool: string): void {
    this.byPool.delete(pool);
  }

  /** A slot started a worker: its restarts since last counted go to the pool's count. */
  spawned(pool: string, slot: Slot): void {
    const seen = this.restartsSeen.get(slot) ?? 0;
    if (slot.restarts > seen) this.of(pool).restarts += slot.restarts - seen;
    this.restartsSeen.set(slot, slot.restarts);
  }
}

export function slotObserver(pool: string, sinks: ReportSinks): SlotObserver {
  const log = sinks.log.child({ pool });
  const book = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra: { worker?: number; pid?: number | null; stream?: 'stdout' | 'stderr' } = {}): void =>
    sinks.logbook.add({ time: new Date(sinks.host.now()).toISOString(), pool, level, msg, ...extra });
  return {
    // `sinks.log` books what it logs about a pool (BookingLog).
    log: (level, fields, message) => log[level](fields, message),
    line: (slot, stream, line) => {
      if (sinks.output) sinks.output.line(pool, slot.index, slot.pid, stream, line);
      else log.info({ worker: slot.index, pid: slot.pid, stream }, line);
      book('info', line, { worker: slot.index, pid: slot.pid, stream });
    },
    changed: (slot, from) => {
      log.debug({ worker: slot.index, pid: slot.pid, from, to: slot.state }, `worker ${slot.label}: ${from} -> ${slot.state}`);
      sinks.touched(pool);
    },
    spawned: (slot) => {
      const p = sinks.config(pool);
      if (p) sinks.records.add(slot.pid!, p);
      log.debug({ worker: slot.index, pid: slot.pid }, `worker ${slot.label} started as pid ${slot.pid}`);
      sinks.counters.spawned(pool, slot);
    },
    exited: (slot) => {
      if (slot.lastExit?.pid) {
        sinks.records.remove(slot.lastExit.pid);
        sinks.gone(slot.lastExit.pid);
      }
      if (slot.lastExit) {
        const exits = sinks.counters.of(pool).exits;
        exits[slot.lastExit.reason] = (exits[slot.lastExit.reason] ?? 0) + 1;
      }
      sinks.touched(pool);
    },
    deliver: (slot, event) => sinks.deliver(pool, slot, event),
  };
}
