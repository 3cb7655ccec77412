// One worker slot of a pool: the state machine of DESIGN.md §3. Every
// behaviour sits in one table indexed by state and event (the s6-supervise
// pattern); an event a state does not handle is an explicit no-op, and
// `changeState` is the only writer of `state` (supervisord's pattern).

import { backoffDelay } from './backoff.js';
import type { Host, SpawnSpec, Timer } from './host.js';
import { Ring } from './output.js';
import type { PoolConfig } from '../config/types.js';

export type SlotState = 'starting' | 'running' | 'backoff' | 'stopping' | 'exited' | 'fatal';
export const SLOT_STATES: readonly SlotState[] = ['starting', 'running', 'backoff', 'stopping', 'exited', 'fatal'];

export type SlotEvent =
  | { type: 'start' } // wanted up
  | { type: 'stop' } // wanted down
  | { type: 'exit'; code: number | null; signal: NodeJS.Signals | null; error?: Error }
  | { type: 'started' } // start_secs elapsed
  | { type: 'retry' } // backoff elapsed
  | { type: 'kill' }; // stop_timeout elapsed
export type SlotEventType = SlotEvent['type'];
export const SLOT_EVENTS: readonly SlotEventType[] = ['start', 'stop', 'exit', 'started', 'retry', 'kill'];

/** Why a worker's process ended, as operators read it in logs and status. */
export type ExitReason = 'stopped by fcgid' | 'hung' | 'recycled' | 'exited early' | 'crashed' | 'exited' | 'spawn failed';

export interface LastExit {
  pid: number | null;
  code: number | null;
  signal: NodeJS.Signals | null;
  uptimeMs: number;
  reason: ExitReason;
  at: number;
}

/** What a slot reports to its pool (and the pool to the log). */
export interface SlotObserver {
  log(level: 'info' | 'warn' | 'error' | 'debug', fields: object, message: string): void;
  /** A worker line for the log. */
  line(slot: Slot, stream: 'stdout' | 'stderr', line: string): void;
  changed(slot: Slot, from: SlotState): void;
  spawned(slot: Slot): void;
  exited(slot: Slot): void;
}

export const TAIL_LINES = 20;

/** How often a slot looks again for its pool's socket while the listen helper has it. */
export const SOCKET_WAIT_MS = 10;

/** A clean exit at least this long after the spawn is a recycle even before start_secs. */
export const RECYCLE_FLOOR_MS = 50;

type Handler = (slot: Slot, event: SlotEvent) => void;
const noop: Handler = () => {};

export class Slot {
  readonly index: number;
  state: SlotState = 'exited';
  /** What the operator wants; reconcile turns it into events. */
  want: 'up' | 'down' = 'down';
  pid: number | null = null;
  /** When the current process started, or when the state last changed. */
  startedAt = 0;
  since = 0;
  restarts = 0;
  /** The pool revision this slot's worker belongs to; an older one is due for a rolling restart. */
  revision = 0;
  /** Early deaths in a row; reset once a worker counts as started. */
  failures = 0;
  lastExit: LastExit | null = null;
  readonly tail = new Ring<string>(TAIL_LINES);

  private timer: Timer | null = null;
  private stopRequested = false;
  /** The last worker ended cleanly after serving (a recycle): the next one counts as started at once. */
  private proven = false;
  /** Why fcgid stopped this worker, recorded before the signal is sent (php-fpm marks its kills the same way). */
  private stopCause: 'hung' | 'recycled' | null = null;
  /** The restart policy let the last worker go for good; a later reconcile must not revive it (reset() does). */
  private finished = false;
  /** Counts spawns, so that the exit of an earlier process is never taken for the current one's. */
  private generation = 0;

  constructor(
    index: number,
    private readonly pool: PoolConfig,
    private readonly host: Host,
    private readonly observer: SlotObserver,
    /** null: the pool's socket is not in hand yet (the first ~100 ms after start-up; listeners.ts). */
    private readonly specFor: (slot: Slot) => SpawnSpec | null,
  ) {
    this.index = index;
    this.since = host.now();
  }

  get label(): string {
    return `${this.pool.name}/${this.index}`;
  }

  handle(event: SlotEvent): void {
    TABLE[this.state][event.type](this, event);
  }

  // --- actions used by the table ---

