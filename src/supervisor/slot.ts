// One worker slot of a pool: the state machine of DESIGN.md §3. Every
// behaviour sits in one table indexed by state and event (the s6-supervise
// pattern): each cell names the state it lands in and the action that gets it
// there; an event a state does not handle is an explicit no-op. `changeState`
// is the only writer of `state` (supervisord's pattern), and `handle` the only
// way in. An exit is first classified (what ended, and what is wanted next),
// so that each exit cell, too, lands in one state.

import { backoffDelay } from './backoff.js';
import type { PoolConfig } from '../config/types.js';
import { fmtMs } from './format.js';
import { Ring } from './output.js';
import type { Host, SpawnSpec, Timer } from './port.js';

export type SlotState = 'starting' | 'running' | 'backoff' | 'stopping' | 'exited' | 'fatal';
export const SLOT_STATES: readonly SlotState[] = ['starting', 'running', 'backoff', 'stopping', 'exited', 'fatal'];

/** What ended a worker, and what comes next: the classification of an exit (see `classifyExit`). */
export type ExitKind =
  /** Wanted down: stays down. */
  | 'exit-down'
  /** fcgid stopped it (a hung worker, a stop while wanted up): replaced at once. */
  | 'exit-replace'
  /** It ended by itself past start_secs (or recycled itself cleanly): restarted at once. */
  | 'exit-restart'
  /** The restart policy lets it go. */
  | 'exit-done'
  /** It died before it counted as started: back off. */
  | 'exit-early'
  /** The start_retries-th early death in a row. */
  | 'exit-fatal'
  /** Killed from outside fcgid (SIGKILL, SIGTERM, ...) before it counted as started: not a failed start; back off briefly. */
  | 'exit-killed';
export const EXIT_KINDS: readonly ExitKind[] = ['exit-down', 'exit-replace', 'exit-restart', 'exit-done', 'exit-early', 'exit-fatal', 'exit-killed'];

/**
 * Signals that come from outside a program (kill, the OOM killer, an operator),
 * not from a fault of its own (SIGSEGV, SIGABRT, SIGBUS...): a worker they end
 * before start_secs did not fail to start, so it never counts toward fatal.
 */
export const OUTSIDE_SIGNALS: ReadonlySet<string> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGPIPE', 'SIGALRM']);

/** The longest pause after a worker killed from outside before start_secs. */
export const KILLED_PAUSE_MAX_MS = 5_000;

/** A fatal slot's first retry comes after this; each next one waits twice as long, up to fatal_retry. */
export const FATAL_RETRY_FIRST_MS = 30_000;

export type SlotEvent =
  | { type: 'start' } // wanted up
  | { type: 'stop'; why?: string } // wanted down, or to be replaced; `why` ends the log line of its exit ("scaled down to 2 workers")
  | { type: 'hung'; detail: string } // holds a request with no progress for idle_timeout
  | { type: 'recycle' } // being replaced for max_memory / max_lifetime: its stop reads 'recycled'
  | { type: 'reset' } // a restart or start clears a fatal slot and the restart policy's verdict
  | { type: 'exit'; code: number | null; signal: NodeJS.Signals | null; error?: Error }
  | { type: 'started' } // start_secs elapsed (or at once, for a slot whose last worker proved the program)
  | { type: 'nosocket' } // the pool's socket is away with the listen helper: wait, counting no failure
  | { type: 'retry' } // backoff elapsed
  | { type: 'kill' } // stop_timeout elapsed
  | { type: 'drain' }; // the next look at a worker being stopped without loss (stop_mode: freeze)
export type SlotEventType = Exclude<SlotEvent['type'], 'exit'> | ExitKind;
export const SLOT_EVENTS: readonly SlotEventType[] = ['start', 'stop', 'hung', 'recycle', 'reset', 'started', 'nosocket', 'retry', 'kill', 'drain', ...EXIT_KINDS];

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
  /** An exit or a timer of this slot: handed back through the supervisor's one event path, which calls slot.handle. */
  deliver(slot: Slot, event: SlotEvent): void;
}

