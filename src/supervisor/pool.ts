// A pool: its slots, what is wanted of them, and the one reconcile step that
// makes what runs match what is wanted (desired vs observed, DESIGN.md §3).
// Only the supervisor (supervisor.ts) writes what is wanted — scale, stop,
// start, restart, recycle — and every one of those ends in reconcile().

import type { PoolConfig } from '../config/types.js';
import { fmtMs } from './format.js';
import type { Host, Ids, SpawnSpec } from './port.js';
import { EVENTS, Slot, type SlotEvent, type SlotObserver, type SlotState } from './slot.js';

export type PoolState = 'starting' | 'running' | 'degraded' | 'failed' | 'stopping' | 'stopped';

export interface RestartOptions {
  /** Slots turned over at once in a rolling restart. Default: all of them. */
  batch?: number;
  /** Stop every worker, then start them all. */
  hard?: boolean;
}

export interface RestartResult {
  pool: string;
  /** Slots whose new worker counts as started. */
  replaced: number;
  /** Slots whose new worker did not count as started (it died first, or went fatal). */
  failed: number[];
  /** Of `failed`, the slots whose old worker keeps serving (a rolling replacement that failed). */
  kept: number[];
  /** The last stderr lines of the first new worker that failed. */
  stderr_tail: string[];
}

/** A restart in progress: which slots are still to turn over, how many at once, and how it went so far. */
export interface Rollout {
  /** Slot indexes whose worker is still to be replaced. */
  readonly due: Set<number>;
  readonly batch: number;
  /** --hard: every worker stops first ('draining'), then all start again ('starting'); null for a rolling restart. */
  hard: 'draining' | 'starting' | null;
  replaced: number;
  readonly failed: number[];
  readonly kept: number[];
  /** Slots restarted in place (they were not serving): counted once they run, or once they fail. */
  readonly inPlace: Set<number>;
  /** The workers there when the restart began: any other is a new one. */
  readonly before: ReadonlySet<number>;
  tail: string[];
  readonly waiters: Array<(r: RestartResult) => void>;
}

export class Pool {
  config: PoolConfig;
  readonly slots: Slot[] = [];
  /** Rolling replacements in flight (a restart or a recycle): slot index → the new worker's slot. */
  readonly replacements = new Map<number, Slot>();
  /** The replacements started for a recycle, not for the rollout (they do not count in its result). */
  private readonly recycleReplacements = new WeakSet<Slot>();
  /** The restart in progress, if any. */
  rollout: Rollout | null = null;
  /** Slots to be replaced for a limit (max_memory, max_lifetime), one at a time, outside a rollout. */
  private readonly recycling = new Set<number>();
  /** Desired: how many workers, and whether the pool is wanted up at all (stop keeps the count for start). */
  private count: number;
  private up = false;
  /** Why fcgid stopped the pool as failed (a worker listening at the pool's path itself); null otherwise. `start` clears it. */
  failure: string | null = null;
  /** Why workers past `wanted` go down, for their exit's log line: set by the last scale or stop. */
  private downWhy = 'not restarting: it is wanted down';
  private readonly host: Host;
  private readonly observer: SlotObserver;
  /** null while the socket is away with the listen helper (src/host/listeners.ts, handOver): spawns wait. */
  private socketFd: number | null;
  private baseEnv: Record<string, string>;
  /** Children of masters being stopped one by one (stopChild), so a scan does not stop them twice. */
  private readonly stoppingChildren = new Set<number>();

  constructor(
    config: PoolConfig,
    socketFd: number | null,
    host: Host,
    observer: SlotObserver,
    private readonly ids: Ids,
    private readonly base: Readonly<Record<string, string | undefined>>,
  ) {
    this.config = config;
    this.count = config.workers;
    this.socketFd = socketFd;
    this.host = host;
    this.observer = observer;
    this.baseEnv = buildEnv(config, base);
  }

  get name(): string {
    return this.config.name;
  }

  /** Desired number of workers; 0 when the pool is wanted down. */
  get wanted(): number {
    return this.up ? this.count : 0;
  }

  /** The count to come back to after `stop`. */
  get configured(): number {
    return this.count;
  }

  // --- what is wanted (the supervisor is the only caller) ---