  spawn(): void {
    this.cancelTimer();
    const spec = this.specFor(this);
    if (spec === null) {
      // Wait in backoff, counting no failure, until the socket is back.
      this.changeState('backoff');
      this.timer = this.host.setTimer(SOCKET_WAIT_MS, () => this.handle({ type: 'retry' }));
      return;
    }
    this.stopRequested = false;
    this.stopCause = null;
    const now = this.host.now();
    this.startedAt = now;
    const generation = ++this.generation;
    let pid: number | null = null;
    pid = this.host.spawn(spec, {
      // A failed spawn reports on the next tick; by then a stop and a start may
      // have spawned a new worker, which that report must not end.
      onExit: (code, signal, error) => {
        if (generation === this.generation) this.handle({ type: 'exit', code, signal, error });
      },
      onLine: (stream, line) => {
        if (stream === 'stderr') this.tail.push(line);
        this.observer.line(this, stream, line);
      },
    });
    this.pid = pid;
    this.changeState('starting');
    if (pid !== null) this.observer.spawned(this);
    if (pid !== null) {
      // A slot whose last worker recycled itself cleanly has shown the program works.
      if (this.pool.start_secs === 0 || this.proven) this.becomeRunning();
      else this.timer = this.host.setTimer(this.pool.start_secs, () => this.handle({ type: 'started' }));
    }
  }

  becomeRunning(): void {
    this.timer = null;
    this.failures = 0;
    this.changeState('running');
  }

  requestStop(): void {
    this.cancelTimer();
    if (this.pid === null) return this.changeState('exited');
    this.stopRequested = true;
    this.changeState('stopping');
    this.host.killGroup(this.pid, this.pool.stop_signal);
    this.timer = this.host.setTimer(this.pool.stop_timeout, () => this.handle({ type: 'kill' }));
  }

  /**
   * The worker holds a request and shows no progress (DESIGN.md §4): log it,
   * stop it (stop_signal, SIGKILL after stop_timeout) and replace it at once,
   * without a backoff penalty.
   */
  stopHung(detail: string): void {
    if ((this.state !== 'running' && this.state !== 'starting') || this.pid === null) return;
    this.stopCause = 'hung';
    this.observer.log(
      'warn',
      { slot: this.label, pid: this.pid, reason: 'hung' },
      `worker ${this.label} pid ${this.pid} is hung: ${detail}; stopping it with ${this.pool.stop_signal} (SIGKILL after ${fmtMs(this.pool.stop_timeout)}) and starting a replacement`,
    );
    this.requestStop();
  }

  /** This worker is being replaced for a limit (max_memory, max_lifetime): its exit reads 'recycled'. */
  markRecycled(): void {
    this.stopCause = 'recycled';
  }

  forceKill(): void {
    this.timer = null;
    if (this.pid === null) return;
    this.observer.log('warn', { slot: this.label, pid: this.pid }, `worker ${this.label} pid ${this.pid} still alive ${fmtMs(this.pool.stop_timeout)} after ${this.pool.stop_signal}; sending SIGKILL to its process group`);
    this.host.killGroup(this.pid, 'SIGKILL');
  }

  /** The process ended: record it, then decide what comes next. */
  exited(event: Extract<SlotEvent, { type: 'exit' }>, beforeStartSecs: boolean): void {
    this.cancelTimer();
    const now = this.host.now();
    const uptimeMs = this.pid === null ? 0 : now - this.startedAt;
    // A clean exit is a worker recycling itself (php-cgi after PHP_FCGI_MAX_REQUESTS,
    // which under load comes in a few hundred ms, well inside start_secs), unless
    // it came so soon that the program cannot have served anything: libfcgi
    // programs exit(0) at once on a bad fd 0, and that must back off, not spin.
    const early = beforeStartSecs && !(event.code === 0 && event.signal === null && !event.error && uptimeMs >= RECYCLE_FLOOR_MS);
    if (beforeStartSecs && !early) this.failures = 0;
    // Only a worker that ended by itself, cleanly, proves the program (a stop by
    // fcgid proves nothing about what starts next); anything else sends the next
    // worker through start_secs again.
    this.proven = !early && !this.stopRequested && !event.error && event.signal === null && event.code === 0;
    const reason: ExitReason = event.error
      ? 'spawn failed'
      : this.stopRequested
        ? (this.stopCause ?? 'stopped by fcgid')
        : early
          ? 'exited early'
          : event.signal !== null || event.code !== 0
            ? 'crashed'
            : 'exited';
    this.lastExit = { pid: this.pid, code: event.code, signal: event.signal, uptimeMs, reason, at: now };
    const pid = this.pid;
    this.pid = null;
    this.observer.exited(this);
    if (pid !== null) this.stopStragglers(pid, reason);

    const how = event.error
      ? `could not start (${event.error.message})`
      : event.signal
        ? `was killed by ${event.signal}`
        : `exited with status ${event.code}`;
    const what = `worker ${this.label}${pid === null ? '' : ` pid ${pid}`} ${how} after ${fmtMs(uptimeMs)} (${reason})`;
    const fields = { slot: this.label, pid, code: event.code, signal: event.signal, uptime_ms: uptimeMs, reason };

    if (this.want === 'down') {
      this.changeState('exited');
      this.observer.log('info', fields, `${what}; ${reason === 'recycled' ? 'its replacement has taken over' : 'not restarting: it is wanted down'}`);
      return;
    }
    if (reason === 'stopped by fcgid' || reason === 'hung' || reason === 'recycled') {
      this.observer.log('info', fields, `${what}; starting a replacement now`);
      this.restarts++;
      this.spawn();
      return;
    }
    if (early || reason === 'spawn failed') {
      this.failures++;
      if (this.failures >= this.pool.start_retries) {
        this.changeState('fatal');
        const tail = this.tail.toArray();
        this.observer.log(
          'error',
          { ...fields, failures: this.failures, stderr_tail: tail },
          `${what}; giving up after ${this.failures} early death${this.failures === 1 ? '' : 's'} in a row: slot is fatal` +
            (tail.length > 0 ? `. Last stderr lines:\n  ${tail.join('\n  ')}` : ' (it wrote nothing on stderr)'),
        );
        return;
      }
      const delay = backoffDelay(this.failures, this.host.random());
      this.changeState('backoff');
      this.timer = this.host.setTimer(delay, () => this.handle({ type: 'retry' }));
      this.observer.log('warn', { ...fields, delay_ms: delay }, `${what}; restarting in ${fmtMs(delay)} (attempt ${this.failures + 1} of ${this.pool.start_retries})`);
      return;
    }
    const policy = this.pool.restart;
    if (policy === 'never' || (policy === 'on-failure' && reason === 'exited')) {
      this.finished = true;
      this.changeState('exited');
      this.observer.log('info', fields, `${what}; not restarting (restart: ${policy})`);
      return;
    }
    // A worker that lived past start_secs is replaced at once: php-cgi exits
    // after PHP_FCGI_MAX_REQUESTS as a matter of course, and respawn latency bounds throughput.
    this.observer.log(reason === 'crashed' ? 'warn' : 'info', fields, `${what}; restarting now`);
    this.restarts++;
    this.spawn();
  }