/** The events without data, made once: reconcile sends one to every slot of a pool at every step. */
export const EVENTS = {
  start: { type: 'start' },
  stop: { type: 'stop' },
  recycle: { type: 'recycle' },
  reset: { type: 'reset' },
  started: { type: 'started' },
  nosocket: { type: 'nosocket' },
  retry: { type: 'retry' },
  kill: { type: 'kill' },
  drain: { type: 'drain' },
} as const satisfies Record<string, SlotEvent>;

export const TAIL_LINES = 20;

/** How often a slot looks again for its pool's socket while the listen helper has it. */
export const SOCKET_WAIT_MS = 10;

/**
 * A lossless stop (stop_mode: freeze) looks again this soon after SIGSTOP to
 * see it take effect, and, while the worker still serves, first after
 * DRAIN_FIRST_MS, then twice as long each time up to DRAIN_MAX_MS.
 */
export const FREEZE_POLL_MS = 1;
export const DRAIN_FIRST_MS = 2;
export const DRAIN_MAX_MS = 20;

/** A clean exit at least this long after the spawn is a recycle even before start_secs. */
export const RECYCLE_FLOOR_MS = 50;

type Action = (slot: Slot, event: SlotEvent) => void;

/** One cell of the table: the state the slot lands in, what it does on the way, and what it says once there. */
export interface Cell {
  to: SlotState;
  /** Before it lands (a spawn, so that the state change names the new pid). */
  run?: Action;
  /** Once it has landed (the log line that says what happens next). */
  then?: Action;
  /** Some cells apply only in part of their state (a worker the restart policy let go stays down). */
  when?: (slot: Slot) => boolean;
}

/** The explicit no-op: the event changes nothing in this state. */
export const IGNORE = null;

/** A cell, or guarded alternatives tried in order (the first whose `when` holds); none holding is a no-op. */
export type Entry = Cell | readonly Cell[] | typeof IGNORE;

/** Land in `to`, doing `run` on the way. */
const cell = (to: SlotState, run?: Action, when?: (slot: Slot) => boolean): Cell => ({ to, ...(run ? { run } : {}), ...(when ? { when } : {}) });
/** Land in `to`, then do `then`. */
const land = (to: SlotState, then: Action): Cell => ({ to, then });

/** Every event a state does not handle: an explicit no-op. */
const NONE = Object.fromEntries(SLOT_EVENTS.map((e) => [e, IGNORE])) as Record<SlotEventType, Entry>;

export class Slot {
  readonly index: number;
  private _state: SlotState = 'exited';
  /** What the pool wants; reconcile turns it into events. */
  want: 'up' | 'down' = 'down';
  pid: number | null = null;
  /** When the current process started, and when the state last changed. */
  startedAt = 0;
  since = 0;
  restarts = 0;
  /** Early deaths in a row; reset once a worker counts as started. */
  failures = 0;
  /** When a fatal slot is tried again; null when it is not fatal, or fatal_retry is 0. */
  retryAt: number | null = null;
  /** Times in a row this slot went fatal; reset once a worker counts as started. */
  private fatalRounds = 0;
  /** Workers killed from outside before start_secs, in a row; reset once one counts as started. */
  private killedInRow = 0;
  lastExit: LastExit | null = null;
  readonly tail = new Ring<string>(TAIL_LINES);

  private timer: Timer | null = null;
  private stopRequested = false;
  /** The last worker ended cleanly after serving (a recycle): the next one counts as started at once. */
  private proven = false;
  /** Why fcgid stopped this worker, recorded before the signal is sent (php-fpm marks its kills the same way). */
  private stopCause: 'hung' | 'recycled' | null = null;
  /** Why the worker is wanted down, from the stop event: the end of its exit's log line. */
  private stopWhy: string | null = null;
  /** A lossless stop in progress: the worker is frozen (SIGSTOP sent), when it falls back to stop_signal, the next wait. */
  private frozen = false;
  /** The lossless stop ended it: frozen, holding no request, then SIGKILL (its exit reads so, not as a kill). */
  private drained = false;
  private drainUntil = 0;
  private drainDelay = DRAIN_FIRST_MS;
  /** The restart policy let the last worker go for good; a later start must not revive it (reset does). */
  private finished = false;
  /** Counts spawns, so that the exit of an earlier process is never taken for the current one's. */
  private generation = 0;
  /** The message of the last spawn failure, for the log. */
  private spawnError: string | null = null;
  /** Events a cell raised for right after it (`started` after a spawn that needs no start_secs). */
  private readonly followUps: SlotEvent[] = [];
  private handling = false;

