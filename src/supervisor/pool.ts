// A pool: its slots, what is wanted of them, and the one reconcile step that
// makes what runs match what is wanted (desired vs observed, DESIGN.md §3).
// Restart, scale and stop are then small: they change `wanted` and reconcile.

import type { PoolConfig } from '../config/types.js';
import type { Host, SpawnSpec } from './host.js';
import { Slot, fmtMs, type SlotObserver, type SlotState } from './slot.js';

export type PoolState = 'starting' | 'running' | 'degraded' | 'failed' | 'stopping' | 'stopped';

export interface PoolEnv {
  /** The daemon's environment, for pass_env and when clear_env is false. */
  base: NodeJS.ProcessEnv;
  uid: number | null;
  gid: number | null;
}

export interface RestartOptions {
  /** Slots turned over at once in a rolling restart. Default: all of them. */
  batch?: number;
  /** Stop every worker, then start them all. */
  hard?: boolean;
}

export interface RestartResult {
  pool: string;
  /** Slots whose worker was replaced. */
  replaced: number;
  /** Slots whose replacement failed to start; their old worker kept serving. */
  failed: number[];
}

export class Pool {
  config: PoolConfig;
  readonly slots: Slot[] = [];
  /** Rolling replacements in flight: slot index → the new worker's slot. */
  readonly replacements = new Map<number, Slot>();
  /** Desired number of workers; 0 when the pool is wanted down. */
  wanted = 0;
  /** The count to come back to after `stop`. */
  configured: number;
  /** Bumped by every restart; a slot of an older revision is due for replacement. */
  revision = 0;
  private batch = 1;
  private hardPending = false;
  private failedReplacements: number[] = [];
  private replacedCount = 0;
  private waiters: Array<(r: RestartResult) => void> = [];
  private readonly host: Host;
  private readonly observer: SlotObserver;
  /** null while the socket is away with the listen helper (listeners.ts, handOver): spawns wait. */
  private socketFd: number | null;
  private baseEnv: Record<string, string>;
  private readonly env: PoolEnv;
  /** Children of masters being stopped one by one (stopChild), so a scan does not stop them twice. */
  private readonly stoppingChildren = new Set<number>();

  constructor(config: PoolConfig, socketFd: number | null, host: Host, observer: SlotObserver, env: PoolEnv) {
    this.config = config;
    this.configured = config.workers;
    this.socketFd = socketFd;
    this.host = host;
    this.observer = observer;
    this.env = env;
    this.baseEnv = buildEnv(config, env.base);
  }

  get name(): string {
    return this.config.name;
  }

  /**
   * Make the slots match what is wanted. The only place slots are created,
   * started, stopped or replaced; every command and every event ends here.
   */
  reconcile(): void {
    const target = this.hardPending ? 0 : this.wanted;
    while (this.slots.length < target) this.slots.push(this.newSlot(this.slots.length));
    this.slots.forEach((slot, i) => {
      const next = this.replacements.get(i);
      // A worker whose replacement counts as started hands over: it is wanted down.
      const handingOver = next !== undefined && next.state === 'running';
      slot.want = i < target && !handingOver ? 'up' : 'down';
      slot.handle({ type: slot.want === 'up' ? 'start' : 'stop' });
      if (next && i >= target) {
        next.want = 'down';
        next.handle({ type: 'stop' });
        if (next.pid === null) this.replacements.delete(i);
      }
    });
    if (this.hardPending && this.quiescent) {
      // --hard: everything is down; now start it all again, on the new revision.
      this.hardPending = false;
      for (const slot of this.slots) slot.revision = this.revision;
      this.replacedCount = Math.min(this.slots.length, this.wanted);
      this.reconcile();
      return;
    }
    if (!this.hardPending) this.roll();
    // Surplus slots at the end go away once their process is gone. Against
    // `wanted`, not `target`: a --hard restart's slots are down, not surplus.
    while (this.slots.length > this.wanted && isIdle(this.slots[this.slots.length - 1]!.state) && !this.replacements.has(this.slots.length - 1)) {
      this.slots.pop();
    }
    this.settleRestart();
  }

