// A Host (src/supervisor/host.ts) for unit tests: a fake clock whose timers fire
// only when the test advances it, deterministic randomness, and fake processes
// whose spawns, exits, output lines and signals the test drives and inspects.
// No real process is started and nothing sleeps.

import type { ChildEvents, Host, SpawnSpec, Timer } from '../../src/supervisor/host.js';
import { Pool } from '../../src/supervisor/pool.js';
import type { Slot, SlotObserver, SlotState } from '../../src/supervisor/slot.js';
import { POOL_DEFAULTS, type PoolConfig } from '../../src/config/types.js';

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export interface FakeChild {
  pid: number | null;
  spec: SpawnSpec;
  events: ChildEvents;
  exited: boolean;
}

export class FakeHost implements Host {
  time = 1_000_000;
  /** Values random() returns in turn (cycled); 0.5 means "no jitter" for backoffDelay. */
  randoms: number[] = [0.5];
  private randomIndex = 0;
  private timers: PendingTimer[] = [];
  private seq = 0;
  private nextPid = 100;
  /** Every spawn, in order, including failed ones (pid null). */
  readonly children: FakeChild[] = [];
  readonly kills: Array<{ pid: number; signal: NodeJS.Signals }> = [];
  /** Signals sent to single processes (children of forking workers). */
  readonly processKills: Array<{ pid: number; signal: NodeJS.Signals }> = [];
  /** Start times of the fake processes that exist outside the slots (a master's children), by pid. */
  readonly started = new Map<number, string>();
  /** Errors for the next spawns: each makes spawn return null and report the error on the next tick (as realHost does). */
  readonly failSpawns: Error[] = [];

  now(): number {
    return this.time;
  }

  random(): number {
    const r = this.randoms[this.randomIndex % this.randoms.length]!;
    this.randomIndex++;
    return r;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const t: PendingTimer = { at: this.time + ms, seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }

  spawn(spec: SpawnSpec, events: ChildEvents): number | null {
    const failure = this.failSpawns.shift();
    if (failure) {
      const child: FakeChild = { pid: null, spec, events, exited: false };
      this.children.push(child);
      // realHost reports a synchronous spawn failure on process.nextTick: here, a 0 ms timer.
      this.setTimer(0, () => {
        child.exited = true;
        events.onExit(null, null, failure);
      });
      return null;
    }
    const child: FakeChild = { pid: this.nextPid++, spec, events, exited: false };
    this.children.push(child);
    return child.pid;
  }

  killGroup(pid: number, signal: NodeJS.Signals): void {
    this.kills.push({ pid, signal });
  }

  /** Process groups that still have members after their leader exited (a master's orphaned children). */
  readonly stragglers = new Set<number>();
  readonly groupSignals: Array<{ pgid: number; signal: NodeJS.Signals }> = [];

  signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
    if (!this.stragglers.has(pgid)) return false;
    this.groupSignals.push({ pgid, signal });
    return true;
  }

  kill(pid: number, signal: NodeJS.Signals): void {
    this.processKills.push({ pid, signal });
  }

  processStart(pid: number): string | null {
    return this.started.get(pid) ?? null;
  }

  /** Move the clock forward, firing due timers in time order (and timers they set that fall due). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => !t.cancelled && t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.fn();
    }
    this.time = target;
  }

  /** Advance exactly to the earliest pending timer and fire it (and any due at the same time). */
  runNext(): void {
    const next = this.timers.filter((t) => !t.cancelled).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
    if (!next) throw new Error('no pending timer');
    this.advance(next.at - this.time);
  }

  /** Timers set and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  get spawnCount(): number {
    return this.children.length;
  }

  child(pid: number): FakeChild {
    const c = this.children.find((ch) => ch.pid === pid);
    if (!c) throw new Error(`no fake child with pid ${pid}`);
    return c;
  }

  /** The process `pid` ends. */
  exit(pid: number, code: number | null = 0, signal: NodeJS.Signals | null = null): void {
    const c = this.child(pid);
    if (c.exited) throw new Error(`fake child ${pid} already exited`);
    c.exited = true;
    c.events.onExit(code, signal);
  }