  constructor(
    index: number,
    private readonly pool: PoolConfig,
    private readonly host: Host,
    private readonly observer: SlotObserver,
    /** null: the pool's socket is not in hand yet (the first ~100 ms after start-up; src/host/listeners.ts). */
    private readonly specFor: (slot: Slot) => SpawnSpec | null,
    /** The pool's listening descriptor in the daemon, for a lossless stop's looks (without building a spawn spec each time). */
    private readonly listenerFd: () => number | null = () => specFor(this)?.socketFd ?? null,
  ) {
    this.index = index;
    this.since = host.now();
  }

  get state(): SlotState {
    return this._state;
  }

  get label(): string {
    return `${this.pool.name}/${this.index}`;
  }

  /** The one way in: look the event up in TABLE (an exit classified first) and do what the cell says. */
  handle(event: SlotEvent): void {
    this.followUps.push(event);
    if (this.handling) return;
    this.handling = true;
    try {
      for (let e = this.followUps.shift(); e; e = this.followUps.shift()) this.apply(e);
    } finally {
      this.handling = false;
    }
  }

  private apply(event: SlotEvent): void {
    let type: SlotEventType;
    if (event.type === 'exit') {
      // Only a state with a process can see it end; elsewhere an exit is stale.
      if (this._state !== 'starting' && this._state !== 'running' && this._state !== 'stopping') return;
      type = this.record(event);
    } else type = event.type;
    const entry = Slot.table[this._state][type];
    const cell = entry === IGNORE ? undefined : (Array.isArray(entry) ? entry : [entry as Cell]).find((c) => !c.when || c.when(this));
    if (!cell) return;
    cell.run?.(this, event);
    this.changeState(cell.to);
    cell.then?.(this, event);
  }

  // --- actions, used by the table only ---

  private spawn(): void {
    this.cancelTimer();
    const spec = this.specFor(this);
    if (spec === null) return this.raise(EVENTS.nosocket);
    this.stopRequested = false;
    this.stopCause = null;
    this.stopWhy = null;
    this.frozen = false;
    this.drained = false;
    this.startedAt = this.host.now();
    const generation = ++this.generation;
    const pid = this.host.spawn(spec, {
      // A failed spawn reports on the next tick; by then a stop and a start may
      // have spawned a new worker, which that report must not end.
      onExit: (code, signal, error) => {
        if (generation === this.generation) this.observer.deliver(this, { type: 'exit', code, signal, error });
      },
      onLine: (stream, line) => {
        if (stream === 'stderr') this.tail.push(line);
        this.observer.line(this, stream, line);
      },
    });
    this.pid = pid;
    if (pid === null) return; // the failure arrives as an exit
    this.observer.spawned(this);
    // A slot whose last worker recycled itself cleanly has shown the program works.
    if (this.pool.start_secs === 0 || this.proven) this.raise(EVENTS.started);
    else this.timer = this.host.setTimer(this.pool.start_secs, () => this.observer.deliver(this, EVENTS.started));
  }

  private waitForSocket(): void {
    this.timer = this.host.setTimer(SOCKET_WAIT_MS, () => this.observer.deliver(this, EVENTS.retry));
  }

  private started(): void {
    this.cancelTimer();
    this.failures = 0;
    this.fatalRounds = 0;
    this.killedInRow = 0;
  }

  /**
   * Only from cells guarded to have a process. With stop_mode freeze (and a
   * /proc that shows the worker's connections) the stop loses no request; a
   * hung worker holds one for good and gets stop_signal at once.
   */
  private requestStop(why: string | null = null): void {
    this.stopWhy = why;
    this.cancelTimer();
    this.stopRequested = true;
    if (this.pool.stop_mode === 'freeze' && this.stopCause !== 'hung' && this.host.canInspect(this.pid!)) {
      this.drainUntil = this.host.now() + this.pool.stop_timeout;
      this.drainDelay = DRAIN_FIRST_MS;
      // Most workers are idle when stopped: frozen first, looked at once stopped (drain).
      this.frozen = true;
      this.host.signalTree(this.pid!, 'SIGSTOP');
      this.timer = this.host.setTimer(FREEZE_POLL_MS, () => this.observer.deliver(this, EVENTS.drain));
      return;
    }
    this.signalStop();
  }