  /** `why` ends the log line of each worker this stops (default: "scaled down to N workers"). */
  scale(workers: number, why?: string): void {
    if (workers < this.wanted) this.downWhy = why ?? `scaled down to ${workers} worker${workers === 1 ? '' : 's'}`;
    this.count = workers;
    this.up = true;
    this.reconcile();
  }

  /** `why` ends the log line of each worker this stops. */
  stop(why = 'the pool is stopped'): void {
    this.downWhy = why;
    this.up = false;
    this.reconcile();
  }

  /** Stop every worker and show the pool failed until the next start. */
  fail(why: string): void {
    this.failure = why;
    this.stop(`the pool failed: ${why}`);
  }

  /** Up again at the count it had; a pool scaled to 0 comes back at its configured size. */
  start(): void {
    this.failure = null;
    if (this.count === 0) this.count = this.config.workers;
    this.send(EVENTS.reset);
    this.up = true;
    this.reconcile();
  }

  /** Begin a restart; resolves when every slot runs a new worker (or failed to start one). */
  restart(options: RestartOptions = {}): Promise<RestartResult> {
    // By default every slot turns over at once: the restart takes one start_secs,
    // not one per slot; capacity never drops (it briefly doubles). --batch bounds it.
    const done = new Promise<RestartResult>((resolve) => {
      const live = Math.min(this.wanted, this.slots.length);
      this.rollout = {
        due: new Set(Array.from({ length: live }, (_, i) => i)),
        batch: Math.max(1, options.batch ?? this.wanted),
        hard: options.hard ? 'draining' : null,
        replaced: 0,
        failed: [],
        kept: [],
        inPlace: new Set(),
        before: new Set(this.allSlots().flatMap((s) => (s.pid === null ? [] : [s.pid]))),
        tail: [],
        waiters: [...(this.rollout?.waiters ?? []), resolve],
      };
    });
    // The rollout replaces every slot anyway: recycles not yet begun are dropped.
    this.recycling.clear();
    this.send(EVENTS.reset);
    this.reconcile();
    return done;
  }

  /**
   * Replace one worker for a limit (max_memory, max_lifetime), the way a rolling
   * restart does: its replacement starts first, so capacity never drops.
   * False when it is not a running worker of this pool, or already on its way out.
   */
  recycle(slot: Slot, why: string): boolean {
    if (slot.state !== 'running' || this.slots[slot.index] !== slot || this.replacements.has(slot.index) || this.recycling.has(slot.index)) return false;
    this.recycling.add(slot.index);
    slot.handle(EVENTS.recycle);
    this.observer.log('info', { slot: slot.label, pid: slot.pid, reason: 'recycled' }, `worker ${slot.label} pid ${slot.pid} ${why}; recycling it (its replacement starts first)`);
    this.reconcile();
    return true;
  }

  /**
   * Stop one child of a forking worker (a php-cgi child that hangs or grew too
   * big): stop_signal, then SIGKILL after stop_timeout if that same process
   * (pid and start time) still runs. Its master forks the replacement, as
   * php-cgi and uwsgi do; fcgid does not touch the master.
   */
  stopChild(slot: Slot, pid: number, why: string, level: 'info' | 'warn'): boolean {
    const born = this.host.processStart(pid);
    if (born === null || this.stoppingChildren.has(pid)) return false;
    this.stoppingChildren.add(pid);
    const { stop_signal: signal, stop_timeout: timeout } = this.config;
    this.observer.log(
      level,
      { slot: slot.label, pid: slot.pid, child: pid, reason: level === 'warn' ? 'hung' : 'recycled' },
      `worker ${slot.label} pid ${slot.pid}: its child pid ${pid} ${why}; stopping that child with ${signal} (SIGKILL after ${fmtMs(timeout)}); its master starts another`,
    );
    this.host.kill(pid, signal);
    this.host.setTimer(timeout, () => {
      this.stoppingChildren.delete(pid);
      if (this.host.processStart(pid) !== born) return;
      this.observer.log('warn', { slot: slot.label, child: pid }, `worker ${slot.label}: child pid ${pid} still alive ${fmtMs(timeout)} after ${signal}; sending SIGKILL`);
      this.host.kill(pid, 'SIGKILL');
    });
    return true;
  }

  /** Send a signal to every worker's process group. */
  signal(signal: NodeJS.Signals): number[] {
    const pids = this.allSlots().flatMap((s) => (s.pid === null ? [] : [s.pid]));
    for (const pid of pids) this.host.killGroup(pid, signal);
    return pids;
  }