  /** The process `pid` writes one line. */
  line(pid: number, stream: 'stdout' | 'stderr', text: string): void {
    this.child(pid).events.onLine(stream, text);
  }
}

export interface LogEntry {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

/** A SlotObserver that records everything it is told. */
export class RecordingObserver implements SlotObserver {
  readonly logs: LogEntry[] = [];
  readonly lines: Array<{ slot: number; stream: string; line: string }> = [];
  readonly changes: Array<{ slot: number; from: SlotState; to: SlotState }> = [];
  readonly spawns: Array<{ slot: number; pid: number | null }> = [];
  readonly exits: Array<{ slot: number; pid: number | null }> = [];

  log(level: 'info' | 'warn' | 'error' | 'debug', fields: object, message: string): void {
    this.logs.push({ level, fields: fields as Record<string, unknown>, message });
  }
  line(slot: Slot, stream: 'stdout' | 'stderr', line: string): void {
    this.lines.push({ slot: slot.index, stream, line });
  }
  changed(slot: Slot, from: SlotState): void {
    this.changes.push({ slot: slot.index, from, to: slot.state });
  }
  spawned(slot: Slot): void {
    this.spawns.push({ slot: slot.index, pid: slot.pid });
  }
  exited(slot: Slot): void {
    this.exits.push({ slot: slot.index, pid: slot.lastExit?.pid ?? null });
  }
}

/** A fully defaulted pool config, as parseConfig would produce, with overrides. */
export function poolConfig(overrides: Partial<PoolConfig> = {}): PoolConfig {
  return {
    ...structuredClone(POOL_DEFAULTS),
    name: 'app',
    command: ['/usr/bin/php-cgi'],
    cwd: '/var/www/app',
    listen: { kind: 'unix', path: '/run/fcgid/app.sock' },
    ...overrides,
  } as PoolConfig;
}

/** A RecordingObserver that notes when a reconcile is due: after any state change or exit, as the daemon does. */
class ReconcilingObserver extends RecordingObserver {
  pending = false;
  override changed(slot: Slot, from: SlotState): void {
    super.changed(slot, from);
    this.pending = true;
  }
  override exited(slot: Slot): void {
    super.exited(slot);
    this.pending = true;
  }
}

/**
 * A pool of `workers` wired like the daemon wires it: every state change or exit
 * ends in a reconcile (coalesced). It is started and its workers have counted as
 * started (`startSecs` have passed) by the time it is returned.
 *  - settle(): reconcile until nothing more is due (throws if that never happens)
 *  - step(ms): advance the clock, then settle
 *  - exitKilled(): every process signalled so far exits of that signal, then settle
 */
export function reconcilingPool(workers: number, startSecs: number) {
  const host = new FakeHost();
  const obs = new ReconcilingObserver();
  const pool = new Pool(poolConfig({ workers, start_secs: startSecs }), 7, host, obs, { base: {}, uid: null, gid: null });
  const settle = (): void => {
    for (let i = 0; obs.pending && i < 100; i++) {
      obs.pending = false;
      pool.reconcile();
    }
    if (obs.pending) throw new Error('reconcile does not settle');
  };
  const step = (ms: number): void => {
    host.advance(ms);
    settle();
  };
  const exitKilled = (): void => {
    for (const k of host.kills.splice(0)) {
      const c = host.children.find((ch) => ch.pid === k.pid);
      if (c && !c.exited) host.exit(k.pid, null, k.signal);
    }
    settle();
  };
  pool.scale(workers);
  settle();
  step(startSecs);
  return { host, obs: obs as RecordingObserver, pool, settle, step, exitKilled };
}