  /** stop_signal (to a frozen worker too: it handles it once resumed), then SIGKILL after stop_timeout. */
  private signalStop(): void {
    const pid = this.pid!;
    this.host.killGroup(pid, this.pool.stop_signal);
    if (this.frozen) {
      this.frozen = false;
      this.host.signalTree(pid, 'SIGCONT');
    }
    this.timer = this.host.setTimer(this.pool.stop_timeout, () => this.observer.deliver(this, EVENTS.kill));
  }

  /**
   * One step of a stop that loses no request, whatever the program does on a
   * signal (requestStop freezes first). Once a frozen worker and its children
   * are stopped, none of them can accept, and if they hold no connection from
   * the pool's listener, SIGKILL ends a worker with nothing in flight
   * (connections in the backlog go to the other workers). One that holds a
   * connection (serving, or a kept connection) is resumed and looked at again
   * running; once it holds none it is frozen again. Past stop_timeout:
   * stop_signal, as in stop_mode signal. False when /proc cannot tell what it
   * holds (the caller falls back to stop_signal).
   */
  private drain(): boolean {
    const pid = this.pid!;
    const next = (ms: number): void => void (this.timer = this.host.setTimer(ms, () => this.observer.deliver(this, EVENTS.drain)));
    if (this.host.now() >= this.drainUntil) {
      this.observer.log(
        'info',
        { slot: this.label, pid },
        `worker ${this.label} pid ${pid} still holds a connection ${fmtMs(this.pool.stop_timeout)} into its stop; sending ${this.pool.stop_signal} (SIGKILL after ${fmtMs(this.pool.stop_timeout)})`,
      );
      return this.signalStop(), true;
    }
    if (this.frozen && !this.host.treeStopped(pid)) {
      // Again: a child forked after the last SIGSTOP went out is stopped too.
      this.host.signalTree(pid, 'SIGSTOP');
      return next(FREEZE_POLL_MS), true;
    }
    const socketFd = this.listenerFd();
    const held = socketFd === null ? null : this.host.connectionsHeld(pid, socketFd);
    if (held === null) return false;
    if (held === 0 && this.frozen) {
      this.drained = true;
      this.host.signalTree(pid, 'SIGKILL');
      this.timer = this.host.setTimer(this.pool.stop_timeout, () => this.observer.deliver(this, EVENTS.kill));
      return true;
    }
    if (held === 0) {
      this.frozen = true;
      this.host.signalTree(pid, 'SIGSTOP');
      return next(FREEZE_POLL_MS), true;
    }
    if (this.frozen) {
      this.frozen = false;
      this.host.signalTree(pid, 'SIGCONT');
    }
    next(this.drainDelay);
    this.drainDelay = Math.min(this.drainDelay * 2, DRAIN_MAX_MS);
    return true;
  }

  /** A later look at a lossless stop; one that can no longer tell falls back to stop_signal. */
  private drainAgain(): void {
    this.timer = null;
    if (this.pid !== null && !this.drain()) this.signalStop();
  }

  /**
   * The worker holds a request and shows no progress (DESIGN.md §4): log it,
   * stop it (stop_signal, SIGKILL after stop_timeout) and replace it at once,
   * without a backoff penalty.
   */
  private stopHung(detail: string): void {
    this.stopCause = 'hung';
    this.observer.log(
      'warn',
      { slot: this.label, pid: this.pid, reason: 'hung' },
      `worker ${this.label} pid ${this.pid} is hung: ${detail}; stopping it with ${this.pool.stop_signal} (SIGKILL after ${fmtMs(this.pool.stop_timeout)}) and starting a replacement`,
    );
    this.requestStop();
  }

  private forceKill(): void {
    this.timer = null;
    if (this.pid === null) return;
    this.observer.log(
      'warn',
      { slot: this.label, pid: this.pid },
      `worker ${this.label} pid ${this.pid} still alive ${fmtMs(this.pool.stop_timeout)} after ${this.pool.stop_signal}; sending SIGKILL to it and every process it forked`,
    );
    this.host.signalTree(this.pid, 'SIGKILL');
  }