  /** Rolling restart: replacement first, old worker stopped once the new one counts as started. */
  private roll(): void {
    for (const [i, next] of this.replacements) {
      const old = this.slots[i]!;
      if (next.state === 'running' && old.pid === null) {
        this.slots[i] = next;
        this.replacements.delete(i);
        this.replacedCount++;
      } else if (next.state === 'fatal' || (next.state === 'backoff' && next.failures >= 1)) {
        // The new worker does not start: keep the old one serving, and say so.
        next.want = 'down';
        next.handle({ type: 'stop' });
        if (next.pid === null) {
          this.replacements.delete(i);
          old.revision = this.revision;
          this.failedReplacements.push(i);
          this.observer.log('error', { slot: old.label, tail: next.tail.toArray() }, `worker ${old.label}: its replacement failed to start; the old worker keeps serving`);
        }
      }
    }
    for (let i = 0; i < Math.min(this.wanted, this.slots.length) && this.replacements.size < this.batch; i++) {
      const slot = this.slots[i]!;
      if (slot.revision === this.revision || this.replacements.has(i)) continue;
      if (slot.state !== 'running') {
        // Not serving anyway (starting, backoff, fatal, exited): restart it in place.
        slot.revision = this.revision;
        slot.reset();
        if (slot.pid !== null) slot.handle({ type: 'stop' });
        else slot.handle({ type: 'start' });
        this.replacedCount++;
        continue;
      }
      const next = this.newSlot(i);
      next.want = 'up';
      this.replacements.set(i, next);
      next.handle({ type: 'start' });
    }
  }

  /** Begin a restart; resolves when every slot runs the new revision (or failed to). */
  restart(options: RestartOptions = {}): Promise<RestartResult> {
    this.revision++;
    // By default every slot turns over at once: the restart takes one start_secs,
    // not one per slot; capacity never drops (it briefly doubles). --batch bounds it.
    this.batch = Math.max(1, options.batch ?? this.wanted);
    this.failedReplacements = [];
    this.replacedCount = 0;
    for (const slot of this.slots) slot.reset();
    if (options.hard) this.hardPending = true;
    const done = new Promise<RestartResult>((resolve) => this.waiters.push(resolve));
    this.reconcile();
    return done;
  }

  private settleRestart(): void {
    if (this.waiters.length === 0 || this.hardPending || this.replacements.size > 0) return;
    const live = this.slots.slice(0, this.wanted);
    if (live.some((s) => s.revision !== this.revision)) return;
    if (live.some((s) => s.state === 'starting' && s.failures === 0)) return;
    const result: RestartResult = { pool: this.name, replaced: this.replacedCount, failed: [...this.failedReplacements] };
    // Recycling (max_memory, max_lifetime) goes back to one worker at a time.
    this.batch = 1;
    for (const w of this.waiters.splice(0)) w(result);
  }

  /**
   * Replace one worker for a limit (max_memory, max_lifetime), the way a rolling
   * restart does: its replacement starts first, so capacity never drops.
   */
  recycle(slot: Slot, why: string): boolean {
    if (slot.state !== 'running' || this.slots[slot.index] !== slot || this.replacements.has(slot.index)) return false;
    // Already marked and waiting for its turn (one replacement at a time): not again at every scan.
    if (slot.revision === -1) return false;
    slot.revision = -1;
    slot.markRecycled();
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

  scale(workers: number): void {
    this.configured = workers;
    this.wanted = workers;
    this.reconcile();
  }

  stop(): void {
    this.wanted = 0;
    this.reconcile();
  }

  start(): void {
    for (const slot of this.slots) slot.reset();
    this.wanted = this.configured;
    this.reconcile();
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
    this.baseEnv = buildEnv(config, this.env.base);
  }

  /** The pool's socket is back from the listen helper (or away again: null). */
  setSocket(fd: number | null): void {
    this.socketFd = fd;
  }

  /** Every slot with a process, replacements included. */
  allSlots(): Slot[] {
    return [...this.slots, ...this.replacements.values()];
  }

  /** True when no slot has a process. */
  get quiescent(): boolean {
    return this.allSlots().every((s) => s.pid === null);
  }

  count(state: SlotState): number {
    return this.slots.filter((s) => s.state === state).length;
  }

  get state(): PoolState {
    if (this.wanted === 0) return this.quiescent ? 'stopped' : 'stopping';
    const up = this.slots.slice(0, this.wanted);
    if (up.length > 0 && up.every((s) => s.state === 'fatal')) return 'failed';
    if (up.some((s) => s.state === 'fatal' || s.state === 'backoff')) return 'degraded';
    if (up.length === this.wanted && up.every((s) => s.state === 'running')) return 'running';
    return 'starting';
  }

  private newSlot(index: number): Slot {
    const slot = new Slot(index, this.config, this.host, this.observer, (s) => this.spec(s));
    slot.revision = this.revision;
    return slot;
  }

  private spec(slot: Slot): SpawnSpec | null {
    if (this.socketFd === null) return null;
    const env = { ...this.baseEnv, FCGID_WORKER: String(slot.index) };
    return {
      command: this.config.command,
      cwd: this.config.cwd,
      env,
      uid: this.env.uid,
      gid: this.env.gid,
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
export function buildEnv(config: PoolConfig, base: NodeJS.ProcessEnv): Record<string, string> {
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