  /** Use a new config from now on (reload): new workers get it; running ones keep theirs until replaced. */
  adopt(config: PoolConfig, socketFd: number | null): void {
    this.config = config;
    this.socketFd = socketFd;
    this.baseEnv = buildEnv(config, this.base);
  }

  /** The pool's socket is back from the listen helper (or away again: null). */
  setSocket(fd: number | null): void {
    this.socketFd = fd;
  }

  // --- the reconcile step ---

  /**
   * Make the slots match what is wanted. The only place slots are created,
   * started, stopped or replaced; every command and every event ends here.
   */
  reconcile(): void {
    const draining = this.rollout?.hard === 'draining';
    const target = draining ? 0 : this.wanted;
    while (this.slots.length < target) this.slots.push(this.newSlot(this.slots.length));
    this.slots.forEach((slot, i) => {
      const next = this.replacements.get(i);
      // A worker whose replacement counts as started hands over: it is wanted down.
      const handingOver = next !== undefined && next.state === 'running';
      slot.want = i < target && !handingOver ? 'up' : 'down';
      if (slot.want === 'up') slot.handle(EVENTS.start);
      else if (slot.pid !== null) slot.handle({ type: 'stop', why: handingOver ? 'its replacement has taken over' : draining ? 'hard restart: every worker stops, then all start again' : this.downWhy });
      else slot.handle(EVENTS.stop);
      if (next && i >= target) {
        next.want = 'down';
        next.handle({ type: 'stop', why: this.downWhy });
        if (next.pid === null) this.replacements.delete(i);
      }
    });
    if (draining && this.quiescent) {
      // --hard: everything is down; now start it all again.
      const r = this.rollout!;
      r.hard = 'starting';
      r.due.clear();
      for (let i = 0; i < Math.min(this.slots.length, this.wanted); i++) r.inPlace.add(i);
      this.recycling.clear();
      this.reconcile();
      return;
    }
    if (!draining) this.roll();
    // Surplus slots at the end go away once their process is gone. Against
    // `wanted`, not `target`: a --hard restart's slots are down, not surplus.
    while (this.slots.length > this.wanted && isIdle(this.slots[this.slots.length - 1]!.state) && !this.replacements.has(this.slots.length - 1)) {
      this.slots.pop();
    }
    for (const i of this.recycling) if (i >= this.wanted) this.recycling.delete(i);
    this.settleRollout();
  }

  /** Rolling replacement: the new worker first, the old one stopped once the new one counts as started. */
  private roll(): void {
    const r = this.rollout;
    for (const [i, next] of this.replacements) {
      const old = this.slots[i]!;
      const forRecycle = this.recycleReplacements.has(next);
      if (next.state === 'running' && old.pid === null) {
        this.slots[i] = next;
        this.replacements.delete(i);
        this.recycling.delete(i);
        if (!forRecycle && r) r.replaced++;
      } else if (next.state === 'fatal' || next.state === 'exited' || (next.state === 'backoff' && next.failures >= 1)) {
        // The new worker does not start (or its restart policy let it go at once):
        // keep the old one serving, and say so.
        next.want = 'down';
        next.handle({ type: 'stop', why: 'it did not start; the old worker keeps serving' });
        if (next.pid === null) {
          this.replacements.delete(i);
          this.recycling.delete(i);
          if (!forRecycle && r) {
            r.failed.push(i);
            r.kept.push(i);
            if (r.tail.length === 0) r.tail = next.tail.toArray();
          }
          this.observer.log('error', { slot: old.label, tail: next.tail.toArray() }, `worker ${old.label}: its replacement failed to start; the old worker keeps serving`);
        }
      }
    }
    const batch = r ? r.batch : 1;
    for (let i = 0; i < Math.min(this.wanted, this.slots.length) && this.replacements.size < batch; i++) {
      if (this.replacements.has(i) || !(r ? r.due.has(i) : this.recycling.has(i))) continue;
      const slot = this.slots[i]!;
      r?.due.delete(i);
      if (slot.state !== 'running') {
        // Not serving anyway (starting, backoff, fatal, exited): restart it in place.
        if (!r) {
          this.recycling.delete(i);
          continue;
        }
        // A worker spawned since the restart began (a fatal slot the restart's
        // reset let start) is already a new one: it is not stopped again.
        const fresh = slot.pid !== null && !r.before.has(slot.pid);
        slot.handle(EVENTS.reset);
        if (!fresh) slot.handle(slot.pid !== null ? { type: 'stop', why: 'restarted before it counted as started' } : EVENTS.start);
        r.inPlace.add(i);
        continue;
      }
      const next = this.newSlot(i);
      next.want = 'up';
      if (!r) this.recycleReplacements.add(next);
      this.replacements.set(i, next);
      next.handle(EVENTS.start);
    }
  }