  private reset(): void {
    this.finished = false;
    this.proven = false;
    if (this._state !== 'fatal') return;
    this.failures = 0;
    this.retryAt = null;
    this.cancelTimer();
  }

  /** A fatal slot's retry is due: start over, with start_retries to go. */
  private retryFatal(): void {
    this.failures = 0;
    this.retryAt = null;
    this.spawn();
  }

  /**
   * Killed from outside before start_secs: a pause, no failure counted (php-fpm
   * and s6 never give up on such a child). The pause doubles with each such kill
   * in a row, up to KILLED_PAUSE_MAX_MS, so that a program the OOM killer ends
   * at every start does not respawn ten times a second.
   */
  private pause(): void {
    this.killedInRow++;
    const delay = Math.min(KILLED_PAUSE_MAX_MS, backoffDelay(this.killedInRow, this.host.random()));
    this.timer = this.host.setTimer(delay, () => this.observer.deliver(this, EVENTS.retry));
    const e = this.lastExit!;
    this.observer.log('warn', { ...exitFields(this, e), delay_ms: delay }, `${this.exitText(e)}, from outside fcgid: not a failed start; restarting in ${fmtMs(delay)}`);
  }

  private backOff(): void {
    const delay = backoffDelay(this.failures, this.host.random());
    this.timer = this.host.setTimer(delay, () => this.observer.deliver(this, EVENTS.retry));
    const e = this.lastExit!;
    this.observer.log(
      'warn',
      { ...exitFields(this, e), delay_ms: delay },
      `${this.exitText(e)}; restarting in ${fmtMs(delay)} (attempt ${this.failures + 1} of ${this.pool.start_retries})`,
    );
  }

  private giveUp(): void {
    const e = this.lastExit!;
    const tail = this.tail.toArray();
    const limit = this.pool.fatal_retry;
    let next = '';
    if (limit > 0) {
      const delay = Math.min(limit, FATAL_RETRY_FIRST_MS * 2 ** Math.min(this.fatalRounds, 20));
      this.fatalRounds++;
      this.retryAt = this.host.now() + delay;
      this.timer = this.host.setTimer(delay, () => this.observer.deliver(this, EVENTS.retry));
      next = `; trying again in ${fmtMs(delay)} (fatal_retry ${fmtMs(limit)})`;
    }
    this.observer.log(
      'error',
      { ...exitFields(this, e), failures: this.failures, stderr_tail: tail, retry_in_ms: this.retryAt === null ? null : this.retryAt - this.host.now() },
      `${this.exitText(e)}; giving up after ${this.failures} early death${this.failures === 1 ? '' : 's'} in a row: slot is fatal${next}` +
        (tail.length > 0 ? `. Last stderr lines:\n  ${tail.join('\n  ')}` : ' (it wrote nothing on stderr)'),
    );
  }

  private stayDown(): void {
    const e = this.lastExit!;
    const why = e.reason === 'recycled' ? 'its replacement has taken over' : (this.stopWhy ?? 'not restarting: it is wanted down');
    this.observer.log('info', exitFields(this, e), `${this.exitText(e)}; ${why}`);
  }

  private letGo(): void {
    this.finished = true;
    const e = this.lastExit!;
    this.observer.log('info', exitFields(this, e), `${this.exitText(e)}; not restarting (restart: ${this.pool.restart})`);
  }

  private respawn(kind: 'exit-replace' | 'exit-restart'): void {
    const e = this.lastExit!;
    // A worker that lived past start_secs is replaced at once: php-cgi exits
    // after PHP_FCGI_MAX_REQUESTS as a matter of course, and respawn latency bounds throughput.
    if (kind === 'exit-replace') this.observer.log('info', exitFields(this, e), `${this.exitText(e)}; starting a replacement now`);
    else this.observer.log(e.reason === 'crashed' ? 'warn' : 'info', exitFields(this, e), `${this.exitText(e)}; restarting now`);
    this.restarts++;
    this.spawn();
  }