  /**
   * Processes left in the worker's group after it ended (a php-cgi master's
   * children when the master was SIGKILLed) would go on accepting, unsupervised,
   * next to the replacement: they get stop_signal, then SIGKILL after
   * stop_timeout, as a stop would have done. The group id is the dead worker's
   * pid, which no new process can take while the group has members; a process
   * holding that pid later is a new one, and is spared.
   */
  private stopStragglers(pgid: number, reason: ExitReason): void {
    const signal = this.pool.stop_signal;
    if (!this.host.signalGroup(pgid, signal)) return;
    const expected = reason === 'stopped by fcgid' || reason === 'hung' || reason === 'recycled';
    this.observer.log(
      expected ? 'info' : 'warn',
      { slot: this.label, pgid },
      `worker ${this.label}: processes of its process group ${pgid} outlived it; sending them ${signal} (SIGKILL after ${fmtMs(this.pool.stop_timeout)})`,
    );
    this.host.setTimer(this.pool.stop_timeout, () => {
      if (this.host.processStart(pgid) === null) this.host.signalGroup(pgid, 'SIGKILL');
    });
  }

  toExited(): void {
    this.cancelTimer();
    this.changeState('exited');
  }

  /** Clear a fatal slot so it can start again (restart clears fatal slots). */
  reset(): void {
    this.finished = false;
    this.proven = false;
    if (this.state !== 'fatal') return;
    this.failures = 0;
    this.changeState('exited');
  }

  /** 'start' in `exited`: unless the restart policy has already let this worker go. */
  startUnlessFinished(): void {
    if (!this.finished) this.spawn();
  }

  private changeState(to: SlotState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.since = this.host.now();
    this.observer.changed(this, from);
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = null;
  }
}

const exitEarly: Handler = (s, e) => s.exited(e as Extract<SlotEvent, { type: 'exit' }>, true);
const exitLate: Handler = (s, e) => s.exited(e as Extract<SlotEvent, { type: 'exit' }>, false);

/** Every (state, event) pair; the transitions of DESIGN.md §3. */
export const TABLE: Record<SlotState, Record<SlotEventType, Handler>> = {
  exited: { start: (s) => s.startUnlessFinished(), stop: noop, exit: noop, started: noop, retry: noop, kill: noop },
  starting: { start: noop, stop: (s) => s.requestStop(), exit: exitEarly, started: (s) => s.becomeRunning(), retry: noop, kill: noop },
  running: { start: noop, stop: (s) => s.requestStop(), exit: exitLate, started: noop, retry: noop, kill: noop },
  backoff: { start: noop, stop: (s) => s.toExited(), exit: noop, started: noop, retry: (s) => s.spawn(), kill: noop },
  stopping: { start: noop, stop: noop, exit: exitLate, started: noop, retry: noop, kill: (s) => s.forceKill() },
  fatal: { start: noop, stop: noop, exit: noop, started: noop, retry: noop, kill: noop },
};

export function fmtMs(ms: number): string {
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`;
  // Round first, then split, so that 119.7s reads 2m0s and never 1m60s.
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  const m = Math.round(ms / 60_000);
  return `${Math.floor(m / 60)}h${m % 60}m`;
}