  private settleRollout(): void {
    const r = this.rollout;
    if (!r || r.hard === 'draining' || this.replacements.size > 0) return;
    for (const i of r.due) if (i < this.wanted) return;
    // A slot restarted in place has its verdict once it runs, or once it died
    // early or went down for good; meanwhile (starting, stopping, a pause) it is pending.
    for (const i of r.inPlace) {
      const slot = this.slots[i];
      if (slot !== undefined && i < this.wanted) {
        if (slot.state === 'running') r.replaced++;
        else if (slot.state === 'fatal' || slot.state === 'exited' || slot.failures > 0) {
          r.failed.push(i);
          if (r.tail.length === 0) r.tail = slot.tail.toArray();
        } else return;
      }
      r.inPlace.delete(i);
    }
    if (this.slots.slice(0, this.wanted).some((s) => s.state === 'starting' && s.failures === 0)) return;
    this.rollout = null;
    const result: RestartResult = { pool: this.name, replaced: r.replaced, failed: [...r.failed].sort((a, b) => a - b), kept: [...r.kept], stderr_tail: r.tail };
    for (const w of r.waiters) w(result);
  }

  // --- what is observed ---

  /** Every slot with a process, replacements included. */
  allSlots(): Slot[] {
    return [...this.slots, ...this.replacements.values()];
  }

  /** True when no slot has a process. */
  get quiescent(): boolean {
    return this.allSlots().every((s) => s.pid === null);
  }

  get state(): PoolState {
    if (this.failure !== null) return 'failed';
    if (this.wanted === 0) return this.quiescent ? 'stopped' : 'stopping';
    const up = this.slots.slice(0, this.wanted);
    if (up.length > 0 && up.every((s) => s.state === 'fatal')) return 'failed';
    if (up.some((s) => s.state === 'fatal' || s.state === 'backoff')) return 'degraded';
    if (up.length === this.wanted && up.every((s) => s.state === 'running')) return 'running';
    return 'starting';
  }

  private send(event: SlotEvent): void {
    for (const slot of this.slots) slot.handle(event);
  }

  private newSlot(index: number): Slot {
    return new Slot(index, this.config, this.host, this.observer, (s) => this.spec(s), () => this.socketFd);
  }

  private spec(slot: Slot): SpawnSpec | null {
    if (this.socketFd === null) return null;
    return {
      command: this.config.command,
      cwd: this.config.cwd,
      env: { ...this.baseEnv, FCGID_WORKER: String(slot.index) },
      uid: this.ids.uid,
      gid: this.ids.gid,
      groups: this.ids.groups ?? null,
      umask: this.config.umask,
      socketFd: this.socketFd,
      targetFd: this.config.socket_fd,
    };
  }
}

function isIdle(state: SlotState): boolean {
  return state === 'exited' || state === 'fatal';
}

/** The environment every worker of the pool gets (DESIGN.md §2), slot number aside. */
export function buildEnv(config: PoolConfig, base: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const env: Record<string, string> = {};
  if (!config.clear_env) {
    for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  } else {
    for (const k of config.pass_env) if (base[k] !== undefined) env[k] = base[k]!;
  }
  // The daemon's own socket-activation and notify variables are not the workers' business.
  for (const k of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'FCGID_CONTROL']) delete env[k];
  Object.assign(env, config.env);
  env.FCGID_POOL = config.name;
  if (config.allowed_clients.length > 0) env.FCGI_WEB_SERVER_ADDRS = config.allowed_clients.join(',');
  else delete env.FCGI_WEB_SERVER_ADDRS;
  if (config.socket_fd > 2) env.FCGID_LISTEN_FD = String(config.socket_fd);
  else delete env.FCGID_LISTEN_FD;
  return env;
}