  /** The process ended: record how, and classify what comes next (the table does it). */
  private record(event: Extract<SlotEvent, { type: 'exit' }>): ExitKind {
    this.cancelTimer();
    const now = this.host.now();
    const uptimeMs = this.pid === null ? 0 : now - this.startedAt;
    const beforeStartSecs = this._state === 'starting';
    const clean = event.code === 0 && event.signal === null && !event.error;
    const killed = !this.stopRequested && event.signal !== null && OUTSIDE_SIGNALS.has(event.signal);
    // A clean exit is a worker recycling itself (php-cgi after PHP_FCGI_MAX_REQUESTS,
    // which under load comes in a few hundred ms, well inside start_secs), unless
    // it came so soon that the program cannot have served anything: libfcgi
    // programs exit(0) at once on a bad fd 0, and that must back off, not spin.
    const early = beforeStartSecs && !killed && !(clean && uptimeMs >= RECYCLE_FLOOR_MS);
    if (beforeStartSecs && !early && !killed) this.failures = 0;
    // Only a worker that ended by itself, cleanly, proves the program (a stop by
    // fcgid proves nothing about what starts next); anything else sends the next
    // worker through start_secs again.
    this.proven = !early && !this.stopRequested && clean;
    const reason: ExitReason = event.error ? 'spawn failed' : this.stopRequested ? (this.stopCause ?? 'stopped by fcgid') : early ? 'exited early' : clean ? 'exited' : 'crashed';
    this.spawnError = event.error?.message ?? null;
    this.lastExit = { pid: this.pid, code: event.code, signal: event.signal, uptimeMs, reason, at: now };
    const pid = this.pid;
    this.pid = null;
    this.observer.exited(this);
    if (pid !== null) this.stopStragglers(pid, reason);
    const kind = classifyExit({
      want: this.want,
      byFcgid: this.stopRequested,
      killedEarly: beforeStartSecs && killed,
      failed: early || reason === 'spawn failed',
      failures: this.failures + 1,
      retries: this.pool.start_retries,
      restart: this.pool.restart,
      clean,
    });
    if (kind === 'exit-early' || kind === 'exit-fatal') this.failures++;
    return kind;
  }

  private exitText(e: LastExit): string {
    const how =
      e.reason === 'spawn failed'
        ? `could not start (${this.spawnError ?? 'unknown error'})`
        : this.drained && e.signal === 'SIGKILL'
          ? 'was stopped holding no request (frozen, then SIGKILL)'
          : e.signal
            ? `was killed by ${e.signal}`
            : `exited with status ${e.code}`;
    return `worker ${this.label}${e.pid === null ? '' : ` pid ${e.pid}`} ${how} after ${fmtMs(e.uptimeMs)} (${e.reason})`;
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

  private raise(event: SlotEvent): void {
    this.followUps.push(event);
  }

  private changeState(to: SlotState): void {
    const from = this._state;
    if (from === to) return;
    this._state = to;
    this.since = this.host.now();
    this.observer.changed(this, from);
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** The table's cells reach the private actions through here; nothing else does. */
  private static readonly actions = {
    spawn: (s: Slot) => s.spawn(),
    waitForSocket: (s: Slot) => s.waitForSocket(),
    started: (s: Slot) => s.started(),
    requestStop: (s: Slot, e: SlotEvent) => s.requestStop(e.type === 'stop' ? (e.why ?? null) : null),
    stopHung: (s: Slot, e: SlotEvent) => s.stopHung((e as Extract<SlotEvent, { type: 'hung' }>).detail),
    markRecycled: (s: Slot) => void (s.stopCause = 'recycled'),
    forceKill: (s: Slot) => s.forceKill(),
    drain: (s: Slot) => s.drainAgain(),
    reset: (s: Slot) => s.reset(),
    cancelTimer: (s: Slot) => s.cancelTimer(),
    backOff: (s: Slot) => s.backOff(),
    pause: (s: Slot) => s.pause(),
    holdFatal: (s: Slot) => {
      s.cancelTimer();
      s.retryAt = null;
    },
    wantedUp: (s: Slot) => s.want === 'up',
    retryFatal: (s: Slot) => s.retryFatal(),
    giveUp: (s: Slot) => s.giveUp(),
    stayDown: (s: Slot) => s.stayDown(),
    letGo: (s: Slot) => s.letGo(),
    replace: (s: Slot) => s.respawn('exit-replace'),
    restart: (s: Slot) => s.respawn('exit-restart'),
    notFinished: (s: Slot) => !s.finished,
    hasProcess: (s: Slot) => s.pid !== null,
    noProcess: (s: Slot) => s.pid === null,
  };

  static readonly table = makeTable(Slot.actions);
}

type Actions = (typeof Slot)['actions'];

function exitFields(slot: Slot, e: LastExit): object {
  return { slot: slot.label, pid: e.pid, code: e.code, signal: e.signal, uptime_ms: e.uptimeMs, reason: e.reason };
}

export interface ExitFacts {
  want: 'up' | 'down';
  /** fcgid sent the stop signal (a stop, a hung worker, a recycle). */
  byFcgid: boolean;
  /** Killed by a signal from outside fcgid before start_secs. */
  killedEarly: boolean;
  /** An early death or a failed spawn. */
  failed: boolean;
  /** Early deaths in a row, this one included if it is one. */
  failures: number;
  retries: number;
  restart: PoolConfig['restart'];
  clean: boolean;
}

/** What an exit leads to (pure): the one place that decides among the exit cells. */
export function classifyExit(f: ExitFacts): ExitKind {
  if (f.want === 'down') return 'exit-down';
  if (f.byFcgid) return 'exit-replace';
  if (f.killedEarly) return 'exit-killed';
  if (f.failed) return f.failures >= f.retries ? 'exit-fatal' : 'exit-early';
  if (f.restart === 'never' || (f.restart === 'on-failure' && f.clean)) return 'exit-done';
  return 'exit-restart';
}

/**
 * Every (state, event) pair: the transitions of DESIGN.md §3; any pair not
 * named is IGNORE. Built inside the class, the one place that may call its
 * private actions.
 */
function makeTable(a: Actions): Record<SlotState, Record<SlotEventType, Entry>> {
  return {
    exited: {
      ...NONE,
      start: cell('starting', a.spawn, a.notFinished),
      reset: cell('exited', a.reset),
    },
    starting: {
      ...NONE,
      // A spawn that failed has no process to signal; its error, still on the way, is then stale.
      stop: [cell('exited', a.cancelTimer, a.noProcess), cell('stopping', a.requestStop)],
      hung: cell('stopping', a.stopHung, a.hasProcess),
      reset: cell('starting', a.reset),
      started: cell('running', a.started),
      nosocket: land('backoff', a.waitForSocket),
      'exit-down': land('exited', a.stayDown),
      'exit-replace': cell('starting', a.replace),
      'exit-restart': cell('starting', a.restart),
      'exit-done': land('exited', a.letGo),
      'exit-early': land('backoff', a.backOff),
      'exit-fatal': land('fatal', a.giveUp),
      'exit-killed': land('backoff', a.pause),
    },
    running: {
      ...NONE,
      stop: cell('stopping', a.requestStop),
      hung: cell('stopping', a.stopHung, a.hasProcess),
      recycle: cell('running', a.markRecycled),
      reset: cell('running', a.reset),
      'exit-down': land('exited', a.stayDown),
      'exit-replace': cell('starting', a.replace),
      'exit-restart': cell('starting', a.restart),
      'exit-done': land('exited', a.letGo),
    },
    backoff: {
      ...NONE,
      stop: cell('exited', a.cancelTimer),
      reset: cell('backoff', a.reset),
      retry: cell('starting', a.spawn),
    },
    stopping: {
      ...NONE,
      reset: cell('stopping', a.reset),
      kill: cell('stopping', a.forceKill),
      drain: cell('stopping', a.drain),
      'exit-down': land('exited', a.stayDown),
      'exit-replace': cell('starting', a.replace),
    },
    fatal: {
      ...NONE,
      // Wanted down: no retry comes.
      stop: cell('fatal', a.holdFatal),
      reset: cell('exited', a.reset),
      // fatal_retry elapsed.
      retry: cell('starting', a.retryFatal, a.wantedUp),
    },
  };
}

export const TABLE = Slot.table;
